//! Runs plugins: one engine, pre-instantiated components, and a fresh sandboxed
//! instance for every attempt.
//!
//! The sandbox: WASI 0.2 with no directories, sockets, environment or host
//! stdio (stdout and stderr are captured); a memory cap per instance; a
//! wall-clock timeout enforced by epoch interruption, so a guest stuck in a loop
//! is stopped, not waited out; and a cap on the result's size.

mod bindings;
mod registry;
mod state;

pub use registry::{Plugin, PluginRegistry};
pub use state::Report;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc::UnboundedSender;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use bindings::{MissionPlugin, MissionPluginPre, WitMission, WitMissionError};
use state::MissionState;

use crate::mission::ErrorKind;

/// How often the epoch advances: the granularity of timeouts and of yielding.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits applied to every instance.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest linear memory of one instance.
    pub memory_bytes: usize,
    /// Largest result a plugin may return.
    pub max_result_bytes: usize,
    /// Captured stdout and stderr kept per attempt, each.
    pub output_bytes: usize,
    /// Log lines one attempt may send.
    pub max_log_lines: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 128 << 20, max_result_bytes: 1 << 20, output_bytes: 64 << 10, max_log_lines: 1_000 }
    }
}

/// Settings of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Instances that may exist at once (sizes the pooling allocator).
    pub max_instances: u32,
    /// Use the pooling allocator (fast instantiation); off only for comparison.
    pub pooling: bool,
    /// Per-instance limits.
    pub limits: Limits,
}

/// One attempt's input.
#[derive(Debug, Clone)]
pub struct RunInput {
    /// Mission id.
    pub id: String,
    /// Mission type.
    pub mission_type: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Payload JSON text.
    pub payload: String,
    /// Wall-clock limit.
    pub timeout: Duration,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The plugin's result (valid JSON text within the size cap).
    Completed(String),
    /// The attempt failed; the kind decides whether to retry.
    Failed { kind: ErrorKind, message: String },
}

impl RunOutcome {
    fn failed(kind: ErrorKind, message: impl Into<String>) -> Self {
        RunOutcome::Failed { kind, message: message.into() }
    }
}

