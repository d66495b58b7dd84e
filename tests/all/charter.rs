//! A consumer written to the seeds' event contract, "Charter v1.0" (seed 003,
//! "Charter v1.0 Compliance"), accepts every event we write, however it reads
//! them: `GET /api/events` page by page, the SSE stream (resumed once with an
//! event's UUID as `Last-Event-ID`), and the Redis streams through the
//! consumer-group example's own reading code. The three views agree event by
//! event. Also: missions' names and descriptions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use mission_runner::model::event_id::{EventId, StreamRef};
use mission_runner::model::events::StreamId;
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, plugins_dir, upload};

#[path = "../../host/examples/event_consumer.rs"]
#[allow(dead_code)]
mod event_consumer;

/// The statuses a mission can have (the Charter's enum, in our lower case).
const STATUSES: [&str; 6] = ["pending", "running", "retrying", "completed", "failed", "cancelled"];

/// The Charter's `Event` dataclass: exactly these fields.
const FIELDS: [&str; 7] = ["id", "type", "source", "target", "timestamp", "payload", "meta"];

/// Everything wrong with `e` by the Charter's rules (empty: it complies).
/// `source` must be `producer`: one name for every event.
fn charter_violations(e: &Value, producer: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let mut fail = |rule: &str| bad.push(rule.to_owned());
    let Some(obj) = e.as_object() else { return vec!["not an object".into()] };
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = FIELDS.to_vec();
    want.sort_unstable();
    if keys != want {
        fail("fields are exactly id, type, source, target, timestamp, payload, meta");
    }
    // 1. A UUID id (the text Python's uuid.UUID accepts and str() gives back).
    let id = e["id"].as_str().unwrap_or_default();
    if uuid::Uuid::parse_str(id).map(|u| u.hyphenated().to_string()) != Ok(id.to_owned()) {
        fail("id is a UUID string");
    }
    // 2. A namespaced type.
    let ty = e["type"].as_str().unwrap_or_default();
    let namespaced = ty.split_once('.').is_some_and(|(ns, action)| {
        let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        word(ns) && word(action)
    });
    if !namespaced {
        fail("type is namespaced (<namespace>.<action>)");
    }
    let mission_event = ty.starts_with("mission.");
    if !mission_event && !ty.starts_with("plugin.") {
        fail("type is mission.* or plugin.*");
    }
    // 3. One consistent source.
    if e["source"] != producer {
        fail("source is the one producer name");
    }
    // 4 and 6. An auto-generated timestamp: Unix seconds with a decimal, and recent.
    let now = chrono::Utc::now().timestamp() as f64;
    match e["timestamp"].as_f64() {
        Some(t) if e["timestamp"].is_f64() && (now - 3600.0..=now + 60.0).contains(&t) => {}
        _ => fail("timestamp is Unix seconds with a decimal, from now"),
    }
    // 5. Payload and target: mission events name their mission.
    let p = &e["payload"];
    if !p.is_object() {
        fail("payload is an object");
    }
    if !e["meta"].is_object() {
        fail("meta is an object");
    }
    if mission_event {
        let mission = p["mission_id"].as_str().unwrap_or_default();
        if uuid::Uuid::parse_str(mission).is_err() {
            fail("payload.mission_id is the mission's id");
        }
        if e["target"] != format!("mission_{mission}") {
            fail("target is mission_<id> for a mission's events");
        }
    } else if !e["target"].is_null() {
        fail("target is null for a broadcast");
    }
    let text = |f: &str| p[f].is_string();
    let status = |f: &str| p[f].as_str().is_some_and(|s| STATUSES.contains(&s));
    let required_ok = match ty {
        "mission.created" => {
            text("name") && text("description") && p["status"] == "pending" && p["created_at"].is_number()
        }
        "mission.started" => p["attempt"].is_u64() && text("worker_id"),
        "mission.completed" => p["duration_ms"].is_u64(),
        "mission.failed" => text("error") && p["will_retry"].is_boolean(),
        "mission.retrying" => p["attempt"].is_u64(),
        "mission.cancelled" => text("cancelled_by"),
        "mission.log_appended" => text("level") && text("message"),
        "mission.progress" => p["percent"].is_u64(),
        "plugin.uploaded" | "plugin.activated" | "plugin.deleted" => text("name") && text("version") && text("digest"),
        "plugin.config_set" | "plugin.config_deleted" => text("name") && text("key"),
        _ => false,
    };
    if !required_ok {
        fail("payload has the type's required fields");
    }
    // The status model: every status change says from what to what; nothing else claims one.
    let changes = match ty {
        "mission.started" | "mission.completed" | "mission.retrying" | "mission.cancelled" => true,
        "mission.failed" => p["will_retry"] == false,
        _ => false,
    };
    let (old, new) = (p.get("old_status"), p.get("new_status"));
    if changes && !(status("old_status") && status("new_status") && old != new) {
        fail("a status change carries old_status and new_status, two statuses");
    }
    if !changes && (old.is_some() || new.is_some()) {
        fail("only status changes carry old_status and new_status");
    }
    let expected_new = match ty {
        "mission.started" => Some("running"),
        "mission.completed" => Some("completed"),
        "mission.failed" if changes => Some("failed"),
        "mission.cancelled" => Some("cancelled"),
        _ => None,
    };
    if expected_new.is_some_and(|n| p["new_status"] != n) {
        fail("new_status is the status the type names");
    }
    bad
}

