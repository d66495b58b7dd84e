//! Idempotent submission and batches.

use serde_json::{Value, json};

use crate::harness::TestEnv;

#[tokio::test]
async fn the_same_idempotency_key_returns_the_first_mission() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let body = json!({ "type": "echo", "payload": 1, "idempotency_key": "order-42" });
    let (s1, first) = env.api.post("/api/missions", body.clone()).await;
    let (s2, again) = env.api.post("/api/missions", body).await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (201, 200));
    assert_eq!(first["id"], again["id"]);
    let (s3, other) =
        env.api.post("/api/missions", json!({ "type": "echo", "payload": 1, "idempotency_key": "order-43" })).await;
    assert_eq!(s3, 201);
    assert_ne!(other["id"], first["id"]);
    let (_, stats) = env.api.get("/api/stats").await;
    assert_eq!(stats["totals"]["total"], 2);
    let (_, ev) = env.api.get("/api/events?type=mission.created").await;
    assert_eq!(ev["events"].as_array().unwrap().len(), 2, "a repeated key writes no event");
}

#[tokio::test]
async fn a_batch_creates_every_mission_in_one_step() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let missions: Vec<_> = (0..50).map(|i| json!({ "type": "echo", "payload": i, "priority": i % 3 * 40 })).collect();
    let (status, body) = env.api.post("/api/missions/batch", json!({ "missions": missions })).await;
    assert_eq!(status, 201, "{body}");
    let items = body["missions"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    assert!(items.iter().all(|m| m["created"] == true));
    let m = env.api.mission(items[7]["id"].as_str().unwrap()).await;
    assert_eq!((m["payload"].as_u64(), m["priority"].as_u64()), (Some(7), Some(40)));
    let (_, stats) = env.api.get("/api/stats").await;
    assert_eq!(stats["queue_depth"], 50);
}

#[tokio::test]
async fn a_batch_names_each_repeat_of_a_key_by_its_first_mission() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let (_, before) =
        env.api.post("/api/missions", json!({ "type": "echo", "payload": 0, "idempotency_key": "k0" })).await;
    let keys = [Some("k1"), None, Some("k1"), Some("k0"), Some("k2")];
    let missions: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| match k {
            Some(k) => json!({ "type": "echo", "payload": i, "idempotency_key": k }),
            None => json!({ "type": "echo", "payload": i }),
        })
        .collect();
    let (status, body) = env.api.post("/api/missions/batch", json!({ "missions": missions })).await;
    assert_eq!(status, 201, "{body}");
    let items = body["missions"].as_array().unwrap();
    let created: Vec<bool> = items.iter().map(|m| m["created"].as_bool().unwrap()).collect();
    assert_eq!(created, [true, true, false, false, true]);
    assert_eq!(items[2]["id"], items[0]["id"], "a repeat within the batch");
    assert_eq!(items[3]["id"], before["id"], "a repeat of an earlier mission");
    let m = env.api.mission(items[4]["id"].as_str().unwrap()).await;
    assert_eq!(m["payload"].as_u64(), Some(4), "the missions after a repeat keep their own ids");
    let (_, stats) = env.api.get("/api/stats").await;
    assert_eq!(stats["queue_depth"], 4);
}

#[tokio::test]
async fn a_record_leaves_out_its_defaults_and_reads_them_back() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let plain = env.api.submit(json!({ "type": "echo", "payload": 1 })).await;
    let own = env
        .api
        .submit(json!({ "type": "echo", "payload": 2, "priority": 70, "max_attempts": 5, "timeout_ms": 9000,
            "backoff": { "base_ms": 10, "cap_ms": 20 }, "idempotency_key": "k-own", "name": "n-own",
            "description": "d-own" }))
        .await;
    let mut conn = env.redis.conn().await;
    let policy = ["priority", "max_attempts", "timeout_ms", "backoff_base_ms", "backoff_cap_ms"];
    let stored = |h: &std::collections::BTreeMap<String, String>| -> Vec<Option<String>> {
        policy.iter().map(|f| h.get(*f).cloned()).collect()
    };
    let record = |id: &str| {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(format!("{{mr}}:m:{id}"));
        cmd
    };
    let h: std::collections::BTreeMap<String, String> = record(&plain).query_async(&mut conn).await.unwrap();
    assert_eq!(stored(&h), [None, None, None, None, None], "{h:?}");
    assert_eq!(h.get("tenant"), None, "the default tenant is left out too: {h:?}");
    let h: std::collections::BTreeMap<String, String> = record(&own).query_async(&mut conn).await.unwrap();
    let given = ["70", "5", "9000", "10", "20"].map(|v| Some(v.to_owned()));
    assert_eq!(stored(&h), given, "{h:?}");
    // Each optional field lands under its own name (model::submission::OPTIONAL_FIELDS).
    let texts = ["idempotency_key", "name", "description"].map(|f| h.get(f).map(String::as_str));
    assert_eq!(texts, [Some("k-own"), Some("n-own"), Some("d-own")], "{h:?}");
    let m = env.api.mission(&plain).await;
    let view = |m: &Value| {
        (m["priority"].as_u64(), m["max_attempts"].as_u64(), m["timeout_ms"].as_u64(), m["backoff"].clone())
    };
    assert_eq!(view(&m), (Some(50), Some(3), Some(60_000), json!({ "base_ms": 1000, "cap_ms": 300_000 })));
    assert_eq!(m["tenant"], "default");
    let m = env.api.mission(&own).await;
    assert_eq!(view(&m), (Some(70), Some(5), Some(9000), json!({ "base_ms": 10, "cap_ms": 20 })));
}

#[tokio::test]
async fn a_given_correlation_id_is_in_every_event_and_the_stream_is_capped() {
    let env = TestEnv::start_with(|c| c.events_max_len = 10).await;
    let id = env.api.submit(json!({ "type": "echo", "payload": 1, "correlation_id": "order-7/flow-3" })).await;
    env.api.wait_status(&id, "completed", std::time::Duration::from_secs(10)).await;
    let (_, ev) = env.api.get(&format!("/api/events?mission_id={id}")).await;
    for e in ev["events"].as_array().unwrap() {
        assert_eq!(e["meta"]["correlation_id"], "order-7/flow-3", "{e}");
        assert_eq!(
            (e["meta"]["schema_version"].as_str(), e["meta"]["producer"].as_str()),
            (Some("1"), Some("mission-runner"))
        );
    }
    // 300 more events: the stream keeps about 10 (trimmed a whole node of 100 at a time).
    let missions: Vec<_> =
        (0..300).map(|i| json!({ "type": "echo", "payload": i, "run_at": "2999-01-01T00:00:00Z" })).collect();
    let (status, _) = env.api.post("/api/missions/batch", json!({ "missions": missions })).await;
    assert_eq!(status, 400, "run_at too far ahead is refused");
    let missions: Vec<_> = (0..300)
        .map(|i| json!({ "type": "chaos", "payload": { "do": "fail", "message": i.to_string() }, "max_attempts": 1 }))
        .collect();
    let (status, _) = env.api.post("/api/missions/batch", json!({ "missions": missions })).await;
    assert_eq!(status, 201);
    let (_, stats) = env.api.get("/api/events/stats").await;
    let len = stats["tenant_stream_length"].as_u64().unwrap();
    assert!(len <= 10 + 100, "the tenant's stream holds {len} entries");
    assert!(stats["by_type"]["mission.created"].as_u64().unwrap() >= 301, "counts are not trimmed: {stats}");
}
