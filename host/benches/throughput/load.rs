//! The load generator: no-op missions through the batch API, spread over
//! hosts, and the measurement of one processed run from Redis' records.
//! The same code drives in-process hosts and host processes.

use std::time::{Duration, Instant};

use anyhow::ensure;
use mission_runner::store::Keys;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::probe::Counters;

const PRIORITIES: [&str; 3] = ["low", "normal", "high"];

/// Missions per batch call, and batch calls in flight.
const BATCH: usize = 1000;
const IN_FLIGHT: usize = 4;

/// The hosts' batch endpoints, and the keys their Redis records live under.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://addr/api/missions/batch` of each host; batches go round them.
    pub batch_urls: Vec<String>,
    pub keys: Keys,
    pub http: reqwest::Client,
}

impl Target {
    pub fn new(base_urls: &[String], prefix: &str) -> Self {
        Target {
            batch_urls: base_urls.iter().map(|u| format!("{u}/api/missions/batch")).collect(),
            keys: Keys::new(prefix),
            http: reqwest::Client::new(),
        }
    }

    /// Submits `n` no-op missions in batches of 1,000, four batches in
    /// flight, spread over the hosts; returns their ids.
    pub async fn submit(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let chunks: Vec<(usize, usize)> = (0..n).step_by(BATCH).map(|s| (s, (s + BATCH).min(n))).collect();
        let mut ids = Vec::with_capacity(n);
        for group in chunks.chunks(IN_FLIGHT) {
            let mut calls = Vec::new();
            for (from, to) in group {
                let missions: Vec<Value> = (*from..*to)
                    .map(|i| json!({ "type": "noop", "payload": {}, "priority": PRIORITIES[i % 3] }))
                    .collect();
                let url = &self.batch_urls[(from / BATCH) % self.batch_urls.len()];
                let req = self.http.post(url).json(&json!({ "missions": missions }));
                calls.push(async move {
                    let resp = req.send().await?;
                    ensure!(resp.status() == 201, "batch refused: {}", resp.status());
                    anyhow::Ok(resp.json::<Value>().await?)
                });
            }
            for body in futures::future::try_join_all(calls).await? {
                ids.extend(
                    body["missions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m["id"].as_str().map(str::to_owned)),
                );
            }
        }
        ensure!(ids.len() == n, "{} missions accepted of {n}", ids.len());
        Ok(ids)
    }

    /// Waits until `n` no-op missions completed in all; returns the polls made
    /// (each one Redis command, left out of the commands per mission).
    pub async fn wait_completed(&self, conn: &mut MultiplexedConnection, n: usize) -> anyhow::Result<u64> {
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut polls = 0;
        loop {
            polls += 1;
            let done: Option<u64> =
                redis::cmd("HGET").arg(self.keys.stats()).arg("default|noop|completed").query_async(conn).await?;
            if done.unwrap_or(0) >= n as u64 {
                return Ok(polls);
            }
            ensure!(Instant::now() < deadline, "missions did not complete within 10 minutes");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Submits 200 missions and waits for them: compile caches, connections,
    /// the pool of instances.
    pub async fn warm_up(&self, conn: &mut MultiplexedConnection) -> anyhow::Result<usize> {
        const WARM_UP: usize = 200;
        self.submit(WARM_UP).await?;
        self.wait_completed(conn, WARM_UP).await?;
        Ok(WARM_UP)
    }

    /// One processed run: `missions` submitted at once, waited for, measured
    /// from the records' own times and Redis' counters. `done` is how many
    /// had completed before.
    pub async fn processed(
        &self,
        conn: &mut MultiplexedConnection,
        missions: usize,
        concurrency: usize,
        done: usize,
    ) -> anyhow::Result<Processed> {
        let raw = self.run(conn, missions, done).await?;
        self.measure(conn, raw, concurrency).await
    }

    /// The run itself: submission to the last completion, between two
    /// readings of Redis' counters (callers may read their own around it).
    pub async fn run(&self, conn: &mut MultiplexedConnection, missions: usize, done: usize) -> anyhow::Result<RawRun> {
        let before = Counters::read(conn).await?;
        let start = Instant::now();
        let ids = self.submit(missions).await?;
        let submitted = start.elapsed();
        let polls = self.wait_completed(conn, done + missions).await?;
        let after = Counters::read(conn).await?;
        Ok(RawRun { ids, before, after, submitted, polls })
    }

    /// The figures of a run, with the missions' times read from their records.
    pub async fn measure(
        &self,
        conn: &mut MultiplexedConnection,
        raw: RawRun,
        concurrency: usize,
    ) -> anyhow::Result<Processed> {
        let RawRun { ids, before, after, submitted, polls } = raw;
        let times = self.times(conn, &ids).await?;
        let n = ids.len() as f64;
        Ok(Processed {
            missions: ids.len(),
            concurrency,
            submitted_per_s: n / submitted.as_secs_f64(),
            processed_per_s: n / ((times.last_ms - times.first_ms).max(1) as f64 / 1000.0),
            latency_p50_ms: pct(&times.latency_ms, 0.50),
            latency_p99_ms: pct(&times.latency_ms, 0.99),
            redis_commands_per_mission: (after.commands - before.commands).saturating_sub(polls) as f64 / n,
            redis_cpu_us_per_mission: (after.cpu_us - before.cpu_us) / n,
            redis_script_us_per_mission: (after.script_us - before.script_us) / n,
            redis_script_calls_per_mission: (after.script_calls - before.script_calls) as f64 / n,
            redis_cpu_percent: before.cpu_percent(&after),
            wall_s: after.at.duration_since(before.at).as_secs_f64(),
        })
    }

    /// Creation and completion times of `ids`, from their records
    /// (`created_ms`, `finished_ms`): the host's clock, not the load generator's.
    async fn times(&self, conn: &mut MultiplexedConnection, ids: &[String]) -> anyhow::Result<Times> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HMGET").arg(self.keys.mission(id)).arg("created_ms").arg("finished_ms");
        }
        let times: Vec<(i64, i64)> = pipe.query_async(conn).await?;
        let mut latency_ms: Vec<i64> = times.iter().map(|(c, f)| f - c).collect();
        latency_ms.sort_unstable();
        Ok(Times {
            first_ms: times.iter().map(|t| t.0).min().unwrap_or(0),
            last_ms: times.iter().map(|t| t.1).max().unwrap_or(0),
            latency_ms,
        })
    }
}

/// What a run leaves to measure.
#[derive(Debug)]
pub struct RawRun {
    /// The missions submitted.
    ids: Vec<String>,
    /// Redis' counters before the first submission and after the last completion.
    before: Counters,
    after: Counters,
    /// How long submission took.
    submitted: Duration,
    /// Polls made while waiting (Redis commands of the load generator's).
    polls: u64,
}

struct Times {
    /// The first creation.
    first_ms: i64,
    /// The last completion.
    last_ms: i64,
    /// Submit-to-completed of each, sorted.
    latency_ms: Vec<i64>,
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    match sorted.is_empty() {
        true => 0,
        false => sorted[((sorted.len() as f64 - 1.0) * p).round() as usize],
    }
}

/// One processed run of either system: the BullMQ peer prints the same
/// fields (bench/bullmq/bench.mjs), so a renamed field fails loudly.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Processed {
    pub missions: usize,
    /// Missions at once per host (mission-runner), or the worker's (BullMQ).
    pub concurrency: usize,
    pub submitted_per_s: f64,
    /// Missions over the time from the first creation to the last completion.
    pub processed_per_s: f64,
    pub latency_p50_ms: i64,
    pub latency_p99_ms: i64,
    /// Commands Redis ran per mission, those inside scripts included.
    pub redis_commands_per_mission: f64,
    /// Redis' own CPU (`used_cpu_user` + `used_cpu_sys`) per mission.
    pub redis_cpu_us_per_mission: f64,
    /// Time inside script calls (`INFO commandstats`) per mission.
    pub redis_script_us_per_mission: f64,
    /// Script calls per mission: the fewer, the more each call's fixed cost is shared.
    pub redis_script_calls_per_mission: f64,
    /// Redis' CPU over the run's wall time, in % of one core: near 100, Redis is the bottleneck.
    pub redis_cpu_percent: f64,
    /// Wall time of the run, submission to the last completion seen.
    pub wall_s: f64,
}