/// Asserts every event complies, with the one producer name, and that ids are unique.
fn assert_charter(view: &str, events: &[Value]) {
    let mut ids = HashSet::new();
    for e in events {
        let bad = charter_violations(e, "mission-runner");
        assert!(bad.is_empty(), "{view}: {e} breaks the Charter: {bad:?}");
        assert!(ids.insert(e["id"].as_str().unwrap().to_owned()), "{view}: id twice: {e}");
        // Who wrote it moved to meta.
        assert!(e["meta"]["host"].as_str().is_some_and(|h| !h.is_empty()), "{view}: {e}");
    }
}

/// Every event `GET /api/events` has, oldest first, paging back `limit` at a
/// time; every other page is asked `before` the oldest event's UUID instead
/// of `next_cursor`.
async fn api_events(api: &Api, limit: usize) -> Vec<Value> {
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut path = format!("/api/events?limit={limit}");
    loop {
        let (status, page) = api.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap().clone();
        let by_uuid = pages.len() % 2 == 1;
        let next = match (page["next_cursor"].as_str(), events.first()) {
            (Some(_), Some(oldest)) if by_uuid => Some(oldest["id"].as_str().unwrap().to_owned()),
            (Some(c), _) => Some(c.to_owned()),
            (None, _) => None,
        };
        pages.push(events);
        match next {
            Some(c) => path = format!("/api/events?limit={limit}&before={c}"),
            None => break,
        }
    }
    pages.into_iter().rev().flatten().collect()
}

/// An open SSE response, read event by event.
struct Sse {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl Sse {
    async fn open(url: &str, last_event_id: &str) -> Sse {
        let resp = reqwest::Client::new()
            .get(format!("{url}/api/events/stream"))
            .header("Last-Event-ID", last_event_id)
            .send()
            .await
            .expect("stream opens");
        assert_eq!(resp.status(), 200);
        Sse { body: Box::pin(resp.bytes_stream()), buf: String::new() }
    }

    /// The next event's data; no `events.lost` may come.
    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    block.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim_start().to_owned()))
                };
                assert_ne!(field("event").as_deref(), Some("events.lost"), "{block}");
                if let Some(data) = field("data") {
                    return serde_json::from_str(&data).expect("data is JSON");
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(15), self.body.next())
                .await
                .expect("an event within 15 s")
                .expect("stream still open")
                .expect("chunk");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Reads the streams with the consumer-group example's code until it has
