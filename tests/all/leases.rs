//! Crash safety: leases, stale tokens, the reaper, a worker killed with SIGKILL,
//! and many workers racing on one queue.

use std::collections::HashMap;
use std::time::Duration;

use mission_runner::model::mission::{ErrorKind, Status};
use mission_runner::server;
use mission_runner::store::{Ack, FailOutcome, PIN};
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, TestRedis, queue_on, spawn_host, start_host, test_config, wait_until};

#[tokio::test]
async fn a_stale_token_cannot_complete_or_fail_and_the_reaper_recovers_the_mission() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let queue = queue_on(&env.redis).await;
    let id = env
        .api
        .submit(json!({ "type": "echo", "payload": 1, "backoff": { "base_ms": 60_000, "cap_ms": 60_000 } }))
        .await;

    let batch = queue.claim("worker-a", 10, 50).await.unwrap();
    assert_eq!(batch.missions.len(), 1);
    let claimed = &batch.missions[0];
    assert_eq!((claimed.id.as_str(), claimed.attempt), (id.as_str(), 1));
    assert!(queue.claim("worker-b", 10, 50).await.unwrap().missions.is_empty(), "claimed once only");

    // The lease runs out; the reaper returns the mission and the attempt counts.
    let reaped = wait_until(Duration::from_secs(5), || queue.reap(10), |r| r.as_ref().is_ok_and(|v| !v.is_empty()))
        .await
        .expect("reaped");
    assert_eq!(reaped.unwrap(), std::slice::from_ref(&id));
    let m = env.api.mission(&id).await;
    assert_eq!((m["status"].as_str(), m["attempts"].as_u64()), (Some("retrying"), Some(1)));
    assert!(m["error"]["message"].as_str().unwrap().contains("lease expired: worker worker-a"));

    // The old holder is refused everywhere, and nothing changes.
    let events_before = env.api.event_types(&id).await;
    assert_eq!(queue.complete(claimed, "{}", &[]).await.unwrap(), Ack::Stale(Some(Status::Retrying)));
    assert_eq!(
        queue.fail(&id, &claimed.token, ErrorKind::Permanent, "late").await.unwrap(),
        FailOutcome::Stale(Some(Status::Retrying))
    );
    let desc = json!({ "id": "worker-a" }).to_string();
    assert_eq!(
        queue.heartbeat(&desc, &[(id.clone(), claimed.token.clone())], 50).await.unwrap(),
        std::slice::from_ref(&id)
    );
    assert_eq!(env.api.event_types(&id).await, events_before);
    assert_eq!(env.api.mission(&id).await["status"], "retrying");
    assert_eq!(events_before, ["mission.created", "mission.started", "mission.failed", "mission.retrying"]);
}

#[tokio::test]
async fn a_worker_killed_mid_mission_loses_nothing() {
    let redis = TestRedis::start().await;
    let (front, api) = start_host(&redis, 0).await;

    // A real worker process, killed with SIGKILL while it runs a long mission.
    let (mut child, _) = spawn_host(&redis.url(), &["--concurrency", "1", "--lease-ms", "1000"]).await;
    let id = api
        .submit(json!({ "type": "chaos", "payload": { "do": "sleep", "ms": 1500 },
            "backoff": { "base_ms": 50, "cap_ms": 50 } }))
        .await;
    let running = api.wait_status(&id, "running", Duration::from_secs(20)).await;
    let first_worker = running["worker"].as_str().unwrap().to_owned();
    let pid = child.id().expect("running");
    assert!(first_worker.contains(&format!("-{pid}-")), "{first_worker}");
    child.kill().await.expect("SIGKILL"); // tokio's kill is SIGKILL, and waits

    // Another worker picks it up once the lease runs out, and finishes it.
    let mut other = test_config(&redis.url());
    other.concurrency = 1;
    other.lease = Duration::from_secs(1);
    let survivor = server::start(other).await.unwrap();
    let m = api.wait_status(&id, "completed", Duration::from_secs(20)).await;
    assert_eq!(m["attempts"], 2);
    assert_eq!(m["result"], json!({ "slept_ms": 1500 }));

    let (_, body) = api.get(&format!("/api/events?mission_id={id}&limit=1000")).await;
    let ev = body["events"].as_array().unwrap();
    let started: Vec<&str> = ev
        .iter()
        .filter(|e| e["type"] == "mission.started")
        .map(|e| e["payload"]["worker_id"].as_str().unwrap())
        .collect();
    assert_eq!(started, [first_worker.as_str(), survivor.worker_id().unwrap()]);
    let failed = ev.iter().find(|e| e["type"] == "mission.failed").unwrap();
    assert!(failed["payload"]["error"].as_str().unwrap().contains("lease expired"), "{failed}");
    survivor.shutdown().await.unwrap();
    front.shutdown().await.unwrap();
}

