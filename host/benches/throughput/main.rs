//! End-to-end benchmark of mission-runner against BullMQ, each at its best.
//!
//! 1. **Sweep**: for each concurrency of BENCH_SWEEP, a processed run of
//!    BENCH_MISSIONS no-op missions (the `noop` plugin, each in a fresh
//!    sandboxed instance, with all its events) submitted through the batch
//!    API to in-process hosts, and the same with BullMQ (`bench/bullmq`,
//!    that concurrency for its worker); every run on a fresh private Redis.
//!    Each system's best is the run with the most processed/s.
//! 2. **Headline**: both at their best, beside the measurements that do not
//!    depend on concurrency (round trips, memory per queued mission, idle
//!    CPU), taken once per system at its best concurrency; and the ratios.
//! 3. **Scale curve**: 1, 2, 3... host processes (the release binary) on one
//!    Redis at mission-runner's best concurrency, with Redis' CPU use.
//!
//! The hosts take the runtime threads a host beside its Redis takes by
//! default (every core less one; the scale curve's processes by their own
//! default, their Redis being on loopback).
//!
//! It prints the machine, the three tables and one JSON line with everything.
//! Run: `./scripts/bench.sh` (or `cargo bench --bench throughput`).
//!
//! Settings (environment): BENCH_MISSIONS (10000 per run), BENCH_SWEEP
//! ("8,32,128,512"; else BENCH_CONCURRENCY alone if set), BENCH_HOSTS (1
//! in-process host in the sweep), BENCH_SCALE ("1,2,3" host processes; "" skips
//! it), BENCH_SCALE_MISSIONS (30000 per point: runs of a few seconds, steadier
//! than one), BENCH_QUEUED (100000, for memory), BENCH_MONITORED (1000, for round
//! trips), BENCH_PEER (1; 0 skips BullMQ), BENCH_EVENTS_MAX_LEN (10000: the
//! event stream's cap, BullMQ's default cap of its own event stream, so both
//! keep the same history).

#[path = "../common/mod.rs"]
mod common;
mod hosts;
mod load;
mod machine;
mod ours;
mod peer;
mod probe;
mod report;
mod scale;

use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};

/// The bench's settings, from the environment.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Missions of each processed run.
    pub missions: usize,
    /// Concurrencies of the sweep (per host for mission-runner; the worker's for BullMQ).
    pub sweep: Vec<usize>,
    /// In-process hosts in the sweep and the slower measurements.
    pub hosts: usize,
    /// Host processes of each point of the scale curve.
    pub scale: Vec<usize>,
    /// Missions of each point of the scale curve.
    pub scale_missions: usize,
    /// Missions queued with no worker, for memory per queued mission.
    pub queued: usize,
    /// Missions whose client commands are counted with MONITOR.
    pub monitored: usize,
    /// Run the BullMQ peer.
    pub peer: bool,
    /// Approximate cap of the event stream.
    pub events_max_len: u64,
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A comma-separated list of positive numbers; `default` when unset.
fn list(name: &str, default: &str) -> anyhow::Result<Vec<usize>> {
    let text = std::env::var(name).unwrap_or_else(|_| default.to_owned());
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().ok().filter(|n| *n > 0).with_context(|| format!("{name}: `{s}` is not a count")))
        .collect()
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let sweep = match (std::env::var("BENCH_SWEEP"), std::env::var("BENCH_CONCURRENCY")) {
            (Err(_), Ok(_)) => list("BENCH_CONCURRENCY", "8")?,
            _ => list("BENCH_SWEEP", "8,32,128,512")?,
        };
        anyhow::ensure!(!sweep.is_empty(), "BENCH_SWEEP: give at least one concurrency");
        Ok(Settings {
            missions: setting("BENCH_MISSIONS", 10_000).max(1),
            sweep,
            hosts: setting("BENCH_HOSTS", 1).max(1),
            scale: list("BENCH_SCALE", "1,2,3")?,
            scale_missions: setting("BENCH_SCALE_MISSIONS", 30_000).max(1),
            queued: setting("BENCH_QUEUED", 100_000).max(1),
            monitored: setting("BENCH_MONITORED", 1_000).max(1),
            peer: setting("BENCH_PEER", 1) != 0,
            events_max_len: setting("BENCH_EVENTS_MAX_LEN", 10_000) as u64,
        })
    }
}

