//! End-to-end benchmark: a private `redis-server`, one or more hosts, M no-op
//! missions (the `noop` plugin, each in a fresh sandboxed instance, with all
//! its events) submitted through the batch API; then the same with BullMQ
//! (`bench/bullmq`) on a Redis of the same kind, and the ratios.
//! Run: `./scripts/bench.sh` (or `cargo bench --bench throughput`).
//!
//! Settings (environment): BENCH_MISSIONS (10000), BENCH_HOSTS (1),
//! BENCH_CONCURRENCY (8 per host), BENCH_QUEUED (100000, for memory),
//! BENCH_MONITORED (1000, for round trips), BENCH_PEER (1; 0 skips BullMQ),
//! BENCH_EVENTS_MAX_LEN (10000: the event stream's cap, BullMQ's default cap
//! of its own event stream, so both keep the same history).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use mission_runner::config::{Config, QuotaConfig};
use mission_runner::embedded_redis::{Persistence, RedisServer};
use mission_runner::server::{self, Host};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn hosts(redis: &RedisServer, n: usize, concurrency: usize, prefix: &str) -> anyhow::Result<Vec<Host>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let c = Config {
            listen: "127.0.0.1:0".parse()?,
            redis_url: Some(redis.url()),
            plugins_dir: Some(repo().join("plugins/dist")),
            watch_plugins: false,
            cache_dir: Some(repo().join("target/tmp/compile-cache")),
            concurrency,
            key_prefix: prefix.to_owned(),
            events_max_len: setting("BENCH_EVENTS_MAX_LEN", 10_000) as u64,
            // One tenant submits everything, as fast as it can: no quota in the way.
            quotas: QuotaConfig {
                queued_missions: 100_000_000,
                submissions_per_second: 1_000_000,
                submission_burst: 10_000_000,
                ..QuotaConfig::default()
            },
            ..Config::default()
        };
        out.push(server::start(c).await?);
    }
    Ok(out)
}

const PRIORITIES: [&str; 3] = ["low", "normal", "high"];

/// Submits `n` no-op missions in batches of 1,000, four batches in flight,
/// spread over `hosts`; returns their ids.
async fn submit(hosts: &[Host], n: usize) -> anyhow::Result<Vec<String>> {
    let http = reqwest::Client::new();
    let urls: Vec<String> = hosts.iter().map(|h| format!("{}/api/missions/batch", h.url())).collect();
    let chunks: Vec<(usize, usize)> = (0..n).step_by(1000).map(|s| (s, (s + 1000).min(n))).collect();
    let mut ids = Vec::with_capacity(n);
    for group in chunks.chunks(4) {
        let mut calls = Vec::new();
        for (k, (from, to)) in group.iter().enumerate() {
            let missions: Vec<Value> =
                (*from..*to).map(|i| json!({ "type": "noop", "payload": {}, "priority": PRIORITIES[i % 3] })).collect();
            let req = http.post(&urls[(from / 1000 + k) % urls.len()]).json(&json!({ "missions": missions }));
            calls.push(async move {
                let resp = req.send().await?;
                ensure!(resp.status() == 201, "batch refused: {}", resp.status());
                anyhow::Ok(resp.json::<Value>().await?)
            });
        }
        for body in futures::future::try_join_all(calls).await? {
            ids.extend(
                body["missions"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str().map(str::to_owned)),
            );
        }
    }
    Ok(ids)
}

/// Sum of `INFO commandstats` calls, without INFO itself.
async fn commands(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(conn).await?;
    Ok(info
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
        .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum())
}

