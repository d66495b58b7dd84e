//! Submit -> run -> record, and the events of the way.

use std::time::Duration;

use serde_json::json;

use crate::harness::TestEnv;

#[tokio::test]
async fn echo_mission_completes_with_its_payload_and_its_events_in_order() {
    let env = TestEnv::start().await;
    let payload = json!({ "hello": "world", "n": [1, 2, 3] });
    let id = env.api.submit(json!({ "type": "echo", "payload": payload })).await;

    let m = env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    assert_eq!(m["result"], payload);
    assert_eq!(m["attempts"], 1);
    assert!(m["error"].is_null());
    for field in ["created_at", "started_at", "finished_at"] {
        assert!(m[field].is_string(), "{field} missing in {m}");
    }
    assert_eq!(
        env.api.event_types(&id).await,
        ["mission.created", "mission.started", "mission.log_appended", "mission.completed"]
    );

    // Every envelope has the documented shape.
    let (_, body) = env.api.get(&format!("/api/events?mission_id={id}")).await;
    for e in body["events"].as_array().unwrap() {
        for k in ["id", "type", "source", "target", "timestamp", "payload", "meta"] {
            assert!(e.get(k).is_some(), "envelope lacks {k}: {e}");
        }
        assert_eq!(e["payload"]["mission_id"], id.as_str());
        assert_eq!(e["meta"]["correlation_id"], m["correlation_id"]);
    }
    let (_, log) = env.api.get(&format!("/api/missions/{id}/log")).await;
    assert_eq!(log["lines"][0]["message"], format!("echoing {} bytes", payload.to_string().len()));
}

#[tokio::test]
async fn text_stats_does_real_work_and_reports_progress() {
    let env = TestEnv::start().await;
    let text = "the cat sat\non the mat\nThe end";
    let id = env.api.submit(json!({ "type": "text-stats", "payload": { "text": text, "top": 2 } })).await;
    let m = env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    assert_eq!(m["result"]["lines"], 3);
    assert_eq!(m["result"]["words"], 8);
    assert_eq!(m["result"]["top_words"], json!([{ "word": "the", "count": 3 }, { "word": "cat", "count": 1 }]));
    assert_eq!(m["progress"]["percent"], 100);
    let types = env.api.event_types(&id).await;
    assert_eq!(types.iter().filter(|t| *t == "mission.progress").count(), 3, "{types:?}");
}

#[tokio::test]
async fn a_failing_plugin_fails_its_mission_with_its_message() {
    let env = TestEnv::start().await;
    let id = env
        .api
        .submit(json!({ "type": "chaos", "payload": { "do": "fail", "message": "the flux capacitor broke" } }))
        .await;
    let m = env.api.wait_status(&id, "failed", Duration::from_secs(10)).await;
    assert_eq!(m["error"], json!({ "kind": "permanent", "message": "the flux capacitor broke" }));
    assert_eq!(m["attempts"], 1, "a permanent error is not retried");
    assert_eq!(env.api.event_types(&id).await, ["mission.created", "mission.started", "mission.failed"]);
    let (_, events) = env.api.get(&format!("/api/events?mission_id={id}&type=mission.failed")).await;
    assert_eq!(events["events"][0]["payload"]["will_retry"], false);
    let (_, dead) = env.api.get("/api/dead").await;
    assert_eq!(dead["missions"][0]["id"], id.as_str());
}

#[tokio::test]
async fn lists_filter_by_status_and_type_newest_first() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let a = env.api.submit(json!({ "type": "echo", "payload": 1 })).await;
    let b = env.api.submit(json!({ "type": "flaky", "payload": {} })).await;
    let c = env.api.submit(json!({ "type": "echo", "payload": 3 })).await;

    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["missions"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    };
    let (_, all) = env.api.get("/api/missions").await;
    assert_eq!(ids(&all), [c.clone(), b.clone(), a.clone()]);
    let (_, echo) = env.api.get("/api/missions?type=echo&status=pending").await;
    assert_eq!(ids(&echo), [c.clone(), a.clone()]);
    let (_, none) = env.api.get("/api/missions?status=completed").await;
    assert!(ids(&none).is_empty());
    let (_, two) = env.api.get("/api/missions?limit=2").await;
    assert_eq!(ids(&two), [c, b]);

    let (_, stats) = env.api.get("/api/stats").await;
    assert_eq!(stats["totals"]["by_status"]["pending"], 3);
    assert_eq!(stats["by_type"]["echo"]["total"], 2);
    assert_eq!(stats["queue_depth"], 3);
}

