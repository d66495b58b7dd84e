//! Instantiate-plus-run time of a minimal mission (the `echo` plugin: a fresh
//! sandboxed instance, one call, one log line), with and without wasmtime's
//! pooling allocator. Run: `cargo bench --bench instantiate` (after
//! `scripts/build-plugins.sh`). Prints a table and one JSON line.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mission_runner::runtime::{Limits, RunInput, RunOutcome, Runtime, RuntimeConfig};

const WARMUP: usize = 200;
const ITERATIONS: usize = 5_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn measure(pooling: bool, wasm: &[u8]) -> anyhow::Result<(Duration, Duration, Duration)> {
    let runtime = Runtime::new(&RuntimeConfig {
        max_instances: 16,
        pooling,
        limits: Limits::default(),
        cache_dir: None,
        outbound_http: Default::default(),
    })?;
    let plugin = runtime.prepare(wasm, None).await?;
    let input = RunInput {
        id: "bench".into(),
        mission_type: "echo".into(),
        attempt: 1,
        max_attempts: 1,
        payload: "{}".into(),
        timeout: Duration::from_secs(10),
        capabilities: mission_runner::runtime::Capabilities::none(),
    };
    let mut samples = Vec::with_capacity(ITERATIONS);
    for i in 0..WARMUP + ITERATIONS {
        let (tx, rx) = runtime.report_channel(&plugin);
        let start = Instant::now();
        let outcome = runtime.run(&plugin, &input, tx).await;
        let took = start.elapsed();
        anyhow::ensure!(outcome == RunOutcome::Completed("{}".into()), "unexpected outcome {outcome:?}");
        drop(rx);
        if i >= WARMUP {
            samples.push(took);
        }
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    Ok((percentile(&samples, 0.50), percentile(&samples, 0.99), mean))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist/echo.wasm");
    let wasm =
        std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e} (run scripts/build-plugins.sh)", path.display()))?;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("instantiate + run of the echo plugin, {ITERATIONS} iterations each");
    println!("{:<10} {:>10} {:>10} {:>10}", "allocator", "p50 µs", "p99 µs", "mean µs");
    let mut json = serde_json::Map::new();
    for (name, pooling) in [("pooling", true), ("on-demand", false)] {
        let (p50, p99, mean) = measure(pooling, &wasm).await?;
        println!("{name:<10} {:>10.1} {:>10.1} {:>10.1}", us(p50), us(p99), us(mean));
        json.insert(name.into(), serde_json::json!({ "p50_us": us(p50), "p99_us": us(p99), "mean_us": us(mean) }));
    }
    println!("{}", serde_json::Value::Object(json));
    Ok(())
}
