//! Runs plugins: one engine, pre-instantiated components, and a fresh sandboxed
//! instance for every attempt.
//!
//! The sandbox: WASI 0.2 with no directories, sockets, environment or host
//! stdio (stdout and stderr are captured); a memory cap per instance; a
//! wall-clock timeout enforced by epoch interruption, so a guest stuck in a loop
//! is stopped, not waited out; and a cap on the result's size.

mod bindings;
mod cache;
mod output;
mod plugin;
mod state;
mod ticker;

pub use plugin::{Plugin, digest};
pub use state::Report;

use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc::UnboundedSender;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::WasiCtxBuilder;

use bindings::{MissionPlugin, MissionPluginPre, WitMission, WitMissionError};
use cache::CompileCache;
use output::CappedOutput;
use state::MissionState;

use crate::mission::ErrorKind;
use crate::registry::{MAX_MEMORY_MB, Manifest, ManifestError};

/// Default limits of every instance; a plugin's manifest may set its own.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest linear memory of one instance.
    pub memory_bytes: usize,
    /// Largest result a plugin may return.
    pub max_result_bytes: usize,
    /// Fuel one attempt may burn (`None`: unmetered, only the timeout applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Captured stdout and stderr kept per attempt, each.
    pub output_bytes: usize,
    /// Log lines one attempt may send.
    pub max_log_lines: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 128 << 20,
            max_result_bytes: 1 << 20,
            fuel: None,
            output_bytes: 64 << 10,
            max_log_lines: 1_000,
        }
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
    /// Directory of the compile cache (`None`: always compile).
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Why a component cannot be used as a plugin (an upload answers 400 with it).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not a component, or it does not compile on this engine.
    #[error("not a valid WebAssembly component for this host: {0}")]
    Invalid(String),
    /// It does not implement the `mission-plugin` world, or imports what the host does not grant.
    #[error("the component does not implement the mission-runner:plugin/mission-plugin world: {0}")]
    WrongWorld(String),
    /// `describe()` trapped or hung.
    #[error("describe() failed: {0}")]
    Describe(String),
    /// The manifest is invalid or disagrees with `describe()`.
    #[error("manifest: {0}")]
    Manifest(#[from] ManifestError),
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
    cache: CompileCache,
    /// Time to make fresh instances (shown by `/metrics`).
    instantiate: crate::metrics::Histogram,
    /// Advances the epoch while instances run.
    ticker: ticker::EpochTicker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch ticker.
    pub fn new(cfg: &RuntimeConfig) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Metered only for plugins whose manifest sets fuel; others get u64::MAX.
        config.consume_fuel(true);
        if cfg.pooling {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(cfg.max_instances)
                .total_core_instances(cfg.max_instances * 4)
                .total_memories(cfg.max_instances * 2)
                .total_tables(cfg.max_instances * 4)
                .total_stacks(cfg.max_instances)
                .max_memory_size((MAX_MEMORY_MB as usize) << 20)
                // A slot's first pages are zeroed in place rather than given back
                // with madvise, which flushes the TLB on every core (the throughput
                // bench's profile showed those flushes first). Kept small: zeroing
                // a whole MiB in place cost more than the flushes it saved.
                .linear_memory_keep_resident(64 << 10)
                .table_keep_resident(64 << 10)
                .async_stack_keep_resident(64 << 10)
                // What is still decommitted goes in batches: one flush per batch.
                .decommit_batch_size(32);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(anyhow::Error::from).context("creating the wasm engine")?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        MissionPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;

        let ticker = ticker::EpochTicker::start(engine.clone())?;
        let cache = CompileCache::new(&engine, cfg.cache_dir.as_deref());
        Ok(Runtime { engine, linker, limits: cfg.limits.clone(), cache, instantiate: Default::default(), ticker })
    }

    /// The engine (for compile caches and metrics).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// How long making fresh instances took.
    pub fn instantiate_histogram(&self) -> &crate::metrics::Histogram {
        &self.instantiate
    }

    /// Components compiled and loaded from the cache so far.
    pub fn compile_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.cache.stats.compiled.load(Relaxed), self.cache.stats.hits.load(Relaxed))
    }

    /// Compiles (or loads from the cache) a component, checks that it implements
    /// the world, asks it to `describe()` itself and checks that against
    /// `manifest` (without one, the manifest is made from `describe()`).
    pub async fn prepare(&self, wasm: &[u8], manifest: Option<Manifest>) -> Result<Plugin, LoadError> {
        let digest = digest(wasm);
        let component = self
            .cache
            .load_or_compile(&self.engine, &digest, wasm)
            .map_err(|e| LoadError::Invalid(format!("{:#}", anyhow::Error::from(e))))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(MissionPluginPre::new)
            .map_err(|e| LoadError::WrongWorld(format!("{:#}", anyhow::Error::from(e))))?;
        let mut store = self.store(None, &Manifest::from_describe("", "0.0.0", &[]));
        let describe = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.call_describe(&mut store).await
        };
        let info = match tokio::time::timeout(Duration::from_secs(5), describe).await {
            Err(_) => return Err(LoadError::Describe("did not return within 5 s".into())),
            Ok(Err(e)) => return Err(LoadError::Describe(format!("{:#}", anyhow::Error::from(e)))),
            Ok(Ok(info)) => info,
        };
        let manifest = match manifest {
            Some(m) => {
                m.check_describe(&info.name, &info.version, &info.mission_types)?;
                m
            }
            None => Manifest::from_describe(&info.name, &info.version, &info.mission_types),
        };
        manifest.validate()?;
        Ok(Plugin { manifest, digest, pre })
    }

    /// A fresh store with the sandbox's WASI context and limits.
    fn store(&self, reports: Option<UnboundedSender<Report>>, manifest: &Manifest) -> Store<MissionState> {
        let stdout = CappedOutput::new(self.limits.output_bytes);
        let stderr = CappedOutput::new(self.limits.output_bytes);
        // Nothing is granted but what the manifest grants: no preopens, no
        // network, no host stdio, and only the granted environment variables.
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        for (k, v) in &manifest.grants.env {
            wasi.env(k, v);
        }
        let memory = manifest.limits.memory_mb.map_or(self.limits.memory_bytes, |mb| (mb as usize) << 20);
        let state = MissionState {
            wasi: wasi.build(),
            table: Default::default(),
            limits: StoreLimitsBuilder::new().memory_size(memory).trap_on_grow_failure(true).build(),
            memory_limit: memory,
            reports,
            log_budget: self.limits.max_log_lines,
            log_dropped: 0,
            stdout,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let fuel = manifest.limits.fuel.or(self.limits.fuel).unwrap_or(u64::MAX);
        // Fuel is enabled on the engine, so setting it cannot fail.
        let _ = store.set_fuel(fuel);
        store.set_epoch_deadline(1);
        // Yield to tokio at every tick: long guests share the threads, and a
        // timed-out or cancelled attempt's future can be dropped between ticks.
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))));
        store
    }

    /// Runs one attempt in a fresh instance of `plugin`. Reports go to `reports`.
    /// Dropping the returned future stops the guest at its next epoch tick.
    pub async fn run(&self, plugin: &Plugin, input: &RunInput, reports: UnboundedSender<Report>) -> RunOutcome {
        let manifest = &plugin.manifest;
        let mut store = self.store(Some(reports.clone()), manifest);
        let timeout = manifest.limits.timeout_ms.map_or(input.timeout, |t| input.timeout.min(Duration::from_millis(t)));
        let max_result = manifest.limits.max_result_bytes.unwrap_or(self.limits.max_result_bytes);
        let mission = WitMission {
            id: input.id.clone(),
            mission_type: input.mission_type.clone(),
            attempt: input.attempt,
            max_attempts: input.max_attempts,
            payload: input.payload.clone(),
        };
        let _running = self.ticker.running();
        let call = async {
            let started = std::time::Instant::now();
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            self.instantiate.observe(started.elapsed());
            instance.call_run(&mut store, &mission).await
        };
        let outcome = match tokio::time::timeout(timeout, call).await {
            Err(_) => RunOutcome::failed(
                ErrorKind::Retryable,
                format!("timed out after {} ms (stopped by the host)", timeout.as_millis()),
            ),
            Ok(Err(trap)) => RunOutcome::failed(ErrorKind::Retryable, describe_trap(&trap, &store)),
            Ok(Ok(Err(WitMissionError::Retryable(m)))) => RunOutcome::failed(ErrorKind::Retryable, m),
            Ok(Ok(Err(WitMissionError::Permanent(m)))) => RunOutcome::failed(ErrorKind::Permanent, m),
            Ok(Ok(Ok(result))) => check_result(result, max_result),
        };
        forward_output(&store, &reports);
        outcome
    }
}