/// `n` distinct events; a first consumer "crashes" after one batch (reads,
/// acks nothing), so the same consumer re-reads its pending entries first.
async fn consumer_events(redis_url: &str, n: usize) -> Vec<Value> {
    /// Events by id, in the order first delivered.
    #[derive(Default)]
    struct Seen {
        by_id: HashMap<String, Value>,
        order: Vec<String>,
    }
    impl Seen {
        fn take(&mut self, d: &event_consumer::Delivery) {
            let e = serde_json::to_value(d.event.as_ref().expect("an entry the example reads")).unwrap();
            let id = e["id"].as_str().unwrap().to_owned();
            // Idempotent by id: a redelivery is the same event.
            match self.by_id.insert(id.clone(), e.clone()) {
                Some(before) => assert_eq!(before, e, "a redelivered event differs"),
                None => self.order.push(id),
            }
        }
    }
    let streams = event_consumer::streams("mr", &["default".to_owned()]);
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut crashed = event_consumer::Consumer::join(redis_url, "charter", "c1", streams.clone()).await.unwrap();
    let redelivered = loop {
        assert!(tokio::time::Instant::now() < deadline, "the first consumer got nothing");
        let batch = crashed.next_batch(100).await.unwrap();
        batch.iter().for_each(|d| seen.take(d));
        if !batch.is_empty() {
            break batch.len();
        }
    };
    drop(crashed);
    let mut consumer = event_consumer::Consumer::join(redis_url, "charter", "c1", streams).await.unwrap();
    let first = consumer.next_batch(100).await.unwrap();
    assert_eq!(first.len(), redelivered, "the consumer re-reads what it had not acked first");
    for d in &first {
        seen.take(d);
        consumer.ack(d).await.unwrap();
    }
    while seen.order.len() < n {
        assert!(tokio::time::Instant::now() < deadline, "the consumer got {} of {n} events", seen.order.len());
        for d in consumer.next_batch(100).await.unwrap() {
            seen.take(&d);
            consumer.ack(&d).await.unwrap();
        }
    }
    assert!(consumer.next_batch(100).await.unwrap().is_empty(), "nothing more, nothing pending");
    let Seen { mut by_id, order } = seen;
    order.into_iter().map(|id| by_id.remove(&id).unwrap()).collect()
}

fn of_mission<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["payload"]["mission_id"] == id).collect()
}

#[test]
fn the_charter_consumer_rejects_the_envelope_we_wrote_before() {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let mission = uuid::Uuid::now_v7().to_string();
    let old = json!({ "id": "1795424984602-0", "type": "mission.started", "source": "worker-host-4121-1c9d2e0a",
        "target": null, "timestamp": now, "meta": {},
        "payload": { "mission_id": mission, "worker_id": "w", "attempt": 1, "max_attempts": 3 } });
    let bad = charter_violations(&old, "mission-runner");
    for rule in [
        "id is a UUID string",
        "source is the one producer name",
        "target is mission_<id> for a mission's events",
        "a status change carries old_status and new_status, two statuses",
    ] {
        assert!(bad.iter().any(|b| b == rule), "{rule} not caught: {bad:?}");
    }
    let mut fixed = old.clone();
    fixed["id"] = json!(uuid::Uuid::new_v4().to_string());
    fixed["source"] = json!("mission-runner");
    fixed["target"] = json!(format!("mission_{mission}"));
    fixed["payload"]["old_status"] = json!("pending");
    fixed["payload"]["new_status"] = json!("running");
    assert_eq!(charter_violations(&fixed, "mission-runner"), Vec::<String>::new());
    fixed["timestamp"] = json!(now.floor() as u64);
    assert_eq!(charter_violations(&fixed, "mission-runner"), ["timestamp is Unix seconds with a decimal, from now"]);
}

