//! Graceful shutdown: stop claiming, let running missions finish within the
//! grace period, hand back the rest for another worker, uncharged.

use std::time::Duration;

use mission_runner::server;
use serde_json::json;

use crate::harness::{Api, TestRedis, start_host, test_config};

#[tokio::test]
async fn shutdown_finishes_short_missions_and_hands_back_long_ones() {
    let redis = TestRedis::start().await;
    let mut c = test_config(&redis.url());
    c.concurrency = 2;
    c.shutdown_grace = Duration::from_millis(1000);
    let host = server::start(c).await.unwrap();
    let api = Api::new(&host.url());

    let long = api.submit(json!({ "type": "chaos", "payload": { "do": "sleep", "ms": 3000 } })).await;
    let short = api.submit(json!({ "type": "chaos", "payload": { "do": "sleep", "ms": 200 } })).await;
    api.wait_status(&long, "running", Duration::from_secs(10)).await;
    api.wait_status(&short, "running", Duration::from_secs(10)).await;
    let (front, front_api) = start_host(&redis, 0).await;
    host.shutdown().await.unwrap();

    // The short one finished within the grace period; the long one was handed back.
    assert_eq!(front_api.mission(&short).await["status"], "completed");
    let m = front_api.mission(&long).await;
    assert_eq!((m["status"].as_str(), m["attempts"].as_u64()), (Some("retrying"), Some(0)), "{m}");
    let (_, ev) = front_api.get(&format!("/api/events?mission_id={long}&type=mission.retrying")).await;
    let reason = ev["events"][0]["payload"]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("shutting down"), "{ev}");
    let (_, workers) = front_api.get("/api/workers").await;
    assert_eq!(workers["workers"].as_array().unwrap().len(), 1, "the stopped host deregistered: {workers}");

    // Another worker runs it at once, as its first charged attempt.
    let (next, _) = start_host(&redis, 1).await;
    let m = front_api.wait_status(&long, "completed", Duration::from_secs(20)).await;
    assert_eq!(m["attempts"], 1);
    next.shutdown().await.unwrap();
    front.shutdown().await.unwrap();
}