/// A result must be JSON and within the size cap.
fn check_result(result: String, max: usize) -> RunOutcome {
    {
        if result.len() > max {
            return RunOutcome::failed(
                ErrorKind::Permanent,
                format!("result of {} bytes exceeds the limit of {max} bytes", result.len()),
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
    let data = store.data();
    let full = format!("{err:#}");
    let cause = match err.downcast_ref::<wasmtime::Trap>() {
        _ if full.contains("growing memory") => {
            format!("exceeded its memory limit of {} MiB", data.memory_limit >> 20)
        }
        Some(wasmtime::Trap::StackOverflow) => "overflowed its stack (recursed too deep)".into(),
        Some(wasmtime::Trap::UnreachableCodeReached) => "panicked or aborted (wasm `unreachable`)".into(),
        Some(wasmtime::Trap::OutOfFuel) => "ran out of fuel".into(),
        Some(wasmtime::Trap::MemoryOutOfBounds) => "accessed memory out of bounds".into(),
        Some(t) => format!("trapped ({t})"),
        None => "failed in the host".into(),
    };
    let (stderr, _) = data.stderr.take();
    let stderr = String::from_utf8_lossy(&stderr).trim().to_owned();
    let mut msg = format!("plugin {cause}: {full}");
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
    for (pipe, level, name) in [(&data.stdout, "info", "stdout"), (&data.stderr, "warn", "stderr")] {
        let (text, dropped) = pipe.take();
        if !text.is_empty() {
            let mut message = format!("[{name}] {}", String::from_utf8_lossy(&text).trim_end());
            if dropped > 0 {
                message.push_str(&format!(" [{dropped} more bytes dropped]"));
            }
            let _ = reports.send(Report::Log { level, message });
        }
    }
    if data.log_dropped > 0 {
        let message = format!("{} more log lines dropped (the limit per attempt is reached)", data.log_dropped);
        let _ = reports.send(Report::Log { level: "warn", message });
    }
}
