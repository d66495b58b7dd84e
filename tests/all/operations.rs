//! Retention, the eviction-policy guard, logs from clients, event stats and filters.

use std::time::Duration;

use mission_runner::server;
use serde_json::{Value, json};

use crate::harness::{TestEnv, TestRedis, test_config, wait_until};

#[tokio::test]
async fn finished_missions_expire_with_their_log_and_index_entries() {
    let env = TestEnv::start_with(|c| {
        c.retention_completed = Duration::from_millis(100);
        c.lease = Duration::from_millis(500);
    })
    .await;
    let id = env.api.submit(json!({ "type": "echo", "payload": 1 })).await;
    env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    let path = format!("/api/missions/{id}");
    let gone = wait_until(Duration::from_secs(10), || env.api.get(&path), |(s, _)| s.as_u16() == 404).await;
    assert!(gone.is_some(), "mission did not expire");
    let (_, stats) = env.api.get("/api/stats").await;
    assert_eq!(stats["totals"]["total"], 0, "{stats}");
    let (_, list) = env.api.get("/api/missions").await;
    assert_eq!(list["missions"], json!([]));
    let mut conn = env.redis.conn().await;
    let left: Vec<String> = redis::cmd("KEYS").arg(format!("{{mr}}:m:{id}*")).query_async(&mut conn).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_redis_that_may_evict_keys_is_refused() {
    let redis = TestRedis::start().await;
    let mut conn = redis.conn().await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query_async(&mut conn)
        .await
        .unwrap();
    let err = server::start(test_config(&redis.url())).await.expect_err("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("allkeys-lru") && msg.contains("noeviction"), "{msg}");
}

#[tokio::test]
async fn clients_append_logs_and_events_can_be_counted_and_filtered() {
    let env = TestEnv::start().await;
    let id = env.api.submit(json!({ "type": "echo", "payload": "x" })).await;
    env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    let (status, _) = env
        .api
        .post(&format!("/api/missions/{id}/log"), json!({ "message": "checked by hand", "level": "warn" }))
        .await;
    assert_eq!(status, 201);
    let (status, body) =
        env.api.post(&format!("/api/missions/{id}/log"), json!({ "message": "x", "level": "loud" })).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_field")));

    let (_, log) = env.api.get(&format!("/api/missions/{id}/log")).await;
    let lines = log["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0]["source"].as_str(), lines[1]["source"].as_str()), (Some("plugin"), Some("client")));
    assert_eq!(lines[1]["level"], "warn");
    assert!(log["next_cursor"].is_null());
    // A page at a time: line positions never move, so the cursor is one.
    for n in 0..3 {
        env.api.post(&format!("/api/missions/{id}/log"), json!({ "message": format!("more {n}") })).await;
    }
    let (_, first) = env.api.get(&format!("/api/missions/{id}/log?limit=2")).await;
    let cursor = first["next_cursor"].as_str().expect("more follow").to_owned();
    let (_, rest) = env.api.get(&format!("/api/missions/{id}/log?limit=10&cursor={cursor}")).await;
    let messages: Vec<&str> = first["lines"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["lines"].as_array().unwrap())
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages[1..], ["checked by hand", "more 0", "more 1", "more 2"]);
    assert!(rest["next_cursor"].is_null());

    let (_, stats) = env.api.get("/api/events/stats").await;
    assert_eq!(stats["by_type"]["mission.log_appended"], 5);
    assert_eq!(stats["by_type"]["mission.completed"], 1);
    let mission_events: u64 = stats["by_type"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(t, _)| t.starts_with("mission."))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    assert_eq!(mission_events, 8);
    let all: u64 = stats["by_type"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(stats["stream_length"], all, "nothing trimmed yet: the stream holds every event");

    let (_, all) = env.api.get("/api/events").await;
    let last = all["events"].as_array().unwrap().last().unwrap().clone();
    let ts = last["timestamp"].as_f64().unwrap();
    let (_, since) = env.api.get(&format!("/api/events?since={ts}")).await;
    let since = since["events"].as_array().unwrap();
    assert_eq!(since.last().map(|e| &e["id"]), Some(&last["id"]));
    assert!(since.iter().all(|e| e["timestamp"].as_f64().unwrap() >= ts), "{since:?}");
    let (_, until) = env.api.get(&format!("/api/events?until={}", ts - 1000.0)).await;
    assert_eq!(until["events"], json!([]));
    let (status, _) = env.api.get("/api/events?since=yesterday").await;
    assert_eq!(status, 400);

    // Paging back through every event, two at a time, sees each once, in order.
    let ids = |b: &serde_json::Value| -> Vec<String> {
        b["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
    };
    let everything = ids(&all);
    let mut paged: Vec<String> = Vec::new();
    let mut path = "/api/events?limit=2".to_owned();
    loop {
        let (status, page) = env.api.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let mut older = ids(&page);
        older.extend(paged);
        paged = older;
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/events?limit=2&before={c}"),
            None => break,
        }
    }
    assert_eq!(paged, everything);
    let (status, _) = env.api.get("/api/events?before=latest").await;
    assert_eq!(status, 400);
}

/// Follows `next_cursor` through a list; returns every item's `key`.
pub(crate) async fn all_pages(api: &crate::harness::Api, path: &str, items: &str, key: &str) -> Vec<String> {
    let (mut out, mut cursor) = (Vec::new(), None::<String>);
    for _ in 0..100 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let (status, page) = api.get(&url).await;
        assert_eq!(status, 200, "{url}: {page}");
        out.extend(page[items].as_array().unwrap().iter().map(|i| i[key].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
    panic!("{path} did not end");
}

#[tokio::test]
async fn the_queue_workers_and_plugins_lists_page_with_cursors() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let missions: Vec<Value> =
        (0..25).map(|i| json!({ "type": "echo", "payload": i, "priority": i % 3 * 40 })).collect();
    let (status, _) = env.api.post("/api/missions/batch", json!({ "missions": missions })).await;
    assert_eq!(status, 201);
    let (_, whole) = env.api.get("/api/queue?limit=100").await;
    let in_order: Vec<String> =
        whole["missions"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(in_order.len(), 25);
    assert_eq!(all_pages(&env.api, "/api/queue?limit=10", "missions", "id").await, in_order, "pages in claim order");
    let (_, second) = env.api.get("/api/queue?limit=10").await;
    let cursor = second["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) = env.api.get(&format!("/api/queue?limit=10&cursor={cursor}")).await;
    assert_eq!(next["missions"][0]["position"], 11);

    let (_, plugins) = env.api.get("/api/plugins").await;
    let names: Vec<String> =
        plugins["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    assert!(names.len() >= 3, "{names:?}");
    assert_eq!(all_pages(&env.api, "/api/plugins?limit=2", "plugins", "name").await, names);

    let (_h1, _) = crate::harness::start_host(&env.redis, 1).await;
    let (_h2, _) = crate::harness::start_host(&env.redis, 1).await;
    // Each host registers with its first heartbeat (the API-only one too).
    let registered = wait_until(
        Duration::from_secs(10),
        || env.api.get("/api/workers"),
        |(_, w)| w["workers"].as_array().is_some_and(|a| a.len() == 3),
    )
    .await;
    let (_, all) = registered.expect("three hosts registered");
    for w in all["workers"].as_array().unwrap() {
        assert!(w["worker_threads"].as_u64().is_some_and(|n| n >= 1), "{w}");
    }
    let mut ids: Vec<String> =
        all["workers"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    assert_eq!(all_pages(&env.api, "/api/workers?limit=1", "workers", "id").await, ids);

    let (status, body) = env.api.get("/api/queue?cursor=abc").await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_query")));
}

/// Redis' clock in ms (the clock missions are stamped with).
async fn redis_ms(redis: &TestRedis) -> i64 {
    let (s, us): (i64, i64) = redis::cmd("TIME").query_async(&mut redis.conn().await).await.unwrap();
    s * 1000 + us / 1000
}

#[tokio::test]
async fn the_mission_list_filters_by_creation_time_on_every_index_and_pages() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    // Three missions a millisecond or more apart (waiting on Redis' clock, not sleeping).
    let mut made = Vec::new();
    for n in 0..3 {
        let id = env.api.submit(json!({ "type": "echo", "payload": n })).await;
        let created = env.api.mission(&id).await["created_at"].as_str().unwrap().to_owned();
        let ms = chrono::DateTime::parse_from_rfc3339(&created).unwrap().timestamp_millis();
        wait_until(Duration::from_secs(5), || redis_ms(&env.redis), |now| *now > ms).await.expect("the clock moves");
        made.push((id, created));
    }
    let [(a, a_at), (b, b_at), (c, _)] = <[(String, String); 3]>::try_from(made).unwrap();
    let list = |q: String| {
        let api = env.api.clone();
        async move { all_pages(&api, &format!("/api/missions?limit=1&{q}"), "missions", "id").await }
    };
    assert_eq!(list(format!("since={b_at}")).await, [c.clone(), b.clone()]);
    assert_eq!(list(format!("until={b_at}")).await, [b.clone(), a.clone()]);
    assert_eq!(list(format!("since={b_at}&until={b_at}")).await, std::slice::from_ref(&b));
    assert_eq!(list(format!("since={a_at}&status=pending")).await, [c.clone(), b.clone(), a.clone()]);
    assert_eq!(list(format!("until={b_at}&status=pending&type=echo")).await, [b, a]);
    // Unix seconds work too; malformed times are 400s naming the parameter.
    let secs = chrono::DateTime::parse_from_rfc3339(&a_at).unwrap().timestamp_millis() as f64 / 1000.0;
    assert_eq!(list(format!("since={secs}")).await.len(), 3);
    for bad in ["since=yesterday", "until=0001-01-01T00:00:00Z", "since=-5"] {
        let (status, body) = env.api.get(&format!("/api/missions?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let name = bad.split('=').next().unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(name), "{bad}: {body}");
    }
}
