//! Faults with real processes, in short: host processes killed with SIGKILL
//! again and again while missions run, and Redis (append-only file on)
//! restarted in the middle. Every acknowledged mission ends completed, none is
//! left leased, and no two attempts of one mission overlap. (`scripts/soak.sh
//! faults` runs the same with 10,000 missions.)

use std::time::{Duration, Instant};

use mission_runner::embedded_redis::{Persistence, RedisServer};
use mission_runner::model::event_id::StreamRef;
use mission_runner::model::events::Event;
use serde_json::{Value, json};

use crate::harness::spawn_host;

const MISSIONS: usize = 400;

#[tokio::test]
async fn repeated_sigkills_and_a_redis_restart_lose_nothing_and_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(dir.path(), Persistence::AppendOnly).await.unwrap();
    let (port, url) = (redis.port(), redis.url());
    let args = ["--lease-ms", "1000", "--concurrency", "6"];
    let mut hosts = [spawn_host(&url, &args).await, spawn_host(&url, &args).await];
    let missions: Vec<Value> = (0..MISSIONS)
        .map(|i| {
            json!({ "type": "chaos", "payload": { "do": "sleep", "ms": 100 }, "priority": i % 101, "max_attempts": 20,
            "backoff": { "base_ms": 20, "cap_ms": 200 } })
        })
        .collect();
    let (status, body) = hosts[0].1.post("/api/missions/batch", json!({ "missions": missions })).await;
    assert_eq!(status, 201, "{body}");
    let ids: Vec<String> =
        body["missions"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();

    let mut conn = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let (deadline, mut kills, mut restarted) = (Instant::now() + Duration::from_secs(120), 0, false);
    loop {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let done: Result<u64, _> =
            redis::cmd("ZCARD").arg("{mr}:t:default:status:completed").query_async(&mut conn).await;
        let done = match done {
            Ok(d) => d as usize,
            Err(_) => {
                conn = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
                continue;
            }
        };
        if done == MISSIONS {
            break;
        }
        assert!(Instant::now() < deadline, "{done} of {MISSIONS} completed in time");
        if !restarted && done >= MISSIONS / 2 {
            redis.shutdown().await.unwrap();
            redis = RedisServer::start_on(dir.path(), Persistence::AppendOnly, port).await.unwrap();
            restarted = true;
        } else if kills < 6 {
            let victim = kills % hosts.len();
            hosts[victim].0.start_kill().unwrap();
            hosts[victim].0.wait().await.unwrap();
            hosts[victim] = spawn_host(&url, &args).await;
            kills += 1;
        }
    }
    assert!(restarted && kills > 0, "the faults happened (kills: {kills})");

    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.cmd("HGET").arg(format!("{{mr}}:m:{id}")).arg("status");
    }
    let statuses: Vec<Option<String>> = pipe.query_async(&mut conn).await.unwrap();
    assert!(statuses.iter().all(|s| s.as_deref() == Some("completed")), "every acknowledged mission completed");
    // Every lease; not the pin that keeps the set a skip list (store::PIN, at +inf).
    let leased: u64 =
        redis::cmd("ZCOUNT").arg("{mr}:active").arg("-inf").arg("(+inf").query_async(&mut conn).await.unwrap();
    assert_eq!(leased, 0);

    // In the tenant's one ordered stream, an attempt's end comes before the next start.
    let entries: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg("{mr}:t:default:events").arg("-").arg("+").query_async(&mut conn).await.unwrap();
    let mut running = std::collections::HashSet::new();
    let mut starts = 0;
    for (sid, f) in entries {
        let e = Event::from_entry(StreamRef::tenant("{mr}:t:default:events"), &sid, f).expect("an event");
        let mission = e.mission.unwrap_or_default();
        match e.event_type.as_str() {
            "mission.started" => {
                starts += 1;
                assert!(running.insert(mission.clone()), "{sid}: a second attempt of {mission} started while one ran");
            }
            "mission.completed" | "mission.failed" | "mission.retrying" | "mission.cancelled" => {
                running.remove(&mission);
            }
            _ => {}
        }
    }
    assert!(starts > MISSIONS, "{starts} attempts: the kills cut some short, and they were run again");
}