/// Redis' own CPU so far: (`used_cpu_user` + `used_cpu_sys` in µs, the
/// `usec` of the script calls in `INFO commandstats`). Scripts' inner commands
/// are counted inside their EVALSHA, so only the script calls are summed.
async fn redis_cpu(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<(f64, f64)> {
    let info: String = redis::cmd("INFO").arg("all").query_async(conn).await?;
    let field = |name: &str| -> f64 {
        info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok()).unwrap_or(0.0)
    };
    let cpu = (field("used_cpu_user") + field("used_cpu_sys")) * 1e6;
    let scripts = info
        .lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| l.split("usec=").nth(1)?.split(',').next()?.parse::<f64>().ok())
        .sum();
    Ok((cpu, scripts))
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<i64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines().find_map(|l| l.strip_prefix("used_memory:")?.trim().parse().ok()).context("used_memory")
}

/// Waits until `n` missions of `prefix` completed; returns the polls made.
async fn wait_completed(conn: &mut redis::aio::MultiplexedConnection, prefix: &str, n: usize) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut polls = 0;
    loop {
        polls += 1;
        let done: Option<u64> = redis::cmd("HGET")
            .arg(format!("{{{prefix}}}:stats"))
            .arg("default|noop|completed")
            .query_async(conn)
            .await?;
        if done.unwrap_or(0) >= n as u64 {
            return Ok(polls);
        }
        ensure!(Instant::now() < deadline, "missions did not complete within 10 minutes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU time (user + system) of this process, from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Counts the commands clients send (not those scripts run) while `work` runs.
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    monitor.kill().await?;
    Ok(counter.await?.saturating_sub(own))
}

async fn ours(
    missions: usize,
    n_hosts: usize,
    concurrency: usize,
    queued: usize,
    monitored: usize,
) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let redis = RedisServer::start(dir.path(), Persistence::None).await?;
    let mut conn = redis::Client::open(redis.url())?.get_multiplexed_async_connection().await?;
    let hs = hosts(&redis, n_hosts, concurrency, "mr").await?;
    // Warm up: compile caches, connections.
    submit(&hs, 200).await?;
    wait_completed(&mut conn, "mr", 200).await?;

    let before = commands(&mut conn).await?;
    let cpu_before = redis_cpu(&mut conn).await?;
    let start = Instant::now();
    let ids = submit(&hs, missions).await?;
    let submitted = start.elapsed();
    let polls = wait_completed(&mut conn, "mr", 200 + missions).await?;
    let after = commands(&mut conn).await?;
    let cpu_after = redis_cpu(&mut conn).await?;
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.cmd("HMGET").arg(format!("{{mr}}:m:{id}")).arg("created_ms").arg("finished_ms");
    }
    let times: Vec<(i64, i64)> = pipe.query_async(&mut conn).await?;
    let first = times.iter().map(|t| t.0).min().unwrap_or(0);
    let last = times.iter().map(|t| t.1).max().unwrap_or(0);
    let mut latency: Vec<i64> = times.iter().map(|(c, f)| f - c).collect();
    latency.sort_unstable();
    let instantiate = hs[0].metrics().instantiate.mean().unwrap_or_default();

    // Round trips: every command a client sent, during a smaller run.
    let done = 200 + missions;
    let client_cmds = client_commands(&redis, async {
        submit(&hs, monitored).await?;
        wait_completed(&mut conn.clone(), "mr", done + monitored).await
    })
    .await?;

    // Idle: the hosts with nothing to do.
    let cpu0 = cpu_time();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_cpu = (cpu_time() - cpu0).as_secs_f64() / 5.0 * 100.0;

    // Memory: missions queued with no worker, under a prefix of their own.
    let api_only = hosts(&redis, 1, 0, "mem").await?;
    let mem0 = used_memory(&mut conn).await?;
    submit(&api_only, queued).await?;
    let mem1 = used_memory(&mut conn).await?;
    for h in api_only.into_iter().chain(hs) {
        h.shutdown().await?;
    }
    redis.shutdown().await?;

    let secs = |d: Duration| d.as_secs_f64();
    Ok(json!({
        "missions": missions,
        "hosts": n_hosts,
        "events_max_len": setting("BENCH_EVENTS_MAX_LEN", 10_000),
        "concurrency": concurrency,
        "submitted_per_s": missions as f64 / secs(submitted),
        "processed_per_s": missions as f64 / ((last - first).max(1) as f64 / 1000.0),
        "latency_p50_ms": pct(&latency, 0.50),
        "latency_p99_ms": pct(&latency, 0.99),
        "redis_commands_per_mission": (after - before).saturating_sub(polls) as f64 / missions as f64,
        "redis_cpu_us_per_mission": (cpu_after.0 - cpu_before.0) / missions as f64,
        "redis_script_us_per_mission": (cpu_after.1 - cpu_before.1) / missions as f64,
        "client_commands_per_mission": client_cmds as f64 / monitored as f64,
        "memory_per_queued_bytes": (mem1 - mem0) as f64 / queued as f64,
        "instantiate_mean_us": instantiate.as_secs_f64() * 1e6,
        "idle_cpu_percent": idle_cpu,
    }))
}