#[tokio::test]
async fn a_charter_consumer_accepts_every_event_through_the_api_the_sse_stream_and_the_redis_stream() {
    let env = TestEnv::start().await;
    let api = &env.api;
    let url = env.host.url();

    // Follow from the very start (the plugins published at start included).
    let mut sse = Sse::open(&url, "0").await;

    // A success, with a name and a description as in the seeds, and a client's log line.
    let ok = api
        .submit(json!({ "type": "echo", "payload": { "v": 2 }, "name": "Deploy Application v2.0",
            "description": "Deploy new version to production" }))
        .await;
    api.wait_status(&ok, "completed", Duration::from_secs(10)).await;
    let (status, _) =
        api.post(&format!("/api/missions/{ok}/log"), json!({ "message": "checked", "level": "info" })).await;
    assert_eq!(status, 201);
    // A retry, then success.
    let flaky = api
        .submit(json!({ "type": "flaky", "payload": { "fail_times": 1 }, "max_attempts": 2,
            "backoff": { "base_ms": 50, "cap_ms": 100 } }))
        .await;
    api.wait_status(&flaky, "completed", Duration::from_secs(10)).await;
    // Its success took away the first attempt's error, and the result is its own.
    let m = api.mission(&flaky).await;
    assert_eq!((m["attempts"].as_u64(), m["result"].is_null()), (Some(2), false), "{m}");
    assert!(m["error"].is_null(), "the error of a failed attempt outlived the success: {m}");
    let at = |f: &str| chrono::DateTime::parse_from_rfc3339(m[f].as_str().unwrap()).unwrap();
    assert!(at("updated_at") >= at("started_at"), "{m}");

    // The SSE client reads up to the success's completion, then disconnects.
    let mut streamed = Vec::new();
    loop {
        let e = sse.next().await;
        streamed.push(e.clone());
        if e["type"] == "mission.completed" && e["payload"]["mission_id"] == ok.as_str() {
            break;
        }
    }
    drop(sse);
    let resume_at = streamed.last().unwrap()["id"].as_str().unwrap().to_owned();

    // While it is away: a dead letter, re-driven and dead again.
    let dead =
        api.submit(json!({ "type": "chaos", "payload": { "do": "fail", "message": "no" }, "name": "Doomed" })).await;
    api.wait_status(&dead, "failed", Duration::from_secs(10)).await;
    let (status, _) = api.post(&format!("/api/missions/{dead}/retry"), json!({})).await;
    assert_eq!(status, 200);
    let failures = format!("/api/events?mission_id={dead}&type=mission.failed");
    let dead_again = crate::harness::wait_until(
        Duration::from_secs(10),
        || api.get(&failures),
        |(_, b)| b["events"].as_array().is_some_and(|e| e.len() == 2),
    );
    assert!(dead_again.await.is_some(), "the re-driven mission failed again");
    api.wait_status(&dead, "failed", Duration::from_secs(10)).await;
    // Cancelled while pending (delayed) and while running.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let delayed = api.submit(json!({ "type": "echo", "payload": 1, "run_at": later })).await;
    let (status, _) = api.post(&format!("/api/missions/{delayed}/cancel"), json!({ "reason": "later" })).await;
    assert_eq!(status, 200);
    let spin = api.submit(json!({ "type": "chaos", "payload": { "do": "spin" }, "timeout_ms": 600_000 })).await;
    api.wait_status(&spin, "running", Duration::from_secs(10)).await;
    let (status, _) = api.post(&format!("/api/missions/{spin}/cancel"), json!({ "reason": "runaway" })).await;
    assert_eq!(status, 200);
    // Progress.
    let slow =
        api.submit(json!({ "type": "chaos", "payload": { "do": "sleep", "ms": 300 }, "name": "Nightly report" })).await;
    api.wait_status(&slow, "completed", Duration::from_secs(10)).await;
    // A plugin activation (a broadcast).
    let v2 = std::fs::read(plugins_dir().join("fixtures/echo-v2.wasm")).unwrap();
    let (status, body) =
        upload(api, &v2, &json!({ "name": "echo", "version": "2.0.0", "mission_types": ["echo"] }), true).await;
    assert_eq!(status, 201, "{body}");
    let after = api.submit(json!({ "type": "echo", "payload": "on v2" })).await;
    api.wait_status(&after, "completed", Duration::from_secs(10)).await;
    api.wait_status(&spin, "cancelled", Duration::from_secs(1)).await;

    // View 1: the API, paged.
    let listed = api_events(api, 7).await;
    assert_charter("GET /api/events", &listed);
    let types: HashSet<&str> = listed.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for t in [
        "mission.created",
        "mission.started",
        "mission.completed",
        "mission.failed",
        "mission.retrying",
        "mission.cancelled",
        "mission.log_appended",
        "mission.progress",
        "plugin.uploaded",
        "plugin.activated",
    ] {
        assert!(types.contains(t), "the workload wrote no {t}: {types:?}");
    }

    // View 2: the SSE stream, resumed with the UUID of the last event read: lossless, nothing twice.
    let mut sse = Sse::open(&url, &resume_at).await;
    while streamed.len() < listed.len() {
        streamed.push(sse.next().await);
    }
    assert_charter("SSE", &streamed);
    assert_eq!(streamed, listed, "the SSE stream and the API agree event by event, in order");

    // View 3: the Redis streams through the consumer-group example.
    let consumed = consumer_events(&env.redis.url(), listed.len()).await;
    assert_charter("consumer group", &consumed);
    let by_id: BTreeMap<&str, &Value> = listed.iter().map(|e| (e["id"].as_str().unwrap(), e)).collect();
    assert_eq!(consumed.len(), listed.len());
    for e in &consumed {
        assert_eq!(Some(&e), by_id.get(e["id"].as_str().unwrap()), "the consumer and the API agree");
    }
    // Per stream, the consumer reads in the API's order.
    for broadcast in [false, true] {
        let pick =
            |v: &[Value]| -> Vec<Value> { v.iter().filter(|e| e["target"].is_null() == broadcast).cloned().collect() };
        assert_eq!(pick(&consumed), pick(&listed));
    }

    // The status model: each mission's changes chain from pending to its status now.
    for id in [&ok, &flaky, &dead, &delayed, &spin, &slow, &after] {
        let mut now = "pending".to_owned();
        let mut changes = Vec::new();
        for e in of_mission(&listed, id) {
            let p = &e["payload"];
            if let Some(old) = p["old_status"].as_str() {
                assert_eq!(old, now, "mission {id}: {e}");
                now = p["new_status"].as_str().unwrap().to_owned();
                changes.push(format!("{old}>{now}"));
            }
        }
        assert_eq!(api.mission(id).await["status"], now.as_str(), "mission {id}: {changes:?}");
    }
    let chain = |id: &str| -> Vec<String> {
        of_mission(&listed, id)
            .iter()
            .filter_map(|e| {
                Some(format!("{}>{}", e["payload"]["old_status"].as_str()?, e["payload"]["new_status"].as_str()?))
            })
            .collect()
    };
    assert_eq!(
        chain(&dead),
        ["pending>running", "running>failed", "failed>pending", "pending>running", "running>failed"]
    );
    assert_eq!(chain(&flaky), ["pending>running", "running>retrying", "retrying>running", "running>completed"]);
    assert_eq!(chain(&delayed), ["pending>cancelled"]);
    assert_eq!(chain(&spin), ["pending>running", "running>cancelled"]);

    // mission.created carries the name and description (empty when not given).
    let created = |id: &str| of_mission(&listed, id)[0]["payload"].clone();
    let c = created(&ok);
    assert_eq!(
        (c["name"].as_str(), c["description"].as_str()),
        (Some("Deploy Application v2.0"), Some("Deploy new version to production"))
    );
    assert_eq!((created(&spin)["name"].as_str(), created(&spin)["description"].as_str()), (Some(""), Some("")));

    // The UUID decodes to the entry each view came from, and one host wrote them all.
    let hosts: HashSet<&str> = listed.iter().map(|e| e["meta"]["host"].as_str().unwrap()).collect();
    assert!(!hosts.is_empty() && hosts.iter().all(|h| !h.is_empty()));
    for e in &listed {
        let id: EventId = e["id"].as_str().unwrap().parse().unwrap();
        assert!(id.entry.ms > 0, "{e}");
    }
}

