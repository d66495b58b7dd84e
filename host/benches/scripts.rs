//! Redis' cost of the queue scripts alone, without hosts or plugins: N
//! missions enqueued in batches of 1,000, then claimed and acknowledged
//! (`complete`) in batches of K, through the store's own `Queue`, on a fresh
//! private `redis-server` per batch size. Prints, per phase, Redis' CPU per
//! mission (`used_cpu_user` + `used_cpu_sys` of its own `INFO`) and the
//! commands per mission (`INFO commandstats`, scripts' inner commands
//! included). The throughput bench measures the whole path; this one says
//! which script a change made cheaper. Run: `cargo bench --bench scripts`.
//!
//! A last phase, `cycle`, runs N more missions the way a worker does: claims
//! of K while up to I stay leased, the oldest K acknowledged as more arrive.
//! Its cost differs from the phases alone because the sets of leased and
//! running missions stay at I entries, and Redis keeps a sorted set of up to
//! 128 entries as a listpack, where each insert and removal is a scan.
//!
//! Settings (environment): BENCH_SCRIPT_MISSIONS (20000), BENCH_SCRIPT_BATCHES
//! (`1,3,16,64`: the claim and acknowledgement batch sizes),
//! BENCH_SCRIPT_IN_FLIGHT (128: missions leased at once in the cycle),
//! BENCH_SCRIPT_CALLGRIND (set by `scripts/profile-scripts.sh`, which runs
//! Redis under valgrind's callgrind: the directory of its output; then each
//! phase prints the instructions Redis ran in scripts per mission, which,
//! unlike CPU time, do not move with the machine's load).

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use anyhow::{Context as _, ensure};
use mission_runner::config::Config;
use mission_runner::embedded_redis::{Persistence, RedisServer};
use mission_runner::model::submission::{MissionDefaults, NewMission};
use mission_runner::server;
use mission_runner::store::{Ack, Completion, Keys, Queue};
use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Redis' own CPU so far (µs) and the commands it has run.
async fn redis_counters(conn: &mut MultiplexedConnection) -> anyhow::Result<(f64, u64)> {
    let info: String = redis::cmd("INFO").arg("all").query_async(conn).await?;
    let field = |name: &str| -> f64 {
        info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok()).unwrap_or(0.0)
    };
    let commands = info
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:") && !l.starts_with("cmdstat_evalsha:"))
        .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum();
    Ok(((field("used_cpu_user") + field("used_cpu_sys")) * 1e6, commands))
}

/// Redis under callgrind, collecting only inside EVALSHA (see
/// `scripts/profile-scripts.sh`): the instructions of each phase's scripts.
struct Callgrind {
    /// Where callgrind writes its dumps.
    dir: std::path::PathBuf,
    dumps: usize,
}

impl Callgrind {
    fn from_env() -> Option<Callgrind> {
        std::env::var_os("BENCH_SCRIPT_CALLGRIND").map(|dir| Callgrind { dir: dir.into(), dumps: 0 })
    }

