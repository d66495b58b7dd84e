//! Retries with backoff, the dead-letter set, re-drive, timeouts, delays.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::TestEnv;

async fn events(env: &TestEnv, id: &str) -> Vec<Value> {
    let (_, body) = env.api.get(&format!("/api/events?mission_id={id}")).await;
    body["events"].as_array().unwrap().clone()
}

fn lifecycle(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|t| *t != "mission.log_appended" && *t != "mission.progress")
        .collect()
}

#[tokio::test]
async fn flaky_mission_retries_with_backoff_then_succeeds() {
    let env = TestEnv::start().await;
    let id = env
        .api
        .submit(json!({ "type": "flaky", "payload": { "fail_times": 2 }, "max_attempts": 3,
            "backoff": { "base_ms": 60, "cap_ms": 1000 } }))
        .await;
    let m = env.api.wait_status(&id, "completed", Duration::from_secs(15)).await;
    assert_eq!(m["attempts"], 3);
    assert_eq!(m["result"], json!({ "succeeded_on_attempt": 3 }));
    let ev = events(&env, &id).await;
    assert_eq!(
        lifecycle(&ev),
        [
            "mission.created",
            "mission.started",
            "mission.failed",
            "mission.retrying",
            "mission.started",
            "mission.failed",
            "mission.retrying",
            "mission.started",
            "mission.completed",
        ]
    );
    // Backoff: exponential (60 ms, then 120 ms) with equal jitter, so at least half of each.
    let retrying: Vec<&Value> = ev.iter().filter(|e| e["type"] == "mission.retrying").collect();
    for (r, base) in retrying.iter().zip([0.060, 0.120]) {
        let wait = r["payload"]["next_attempt_at"].as_f64().unwrap() - r["timestamp"].as_f64().unwrap();
        assert!(wait >= base / 2.0 - 0.0015 && wait <= base + 0.0015, "waited {wait} s for base {base}: {r}");
    }
    let failed: Vec<&Value> = ev.iter().filter(|e| e["type"] == "mission.failed").collect();
    assert_eq!(failed[0]["payload"]["will_retry"], true);
    assert_eq!(failed[0]["payload"]["error_kind"], "retryable");
    assert!(failed[1]["payload"]["error"].as_str().unwrap().contains("attempt 2"));
    // Each next attempt starts no earlier than it was scheduled.
    let started: Vec<&Value> = ev.iter().filter(|e| e["type"] == "mission.started").collect();
    for (r, s) in retrying.iter().zip(&started[1..]) {
        assert!(s["timestamp"].as_f64().unwrap() >= r["payload"]["next_attempt_at"].as_f64().unwrap() - 0.0005);
    }
}

#[tokio::test]
async fn out_of_attempts_goes_to_the_dead_set_and_can_be_redriven() {
    let env = TestEnv::start().await;
    let id = env
        .api
        .submit(json!({ "type": "flaky", "payload": { "fail_times": 2 }, "max_attempts": 1,
            "backoff": { "base_ms": 10, "cap_ms": 10 } }))
        .await;
    let m = env.api.wait_status(&id, "failed", Duration::from_secs(10)).await;
    assert_eq!((m["attempts"].as_u64(), m["error"]["kind"].as_str()), (Some(1), Some("retryable")));
    let (_, dead) = env.api.get("/api/dead").await;
    assert_eq!(dead["missions"].as_array().unwrap().len(), 1);
    let (_, stats) = env.api.get("/api/stats").await;
    assert_eq!(stats["dead"], 1);

    let (status, m) = env.api.post(&format!("/api/missions/{id}/retry"), json!({ "max_attempts": 3 })).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["max_attempts"], 3);
    let m = env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    // Attempts restarted from 1: flaky fails twice more, then succeeds on its third.
    assert_eq!(m["result"], json!({ "succeeded_on_attempt": 3 }));
    assert_eq!(m["attempts"], 3);
    let (_, dead) = env.api.get("/api/dead").await;
    assert_eq!(dead["missions"], json!([]));
    let ev = events(&env, &id).await;
    let redrive = ev.iter().find(|e| e["payload"]["redriven_by"].is_string()).expect("a re-drive event");
    assert_eq!(redrive["type"], "mission.retrying");

    // Only failed missions can be re-driven; nothing changes otherwise.
    let before = ev.len();
    let (status, body) = env.api.post(&format!("/api/missions/{id}/retry"), json!({})).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("not_failed")));
    assert_eq!(events(&env, &id).await.len(), before);
}

#[tokio::test]
async fn a_plugin_that_loops_forever_times_out_and_the_host_carries_on() {
    let env = TestEnv::start().await;
    let id = env
        .api
        .submit(json!({ "type": "chaos", "payload": { "do": "spin" }, "timeout_ms": 300, "max_attempts": 1 }))
        .await;
    let ok = env.api.submit(json!({ "type": "echo", "payload": "still here" })).await;
    let m = env.api.wait_status(&id, "failed", Duration::from_secs(10)).await;
    assert_eq!(m["error"]["kind"], "retryable");
    assert!(m["error"]["message"].as_str().unwrap().contains("timed out after 300 ms"), "{m}");
    env.api.wait_status(&ok, "completed", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_delayed_mission_waits_for_its_run_at() {
    let env = TestEnv::start().await;
    let run_at = chrono::Utc::now() + chrono::Duration::milliseconds(800);
    let id = env.api.submit(json!({ "type": "echo", "payload": 1, "run_at": run_at.to_rfc3339() })).await;
    let m = env.api.mission(&id).await;
    assert_eq!(m["status"], "pending");
    assert!(m["run_at"].is_string());
    let (_, stats) = env.api.get("/api/stats").await;
    assert_eq!((stats["delayed"].as_u64(), stats["queue_depth"].as_u64()), (Some(1), Some(0)));
    env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    let ev = events(&env, &id).await;
    let started = ev.iter().find(|e| e["type"] == "mission.started").unwrap();
    let started_ms = (started["timestamp"].as_f64().unwrap() * 1000.0) as i64;
    assert!(started_ms >= run_at.timestamp_millis(), "started before its run_at");
}
