//! Timing fresh instances: one runtime per engine variant, and for each plugin
//! the time to a ready instance (up to its first guest call) and the whole
//! attempt (instantiate, `run`, output forwarded).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use mission_runner::runtime::{
    Capabilities, EngineTuning, Limits, Plugin, RunInput, RunOutcome, Runtime, RuntimeConfig,
};

use crate::subjects::Subject;

/// One engine configuration to compare.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Its label in the table.
    pub name: &'static str,
    /// Pooling allocator (the host's default) or on-demand.
    pub pooling: bool,
    /// The engine settings.
    pub tuning: EngineTuning,
}

/// A runtime for `variant`, and the cell its instantiation observer writes
/// the last instantiation's time into (nanoseconds).
pub struct Bench {
    pub runtime: Runtime,
    last_instantiate: Arc<AtomicU64>,
}

impl Bench {
    /// Compiled components are kept in `target/tmp/bench-compile-cache`, one
    /// directory per engine configuration: a second run does not compile.
    pub fn new(variant: &Variant) -> anyhow::Result<Self> {
        let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tmp/bench-compile-cache");
        let runtime = Runtime::new(&RuntimeConfig {
            max_instances: 16,
            pooling: variant.pooling,
            // The compile budget is the author's (`plugin run`'s), not an upload's:
            // an 18 MB component compiles slowly on a busy machine.
            limits: Limits { compile_timeout_ms: 600_000, ..Limits::default() },
            cache_dir: Some(cache),
            outbound_http: Default::default(),
            tuning: variant.tuning.clone(),
        })?;
        let last_instantiate = Arc::new(AtomicU64::new(0));
        let cell = last_instantiate.clone();
        runtime.on_instantiate(move |took| cell.store(took.as_nanos() as u64, Ordering::Relaxed));
        Ok(Bench { runtime, last_instantiate })
    }

    /// Compiles (or loads from the cache) and describes `subject`.
    pub async fn prepare(&self, subject: &Subject) -> anyhow::Result<Plugin> {
        Ok(self.runtime.prepare(&subject.wasm, subject.manifest.clone()).await?)
    }

    /// One attempt: (time to a ready instance, whole attempt), after checking
    /// that it completed.
    pub async fn attempt(&self, plugin: &Plugin, input: &RunInput) -> anyhow::Result<(Duration, Duration)> {
        let (tx, rx) = self.runtime.report_channel(plugin);
        let start = Instant::now();
        let outcome = self.runtime.run(plugin, input, tx).await;
        let total = start.elapsed();
        drop(rx);
        ensure!(matches!(outcome, RunOutcome::Completed(_)), "{}: unexpected outcome {outcome:?}", plugin.name());
        let instantiate = Duration::from_nanos(self.last_instantiate.load(Ordering::Relaxed));
        Ok((instantiate, total))
    }
}

/// The input of one attempt of `plugin` with `payload`.
pub fn input(plugin: &Plugin, payload: &str) -> RunInput {
    RunInput {
        id: "bench".into(),
        mission_type: plugin.mission_types().first().cloned().unwrap_or_default(),
        attempt: 1,
        max_attempts: 1,
        payload: payload.to_owned(),
        timeout: Duration::from_secs(60),
        capabilities: Capabilities::none(),
    }
}

/// Percentiles and mean of one plugin on one variant.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub iterations: usize,
    /// The first attempt after loading (only `describe()` ran before it): a
    /// cold slot, its memory image mapped in and every page it touches
    /// faulted in.
    pub cold: Duration,
    /// Median time to a ready instance.
    pub instantiate_p50: Duration,
    /// Median whole attempt.
    pub total_p50: Duration,
    pub total_p99: Duration,
    pub total_mean: Duration,
}

impl Summary {
    /// The figures as JSON, in microseconds.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "iterations": self.iterations,
            "cold_us": us(self.cold),
            "instantiate_p50_us": us(self.instantiate_p50),
            "call_p50_us": us(self.total_p50.saturating_sub(self.instantiate_p50)),
            "p50_us": us(self.total_p50),
            "p99_us": us(self.total_p99),
            "mean_us": us(self.total_mean),
        })
    }
}

/// Microseconds, for printing.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Warm-up attempts before timing (slots filled, caches warm).
const WARMUP: usize = 20;
/// Bounds of the timed attempts per cell: as many as fit in the time budget.
const MIN_ITERATIONS: usize = 50;
const MAX_ITERATIONS: usize = 5_000;

/// Times attempts of `plugin`: as many as fit in `budget` (within bounds).
pub async fn measure(bench: &Bench, plugin: &Plugin, payload: &str, budget: Duration) -> anyhow::Result<Summary> {
    let input = input(plugin, payload);
    let (_, cold) = bench.attempt(plugin, &input).await?;
    let warm = Instant::now();
    for _ in 0..WARMUP {
        bench.attempt(plugin, &input).await?;
    }
    let per_attempt = warm.elapsed() / WARMUP as u32;
    let iterations = (budget.as_secs_f64() / per_attempt.as_secs_f64().max(1e-9))
        .clamp(MIN_ITERATIONS as f64, MAX_ITERATIONS as f64);
    let mut instantiate = Vec::with_capacity(iterations as usize);
    let mut total = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations as usize {
        let (i, t) = bench.attempt(plugin, &input).await?;
        instantiate.push(i);
        total.push(t);
    }
    instantiate.sort();
    total.sort();
    Ok(Summary {
        iterations: total.len(),
        cold,
        instantiate_p50: percentile(&instantiate, 0.50),
        total_p50: percentile(&total, 0.50),
        total_p99: percentile(&total, 0.99),
        total_mean: total.iter().sum::<Duration>() / total.len() as u32,
    })
}

/// The `p` percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}