async fn bullmq(missions: usize, concurrency: usize, queued: usize, monitored: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let redis = RedisServer::start(dir.path(), Persistence::None).await?;
    let script = repo().join("bench/bullmq/bench.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .env("REDIS_PORT", redis.port().to_string())
        .env("REDIS_PASSWORD", redis.password())
        .env("BENCH_MISSIONS", missions.to_string())
        .env("BENCH_CONCURRENCY", concurrency.to_string())
        .env("BENCH_QUEUED", queued.to_string())
        .env("BENCH_MONITORED", monitored.to_string())
        .output()
        .await
        .context("running node (bench/bullmq: npm install)")?;
    redis.shutdown().await?;
    ensure!(out.status.success(), "BullMQ peer failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).context("the peer's JSON line")
}

const ROWS: [(&str, &str, bool); 11] = [
    ("submitted_per_s", "submitted missions/s", true),
    ("processed_per_s", "processed missions/s", true),
    ("latency_p50_ms", "submit-to-completed p50 (ms)", false),
    ("latency_p99_ms", "submit-to-completed p99 (ms)", false),
    ("redis_commands_per_mission", "Redis commands/mission (incl. in scripts)", false),
    ("redis_cpu_us_per_mission", "Redis CPU us/mission (used_cpu_user+sys)", false),
    ("redis_script_us_per_mission", "Redis script us/mission (commandstats)", false),
    ("client_commands_per_mission", "client commands (round trips)/mission", false),
    ("memory_per_queued_bytes", "Redis bytes per queued mission", false),
    ("instantiate_mean_us", "plugin instantiate+run mean (us)", false),
    ("idle_cpu_percent", "idle host CPU (%)", false),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let missions = setting("BENCH_MISSIONS", 10_000);
    let n_hosts = setting("BENCH_HOSTS", 1);
    let concurrency = setting("BENCH_CONCURRENCY", 8);
    let queued = setting("BENCH_QUEUED", 100_000);
    let monitored = setting("BENCH_MONITORED", 1_000);
    let us = ours(missions, n_hosts, concurrency, queued, monitored).await?;
    let peer = match setting("BENCH_PEER", 1) {
        0 => Value::Null,
        _ => bullmq(missions, concurrency * n_hosts, queued, monitored).await?,
    };
    let mut ratios = serde_json::Map::new();
    println!("{:<44} {:>14} {:>14} {:>8}", "", "mission-runner", "BullMQ", "ratio");
    for (key, label, _) in ROWS {
        let a = us[key].as_f64();
        let b = peer[key].as_f64();
        let ratio = match (a, b) {
            (Some(a), Some(b)) if b != 0.0 => Some(a / b),
            _ => None,
        };
        if let Some(r) = ratio {
            ratios.insert(key.to_owned(), json!((r * 100.0).round() / 100.0));
        }
        let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "{label:<44} {:>14} {:>14} {:>8}",
            show(a),
            show(b),
            ratio.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
        );
    }
    println!("{}", json!({ "mission_runner": us, "bullmq": peer, "ratio": ratios }));
    Ok(())
}
