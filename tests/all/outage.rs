//! Redis going away and coming back: clear 503s, nothing half-written, the
//! health endpoint says why, and service resumes by itself.

use std::time::Duration;

use mission_runner::embedded_redis::{Persistence, RedisServer};
use mission_runner::server;
use serde_json::json;

use crate::harness::{Api, test_config, wait_until};

#[tokio::test]
async fn submissions_answer_503_while_redis_is_down_and_service_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path(), Persistence::AppendOnly).await.unwrap();
    let port = redis.port();
    let host = server::start(test_config(&redis.url())).await.unwrap();
    let api = Api::new(&host.url());
    let before = api.submit(json!({ "type": "echo", "payload": "before" })).await;
    api.wait_status(&before, "completed", Duration::from_secs(10)).await;

    redis.shutdown().await.unwrap();
    let (status, body) = api.post("/api/missions", json!({ "type": "echo", "payload": "during" })).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (503, Some("redis_unavailable")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("nothing was changed"));
    let (status, health) = api.get("/api/health").await;
    assert_eq!(status, 503);
    assert_eq!(health["redis"]["ok"], false);
    assert!(health["redis"]["error"].is_string(), "{health}");

    // Redis returns (append-only file on): acknowledged missions are there, and
    // the host reconnects by itself.
    let _redis = RedisServer::start_on(dir.path(), Persistence::AppendOnly, port).await.unwrap();
    let healthy = wait_until(Duration::from_secs(20), || api.get("/api/health"), |(s, _)| s.as_u16() == 200).await;
    assert!(healthy.is_some(), "the host did not reconnect");
    assert_eq!(api.mission(&before).await["result"], "before");
    let after = wait_until(
        Duration::from_secs(20),
        || api.post("/api/missions", json!({ "type": "echo", "payload": "after" })),
        |(s, _)| s.as_u16() == 201,
    )
    .await
    .expect("submissions are accepted again");
    let id = after.1["id"].as_str().unwrap().to_owned();
    api.wait_status(&id, "completed", Duration::from_secs(20)).await;
    let (_, list) = api.get("/api/missions").await;
    assert_eq!(list["missions"].as_array().unwrap().len(), 2, "the refused submission left nothing: {list}");
    host.shutdown().await.unwrap();
}
