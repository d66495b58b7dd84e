//! Cancellation: pending, delayed and running missions; finished ones refuse.

use std::time::Duration;

use serde_json::json;

use crate::harness::TestEnv;

#[tokio::test]
async fn cancelling_a_pending_mission_takes_it_out_of_the_queue() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let id = env.api.submit(json!({ "type": "echo", "payload": 1 })).await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let delayed = env.api.submit(json!({ "type": "echo", "payload": 2, "run_at": later })).await;

    let (status, m) = env.api.post(&format!("/api/missions/{id}/cancel"), json!({ "reason": "not needed" })).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["status"], "cancelled");
    assert_eq!((m["cancelled_by"].as_str(), m["cancel_reason"].as_str()), (Some("anonymous"), Some("not needed")));
    let (status, _) = env.api.post(&format!("/api/missions/{delayed}/cancel"), json!({})).await;
    assert_eq!(status, 200);

    let (_, stats) = env.api.get("/api/stats").await;
    assert_eq!((stats["queue_depth"].as_u64(), stats["delayed"].as_u64()), (Some(0), Some(0)));
    assert_eq!(stats["totals"]["by_status"]["cancelled"], 2);
    let (_, ev) = env.api.get(&format!("/api/events?mission_id={id}&type=mission.cancelled")).await;
    let payload = &ev["events"][0]["payload"];
    assert_eq!((payload["cancelled_by"].as_str(), payload["reason"].as_str()), (Some("anonymous"), Some("not needed")));
    assert_eq!(payload["previous_status"], "pending");

    // A finished mission cannot be cancelled, and nothing changes.
    let (status, body) = env.api.post(&format!("/api/missions/{id}/cancel"), json!({})).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("already_finished")));
    assert_eq!(env.api.event_types(&id).await, ["mission.created", "mission.cancelled"]);
}

#[tokio::test]
async fn cancelling_a_running_mission_stops_its_wasm_at_once() {
    // One slot: the next mission can only run once the spinning one is stopped.
    let env = TestEnv::start_with(|c| c.concurrency = 1).await;
    let spin = env.api.submit(json!({ "type": "chaos", "payload": { "do": "spin" }, "timeout_ms": 600_000 })).await;
    env.api.wait_status(&spin, "running", Duration::from_secs(10)).await;
    let next = env.api.submit(json!({ "type": "echo", "payload": "next" })).await;

    let (status, m) = env.api.post(&format!("/api/missions/{spin}/cancel"), json!({ "reason": "runaway" })).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["status"], "cancelled");
    // Well within a second, the slot is free and the next mission has run.
    env.api.wait_status(&next, "completed", Duration::from_secs(1)).await;
    let m = env.api.mission(&spin).await;
    assert_eq!(m["status"], "cancelled", "a stopped attempt records nothing after the cancel");
    assert_eq!(env.api.event_types(&spin).await, ["mission.created", "mission.started", "mission.cancelled"]);
}
