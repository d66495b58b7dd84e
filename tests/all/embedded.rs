//! The embedded default: `serve` without a Redis URL runs its own redis-server,
//! persistent, stopped with the host, and never two on one data directory.

use std::time::Duration;

use mission_runner::embedded_redis::{Persistence, RedisServer};
use mission_runner::server;
use serde_json::json;

use crate::harness::{Api, test_config};

async fn answers(port: u16) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else { return false };
    let Ok(Ok(mut c)) = tokio::time::timeout(Duration::from_secs(1), client.get_multiplexed_async_connection()).await
    else {
        return false;
    };
    redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
}

#[tokio::test]
async fn serve_without_a_redis_url_keeps_missions_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let start = || {
        let mut c = test_config("unused");
        c.redis_url = None;
        c.data_dir = data.path().to_owned();
        server::start(c)
    };
    let host = start().await.unwrap();
    // The embedded default makes an admin token, keeps it in its data
    // directory (owner-only) and asks for it.
    let token = host.admin_token().expect("an admin token").to_owned();
    let stored = std::fs::read_to_string(data.path().join("admin-token")).unwrap();
    assert_eq!(stored.trim(), token);
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(data.path().join("admin-token")).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "only its owner may read the token");
    let (status, body) = Api::new(&host.url()).get("/api/missions").await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (401, Some("unauthorized")));
    let api = Api::with_token(&host.url(), &token);
    let id = api.submit(json!({ "type": "echo", "payload": "kept" })).await;
    api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    let port: u16 = host.redis_url().rsplit(':').next().unwrap().parse().unwrap();
    host.shutdown().await.unwrap();
    assert!(!answers(port).await, "the embedded redis-server stopped with the host");

    // Persistence is on: a new host on the same data directory sees the mission.
    let again = start().await.unwrap();
    assert_eq!(again.admin_token(), Some(token.as_str()), "the same token on every start");
    let m = Api::with_token(&again.url(), &token).mission(&id).await;
    assert_eq!(m["result"], "kept");
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_server_left_running_is_adopted_not_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let first = RedisServer::start(dir.path(), Persistence::AppendOnly).await.unwrap();
    let port = first.port();
    // The host that started it dies without stopping it.
    std::mem::forget(first);
    let second = RedisServer::start(dir.path(), Persistence::AppendOnly).await.unwrap();
    assert_eq!(second.port(), port, "adopted the running server");
    second.shutdown().await.unwrap();
    assert!(!answers(port).await);
}