/// The entry of `runs` with the most processed/s.
fn best<T>(runs: &[T], processed_per_s: impl Fn(&T) -> f64) -> Option<&T> {
    runs.iter().max_by(|a, b| processed_per_s(a).total_cmp(&processed_per_s(b)))
}

/// `a`'s fields, then `b`'s, as one JSON object.
fn merged(a: impl Serialize, b: impl Serialize) -> anyhow::Result<Value> {
    let mut out = serde_json::to_value(a)?;
    if let (Some(o), Value::Object(more)) = (out.as_object_mut(), serde_json::to_value(b)?) {
        o.extend(more);
    }
    Ok(out)
}

/// On the threads a host beside its Redis takes by default (every core less
/// one, `config::default_worker_threads`): the in-process hosts and the load
/// generator share them, as BullMQ's worker and its load share one Node thread.
fn main() -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = mission_runner::config::default_worker_threads(cores, true);
    tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let settings = Settings::from_env()?;
    let machine = machine::Machine::read(settings.peer);
    machine.print();
    let plugins = hosts::NoopPlugins::new()?;

    // The sweep, alternating systems so drift of a shared machine hits both alike.
    let (mut ours_runs, mut peer_runs) = (Vec::new(), Vec::new());
    for &c in &settings.sweep {
        let run = ours::processed(&settings, &plugins, c).await?;
        eprintln!("sweep: mission-runner at {c}: {:.0} processed/s", run.run.processed_per_s);
        ours_runs.push(run);
        if settings.peer {
            let run = peer::processed(&settings, c).await?;
            eprintln!("sweep: BullMQ at {c}: {:.0} processed/s", run.processed_per_s);
            peer_runs.push(run);
        }
    }
    let ours_best = best(&ours_runs, |r| r.run.processed_per_s).context("no sweep run")?.clone();
    let peer_best = best(&peer_runs, |r| r.processed_per_s).cloned();

    // What does not depend on concurrency: once each, at its best.
    eprintln!("round trips, idle CPU, memory: mission-runner at {}", ours_best.run.concurrency);
    let ours_extras = ours::extras(&settings, &plugins, ours_best.run.concurrency).await?;
    let peer_headline = match &peer_best {
        Some(b) => {
            eprintln!("round trips, idle CPU, memory: BullMQ at {}", b.concurrency);
            merged(b, peer::extras(&settings, b.concurrency).await?)?
        }
        None => Value::Null,
    };
    let ours_headline = merged(&ours_best, &ours_extras)?;

    let mut curve = Vec::new();
    for &n in &settings.scale {
        let point = scale::point(&settings, &plugins, n, ours_best.run.concurrency).await?;
        eprintln!("scale: {n} host process(es): {:.0} processed/s", point.run.processed_per_s);
        curve.push(point);
    }

    report::sweep(settings.missions, &ours_runs, &peer_runs);
    let ratios = report::headline(&ours_headline, &peer_headline);
    report::scale(&curve);
    let load_after = machine::load_average();
    let elapsed = started.elapsed().as_secs_f64();
    println!("\nload average at the end: {load_after}; the whole bench took {elapsed:.0} s");
    println!(
        "{}",
        json!({
            "machine": machine,
            "settings": settings,
            "mission_runner": ours_headline,
            "bullmq": peer_headline,
            "ratio": ratios,
            "best": { "mission_runner": ours_best.run.concurrency, "bullmq": peer_best.map(|b| b.concurrency) },
            "sweep": { "mission_runner": ours_runs, "bullmq": peer_runs },
            "scale": curve,
            "load_average_end": load_after,
            "elapsed_s": elapsed,
        })
    );
    Ok(())
}
