//! Runs plugins: one engine, pre-instantiated components, and a fresh sandboxed
//! instance for every attempt.
//!
//! The sandbox: WASI 0.2 with no directories, sockets, environment or host
//! stdio (stdout and stderr are captured); a memory cap per instance; a
//! wall-clock timeout enforced by epoch interruption, so a guest stuck in a loop
//! is stopped, not waited out; and a cap on the result's size.

mod bindings;
mod cache;
pub mod capabilities;
mod engines;
mod guest_calls;
pub mod imports;
mod limits;
mod load;
pub mod outbound;
mod output;
mod plugin;
pub mod precheck;
mod reports;
mod state;
mod ticker;
pub mod truncate;
mod tuning;

pub use crate::model::report::{LogLevel, Report};
pub use capabilities::{Capabilities, CapabilityError, ConfigSource, KvStore};
pub use limits::{Budgets, LimitMaxima, Limits};
pub use outbound::{HttpRequestSeen, OutboundHttpConfig};
pub use plugin::{Plugin, digest};
pub use reports::{Batch, ReportReceiver, ReportSender};
pub use state::BudgetExceeded;
pub use tuning::{EngineTuning, FuelMetering};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::Instrument as _;
use wasmtime::{Engine, Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use bindings::{WitMission, WitMissionError};
use engines::Engines;
use output::CappedOutput;
use state::MissionState;
use truncate::truncated;

use crate::model::manifest::{Manifest, ManifestError};
use crate::model::mission::ErrorKind;

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
    /// The operator's policy over plugins' outbound HTTP (the deny list).
    pub outbound_http: OutboundHttpConfig,
    /// Fuel metering and how pooled memories are reset (defaults: the host's).
    pub tuning: EngineTuning,
}

/// Why a component cannot be used as a plugin (an upload answers 400 with it,
/// or 422 for [`TooCostly`](Self::TooCostly) and [`TooSlow`](Self::TooSlow)).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not a component, or it does not compile on this engine.
    #[error("not a valid WebAssembly component for this host: {0}")]
    Invalid(String),
    /// Refused before compiling: its shape would cost too much to compile.
    #[error("the component is {0}")]
    TooCostly(String),
    /// Compiling it took longer than the host allows.
    #[error("the component is too costly to compile: {0}")]
    TooSlow(String),
    /// Every compile slot stayed busy for the whole compile budget.
    #[error("the host is busy compiling other components ({0}); try again later")]
    Busy(String),
    /// It does not implement the `mission-plugin` world, or imports what the host does not grant.
    #[error("the component does not implement the mission-runner:plugin/mission-plugin world: {0}")]
    WrongWorld(String),
    /// It imports a capability its manifest does not grant (the message names the grant).
    #[error("the component {0}")]
    NotGranted(String),
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
    /// What the guest's `config` and `kv` imports reach (within its grants).
    pub capabilities: Capabilities,
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

/// Receives the duration of each instantiation (see [`Runtime::on_instantiate`]).
type InstantiateObserver = Box<dyn Fn(Duration) + Send + Sync>;

/// The wasm engines (see [`engines`]), and the epoch ticker. Create one per process.
pub struct Runtime {
    /// The engine of plugins with a fuel limit, and that of the others.
    engines: Engines,
    limits: Limits,
    /// Told how long each fresh instantiation took: the server points it at
    /// `/metrics` (the runtime depends on the model only, not on metrics).
    on_instantiate: std::sync::OnceLock<InstantiateObserver>,
    /// Advances the epoch while instances run (missions, and `describe()`).
    ticker: Arc<ticker::EpochTicker>,
    /// Loads (compile and `describe()`) that may run at once; a permit is held
    /// by the loading thread until it ends, not by whoever waits for it.
    compile_slots: Arc<tokio::sync::Semaphore>,
    /// Outbound HTTP's deny list, TLS settings and metric observer.
    outbound: Arc<outbound::Shared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engines and their linkers, and starts the epoch ticker.
    pub fn new(cfg: &RuntimeConfig) -> anyhow::Result<Self> {
        let engines = Engines::new(cfg)?;
        let outbound = Arc::new(outbound::Shared::new(&cfg.outbound_http)?);

        let ticker = Arc::new(ticker::EpochTicker::start(engines.engines())?);
        let compile_slots = Arc::new(tokio::sync::Semaphore::new(cfg.limits.compile_concurrency.max(1)));
        Ok(Runtime {
            engines,
            limits: cfg.limits.clone(),
            on_instantiate: std::sync::OnceLock::new(),
            ticker,
            compile_slots,
            outbound,
        })
    }