#[tokio::test]
async fn an_event_id_of_another_stream_is_refused_as_a_cursor() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let foreign =
        EventId { stream: StreamRef::tenant("{mr}:t:someone-else:events"), entry: StreamId { ms: 1, seq: 0 } };
    let (status, body) = env.api.get(&format!("/api/events?before={foreign}")).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_query")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("`before`"), "{body}");
    let resp = reqwest::Client::new()
        .get(format!("{}/api/events/stream", env.host.url()))
        .header("Last-Event-ID", foreign.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("Last-Event-ID"), "{body}");

    // An own event's UUID pages exactly like the entry id it stands for.
    let id = env.api.submit(json!({ "type": "echo", "payload": 1 })).await;
    let (_, all) = env.api.get("/api/events?type=mission.created").await;
    let last = all["events"].as_array().unwrap().last().unwrap();
    assert_eq!(last["payload"]["mission_id"], id.as_str());
    let uuid = last["id"].as_str().unwrap();
    let entry = uuid.parse::<EventId>().unwrap().entry;
    let (_, by_uuid) = env.api.get(&format!("/api/events?before={uuid}")).await;
    let (_, by_entry) = env.api.get(&format!("/api/events?before={entry}")).await;
    assert_eq!(by_uuid["events"], by_entry["events"]);
    assert!(by_uuid["events"].as_array().unwrap().iter().all(|e| e["id"] != uuid));
}

