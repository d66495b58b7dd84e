//! The data of one mission's store: its WASI context (nothing granted), its
//! limits, and the channel its `log` and `progress` calls go to.

use tokio::sync::mpsc::UnboundedSender;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::LogLevel;
use super::bindings::mission_runner::plugin;
use super::output::CappedOutput;

/// Something a running plugin reported through the host interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// A log line: level name and message.
    Log { level: &'static str, message: String },
    /// Progress: percent (0..=100) and a note.
    Progress { percent: u8, message: String },
}

/// Store data of one mission attempt.
pub struct MissionState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    /// The memory cap in bytes (for naming the cause when it is hit).
    pub(crate) memory_limit: usize,
    /// Where `log` and `progress` go; the worker writes them to Redis. `None`
    /// while the host is only asking the plugin to `describe()` itself.
    pub(crate) reports: Option<UnboundedSender<Report>>,
    /// Log lines this attempt may still send; the rest are dropped here.
    pub(crate) log_budget: u32,
    /// Log lines dropped over the budget.
    pub(crate) log_dropped: u32,
    /// The guest's stdout and stderr, captured (never the host's).
    pub(crate) stdout: CappedOutput,
    pub(crate) stderr: CappedOutput,
}

impl WasiView for MissionState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl plugin::types::Host for MissionState {}

impl plugin::host::Host for MissionState {
    fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        if self.log_budget == 0 {
            self.log_dropped += 1;
            return;
        }
        self.log_budget -= 1;
        if let Some(tx) = &self.reports {
            // A closed channel means the attempt is being torn down; nothing to keep.
            let _ = tx.send(Report::Log { level, message });
        }
    }

    fn progress(&mut self, percent: u8, message: String) {
        if let Some(tx) = &self.reports {
            let _ = tx.send(Report::Progress { percent: percent.min(100), message });
        }
    }
}
