//! Higher priority first; first in, first out within one priority.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{TestRedis, start_host, wait_until};

#[tokio::test]
async fn higher_priority_runs_first_and_fifo_within_a_priority() {
    let redis = TestRedis::start().await;
    // Submit through an API-only host, so nothing runs while the queue fills.
    let (front, api) = start_host(&redis, 0).await;

    let order = [
        ("low-1", json!(10)),
        ("high-1", json!(90)),
        ("mid-1", json!(50)),
        ("high-2", json!(90)),
        ("low-2", json!(10)),
        ("mid-2", json!("normal")),
    ];
    let mut ids = std::collections::HashMap::new();
    for (name, prio) in order {
        let id = api.submit(json!({ "type": "echo", "payload": name, "priority": prio })).await;
        ids.insert(id, name);
    }
    let (_, queue) = api.get("/api/queue").await;
    let queued: Vec<&str> =
        queue["missions"].as_array().unwrap().iter().map(|m| ids[m["id"].as_str().unwrap()]).collect();
    let expected = ["high-1", "high-2", "mid-1", "mid-2", "low-1", "low-2"];
    assert_eq!(queued, expected);
    assert_eq!(queue["missions"][0]["position"], 1);

    // One worker with one slot runs them in exactly that order.
    let (worker, _) = start_host(&redis, 1).await;
    let started = wait_until(
        Duration::from_secs(20),
        || {
            let api = api.clone();
            async move { api.get("/api/events?type=mission.started").await.1 }
        },
        |body: &Value| body["events"].as_array().is_some_and(|e| e.len() == 6),
    )
    .await
    .expect("all six started");
    let ran: Vec<&str> = started["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| ids[e["payload"]["mission_id"].as_str().unwrap()])
        .collect();
    assert_eq!(ran, expected);
    worker.shutdown().await.unwrap();
    front.shutdown().await.unwrap();
}