    /// The engine of plugins with a fuel limit (every plugin's, when the
    /// host sets one or [`FuelMetering::Always`]).
    pub fn engine(&self) -> &Engine {
        self.engines.metered()
    }

    /// The host's limits of plugins.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sets who is told how long making each fresh instance took (once; a
    /// second call is ignored).
    pub fn on_instantiate(&self, observe: impl Fn(Duration) + Send + Sync + 'static) {
        let _ = self.on_instantiate.set(Box::new(observe));
    }

    /// Sets who is told of every outbound HTTP request a plugin makes (once;
    /// a second call is ignored): the server counts them in `/metrics`.
    pub fn on_http_request(&self, observe: impl Fn(&HttpRequestSeen) + Send + Sync + 'static) {
        let _ = self.outbound.observer.set(Arc::new(observe));
    }

    /// Components compiled and loaded from the cache so far.
    pub fn compile_stats(&self) -> (u64, u64) {
        self.engines.compile_stats()
    }

    /// Compiles (or loads from the cache) a component, checks that it implements
    /// the world, asks it to `describe()` itself and checks that against
    /// `manifest` (without one, the manifest is made from `describe()`); stores
    /// the compiled component in the cache only then. Runs on a blocking
    /// thread, one of at most `compile_concurrency`, in bounded time: see
    /// [`load`].
    pub async fn prepare(&self, wasm: &[u8], manifest: Option<Manifest>) -> Result<Plugin, LoadError> {
        let compile_budget = self.limits.compile_timeout();
        let slot = match tokio::time::timeout(compile_budget, self.compile_slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) => return Err(LoadError::Busy("the runtime is shutting down".into())),
            Err(_) => {
                return Err(LoadError::Busy(format!(
                    "no compile slot came free within {} ms",
                    compile_budget.as_millis()
                )));
            }
        };
        let abandoned = Arc::new(AtomicBool::new(false));
        // Compiled for the engine it will run on: one that counts fuel only
        // if the plugin has a fuel limit.
        let plugin_limits = manifest.as_ref().map(|m| m.limits.clone()).unwrap_or_default();
        let bound = self.engines.for_fuel(self.limits.fuel(&plugin_limits));
        let job = load::LoadJob {
            engine: bound.engine.clone(),
            metered: bound.metered,
            linker: bound.linker.clone(),
            cache: bound.cache.clone(),
            ticker: self.ticker.clone(),
            limits: self.limits.clone(),
            outbound: self.outbound.clone(),
            digest: digest(wasm),
            wasm: wasm.to_vec(),
            manifest,
            abandoned: abandoned.clone(),
            handle: tokio::runtime::Handle::current(),
        };
        let loading = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            job.run()
        });
        // The job refuses a compile over budget itself when the compile ends;
        // this bounds the wait when the compile does not end.
        let wait = compile_budget + self.limits.describe_timeout() + Duration::from_secs(1);
        match tokio::time::timeout(wait, loading).await {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(e)) => Err(LoadError::Invalid(format!("loading failed in the host: {e}"))),
            Err(_) => {
                abandoned.store(true, Ordering::Release);
                Err(LoadError::TooSlow(format!("compiling did not end within {} ms", compile_budget.as_millis())))
            }
        }
    }

    /// The two ends of the report stream of one attempt of `plugin`.
    pub fn report_channel(&self, plugin: &Plugin) -> (ReportSender, ReportReceiver) {
        reports::channel(&self.limits.budgets(&plugin.manifest.limits))
    }

    /// Runs one attempt in a fresh instance of `plugin`. Reports go to `reports`.
    /// Dropping the returned future stops the guest at its next epoch tick.
    pub async fn run(&self, plugin: &Plugin, input: &RunInput, reports: ReportSender) -> RunOutcome {
        let manifest = &plugin.manifest;
        let mut store = new_store(
            plugin.pre.engine(),
            plugin.metered,
            &self.limits,
            &self.outbound,
            Some(reports.clone()),
            manifest,
            Some(input.capabilities.clone()),
        );
        store.set_epoch_deadline(1);
        // Yield to tokio at every tick: long guests share the threads, and a
        // timed-out or cancelled attempt's future can be dropped between ticks.
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))));
        let timeout = manifest.limits.timeout_ms.map_or(input.timeout, |t| input.timeout.min(Duration::from_millis(t)));
        store.data_mut().http.deadline = Some(tokio::time::Instant::now() + timeout);
        let max_result = manifest.limits.max_result_bytes.unwrap_or(self.limits.max_result_bytes);
        let max_error = store.data().budgets.error_bytes;
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
            let instantiating = tracing::info_span!(target: crate::telemetry::TARGET, "plugin.instantiate");
            let instance = plugin.pre.instantiate_async(&mut store).instrument(instantiating).await?;
            if let Some(observe) = self.on_instantiate.get() {
                observe(started.elapsed());
            }
            let running = tracing::info_span!(target: crate::telemetry::TARGET, "plugin.run");
            // Outbound requests join the trace below this span (the guest's
            // host calls run on its fiber, where the span is not current).
            store.data_mut().http.traceparent = running.in_scope(crate::telemetry::propagation::current_traceparent);
            instance.call_run(&mut store, &mission).instrument(running).await
        };
        let outcome = match tokio::time::timeout(timeout, call).await {
            Err(_) => RunOutcome::failed(
                ErrorKind::Retryable,
                format!("timed out after {} ms (stopped by the host)", timeout.as_millis()),
            ),
            Ok(Err(trap)) => match trap.downcast_ref::<BudgetExceeded>() {
                Some(exceeded) => RunOutcome::failed(ErrorKind::Permanent, exceeded.0.clone()),
                None => RunOutcome::failed(ErrorKind::Retryable, truncated(describe_trap(&trap, &store), max_error)),
            },
            Ok(Ok(Err(WitMissionError::Retryable(m)))) => {
                RunOutcome::failed(ErrorKind::Retryable, truncated(m, max_error))
            }
            Ok(Ok(Err(WitMissionError::Permanent(m)))) => {
                RunOutcome::failed(ErrorKind::Permanent, truncated(m, max_error))
            }
            Ok(Ok(Ok(result))) => check_result(result, max_result),
        };
        let lines = output_lines(&store);
        drop(store);
        forward_output(lines, &reports).await;
        outcome
    }
}

