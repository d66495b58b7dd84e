//! The data of one mission's store: its WASI context (nothing granted), its
//! limits, and where its `log` and `progress` calls go, within their budgets.
//!
//! Every host function here is O(1) in host memory: a line or note is cut to
//! its budget before it is kept, and what has no room is counted and dropped.

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::LogLevel;
use super::bindings::mission_runner::plugin;
use super::guest_calls::GuestCalls;
use super::limits::Budgets;
use super::outbound::OutboundHttp;
use super::output::CappedOutput;
use super::reports::ReportSender;
use super::truncate::truncate;
use crate::model::report::{LogLevel as Level, Report};

/// A guest went over a budget its manifest says is fatal (`fail_on_exceed`):
/// the trap that stops it, and the attempt's error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BudgetExceeded(pub String);

/// What the budgets held back during one attempt.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Dropped {
    /// Log lines over the per-attempt budget.
    pub lines_over_budget: u64,
    /// Log lines with no room in the report buffer (Redis slower than the guest).
    pub lines_no_room: u64,
    /// Log lines cut to the line budget.
    pub lines_cut: u64,
    /// Progress notes cut to their budget.
    pub notes_cut: u64,
    /// Progress updates held back (past the budget, or with no room): only
    /// the last of them is stored, when the attempt ends.
    pub progress_held: u64,
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
    pub(crate) reports: Option<ReportSender>,
    /// What this attempt may emit.
    pub(crate) budgets: Budgets,
    /// Log lines this attempt may still send.
    pub(crate) log_budget: u32,
    /// Progress updates this attempt may still send one by one; past them
    /// (or once one had no room) only the latest is kept.
    pub(crate) progress_budget: u32,
    /// What was held back.
    pub(crate) dropped: Dropped,
    /// The guest's stdout and stderr, captured (never the host's).
    pub(crate) stdout: CappedOutput,
    pub(crate) stderr: CappedOutput,
    /// `wasi:http`'s own state (header size limits).
    pub(crate) http_ctx: WasiHttpCtx,
    /// Where every outbound request goes: the grant, the limits, the log.
    pub(crate) http: OutboundHttp,
    /// The `config` and `kv` imports' grants, budget and per-attempt reads.
    pub(crate) calls: GuestCalls,
}

impl WasiView for MissionState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for MissionState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http_ctx, table: &mut self.table, hooks: &mut self.http }
    }
}

impl plugin::types::Host for MissionState {}

/// The WIT's log level as the model's (the one mapping).
impl From<LogLevel> for Level {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
        }
    }
}

impl plugin::host::Host for MissionState {
    fn log(&mut self, level: LogLevel, mut message: String) -> wasmtime::Result<()> {
        let Some(reports) = &self.reports else { return Ok(()) };
        let level = Level::from(level);
        if self.log_budget == 0 {
            self.dropped.lines_over_budget += 1;
            return self.exceeded(|b| format!("logged more than {} lines (its limit per attempt)", b.log_lines));
        }
        self.log_budget -= 1;
        if truncate(&mut message, self.budgets.log_line_bytes) {
            self.dropped.lines_cut += 1;
            if self.budgets.fail_on_exceed {
                return self.exceeded(|b| format!("logged a line longer than {} bytes (its limit)", b.log_line_bytes));
            }
        }
        if reports.try_send(Report::Log { level, message }).is_err() {
            self.dropped.lines_no_room += 1;
        }
        Ok(())
    }

    fn progress(&mut self, percent: u8, mut message: String) -> wasmtime::Result<()> {
        let Some(reports) = &self.reports else { return Ok(()) };
        if truncate(&mut message, self.budgets.progress_message_bytes) {
            self.dropped.notes_cut += 1;
            if self.budgets.fail_on_exceed {
                return self.exceeded(|b| {
                    format!("reported a progress note longer than {} bytes (its limit)", b.progress_message_bytes)
                });
            }
        }
        let percent = percent.min(100);
        // Once one is held back, all later ones are too: never an older
        // value stored after a newer one.
        if self.progress_budget > 0 && self.dropped.progress_held == 0 {
            match reports.try_send(Report::Progress { percent, message }) {
                Ok(()) => {
                    self.progress_budget -= 1;
                    return Ok(());
                }
                Err(Report::Progress { message: back, .. }) => message = back,
                Err(Report::Log { .. }) => return Ok(()),
            }
        }
        self.dropped.progress_held += 1;
        reports.hold_progress(percent, message);
        Ok(())
    }
}

impl MissionState {
    /// Stops the guest if its manifest says going over a budget is fatal.
    fn exceeded(&self, what: impl FnOnce(&Budgets) -> String) -> wasmtime::Result<()> {
        if !self.budgets.fail_on_exceed {
            return Ok(());
        }
        Err(wasmtime::Error::new(BudgetExceeded(format!(
            "plugin {} (limits.fail_on_exceed is set)",
            what(&self.budgets)
        ))))
    }

    /// One line for the mission log saying what the budgets held back, if anything.
    pub(crate) fn dropped_summary(&self) -> Option<String> {
        let d = &self.dropped;
        let b = &self.budgets;
        let mut parts = Vec::new();
        if d.lines_over_budget > 0 {
            parts.push(format!(
                "{} log lines dropped (over the limit of {} per attempt)",
                d.lines_over_budget, b.log_lines
            ));
        }
        if d.lines_no_room > 0 {
            parts.push(format!(
                "{} log lines dropped (the plugin logged faster than the host could store)",
                d.lines_no_room
            ));
        }
        if d.lines_cut > 0 {
            parts.push(format!("{} log lines cut to {} bytes", d.lines_cut, b.log_line_bytes));
        }
        if d.progress_held > 1 {
            parts.push(format!(
                "{} progress updates not stored (over the limit of {} per attempt; the last one is kept)",
                d.progress_held - 1,
                b.progress_updates
            ));
        }
        if d.notes_cut > 0 {
            parts.push(format!("{} progress notes cut to {} bytes", d.notes_cut, b.progress_message_bytes));
        }
        (!parts.is_empty()).then(|| format!("output over budget: {}", parts.join("; ")))
    }
}