/// The wasm engine, its linker, and the epoch ticker. Create one per process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<MissionState>,
    limits: Limits,
    /// Set on drop; stops the epoch ticker thread.
    stop_ticker: Arc<AtomicBool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch ticker.
    pub fn new(cfg: &RuntimeConfig) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        if cfg.pooling {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(cfg.max_instances)
                .total_core_instances(cfg.max_instances * 4)
                .total_memories(cfg.max_instances * 2)
                .total_tables(cfg.max_instances * 4)
                .total_stacks(cfg.max_instances)
                .max_memory_size(cfg.limits.memory_bytes);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(anyhow::Error::from).context("creating the wasm engine")?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        MissionPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;

        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (e, stop) = (engine.clone(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    e.increment_epoch();
                }
            })
            .context("starting the epoch ticker")?;
        Ok(Runtime { engine, linker, limits: cfg.limits.clone(), stop_ticker })
    }

    /// The engine (for compile caches and metrics).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a component, checks it implements the world, and asks it to describe itself.
    pub async fn load(&self, wasm: &[u8]) -> anyhow::Result<Plugin> {
        let component = Component::new(&self.engine, wasm).map_err(anyhow::Error::from).context("not a valid component for this engine")?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component does not fit the mission-plugin world (or imports what the host does not grant)")?;
        let pre = MissionPluginPre::new(pre).map_err(anyhow::Error::from).context("the component does not implement the mission-plugin world")?;
        let mut store = self.store(None);
        store.set_epoch_deadline(1);
        let describe = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.call_describe(&mut store).await
        };
        let info = tokio::time::timeout(Duration::from_secs(5), describe)
            .await
            .context("describe() did not return within 5 s")?
            .map_err(anyhow::Error::from)
            .context("describe() failed")?;
        Ok(Plugin::new(info.name, info.version, info.mission_types, registry::digest(wasm), pre))
    }

    /// A fresh store with the sandbox's WASI context and limits.
    fn store(&self, reports: Option<UnboundedSender<Report>>) -> Store<MissionState> {
        let stdout = MemoryOutputPipe::new(self.limits.output_bytes);
        let stderr = MemoryOutputPipe::new(self.limits.output_bytes);
        // Nothing is granted: no preopens, no network, no environment, no host stdio.
        let wasi = WasiCtxBuilder::new().stdout(stdout.clone()).stderr(stderr.clone()).build();
        let state = MissionState {
            wasi,
            table: Default::default(),
            limits: StoreLimitsBuilder::new().memory_size(self.limits.memory_bytes).build(),
            reports,
            log_budget: self.limits.max_log_lines,
            log_dropped: 0,
            stdout,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Yield to tokio at every tick: long guests share the threads, and a
        // timed-out or cancelled attempt's future can be dropped between ticks.
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))));
        store
    }

    /// Runs one attempt in a fresh instance of `plugin`. Reports go to `reports`.
    /// Dropping the returned future stops the guest at its next epoch tick.
    pub async fn run(&self, plugin: &Plugin, input: &RunInput, reports: UnboundedSender<Report>) -> RunOutcome {
        let mut store = self.store(Some(reports.clone()));
        store.set_epoch_deadline(1);
        let mission = WitMission {
            id: input.id.clone(),
            mission_type: input.mission_type.clone(),
            attempt: input.attempt,
            max_attempts: input.max_attempts,
            payload: input.payload.clone(),
        };
        let call = async {
            let instance = plugin.pre().instantiate_async(&mut store).await?;
            instance.call_run(&mut store, &mission).await
        };
        let outcome = match tokio::time::timeout(input.timeout, call).await {
            Err(_) => RunOutcome::failed(
                ErrorKind::Retryable,
                format!("timed out after {} ms (stopped by the host)", input.timeout.as_millis()),
            ),
            Ok(Err(trap)) => RunOutcome::failed(ErrorKind::Retryable, describe_trap(&trap, &store)),
            Ok(Ok(Err(WitMissionError::Retryable(m)))) => RunOutcome::failed(ErrorKind::Retryable, m),
            Ok(Ok(Err(WitMissionError::Permanent(m)))) => RunOutcome::failed(ErrorKind::Permanent, m),
            Ok(Ok(Ok(result))) => self.check_result(result),
        };
        forward_output(&store, &reports);
        outcome
    }

    /// A result must be JSON and within the size cap.
    fn check_result(&self, result: String) -> RunOutcome {
        if result.len() > self.limits.max_result_bytes {
            return RunOutcome::failed(
                ErrorKind::Permanent,
                format!("result of {} bytes exceeds the limit of {} bytes", result.len(), self.limits.max_result_bytes),
            );
        }
        match serde_json::from_str::<&serde_json::value::RawValue>(&result) {
            Ok(_) => RunOutcome::Completed(result),
            Err(e) => RunOutcome::failed(ErrorKind::Permanent, format!("result is not valid JSON: {e}")),
        }
    }
}

/// Names the cause of a trap in words an operator can act on.
fn describe_trap(err: &wasmtime::Error, store: &Store<MissionState>) -> String {
    let cause = match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::StackOverflow) => "stack overflow (recursed past the wasm stack)",
        Some(wasmtime::Trap::UnreachableCodeReached) => "the plugin panicked or aborted (unreachable)",
        Some(wasmtime::Trap::MemoryOutOfBounds) => "out-of-bounds memory access",
        Some(wasmtime::Trap::Interrupt) => "interrupted",
        Some(_) => "trap",
        None => "error",
    };
    let stderr = String::from_utf8_lossy(&store.data().stderr.contents()).trim().to_owned();
    let mut msg = format!("plugin {cause}: {err:#}");
    if !stderr.is_empty() {
        msg.push_str(&format!("; stderr: {}", tail(&stderr, 500)));
    }
    msg
}

fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Sends what the guest wrote to stdout and stderr to the mission log.
fn forward_output(store: &Store<MissionState>, reports: &UnboundedSender<Report>) {
    let data = store.data();
    for (pipe, level) in [(&data.stdout, "info"), (&data.stderr, "warn")] {
        let text = pipe.contents();
        if !text.is_empty() {
            let message = String::from_utf8_lossy(&text).trim_end().to_owned();
            let _ = reports.send(Report::Log { level, message });
        }
    }
    if data.log_dropped > 0 {
        let message = format!("{} log lines dropped over the limit of {}", data.log_dropped, data.log_budget);
        let _ = reports.send(Report::Log { level: "warn", message });
    }
}