    /// Sends `arg` to the (one) process running under callgrind.
    fn control(arg: &str) -> anyhow::Result<()> {
        let status = std::process::Command::new("callgrind_control")
            .arg(arg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .context("callgrind_control (valgrind)")?;
        ensure!(status.success(), "callgrind_control {arg}: {status}");
        Ok(())
    }

    /// The instructions counted since the last call (or `--zero`).
    fn take(&mut self) -> anyhow::Result<u64> {
        self.dumps += 1;
        let name = format!("phase-{}", self.dumps);
        Self::control(&format!("--dump={name}"))?;
        let trigger = format!("desc: Trigger: dump {name}\n");
        for entry in std::fs::read_dir(&self.dir)? {
            let text = std::fs::read_to_string(entry?.path())?;
            if text.contains(&trigger) {
                return text
                    .lines()
                    .find_map(|l| l.strip_prefix("summary: ")?.trim().parse().ok())
                    .context("a summary");
            }
        }
        anyhow::bail!("callgrind wrote no dump {name} in {}", self.dir.display())
    }
}

/// One phase's cost per mission.
struct Phase {
    /// Redis' CPU (µs).
    cpu_us: f64,
    /// Commands, scripts' inner ones included.
    commands: f64,
    /// Instructions Redis ran in scripts (under callgrind only).
    instructions: Option<f64>,
}

impl Phase {
    fn json(&self) -> Value {
        json!({ "redis_cpu_us_per_mission": self.cpu_us, "commands_per_mission": self.commands,
            "instructions_per_mission": self.instructions })
    }
}

/// Runs `work` and returns its cost per mission.
async fn per_mission<F: std::future::Future<Output = anyhow::Result<()>>>(
    conn: &mut MultiplexedConnection,
    callgrind: &mut Option<Callgrind>,
    missions: usize,
    work: F,
) -> anyhow::Result<Phase> {
    if callgrind.is_some() {
        Callgrind::control("--zero")?;
    }
    let (cpu0, cmd0) = redis_counters(conn).await?;
    work.await?;
    let (cpu1, cmd1) = redis_counters(conn).await?;
    let instructions = match callgrind {
        Some(c) => Some(c.take()? as f64 / missions as f64),
        None => None,
    };
    Ok(Phase {
        cpu_us: (cpu1 - cpu0) / missions as f64,
        // The INFO call between is one command of its own.
        commands: (cmd1 - cmd0).saturating_sub(1) as f64 / missions as f64,
        instructions,
    })
}

/// A mission as the API makes one with the shipped defaults (which its
/// record leaves out, RECORD_DEFAULTS), at one of three priorities.
fn mission(i: usize) -> NewMission {
    let id = uuid::Uuid::now_v7().to_string();
    let d = MissionDefaults::default();
    NewMission {
        correlation_id: id.clone(),
        id,
        mission_type: "noop".into(),
        priority: [25, 50, 75][i % 3],
        payload: "{}".into(),
        max_attempts: d.max_attempts,
        timeout_ms: d.timeout_ms,
        run_at_ms: 0,
        backoff_base_ms: d.backoff.base_ms,
        backoff_cap_ms: d.backoff.cap_ms,
        idempotency_key: String::new(),
        tenant: "default".into(),
        created_by: "bench".into(),
        traceparent: String::new(),
        name: None,
        description: None,
        expires_at_ms: None,
    }
}

/// Claims `batch` at a time, holding up to `in_flight` leases, and
/// acknowledges the oldest `batch` whenever more are held, until the queue
/// and the leases are empty. Returns the missions it acknowledged.
async fn cycle(queue: &Queue, batch: usize, in_flight: usize) -> anyhow::Result<usize> {
    let mut held = std::collections::VecDeque::new();
    let mut done = 0;
    loop {
        let got = queue.claim("bench-worker", batch, 600_000).await?;
        let drained = got.missions.is_empty();
        held.extend(got.missions);
        if drained && held.is_empty() {
            return Ok(done);
        }
        while held.len() > in_flight || (drained && !held.is_empty()) {
            let chunk: Vec<Completion> =
                held.drain(..batch.min(held.len())).map(|c| Completion::new(&c, "{}".into(), Vec::new())).collect();
            let refs: Vec<&Completion> = chunk.iter().collect();
            let acks = queue.complete_many(&refs).await?;
            ensure!(acks.iter().all(|a| matches!(a, Ack::Done)), "an acknowledgement was refused");
            done += chunk.len();
        }
    }
}

/// One batch size: enqueue, claim and acknowledge `missions` missions, then
/// `missions` more in a cycle with `in_flight` leased.
async fn run(
    missions: usize,
    batch: usize,
    in_flight: usize,
    callgrind: &mut Option<Callgrind>,
) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let redis = RedisServer::start(dir.path(), Persistence::None).await?;
    let client = redis::Client::open(redis.url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let config = Config { quotas: common::unlimited_quotas(), ..Config::default() };
    let queue =
        Queue::new(server::connect(&client, Duration::from_secs(30)).await?, "mr", config.queue_settings(), "bench");
    // The type needs an active plugin; the scripts read only this entry.
    let plugin = json!({ "name": "noop", "version": "1.0.0", "digest": format!("sha256:{}", "ab".repeat(32)) });
    redis::cmd("HSET")
        .arg(Keys::new("mr").plugins_active())
        .arg("noop")
        .arg(plugin.to_string())
        .query_async::<()>(&mut conn)
        .await?;

    let all: Vec<NewMission> = (0..missions).map(mission).collect();
    let enqueue = per_mission(&mut conn, callgrind, missions, async {
        for chunk in all.chunks(1000) {
            queue.enqueue(chunk).await?;
        }
        Ok(())
    })
    .await?;

    let mut claimed = Vec::with_capacity(missions);
    let claim = per_mission(&mut conn, callgrind, missions, async {
        loop {
            let got = queue.claim("bench-worker", batch, 600_000).await?;
            if got.missions.is_empty() {
                return Ok(());
            }
            claimed.extend(got.missions);
        }
    })
    .await?;
    ensure!(claimed.len() == missions, "claimed {} of {missions}", claimed.len());

    let done: Vec<Completion> = claimed.iter().map(|c| Completion::new(c, "{}".into(), Vec::new())).collect();
    let complete = per_mission(&mut conn, callgrind, missions, async {
        for chunk in done.chunks(batch) {
            let refs: Vec<&Completion> = chunk.iter().collect();
            let acks = queue.complete_many(&refs).await?;
            ensure!(acks.len() == chunk.len(), "{} answers for {} attempts", acks.len(), chunk.len());
        }
        Ok(())
    })
    .await?;

    let more: Vec<NewMission> = (0..missions).map(mission).collect();
    for chunk in more.chunks(1000) {
        queue.enqueue(chunk).await?;
    }
    let cycled = per_mission(&mut conn, callgrind, missions, async {
        let n = cycle(&queue, batch, in_flight).await?;
        ensure!(n == missions, "acknowledged {n} of {missions}");
        Ok(())
    })
    .await?;
    redis.shutdown().await?;
    Ok(json!({
        "batch": batch,
        "missions": missions,
        "enqueue": enqueue.json(),
        "claim": claim.json(),
        "complete": complete.json(),
        "total_redis_cpu_us_per_mission": enqueue.cpu_us + claim.cpu_us + complete.cpu_us,
        "in_flight": in_flight,
        "cycle": cycled.json(),
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let missions: usize = setting("BENCH_SCRIPT_MISSIONS", "20000").parse().context("BENCH_SCRIPT_MISSIONS")?;
    let batches: Vec<usize> = setting("BENCH_SCRIPT_BATCHES", "1,3,16,64")
        .split(',')
        .map(|b| b.trim().parse().context("BENCH_SCRIPT_BATCHES"))
        .collect::<anyhow::Result<_>>()?;
    let in_flight: usize = setting("BENCH_SCRIPT_IN_FLIGHT", "128").parse().context("BENCH_SCRIPT_IN_FLIGHT")?;
    // Under callgrind CPU time means nothing: instructions (thousands) instead.
    let mut callgrind = Callgrind::from_env();
    let counted = callgrind.is_some();
    let (unit, key) =
        if counted { ("k instructions", "instructions_per_mission") } else { ("us", "redis_cpu_us_per_mission") };
    println!("Redis {unit} and commands per mission, {missions} missions, enqueued in batches of 1,000");
    println!("(cycle: claim and complete of {missions} more, {in_flight} leased at once)");
    println!("{:>6} {:>16} {:>16} {:>16} {:>10} {:>16}", "batch", "enqueue", "claim", "complete", "total", "cycle");
    let mut rows = Vec::new();
    for batch in batches {
        let r = run(missions, batch, in_flight, &mut callgrind).await?;
        let cost = |p: &str| r[p][key].as_f64().unwrap_or(0.0) / if counted { 1000.0 } else { 1.0 };
        let cell = |p: &str| format!("{:.1} / {:.1}", cost(p), r[p]["commands_per_mission"].as_f64().unwrap_or(0.0));
        println!(
            "{batch:>6} {:>16} {:>16} {:>16} {:>10.1} {:>16}",
            cell("enqueue"),
            cell("claim"),
            cell("complete"),
            cost("enqueue") + cost("claim") + cost("complete"),
            cell("cycle")
        );
        rows.push(r);
    }
    println!("{}", json!({ "scripts": rows }));
    Ok(())
}
