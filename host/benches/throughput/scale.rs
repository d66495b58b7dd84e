//! The scale curve: 1, 2, 3... host processes on one private Redis, at
//! mission-runner's best concurrency. Beside throughput it records where the
//! CPU went (Redis' own, the hosts', the load generator's), so the knee can be
//! explained: Redis' main thread at ~100 % of a core, or the machine's cores
//! shared by hosts, Redis and the load generator.

use mission_runner::embedded_redis::{Persistence, RedisServer};
use serde::Serialize;

use crate::Settings;
use crate::hosts::{self, HostProcess, NoopPlugins};
use crate::load::{Processed, Target};
use crate::machine::{cpu_time, machine_busy_time};

/// One point of the curve.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Host processes.
    pub processes: usize,
    #[serde(flatten)]
    pub run: Processed,
    /// The host processes' CPU over the run, together, in % of one core.
    pub hosts_cpu_percent: f64,
    /// This process' CPU (the load generator: submission and polling), in % of one core.
    pub load_generator_cpu_percent: f64,
    /// Every core's busy time over the run, in % of one core (at most 100 x cores):
    /// near the top, the machine is the limit, not Redis.
    pub machine_cpu_percent: f64,
}

pub async fn point(
    settings: &Settings,
    plugins: &NoopPlugins,
    processes: usize,
    concurrency: usize,
) -> anyhow::Result<Point> {
    let dir = tempfile::tempdir()?;
    let redis = RedisServer::start(dir.path(), Persistence::None).await?;
    let mut conn = redis::Client::open(redis.url())?.get_multiplexed_async_connection().await?;
    let config = hosts::config(settings, plugins, &redis.url(), concurrency, "mr");
    let mut children = Vec::new();
    for _ in 0..processes {
        children.push(HostProcess::spawn(&config).await?);
    }
    let urls: Vec<String> = children.iter().map(|c| c.url.clone()).collect();
    let target = Target::new(&urls, "mr");
    let done = target.warm_up(&mut conn).await?;
    let hosts_cpu = || children.iter().map(|c| cpu_time(&c.pid)).sum::<std::time::Duration>();
    let (hosts0, own0, machine0) = (hosts_cpu(), cpu_time("self"), machine_busy_time());
    let raw = target.run(&mut conn, settings.scale_missions, done).await?;
    let (hosts1, own1, machine1) = (hosts_cpu(), cpu_time("self"), machine_busy_time());
    let run = target.measure(&mut conn, raw, concurrency).await?;
    for c in children {
        c.kill().await?;
    }
    redis.shutdown().await?;
    let percent = |d: std::time::Duration| d.as_secs_f64() / run.wall_s.max(1e-6) * 100.0;
    Ok(Point {
        processes,
        hosts_cpu_percent: percent(hosts1 - hosts0),
        load_generator_cpu_percent: percent(own1 - own0),
        machine_cpu_percent: percent(machine1 - machine0),
        run,
    })
}
