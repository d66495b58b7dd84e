//! Fault injection with real processes: three hosts (the release binary) on a
//! private `redis-server` with its append-only file on; N missions; a host
//! killed with SIGKILL (and started again) every second or so, and Redis
//! restarted once mid-run. At the end every mission must be completed or
//! dead-lettered, none lost or stuck, and no attempt may have overlapped
//! another of the same mission. Run: `./scripts/soak.sh faults`.
//!
//! Settings (environment): FAULTS_MISSIONS (10000), FAULTS_HOSTS (3),
//! FAULTS_KILL_EVERY_MS (500), FAULTS_WORK_MS (20: what each mission sleeps).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use mission_runner::embedded_redis::{Persistence, RedisServer};
use mission_runner::model::event_id::StreamRef;
use mission_runner::model::events::Event;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A host process on `redis_url`; returns it and its URL once it serves.
async fn spawn_host(redis_url: &str) -> anyhow::Result<(Child, String)> {
    let data = tempfile::tempdir()?.keep();
    // The load generator is one tenant submitting as fast as it can: no quota in the way.
    let config = data.join("quotas.toml");
    std::fs::write(
        &config,
        "[quotas]\nqueued_missions = 100000000\nsubmissions_per_second = 1000000\nsubmission_burst = 10000000\n",
    )?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(["serve", "--listen", "127.0.0.1:0", "--no-watch", "--lease-ms", "2000", "--concurrency", "8"])
        .arg("--redis-url")
        .arg(redis_url)
        .arg("--plugins-dir")
        .arg(repo().join("plugins/dist"))
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .arg("--cache-dir")
        .arg(repo().join("target/tmp/compile-cache"))
        .env("MISSION_RUNNER_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut line = String::new();
    tokio::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line).await?;
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).context("serving line")?.to_owned();
    Ok((child, url))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = setting("FAULTS_MISSIONS", 10_000) as usize;
    let kill_every = Duration::from_millis(setting("FAULTS_KILL_EVERY_MS", 500));
    let work_ms = setting("FAULTS_WORK_MS", 20);
    let dir = tempfile::tempdir()?;
    let mut redis = RedisServer::start(dir.path(), Persistence::AppendOnly).await?;
    let port = redis.port();
    let url = redis.url();
    let mut hosts = Vec::new();
    for _ in 0..setting("FAULTS_HOSTS", 3) {
        hosts.push(spawn_host(&url).await?);
    }
    let http = reqwest::Client::new();

    // Submit everything first (acknowledged = answered 201), through the hosts in turn.
    let started = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for (k, from) in (0..n).step_by(500).enumerate() {
        let missions: Vec<Value> = (from..(from + 500).min(n))
            .map(|i| json!({ "type": "chaos", "payload": { "do": "sleep", "ms": work_ms }, "priority": i % 101, "max_attempts": 10,
                "backoff": { "base_ms": 50, "cap_ms": 500 } }))
            .collect();
        let base = &hosts[k % hosts.len()].1;
        let resp =
            http.post(format!("{base}/api/missions/batch")).json(&json!({ "missions": missions })).send().await?;
        ensure!(resp.status() == 201, "batch refused: {}", resp.status());
        let body: Value = resp.json().await?;
        ids.extend(
            body["missions"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str().map(str::to_owned)),
        );
    }
    ensure!(ids.len() == n, "acknowledged {} of {n}", ids.len());
    println!("submitted {n} missions in {:.1}s", started.elapsed().as_secs_f64());

    // Kill and restart hosts until everything is finished; restart Redis once.
    let mut conn = redis::Client::open(url.as_str())?.get_multiplexed_async_connection().await?;
    let (mut kills, mut redis_restarted) = (0, false);
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        tokio::time::sleep(kill_every).await;
        let finished = async {
            let c: Option<u64> =
                redis::cmd("ZCARD").arg("{mr}:t:default:status:completed").query_async(&mut conn).await?;
            let f: Option<u64> = redis::cmd("ZCARD").arg("{mr}:t:default:status:failed").query_async(&mut conn).await?;
            anyhow::Ok(c.unwrap_or(0) + f.unwrap_or(0))
        }
        .await;
        let done = match finished {
            Ok(d) => d as usize,
            Err(_) => {
                conn = redis::Client::open(url.as_str())?.get_multiplexed_async_connection().await?;
                continue;
            }
        };
        if done >= n {
            break;
        }
        ensure!(Instant::now() < deadline, "only {done} of {n} finished in 30 minutes");
        if !redis_restarted && done >= n / 2 {
            // A clean restart: the append-only file is flushed, then replayed.
            redis.shutdown().await?;
            redis = RedisServer::start_on(dir.path(), Persistence::AppendOnly, port).await?;
            redis_restarted = true;
            println!("restarted Redis with {done} finished");
            continue;
        }
        let victim = kills % hosts.len();
        let (child, _) = &mut hosts[victim];
        child.start_kill()?;
        child.wait().await?;
        hosts[victim] = spawn_host(&url).await?;
        kills += 1;
        if kills % 10 == 0 {
            println!("{kills} hosts killed, {done} of {n} finished");
        }
    }
    let elapsed = started.elapsed();

    // Every acknowledged mission is there and finished; none is still held.
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.cmd("HGET").arg(format!("{{mr}}:m:{id}")).arg("status");
    }
    let statuses: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
    let mut by_status: HashMap<String, usize> = HashMap::new();
    for s in &statuses {
        *by_status.entry(s.clone().unwrap_or_else(|| "LOST".into())).or_default() += 1;
    }
    // Every lease; not the pin that keeps the set a skip list (store::PIN, at +inf).
    let active: u64 = redis::cmd("ZCOUNT").arg("{mr}:active").arg("-inf").arg("(+inf").query_async(&mut conn).await?;

    // No two attempts of one mission at the same time: in the tenant's one
    // ordered stream, each mission's `started` is followed by its attempt's end before
    // the next `started`.
    let mut open: HashMap<String, bool> = HashMap::new();
    let (mut overlaps, mut start_id, mut attempts) = (0, "-".to_owned(), 0usize);
    loop {
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg("{mr}:t:default:events")
            .arg(&start_id)
            .arg("+")
            .arg("COUNT")
            .arg(5000)
            .query_async(&mut conn)
            .await?;
        let Some((last, _)) = entries.last() else { break };
        start_id = format!("({last}");
        for (sid, f) in entries {
            let Some(e) = Event::from_entry(StreamRef::tenant("{mr}:t:default:events"), &sid, f) else { continue };
            let (ty, mission) = (e.event_type, e.mission.unwrap_or_default());
            match ty.as_str() {
                "mission.started" => {
                    attempts += 1;
                    if open.insert(mission, true) == Some(true) {
                        overlaps += 1;
                    }
                }
                "mission.completed" | "mission.failed" | "mission.cancelled" | "mission.retrying" => {
                    open.insert(mission, false);
                }
                _ => {}
            }
        }
    }
    let completed = by_status.get("completed").copied().unwrap_or(0);
    let failed = by_status.get("failed").copied().unwrap_or(0);
    let report = json!({
        "missions": n, "completed": completed, "dead_lettered": failed, "lost": by_status.get("LOST").copied().unwrap_or(0),
        "other": n - completed - failed - by_status.get("LOST").copied().unwrap_or(0),
        "still_leased": active, "overlapping_attempts": overlaps, "attempts": attempts,
        "attempts_cut_short": attempts.saturating_sub(n), "hosts_killed": kills, "redis_restarted": redis_restarted,
        "seconds": elapsed.as_secs_f64(),
    });
    println!("{report}");
    for (mut child, _) in hosts.into_iter() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    redis.shutdown().await?;
    ensure!(completed + failed == n && active == 0 && overlaps == 0, "FAILED: {report}");
    println!("ok: every mission finished exactly once at a time through {kills} SIGKILLs and a Redis restart");
    Ok(())
}