/// A fresh store with the sandbox's WASI context and limits; `reports` is
/// `None` while the plugin only describes itself. The caller sets the epoch
/// deadline and what happens at it.
fn new_store(
    engine: &Engine,
    metered: bool,
    limits: &Limits,
    outbound: &Arc<outbound::Shared>,
    reports: Option<ReportSender>,
    manifest: &Manifest,
    capabilities: Option<Capabilities>,
) -> Store<MissionState> {
    let stdout = CappedOutput::new(limits.output_bytes);
    let stderr = CappedOutput::new(limits.output_bytes);
    // Nothing is granted but what the manifest grants: no preopens, no
    // network, no host stdio, and only the granted environment variables.
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(stdout.clone()).stderr(stderr.clone());
    for (k, v) in &manifest.grants.env {
        wasi.env(k, v);
    }
    let memory = manifest.limits.memory_mb.map_or(limits.memory_bytes, |mb| (mb as usize) << 20);
    let budgets = limits.budgets(&manifest.limits);
    let http_limits = limits.http.resolve(&manifest.limits.http, &limits.max.http);
    let http = outbound::OutboundHttp::new(
        outbound.clone(),
        manifest.grants.http.clone(),
        http_limits,
        reports.clone(),
        &manifest.name,
    );
    let state = MissionState {
        wasi: wasi.build(),
        table: Default::default(),
        limits: StoreLimitsBuilder::new().memory_size(memory).trap_on_grow_failure(true).build(),
        memory_limit: memory,
        reports,
        budgets,
        log_budget: budgets.log_lines,
        progress_budget: budgets.progress_updates,
        dropped: Default::default(),
        stdout,
        stderr,
        http_ctx: Default::default(),
        http,
        calls: guest_calls::GuestCalls::new(capabilities, &manifest.grants, limits.kv_operations(&manifest.limits)),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    // A plugin with a fuel limit was compiled for an engine that counts fuel
    // (`Runtime::prepare`); one without gets all there is if its engine counts
    // fuel anyway. Not set at all on an engine that does not count fuel: that
    // fails, and building the error (a backtrace) cost 4 µs per attempt.
    let fuel = limits.fuel(&manifest.limits);
    debug_assert!(metered || fuel.is_none(), "a fuel limit on an engine that does not count fuel");
    if metered {
        // The engine counts fuel, so setting it cannot fail.
        let _ = store.set_fuel(fuel.unwrap_or(u64::MAX));
    }
    store
}

/// A result must be JSON and within the size cap.
fn check_result(result: String, max: usize) -> RunOutcome {
    if result.len() > max {
        return RunOutcome::failed(
            ErrorKind::Permanent,
            format!("result of {} bytes exceeds the limit of {max} bytes", result.len()),
        );
    }
    match serde_json::from_str::<&serde_json::value::RawValue>(&result) {
        Ok(_) => RunOutcome::Completed(result),
        Err(e) => RunOutcome::failed(
            ErrorKind::Permanent,
            format!(
                "result is not valid JSON ({e}); it starts with {:?} (return JSON text, such as json.dumps(...) \
                 in Python or JSON.stringify(...) in JavaScript)",
                head(&result, 80)
            ),
        ),
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
    // Peeked, not taken: the mission log gets the whole stderr as well.
    let stderr = String::from_utf8_lossy(&data.stderr.peek()).trim().to_owned();
    let mut msg = format!("plugin {cause}: {full}");
    if !stderr.is_empty() {
        msg.push_str(&format!("; stderr: {}", tail(&stderr, 500)));
    }
    // componentize-js reports the bad value on stderr, not in the trap.
    if let Some(hint) = shape_hint(&full).or_else(|| shape_hint(&stderr)) {
        msg.push_str(&format!(" ({hint})"));
    }
    msg
}

/// What a guest most likely got wrong when the values it returned do not fit
/// the WIT's shapes (seen in the trap's text).
pub(crate) fn shape_hint(trap: &str) -> Option<&'static str> {
    if trap.contains("invalid variant tag") {
        return Some(
            "a JavaScript plugin fails a mission by throwing the WIT variant `mission-error`: \
             `throw { tag: 'permanent', val: 'why' }` (or tag 'retryable'), not `throw new Error(...)`",
        );
    }
    None
}

/// The first `max` bytes of `s` (at a character boundary).
fn head(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Sends what the guest wrote to stdout and stderr to the mission log, and one
/// line saying what the budgets held back. These few lines of the host's own
/// wait for room rather than being dropped.
async fn forward_output(lines: Vec<(LogLevel, String)>, reports: &ReportSender) {
    for (level, message) in lines {
        reports.log(level, message).await;
    }
}

/// The lines [`forward_output`] sends (taken out of the store, which is not
/// `Sync` and so cannot be held across an await).
fn output_lines(store: &Store<MissionState>) -> Vec<(LogLevel, String)> {
    let data = store.data();
    let mut lines = Vec::new();
    for (pipe, level, name) in [(&data.stdout, LogLevel::Info, "stdout"), (&data.stderr, LogLevel::Warn, "stderr")] {
        let (text, dropped) = pipe.take();
        if !text.is_empty() {
            let mut message = format!("[{name}] {}", String::from_utf8_lossy(&text).trim_end());
            if dropped > 0 {
                message.push_str(&format!(" [{dropped} more bytes dropped]"));
            }
            lines.push((level, message));
        }
    }
    if let Some(summary) = data.dropped_summary() {
        lines.push((LogLevel::Warn, summary));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_that_is_not_json_is_quoted() {
        let RunOutcome::Failed { message, .. } = check_result("hello, Ada".into(), 1024) else { panic!("accepted") };
        assert!(message.contains("starts with \"hello, Ada\""), "{message}");
    }

    #[test]
    fn a_javascript_error_thrown_as_an_error_gets_the_variant_form() {
        let hint = shape_hint("invalid variant tag value `undefined`").unwrap_or_default();
        assert!(hint.contains("{ tag: 'permanent', val: 'why' }"), "{hint}");
    }
}