/// Checks one mission's events: every attempt starts once, and no attempt
/// starts before the previous one ended.
fn assert_attempts_serial(id: &str, events: &[Value], attempts: u64) {
    let mut running = false;
    let mut starts = 0;
    for e in events {
        match e["type"].as_str().unwrap() {
            "mission.started" => {
                assert!(!running, "mission {id}: an attempt started while another ran: {events:?}");
                running = true;
                starts += 1;
                assert_eq!(e["payload"]["attempt"], starts, "mission {id}");
            }
            "mission.completed" | "mission.failed" => running = false,
            _ => {}
        }
    }
    assert_eq!(starts, attempts, "mission {id}: started events vs attempts");
}

#[tokio::test]
async fn many_workers_on_one_queue_run_every_attempt_exactly_once() {
    let redis = TestRedis::start().await;
    let mut hosts = Vec::new();
    for _ in 0..3 {
        hosts.push(start_host(&redis, 4).await.0);
    }
    let api = Api::new(&hosts[0].url());
    let missions: Vec<Value> = (0..150)
        .map(|i| {
            if i % 3 == 0 {
                json!({ "type": "flaky", "payload": { "fail_times": 1 }, "backoff": { "base_ms": 5, "cap_ms": 5 } })
            } else {
                json!({ "type": "echo", "payload": i, "priority": i % 5 * 20 })
            }
        })
        .collect();
    let (status, body) = api.post("/api/missions/batch", json!({ "missions": missions })).await;
    assert_eq!(status, 201, "{body}");

    let done = wait_until(
        Duration::from_secs(60),
        || api.get("/api/stats"),
        |(_, s)| s["totals"]["by_status"]["completed"] == 150,
    )
    .await;
    assert!(done.is_some(), "not all 150 missions completed");

    let (_, list) = api.get("/api/missions?limit=1000").await;
    let mut by_worker: HashMap<String, usize> = HashMap::new();
    for m in list["missions"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        let (_, body) = api.get(&format!("/api/events?mission_id={id}&limit=1000")).await;
        let ev = body["events"].as_array().unwrap();
        assert_attempts_serial(id, ev, m["attempts"].as_u64().unwrap());
        for e in ev.iter().filter(|e| e["type"] == "mission.started") {
            *by_worker.entry(e["payload"]["worker_id"].as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    assert_eq!(by_worker.values().sum::<usize>(), 200, "150 first attempts and 50 retries");
    let (_, workers) = api.get("/api/workers").await;
    assert_eq!(workers["workers"].as_array().unwrap().len(), 3, "{workers}");
    assert!(workers["workers"].as_array().unwrap().iter().all(|w| w["alive"] == true));
    for h in hosts {
        h.shutdown().await.unwrap();
    }
}

/// The leases stay a skip list: they hold the pin (`store::PIN`), since Redis
/// scans a small sorted set's listpack at every insert and removal. No listing
/// or count shows the pin. Running missions have no index of their own: the
/// listing reads them from the leases.
#[tokio::test]
async fn the_lease_set_stays_a_skip_list_and_no_reader_shows_its_pin() {
    let env = TestEnv::start_with(|c| c.concurrency = 1).await;
    let spin = env.api.submit(json!({ "type": "chaos", "payload": { "do": "spin" }, "timeout_ms": 600_000 })).await;
    env.api.wait_status(&spin, "running", Duration::from_secs(10)).await;
    let mut conn = env.redis.conn().await;
    let sets = ["{mr}:active"];
    let exists: bool = redis::cmd("EXISTS").arg("{mr}:t:default:status:running").query_async(&mut conn).await.unwrap();
    assert!(!exists, "no running index");
    for key in sets {
        let encoding: String = redis::cmd("OBJECT").arg("ENCODING").arg(key).query_async(&mut conn).await.unwrap();
        assert_eq!(encoding, "skiplist", "{key}");
        let mut members: Vec<String> =
            redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).query_async(&mut conn).await.unwrap();
        members.sort();
        let mut expected = vec![spin.clone(), PIN.to_owned()];
        expected.sort();
        assert_eq!(members, expected, "{key}: the lease and the pin");
    }
    let running = |api: &Api| {
        let api = api.clone();
        async move {
            let (_, page) = api.get("/api/missions?status=running").await;
            let (_, stats) = api.get("/api/stats").await;
            let ids: Vec<String> =
                page["missions"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
            (ids, page["next_cursor"].clone(), stats["running"].as_u64())
        }
    };
    assert_eq!(running(&env.api).await, (vec![spin.clone()], Value::Null, Some(1)));

    let (status, _) = env.api.post(&format!("/api/missions/{spin}/cancel"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(running(&env.api).await, (Vec::new(), Value::Null, Some(0)), "nothing runs, nothing is leased");
    for key in sets {
        let members: Vec<String> = redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).query_async(&mut conn).await.unwrap();
        assert_eq!(members, [PIN], "{key}: the pin stays, so the set is not rebuilt as a listpack");
    }
}