#[tokio::test]
async fn missions_have_an_optional_name_and_description_listed_by_name_prefix() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let api = &env.api;
    let deploy = api
        .submit(json!({ "type": "echo", "payload": 1, "name": "Deploy Application v2.0",
        "description": "Deploy new version\nto production" }))
        .await;
    let other = api.submit(json!({ "type": "echo", "payload": 2, "name": "Nightly report" })).await;
    let plain = api.submit(json!({ "type": "echo", "payload": 3 })).await;
    let m = api.mission(&deploy).await;
    assert_eq!(
        (m["name"].as_str(), m["description"].as_str()),
        (Some("Deploy Application v2.0"), Some("Deploy new version\nto production"))
    );
    let m = api.mission(&plain).await;
    assert_eq!((m["name"].clone(), m["description"].clone()), (Value::Null, Value::Null));
    // Stored only when given: a mission without them costs no more than before.
    let mut conn = env.redis.conn().await;
    let fields: Vec<String> =
        redis::cmd("HKEYS").arg(format!("{{mr}}:m:{plain}")).query_async(&mut conn).await.unwrap();
    assert!(!fields.is_empty() && !fields.iter().any(|f| f == "name" || f == "description"), "{fields:?}");

    // Listed by prefix (case-sensitive), with the same paging as other filters.
    let names = |b: &Value| -> Vec<String> {
        b["missions"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    };
    let (status, b) = api.get("/api/missions?name=Deploy").await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(names(&b), [deploy.as_str()]);
    let (_, b) = api.get("/api/missions?name=deploy").await;
    assert!(names(&b).is_empty());
    let (_, b) = api.get("/api/missions?name=N&type=echo&status=pending").await;
    assert_eq!(names(&b), [other.as_str()]);
    for i in 0..3 {
        api.submit(json!({ "type": "echo", "payload": i, "name": format!("Batch {i}") })).await;
    }
    let (_, first) = api.get("/api/missions?name=Batch&limit=2").await;
    assert_eq!(first["missions"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("more follow");
    let (_, second) = api.get(&format!("/api/missions?name=Batch&limit=2&cursor={cursor}")).await;
    assert_eq!(second["missions"][0]["name"], "Batch 0");

    // Limits: 200 and 2,000 characters, named in the 400; nothing is created.
    let before = api.get("/api/stats").await.1["totals"]["total"].clone();
    for (body, field) in [
        (json!({ "type": "echo", "payload": 1, "name": "x".repeat(201) }), "name"),
        (json!({ "type": "echo", "payload": 1, "name": "" }), "name"),
        (json!({ "type": "echo", "payload": 1, "name": "a\u{1b}[31m" }), "name"),
        (json!({ "type": "echo", "payload": 1, "description": "d".repeat(2001) }), "description"),
    ] {
        let (status, err) = api.post("/api/missions", body).await;
        assert_eq!((status.as_u16(), err["error"]["code"].as_str()), (400, Some("invalid_field")), "{err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(&format!("`{field}`")), "{err}");
    }
    assert!(
        api.post(
            "/api/missions",
            json!({ "type": "echo", "payload": 1, "name": "é".repeat(200),
        "description": "ü".repeat(2000) })
        )
        .await
        .0
        .is_success(),
        "the limits count characters, not bytes"
    );
    assert_eq!(api.get("/api/stats").await.1["totals"]["total"], before.as_u64().unwrap() + 1);
    let (status, err) = api.get(&format!("/api/missions?name={}", "x".repeat(201))).await;
    assert_eq!(status, 400);
    assert!(err["error"]["message"].as_str().unwrap().contains("`name`"), "{err}");

    // The CLI shows them and filters by them.
    let run = |args: Vec<String>| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
            .args(&args)
            .output()
            .await
            .expect("the CLI runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let url = env.host.url();
    let shown = run(vec!["get".into(), deploy.clone(), "--url".into(), url.clone()]).await;
    assert!(
        shown.contains("\"Deploy Application v2.0\"") && shown.contains("description: Deploy new version"),
        "{shown}"
    );
    let listed = run(vec!["list".into(), "--name".into(), "Nightly".into(), "--url".into(), url.clone()]).await;
    assert!(listed.lines().count() == 1 && listed.starts_with(&other) && listed.contains("Nightly report"), "{listed}");
    let made = run(vec![
        "submit".into(),
        "echo".into(),
        "{}".into(),
        "--name".into(),
        "From the CLI".into(),
        "--description".into(),
        "typed".into(),
        "--url".into(),
        url,
    ])
    .await;
    let m = api.mission(made.trim()).await;
    assert_eq!((m["name"].as_str(), m["description"].as_str()), (Some("From the CLI"), Some("typed")));
}
