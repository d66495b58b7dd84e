//! Bad input gets a clear error and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestEnv;

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str, mentions: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let msg = body["error"]["message"].as_str().expect("message");
    assert!(msg.contains(mentions), "message {msg:?} should mention {mentions:?}");
}

#[tokio::test]
async fn bad_submissions_are_refused_and_store_nothing() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let api = &env.api;
    let before = snapshot(&env).await;

    let (s, b) = api.post("/api/missions", json!({ "type": "nope", "payload": {} })).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "unknown_mission_type", "nope");
    assert!(b["error"]["message"].as_str().unwrap().contains("echo"), "lists the known types: {b}");

    let (s, b) = api.post_raw("/api/missions", r#"{"type": "echo", "payload": "#).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_body", "EOF");

    let (s, b) = api.post("/api/missions", json!({ "type": "echo" })).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_body", "missing field `payload`");

    let (s, b) = api.post("/api/missions", json!({ "payload": 1 })).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_body", "missing field `type`");

    let (s, b) = api.post("/api/missions", json!({ "type": "echo", "payload": 1, "priorty": 3 })).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_body", "unknown field `priorty`");

    let (s, b) = api.post("/api/missions", json!({ "type": "echo", "payload": 1, "priority": 500 })).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_field", "priority");

    let (s, b) = api.post("/api/missions", json!({ "type": "Echo Mission", "payload": 1 })).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_field", "type");

    let (s, b) = api
        .post(
            "/api/missions/batch",
            json!({ "missions": [
        { "type": "echo", "payload": 1 },
        { "type": "echo", "payload": 2, "max_attempts": 0 },
    ] }),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_field", "missions[1]");

    // Nothing was stored: no mission, no counter, no event.
    let (_, list) = api.get("/api/missions").await;
    assert_eq!(list["missions"], json!([]));
    let (_, stats) = api.get("/api/stats").await;
    assert_eq!(stats["totals"]["total"], 0);
    assert_eq!(snapshot(&env).await, before, "refused submissions changed Redis");
}

/// Every key with its type and size, and the event stream's length.
async fn snapshot(env: &TestEnv) -> Vec<(String, String)> {
    let mut conn = env.redis.conn().await;
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    keys.retain(|k| !k.contains("workers")); // host heartbeats refresh these on their own
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        let t: String = redis::cmd("TYPE").arg(&k).query_async(&mut conn).await.unwrap();
        let size: i64 = match t.as_str() {
            "hash" => redis::cmd("HLEN").arg(&k).query_async(&mut conn).await.unwrap(),
            "zset" => redis::cmd("ZCARD").arg(&k).query_async(&mut conn).await.unwrap(),
            "list" => redis::cmd("LLEN").arg(&k).query_async(&mut conn).await.unwrap(),
            "set" => redis::cmd("SCARD").arg(&k).query_async(&mut conn).await.unwrap(),
            "stream" => redis::cmd("XLEN").arg(&k).query_async(&mut conn).await.unwrap(),
            _ => redis::cmd("STRLEN").arg(&k).query_async(&mut conn).await.unwrap(),
        };
        out.push((k, format!("{t}:{size}")));
    }
    out
}

#[tokio::test]
async fn unknown_ids_routes_and_filters_are_clear_errors() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let api = &env.api;
    let missing = uuid::Uuid::now_v7();

    let (s, b) = api.get(&format!("/api/missions/{missing}")).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "mission_not_found", &missing.to_string());
    // Not an id at all (and never used to build a Redis key).
    let (s, b) = api.get("/api/missions/x:log").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "mission_not_found", "x:log");
    let (s, b) = api.post(&format!("/api/missions/{missing}/cancel"), json!({})).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "mission_not_found", "");

    let (s, b) = api.get("/api/missions?status=done").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query", "pending");
    let (s, b) = api.get("/api/missions?limit=0").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query", "limit");
    let (s, b) = api.get("/api/events?color=red").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query", "color");
    let (s, b) = api.get("/api/nothing-here").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "no_route", "");
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let env = TestEnv::start_with(|c| {
        c.concurrency = 0;
        c.max_body_bytes = 1024;
    })
    .await;
    let (s, b) = env.api.post("/api/missions", json!({ "type": "echo", "payload": "x".repeat(2000) })).await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "too large");
    let (_, stats) = env.api.get("/api/stats").await;
    assert_eq!(stats["totals"]["total"], 0);
}
