//! Sustained load: one host (the release binary) on a private `redis-server`,
//! missions submitted continuously at a fixed rate (about half the measured
//! capacity) for five minutes, with a one-minute retention so finished
//! missions are deleted as they age. Every 15 seconds it prints the window's
//! submit-to-completed latency, the host's resident memory and Redis' memory;
//! at the end it compares the second half with the first.
//! Run: `./scripts/soak.sh sustained`.
//!
//! Settings (environment): SUSTAINED_RATE (2000 missions/s), SUSTAINED_SECONDS
//! (300), SUSTAINED_RETENTION_S (60).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use mission_runner::embedded_redis::{Persistence, RedisServer};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:")?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rate = setting("SUSTAINED_RATE", 2000);
    let seconds = setting("SUSTAINED_SECONDS", 300);
    let retention = setting("SUSTAINED_RETENTION_S", 60);
    let dir = tempfile::tempdir()?;
    let redis = RedisServer::start(dir.path(), Persistence::None).await?;
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // The load generator is one tenant submitting at `rate`: no quota in the way.
    let config = dir.path().join("quotas.toml");
    std::fs::write(
        &config,
        "[quotas]\nqueued_missions = 100000000\nsubmissions_per_second = 1000000\nsubmission_burst = 10000000\n",
    )?;
    let mut host = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(["serve", "--listen", "127.0.0.1:0", "--no-watch", "--redis-url", &redis.url()])
        .args(["--retention-completed-s", &retention.to_string(), "--events-max-len", "100000"])
        .arg("--plugins-dir")
        .arg(repo.join("plugins/dist"))
        .arg("--data-dir")
        .arg(dir.path().join("host"))
        .arg("--config")
        .arg(&config)
        .arg("--cache-dir")
        .arg(repo.join("target/tmp/compile-cache"))
        .env("MISSION_RUNNER_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = host.id().context("host pid")?;
    let mut line = String::new();
    tokio::io::BufReader::new(host.stdout.take().context("stdout")?).read_line(&mut line).await?;
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).context("serving line")?.to_owned();
    let mut conn = redis::Client::open(redis.url())?.get_multiplexed_async_connection().await?;
    let http = reqwest::Client::new();

    // Submit a batch every 100 ms; remember ids to read their latency later.
    let per_tick = (rate / 10).max(1) as usize;
    let mut pending: Vec<(Instant, Vec<String>)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let mut window_start = Instant::now();
    let mut rows: Vec<Value> = Vec::new();
    let mut latencies: Vec<i64> = Vec::new();
    println!(
        "{:>6} {:>10} {:>8} {:>8} {:>10} {:>12}",
        "t (s)", "submitted", "p50 ms", "p99 ms", "host MiB", "redis MiB"
    );
    let mut submitted = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let missions: Vec<Value> =
            (0..per_tick).map(|i| json!({ "type": "echo", "payload": { "i": i }, "priority": i % 3 * 40 })).collect();
        let resp =
            http.post(format!("{base}/api/missions/batch")).json(&json!({ "missions": missions })).send().await?;
        ensure!(resp.status() == 201, "batch refused: {}", resp.status());
        let body: Value = resp.json().await?;
        let ids: Vec<String> = body["missions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect();
        submitted += ids.len() as u64;
        pending.push((Instant::now(), ids));

        // Latency of the batches submitted at least two seconds ago.
        let ready = pending.iter().take_while(|(at, _)| at.elapsed() > Duration::from_secs(2)).count();
        for (_, ids) in pending.drain(..ready) {
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("HMGET").arg(format!("{{mr}}:m:{id}")).arg("created_ms").arg("finished_ms");
            }
            let times: Vec<(Option<i64>, Option<i64>)> = pipe.query_async(&mut conn).await?;
            latencies.extend(times.into_iter().filter_map(|t| Some(t.1? - t.0?)));
        }
        if window_start.elapsed() >= Duration::from_secs(15) {
            window_start = Instant::now();
            latencies.sort_unstable();
            let info: String = redis::cmd("INFO").arg("memory").query_async(&mut conn).await?;
            let used: u64 = info.lines().find_map(|l| l.strip_prefix("used_memory:")?.trim().parse().ok()).unwrap_or(0);
            let row = json!({
                "t": start.elapsed().as_secs(), "submitted": submitted, "p50_ms": pct(&latencies, 0.5), "p99_ms": pct(&latencies, 0.99),
                "host_rss_mib": rss_kib(pid) as f64 / 1024.0, "redis_mib": used as f64 / 1048576.0,
            });
            println!(
                "{:>6} {:>10} {:>8} {:>8} {:>10.1} {:>12.1}",
                row["t"],
                row["submitted"],
                row["p50_ms"],
                row["p99_ms"],
                row["host_rss_mib"].as_f64().unwrap_or(0.0),
                row["redis_mib"].as_f64().unwrap_or(0.0)
            );
            rows.push(row);
            latencies.clear();
        }
    }
    let _ = host.start_kill();
    redis.shutdown().await?;

    // Past the retention (plus a window), memory should stop growing.
    let settled: Vec<&Value> = rows.iter().filter(|r| r["t"].as_u64().unwrap_or(0) > retention + 15).collect();
    let half = settled.len() / 2;
    let mean = |rs: &[&Value], k: &str| rs.iter().filter_map(|r| r[k].as_f64()).sum::<f64>() / rs.len().max(1) as f64;
    let summary = json!({
        "rate_per_s": rate, "seconds": seconds, "retention_s": retention, "submitted": submitted,
        "host_rss_mib_first_half": mean(&settled[..half], "host_rss_mib"), "host_rss_mib_second_half": mean(&settled[half..], "host_rss_mib"),
        "redis_mib_first_half": mean(&settled[..half], "redis_mib"), "redis_mib_second_half": mean(&settled[half..], "redis_mib"),
        "p99_ms_first_half": mean(&settled[..half], "p99_ms"), "p99_ms_second_half": mean(&settled[half..], "p99_ms"),
    });
    println!("{summary}");
    Ok(())
}