#[tokio::test]
async fn health_reports_redis_and_plugins() {
    let env = TestEnv::start().await;
    let (status, h) = env.api.get("/api/health").await;
    assert_eq!(status, 200);
    assert_eq!(h["redis"]["ok"], true);
    let names: Vec<&str> = h["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "chaos",
            "echo",
            "fetch-summary",
            "flaky",
            "go-wordcount",
            "hello",
            "js-sum",
            "noop",
            "py-greet",
            "text-stats",
            "webhook"
        ]
    );
    assert!(h["plugins"][1]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(h["worker"].as_str(), env.host.worker_id());
}

#[tokio::test]
async fn lists_page_with_cursors_that_new_missions_do_not_disturb() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let batch: Vec<_> =
        (0..250).map(|i| json!({ "type": if i % 5 == 0 { "flaky" } else { "echo" }, "payload": i })).collect();
    let (status, _) = env.api.post("/api/missions/batch", json!({ "missions": batch })).await;
    assert_eq!(status, 201);

    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["missions"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    };
    let mut seen = Vec::new();
    let mut path = "/api/missions?limit=100".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = env.api.get(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        pages += 1;
        if pages == 1 {
            // Newer missions arrive between pages: they go on top, not into the next page.
            for i in 0..5 {
                env.api.submit(json!({ "type": "echo", "payload": 1000 + i })).await;
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/missions?limit=100&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (250, 250), "every mission once");

    // Filtered paging, to the end.
    let (_, first) = env.api.get("/api/missions?type=flaky&limit=30").await;
    let c = first["next_cursor"].as_str().expect("more flaky missions").to_owned();
    let (_, rest) = env.api.get(&format!("/api/missions?type=flaky&limit=30&cursor={c}")).await;
    assert_eq!(ids(&first).len() + ids(&rest).len(), 50);
    assert!(rest["next_cursor"].is_null(), "{}", rest["next_cursor"]);

    let (status, body) = env.api.get("/api/missions?cursor=nonsense").await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_query")));
}

/// The scripts write event payloads from the text they hold (no JSON encoder
/// for numbers): numbers stay JSON numbers, text is escaped, optional fields
/// appear only when given.
#[tokio::test]
async fn event_payloads_keep_their_types_and_escape_text() {
    let env = TestEnv::start().await;
    // Far enough ahead to stay in the future however slow the submission.
    let run_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let expires_at = run_at + chrono::Duration::hours(1);
    let name = "quote \" backslash \\ tab\u{e9}";
    let description = "line one\nline \"two\" \u{1F680}";
    let id = env
        .api
        .submit(json!({ "type": "echo", "payload": 7, "priority": "high", "max_attempts": 4,
            "run_at": run_at.to_rfc3339(), "expires_at": expires_at.to_rfc3339(), "name": name,
            "description": description }))
        .await;
    env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    let payload = |kind: &'static str| {
        let api = env.api.clone();
        let id = id.clone();
        async move {
            let (_, ev) = api.get(&format!("/api/events?mission_id={id}&type={kind}")).await;
            ev["events"][0]["payload"].clone()
        }
    };

    let created = payload("mission.created").await;
    assert_eq!((created["type"].as_str(), created["priority"].as_u64()), (Some("echo"), Some(75)), "{created}");
    assert_eq!(created["max_attempts"].as_u64(), Some(4), "{created}");
    assert_eq!((created["name"].as_str(), created["description"].as_str()), (Some(name), Some(description)));
    let at = created["run_at"].as_f64().expect("run_at, a number of seconds");
    assert!((at - run_at.timestamp_millis() as f64 / 1000.0).abs() < 0.002, "{created}");
    assert!(created["created_at"].as_f64().is_some_and(|c| c < at), "{created}");
    let until = created["expires_at"].as_f64().expect("expires_at, a number of seconds");
    assert!((until - expires_at.timestamp_millis() as f64 / 1000.0).abs() < 0.002, "{created}");

    let started = payload("mission.started").await;
    assert_eq!((started["attempt"].as_u64(), started["max_attempts"].as_u64()), (Some(1), Some(4)), "{started}");
    assert_eq!((started["plugin"].as_str(), started["old_status"].as_str()), (Some("echo"), Some("pending")));
    assert!(started["worker_id"].as_str().is_some_and(|w| !w.is_empty()), "{started}");
    assert!(started["plugin_digest"].as_str().is_some_and(|d| d.starts_with("sha256:")), "{started}");
    assert!(started["plugin_version"].is_string(), "{started}");

    let completed = payload("mission.completed").await;
    assert!(completed["duration_ms"].is_u64(), "{completed}");
    assert_eq!(completed["result_summary"], "7", "{completed}");
}
