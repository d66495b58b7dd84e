//! The BullMQ peer (bench/bullmq/bench.mjs), each run on a fresh private
//! Redis of the same kind as ours; it prints one JSON line of the phases asked for.

use std::path::PathBuf;

use anyhow::{Context as _, ensure};
use mission_runner::embedded_redis::{Persistence, RedisServer};
use serde::de::DeserializeOwned;

use crate::Settings;
use crate::load::Processed;
use crate::ours::Extras;

/// What one run of the peer measures (its `BENCH_PHASES`).
#[derive(Debug, Clone, Copy)]
enum Phases {
    /// A processed run: [`Processed`].
    Processed,
    /// Round trips, idle CPU and memory per queued job: [`Extras`].
    Extras,
}

impl Phases {
    fn name(self) -> &'static str {
        match self {
            Phases::Processed => "processed",
            Phases::Extras => "extras",
        }
    }
}

/// A processed run of `settings.missions` jobs, the worker at `concurrency`.
pub async fn processed(settings: &Settings, concurrency: usize) -> anyhow::Result<Processed> {
    run(settings, concurrency, Phases::Processed).await
}

/// Round trips, idle CPU and memory per queued job, the worker at `concurrency`.
pub async fn extras(settings: &Settings, concurrency: usize) -> anyhow::Result<Extras> {
    run(settings, concurrency, Phases::Extras).await
}

async fn run<T: DeserializeOwned>(settings: &Settings, concurrency: usize, phases: Phases) -> anyhow::Result<T> {
    let dir = tempfile::tempdir()?;
    let redis = RedisServer::start(dir.path(), Persistence::None).await?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/bullmq/bench.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .env("REDIS_PORT", redis.port().to_string())
        .env("REDIS_PASSWORD", redis.password())
        .env("BENCH_PHASES", phases.name())
        .env("BENCH_MISSIONS", settings.missions.to_string())
        .env("BENCH_CONCURRENCY", concurrency.to_string())
        .env("BENCH_QUEUED", settings.queued.to_string())
        .env("BENCH_MONITORED", settings.monitored.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .context("running node (bench/bullmq: npm install)")?;
    redis.shutdown().await?;
    ensure!(out.status.success(), "BullMQ peer failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    serde_json::from_str(line).with_context(|| format!("the peer's JSON line ({} phase): {line}", phases.name()))
}
