//! mission-runner's side, with hosts in this process: one processed run per
//! concurrency of the sweep, and once the measurements that do not depend on
//! it (round trips, idle CPU, memory per queued mission). Each on a fresh
//! private Redis.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use mission_runner::embedded_redis::{Persistence, RedisServer};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt as _;

use crate::hosts::{self, NoopPlugins};
use crate::load::{Processed, Target};
use crate::machine::cpu_time;
use crate::{Settings, probe};

/// One processed run of mission-runner.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    #[serde(flatten)]
    pub run: Processed,
    /// Hosts, each with `concurrency` slots.
    pub hosts: usize,
    pub events_max_len: u64,
    /// Mean time to instantiate and run the plugin on the first host, under load.
    pub instantiate_mean_us: f64,
}

/// The measurements that do not depend on concurrency; the BullMQ peer prints
/// the same fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extras {
    /// Commands clients sent (not those scripts ran) per mission: round trips.
    pub client_commands_per_mission: f64,
    /// Redis `used_memory` per mission queued with no worker.
    pub memory_per_queued_bytes: f64,
    /// CPU of the idle host (here: this whole process) over 5 s, in %.
    pub idle_cpu_percent: f64,
}

/// A fresh private Redis with in-process hosts under the prefix `mr`, warmed up
/// (compile caches, connections): where every run of this side starts.
struct Stage {
    /// Redis' data directory, removed when dropped.
    _dir: tempfile::TempDir,
    redis: RedisServer,
    conn: redis::aio::MultiplexedConnection,
    hosts: Vec<mission_runner::server::Host>,
    target: Target,
    /// Missions completed by the warm-up.
    done: usize,
}

impl Stage {
    async fn start(settings: &Settings, plugins: &NoopPlugins, concurrency: usize) -> anyhow::Result<Stage> {
        let dir = tempfile::tempdir()?;
        let redis = RedisServer::start(dir.path(), Persistence::None).await?;
        let mut conn = redis::Client::open(redis.url())?.get_multiplexed_async_connection().await?;
        let hosts = hosts::in_process(settings, plugins, &redis.url(), settings.hosts, concurrency, "mr").await?;
        let target = Target::new(&hosts::urls(&hosts), "mr");
        let done = target.warm_up(&mut conn).await?;
        Ok(Stage { _dir: dir, redis, conn, hosts, target, done })
    }
}

/// A processed run of `settings.missions` with `concurrency` slots per host.
pub async fn processed(settings: &Settings, plugins: &NoopPlugins, concurrency: usize) -> anyhow::Result<Run> {
    let Stage { _dir, redis, mut conn, hosts: hs, target, done } = Stage::start(settings, plugins, concurrency).await?;
    let run = target.processed(&mut conn, settings.missions, concurrency, done).await?;
    let instantiate = hs[0].metrics().instantiate.mean().unwrap_or_default();
    for h in hs {
        h.shutdown().await?;
    }
    redis.shutdown().await?;
    Ok(Run {
        run,
        hosts: settings.hosts,
        events_max_len: settings.events_max_len,
        instantiate_mean_us: instantiate.as_secs_f64() * 1e6,
    })
}

/// Round trips (over `settings.monitored` missions), idle CPU and memory per
/// queued mission, with `concurrency` slots per host.
pub async fn extras(settings: &Settings, plugins: &NoopPlugins, concurrency: usize) -> anyhow::Result<Extras> {
    let Stage { _dir, redis, mut conn, hosts: hs, target, done } = Stage::start(settings, plugins, concurrency).await?;

    // Round trips: every command a client sent.
    let monitored = settings.monitored;
    let client_cmds = client_commands(&redis, async {
        target.submit(monitored).await?;
        target.wait_completed(&mut conn.clone(), done + monitored).await
    })
    .await?;

    // Idle: the hosts with nothing to do.
    let cpu0 = cpu_time("self");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_cpu = (cpu_time("self") - cpu0).as_secs_f64() / 5.0 * 100.0;

    // Memory: missions queued with no worker, under a prefix of their own.
    let api_only = hosts::in_process(settings, plugins, &redis.url(), 1, 0, "mem").await?;
    let mem0 = probe::used_memory(&mut conn).await?;
    Target::new(&hosts::urls(&api_only), "mem").submit(settings.queued).await?;
    let mem1 = probe::used_memory(&mut conn).await?;
    for h in api_only.into_iter().chain(hs) {
        h.shutdown().await?;
    }
    redis.shutdown().await?;
    Ok(Extras {
        client_commands_per_mission: client_cmds as f64 / monitored as f64,
        memory_per_queued_bytes: (mem1 - mem0) as f64 / settings.queued as f64,
        idle_cpu_percent: idle_cpu,
    })
}

/// Counts the commands clients send (not those scripts run) while `work`
/// runs, with `MONITOR`; `work` returns the commands it sent itself.
async fn client_commands<F: std::future::Future<Output = anyhow::Result<u64>>>(
    redis: &RedisServer,
    work: F,
) -> anyhow::Result<u64> {
    let mut monitor = tokio::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "monitor"])
        // The private Redis asks for a password; in the environment, not on the command line.
        .env("REDISCLI_AUTH", redis.password())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("redis-cli monitor")?;
    let mut lines = tokio::io::BufReader::new(monitor.stdout.take().context("stdout")?).lines();
    ensure!(lines.next_line().await?.as_deref() == Some("OK"), "MONITOR did not start");
    let counter = tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok(Some(l)) = lines.next_line().await {
            if !l.contains(" lua] ") {
                n += 1;
            }
        }
        n
    });
    let own = work.await?;
    // MONITOR's output trails the commands: let it catch up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    monitor.kill().await?;
    Ok(counter.await?.saturating_sub(own))
}
