//! Schedules (issue 13, section 5): exactly one mission per tick across host
//! processes that are killed and restarted, the overlap and catch-up
//! policies, pause and resume, budgets and bad input.

use std::collections::BTreeMap;
use std::time::Duration;

use mission_runner::model::event_id::StreamRef;
use mission_runner::model::events::Event;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, TestRedis, spawn_host, wait_until};

/// The Redis clock (Unix ms): the one the scripts use.
async fn redis_now(redis: &TestRedis) -> i64 {
    let (s, us): (i64, i64) = redis::cmd("TIME").query_async(&mut redis.conn().await).await.unwrap();
    s * 1000 + us / 1000
}

/// Waits until the Redis clock reaches `ms` (a condition on time itself), on one connection.
async fn until_redis_time(redis: &TestRedis, ms: i64) {
    let mut conn = redis.conn().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (s, us): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
        if s * 1000 + us / 1000 >= ms {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the Redis clock did not reach {ms}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every mission of `schedule` (read straight from Redis, newest and oldest
/// alike): tick (Unix ms) -> the missions created for it, with their records.
async fn missions_by_tick(
    redis: &TestRedis,
    tenant: &str,
    schedule: &str,
) -> BTreeMap<i64, Vec<BTreeMap<String, String>>> {
    let mut conn = redis.conn().await;
    let ids: Vec<String> =
        redis::cmd("ZRANGE").arg(format!("{{mr}}:t:{tenant}:all")).arg(0).arg(-1).query_async(&mut conn).await.unwrap();
    let mut out: BTreeMap<i64, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for id in ids {
        let mut h: BTreeMap<String, String> =
            redis::cmd("HGETALL").arg(format!("{{mr}}:m:{id}")).query_async(&mut conn).await.unwrap();
        if h.get("schedule").map(String::as_str) == Some(schedule) {
            let tick: i64 = h["schedule_tick"].parse().unwrap();
            h.insert("id".into(), id);
            out.entry(tick).or_default().push(h);
        }
    }
    out
}

/// The events of a tenant's stream of `etype` for `schedule`, oldest first (payloads).
async fn schedule_events(redis: &TestRedis, tenant: &str, etype: &str, schedule: &str) -> Vec<Value> {
    let key = format!("{{mr}}:t:{tenant}:events");
    let entries: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg(&key).arg("-").arg("+").query_async(&mut redis.conn().await).await.unwrap();
    entries
        .into_iter()
        .filter_map(|(sid, fields)| {
            let e = Event::from_entry(StreamRef::tenant(&key), &sid, fields).expect("an event");
            let payload: Value = serde_json::from_str(e.payload.get()).unwrap();
            (e.event_type == etype && payload["schedule"] == schedule).then_some(payload)
        })
        .collect()
}

async fn create(api: &Api, body: Value) -> Value {
    let (status, s) = api.post("/api/schedules", body).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    s
}

async fn schedule(api: &Api, name: &str) -> Value {
    let (status, s) = api.get(&format!("/api/schedules/{name}")).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    s
}

/// A cron schedule every second, on three host processes, one SIGKILLed and
/// restarted midway: every tick from the first to the last has exactly one
/// mission (no duplicate, no gap: the other hosts fire while one is down).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_second_on_three_hosts_one_killed_makes_exactly_one_mission_per_tick() {
    let redis = TestRedis::start().await;
    let url = redis.url();
    let mut hosts = [spawn_host(&url, &[]).await, spawn_host(&url, &[]).await, spawn_host(&url, &[]).await];
    let api = hosts[0].1.clone();
    let s = create(
        &api,
        json!({"name": "every-second", "cron": "* * * * * *", "timezone": "Europe/Berlin", "catch_up": "all",
               "mission": {"type": "echo", "payload": {"n": 1}}}),
    )
    .await;
    let start = redis_now(&redis).await;
    assert!(s["next_tick_at"].is_string(), "{s}");

    until_redis_time(&redis, start + 8_000).await;
    // SIGKILL (tokio's kill) of the host the test was talking to, and a new one in its place.
    hosts[0].0.kill().await.expect("SIGKILL");
    until_redis_time(&redis, start + 11_000).await;
    hosts[0] = spawn_host(&url, &[]).await;
    until_redis_time(&redis, start + 20_000).await;
    let api = hosts[1].1.clone();
    let (status, paused) = api.post("/api/schedules/every-second/pause", json!({})).await;
    assert_eq!((status, paused["paused"].as_bool()), (StatusCode::OK, Some(true)), "{paused}");

    let by_tick = missions_by_tick(&redis, "default", "every-second").await;
    let ticks: Vec<i64> = by_tick.keys().copied().collect();
    assert!(ticks.len() >= 17, "about 20 ticks in 20 s, got {}: {ticks:?}", ticks.len());
    for (tick, ms) in &by_tick {
        assert_eq!(ms.len(), 1, "tick {tick} has {} missions", ms.len());
        assert_eq!(tick % 1000, 0, "a cron tick falls on a whole second");
    }
    for pair in ticks.windows(2) {
        assert_eq!(pair[1] - pair[0], 1000, "a gap between ticks {} and {}: {ticks:?}", pair[0], pair[1]);
    }
    // One `schedule.fired` per mission, and the record agrees.
    let fired = schedule_events(&redis, "default", "schedule.fired", "every-second").await;
    assert_eq!(fired.len(), ticks.len(), "{fired:?}");
    let rec = schedule(&api, "every-second").await;
    assert_eq!(rec["fired"].as_u64(), Some(ticks.len() as u64), "{rec}");
    // The mission records which schedule and tick it belongs to, through the API too.
    let first = &by_tick[&ticks[0]][0];
    let m = api.mission(&first["id"]).await;
    assert_eq!(m["schedule"], "every-second", "{m}");
    assert!(m["schedule_tick"].is_string(), "{m}");
    assert!(m["idempotency_key"].as_str().unwrap().starts_with("schedule:every-second:"), "{m}");
}

/// Skip, allow and buffer_one with missions (2.5 s each) longer than the
/// interval (1 s), side by side on one host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_policies_skip_allow_and_buffer_one() {
    let env = TestEnv::start_with(|c| c.concurrency = 12).await;
    let sleep = json!({"type": "chaos", "payload": {"do": "sleep", "ms": 2500}});
    for policy in ["skip", "allow", "buffer_one"] {
        create(
            &env.api,
            json!({"name": policy.replace('_', "-"), "interval_ms": 1000, "overlap": policy, "mission": sleep}),
        )
        .await;
    }
    let start = redis_now(&env.redis).await;
    until_redis_time(&env.redis, start + 9_000).await;
    for name in ["skip", "allow", "buffer-one"] {
        let (status, _) = env.api.post(&format!("/api/schedules/{name}/pause"), json!({})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let ms = |h: &BTreeMap<String, String>, f: &str| h.get(f).and_then(|v| v.parse::<i64>().ok());

    // skip: never two at once; the ticks in between are skipped as `overlap`.
    let skip = missions_by_tick(&env.redis, "default", "skip").await;
    let skipped = schedule_events(&env.redis, "default", "schedule.skipped", "skip").await;
    assert!((2..=4).contains(&skip.len()), "one mission per ~3 s: {skip:?}");
    assert!(skipped.len() >= 4 && skipped.iter().all(|e| e["reason"] == "overlap"), "{skipped:?}");
    let created: Vec<i64> = skip.values().map(|v| ms(&v[0], "created_ms").unwrap()).collect();
    let finished: Vec<Option<i64>> = skip.values().map(|v| ms(&v[0], "finished_ms")).collect();
    for i in 1..created.len() {
        let prev_end = finished[i - 1].expect("the previous one finished before the next was created");
        assert!(created[i] >= prev_end, "skip overlapped: {skip:?}");
    }

    // allow: a mission every tick, several running at once.
    let allow = missions_by_tick(&env.redis, "default", "allow").await;
    assert!(allow.len() >= 7, "a mission per tick: {}", allow.len());
    assert!(allow.values().all(|v| v.len() == 1));
    let a: Vec<(i64, i64)> = allow
        .values()
        .filter_map(|v| Some((ms(&v[0], "started_ms")?, ms(&v[0], "finished_ms").unwrap_or(i64::MAX))))
        .collect();
    let overlapping = a.windows(2).any(|w| w[1].0 < w[0].1);
    assert!(overlapping, "allow let two run at once: {a:?}");

    // buffer_one: the waiting tick's mission starts when the previous finishes
    // (created after it, late for its tick), older waiting ticks are replaced.
    let buffered = missions_by_tick(&env.redis, "default", "buffer-one").await;
    let replaced = schedule_events(&env.redis, "default", "schedule.skipped", "buffer-one").await;
    assert!(replaced.iter().all(|e| e["reason"] == "replaced") && !replaced.is_empty(), "{replaced:?}");
    let rows: Vec<(i64, i64, Option<i64>)> =
        buffered.iter().map(|(tick, v)| (*tick, ms(&v[0], "created_ms").unwrap(), ms(&v[0], "finished_ms"))).collect();
    assert!(rows.len() >= 3, "{rows:?}");
    for w in rows.windows(2) {
        let prev_end = w[0].2.expect("finished before the buffered one was created");
        assert!(w[1].1 >= prev_end, "buffer_one overlapped: {rows:?}");
        assert!(w[1].1 - prev_end < 2000, "the buffered tick fired soon after the previous finished: {rows:?}");
    }
    assert!(rows.iter().skip(1).any(|(tick, created, _)| created - tick > 500), "a tick waited: {rows:?}");
}

/// Catch-up after every host was down: `none` runs no missed tick, `latest`
/// the most recent one, `all` the 3 most recent (its cap); on-time ticks
/// run in every case, and every tick is either run or reported skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_after_downtime_none_latest_and_all_with_a_cap() {
    let redis = TestRedis::start().await;
    let grace: u64 = 1_500;
    let config = |redis: &TestRedis| {
        let mut c = crate::harness::test_config(&redis.url());
        c.schedules.misfire_grace_ms = grace;
        c.schedules.poll_ms = 100;
        c
    };
    let host = mission_runner::server::start(config(&redis)).await.expect("host starts");
    let api = Api::new(&host.url());
    let policies = [("none", "none", 0), ("latest", "latest", 1), ("all", "all", 3)];
    for (name, policy, _) in policies {
        create(
            &api,
            json!({"name": name, "interval_ms": 1000, "catch_up": policy, "catch_up_cap": 3, "overlap": "allow",
                   "mission": {"type": "echo", "payload": {}}}),
        )
        .await;
    }
    let start = redis_now(&redis).await;
    until_redis_time(&redis, start + 2_500).await;
    host.shutdown().await.unwrap();
    let down = redis_now(&redis).await;
    until_redis_time(&redis, down + 8_000).await;
    let host = mission_runner::server::start(config(&redis)).await.expect("host restarts");
    let api = Api::new(&host.url());
    let back = redis_now(&redis).await;
    until_redis_time(&redis, back + 3_000).await;
    for (name, _, _) in policies {
        let (status, _) = api.post(&format!("/api/schedules/{name}/pause"), json!({})).await;
        assert_eq!(status, StatusCode::OK);
    }
    for (name, _, late_expected) in policies {
        let by_tick = missions_by_tick(&redis, "default", name).await;
        let late: Vec<i64> = by_tick
            .iter()
            .filter(|(tick, v)| v[0]["created_ms"].parse::<i64>().unwrap() - **tick > grace as i64)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(late.len(), late_expected, "{name}: missed ticks run: {late:?} of {:?}", by_tick.keys());
        let skipped = schedule_events(&redis, "default", "schedule.skipped", name).await;
        let catch_up: Vec<&Value> = skipped.iter().filter(|e| e["reason"] == "catch_up").collect();
        assert_eq!(catch_up.len(), 1, "{name}: {skipped:?}");
        let (first, last, n) = (
            (catch_up[0]["first_tick"].as_f64().unwrap() * 1000.0).round() as i64,
            (catch_up[0]["last_tick"].as_f64().unwrap() * 1000.0).round() as i64,
            catch_up[0]["ticks"].as_i64().unwrap(),
        );
        assert_eq!((last - first) / 1000 + 1, n, "{name}: {catch_up:?}");
        // Every tick from the first to the last is either run or in the skipped range, never both.
        let ticks: Vec<i64> = by_tick.keys().copied().collect();
        assert!(by_tick.values().all(|v| v.len() == 1), "{name}: a duplicate");
        let (lo, hi) = (ticks[0], *ticks.last().unwrap());
        for t in (lo..=hi).step_by(1000) {
            let run = by_tick.contains_key(&t);
            let in_skip = (first..=last).contains(&t);
            assert!(
                run != in_skip,
                "{name}: tick {t} run {run}, skipped {in_skip}; ticks {ticks:?}, skipped {first}..={last}"
            );
        }
        // The missed ticks that ran are the most recent ones, right after the skipped range.
        for (i, t) in late.iter().enumerate() {
            assert_eq!(*t, last + 1000 * (i as i64 + 1), "{name}: {late:?}");
        }
    }
    host.shutdown().await.unwrap();
}

/// Pause stops ticks and resume restarts them, each with its event; a paused
/// schedule is out of the due set.
#[tokio::test]
async fn pause_stops_firing_and_resume_restarts_it() {
    let env = TestEnv::start().await;
    create(&env.api, json!({"name": "beat", "interval_ms": 1000, "mission": {"type": "echo", "payload": {}}})).await;
    let fired = wait_until(
        Duration::from_secs(10),
        || async { missions_by_tick(&env.redis, "default", "beat").await.len() },
        |n| *n >= 2,
    )
    .await;
    assert!(fired.is_some(), "the schedule fired");
    let (status, s) = env.api.post("/api/schedules/beat/pause", json!({})).await;
    assert_eq!((status, s["paused"].as_bool()), (StatusCode::OK, Some(true)), "{s}");
    let paused_at = redis_now(&env.redis).await;
    let count = missions_by_tick(&env.redis, "default", "beat").await.len();
    until_redis_time(&env.redis, paused_at + 3_000).await;
    assert_eq!(missions_by_tick(&env.redis, "default", "beat").await.len(), count, "no tick while paused");
    let due: i64 =
        redis::cmd("ZCARD").arg("{mr}:schedules:due").query_async(&mut env.redis.conn().await).await.unwrap();
    assert_eq!(due, 0);

    let (status, s) = env.api.post("/api/schedules/beat/resume", json!({})).await;
    assert_eq!((status, s["paused"].as_bool()), (StatusCode::OK, Some(false)), "{s}");
    let more = wait_until(
        Duration::from_secs(10),
        || async { missions_by_tick(&env.redis, "default", "beat").await.len() },
        |n| *n >= count + 2,
    )
    .await;
    assert!(more.is_some(), "firing restarted");
    // Ticks that passed while paused were not caught up: none between pause and resume.
    let ticks: Vec<i64> = missions_by_tick(&env.redis, "default", "beat").await.keys().copied().collect();
    assert!(!ticks.iter().any(|t| (paused_at + 1000..paused_at + 2_500).contains(t)), "{ticks:?}");
    for etype in ["schedule.created", "schedule.paused", "schedule.resumed"] {
        let events = schedule_events(&env.redis, "default", etype, "beat").await;
        assert_eq!(events.len(), 1, "{etype}");
    }
    // Through the API as well, with the tenant's other events.
    let (_, page) = env.api.get("/api/events?type=schedule.paused").await;
    assert_eq!(page["events"][0]["payload"]["schedule"], "beat", "{page}");
    // Delete: gone, with its event; its missions stay.
    let (status, _) = env.api.request(reqwest::Method::DELETE, "/api/schedules/beat").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = env.api.get("/api/schedules/beat").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("schedule_not_found")));
    assert_eq!(schedule_events(&env.redis, "default", "schedule.deleted", "beat").await.len(), 1);
    assert!(!missions_by_tick(&env.redis, "default", "beat").await.is_empty());
}

/// Bad input is refused with 400 naming the field, and nothing is stored;
/// each budget is enforced by exceeding it.
#[tokio::test]
async fn bad_input_and_budgets_are_refused_naming_the_field() {
    let env = TestEnv::start_with(|c| c.schedules.max_per_tenant = 2).await;
    let m = json!({"type": "echo", "payload": {}});
    let cases = [
        (json!({"name": "a", "cron": "61 * * * * *", "mission": m}), "cron"),
        (json!({"name": "a", "cron": "not a cron", "mission": m}), "cron"),
        (json!({"name": "a", "cron": "* * * * * *", "timezone": "Mars/Olympus", "mission": m}), "timezone"),
        (json!({"name": "a", "interval_ms": 999, "mission": m}), "interval_ms"),
        (json!({"name": "a", "interval_ms": -1000, "mission": m}), "interval_ms"),
        (json!({"name": "a", "interval_ms": 1000, "catch_up_cap": -1, "mission": m}), "catch_up_cap"),
        (
            json!({"name": "a", "interval_ms": 1000, "catch_up": "all", "catch_up_cap": 101, "mission": m}),
            "catch_up_cap",
        ),
        (
            json!({"name": "a", "interval_ms": 1000, "start_at": "2990-01-02T00:00:00Z", "end_at": "2990-01-01T00:00:00Z", "mission": m}),
            "end_at",
        ),
        (json!({"name": "a", "interval_ms": 1000, "mission": m, "colour": "red"}), "colour"),
        (
            json!({"name": "a", "interval_ms": 1000, "mission": {"type": "echo", "payload": {}, "priority": 101}}),
            "mission.priority",
        ),
        (json!({"name": "a", "interval_ms": 1000, "overlap": "sometimes", "mission": m}), "overlap"),
        (json!({"name": "Bad Name", "interval_ms": 1000, "mission": m}), "name"),
    ];
    for (body, field) in cases {
        let (status, err) = env.api.post("/api/schedules", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: the message names `{field}`: {message}");
    }
    // Payload size: the submission limit (the host's body limit) holds for templates too.
    let big = "x".repeat(1 << 20);
    let (status, _) = env
        .api
        .post("/api/schedules", json!({"name": "a", "interval_ms": 1000, "mission": {"type": "echo", "payload": big}}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A type no plugin serves: 422.
    let (status, _) = env
        .api
        .post("/api/schedules", json!({"name": "a", "interval_ms": 1000, "mission": {"type": "nope", "payload": 1}}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, list) = env.api.get("/api/schedules").await;
    assert_eq!(list["schedules"].as_array().unwrap().len(), 0, "nothing stored: {list}");
    let keys: Vec<String> = redis::cmd("KEYS").arg("{mr}:s:*").query_async(&mut env.redis.conn().await).await.unwrap();
    assert!(keys.is_empty(), "{keys:?}");

    // Budget: two schedules per tenant here; the third is refused (429, quota `schedules`).
    for name in ["one", "two"] {
        create(&env.api, json!({"name": name, "interval_ms": 60_000, "mission": m})).await;
    }
    let (status, err) =
        env.api.post("/api/schedules", json!({"name": "three", "interval_ms": 60_000, "mission": m})).await;
    assert_eq!((status, err["error"]["quota"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("schedules")), "{err}");
    let (status, err) =
        env.api.post("/api/schedules", json!({"name": "one", "interval_ms": 60_000, "mission": m})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("schedule_exists")), "{err}");
    // PUT replaces the spec; a bad one changes nothing.
    let (status, s) = env
        .api
        .send_json(
            reqwest::Method::PUT,
            "/api/schedules/one",
            json!({"cron": "0 0 3 * * *", "timezone": "Asia/Tokyo", "mission": m}),
        )
        .await;
    assert_eq!((status, s["cron"].as_str()), (StatusCode::OK, Some("0 0 3 * * *")), "{s}");
    let (status, _) =
        env.api.send_json(reqwest::Method::PUT, "/api/schedules/one", json!({"cron": "bad", "mission": m})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(schedule(&env.api, "one").await["timezone"], "Asia/Tokyo");
    assert_eq!(schedule_events(&env.redis, "default", "schedule.updated", "one").await.len(), 1);
}

/// Every schedule event type is documented.
#[test]
fn every_schedule_event_is_in_events_md() {
    let doc = include_str!("../../EVENTS.md");
    for etype in mission_runner::model::events::SCHEDULE_EVENTS {
        assert!(doc.contains(&format!("| `{etype}` |")), "{etype} missing from EVENTS.md");
    }
}

/// A schedule belongs to its tenant: another tenant neither sees nor reaches
/// it (the same name is free there), its missions are the tenant's, and the
/// operator lists every tenant's and reaches one with `?tenant=`.
#[tokio::test]
async fn schedules_are_tenant_scoped_and_the_operator_sees_all() {
    use mission_runner::auth::Scope;
    let tokens: [(&str, &str, &str, &[Scope]); 3] = [
        ("tok-a", "alice", "team-a", &[Scope::MissionsRead, Scope::MissionsWrite]),
        ("tok-b", "bob", "team-b", &[Scope::MissionsRead, Scope::MissionsWrite]),
        ("tok-ops", "ops", "default", &[Scope::Admin]),
    ];
    let env = TestEnv::start_with(|c| c.auth.tokens = crate::harness::configured_tokens(&tokens)).await;
    let base = env.host.url();
    let (a, b, ops) =
        (Api::with_token(&base, "tok-a"), Api::with_token(&base, "tok-b"), Api::with_token(&base, "tok-ops"));
    let m = json!({"type": "echo", "payload": {}});
    create(&a, json!({"name": "report", "interval_ms": 1000, "mission": m})).await;
    let theirs = create(&b, json!({"name": "report", "interval_ms": 60_000, "paused": true, "mission": m})).await;
    assert_eq!(theirs["tenant"], "team-b");

    let (_, list) = b.get("/api/schedules").await;
    let names: Vec<(&str, &str)> = list["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["tenant"].as_str().unwrap(), s["name"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("team-b", "report")]);
    assert_eq!(schedule(&b, "report").await["paused"], true, "bob reads his own");
    let (status, _) = b.get("/api/schedules/report?tenant=team-a").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = b.request(reqwest::Method::DELETE, "/api/schedules/report?tenant=team-a").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, all) = ops.get("/api/schedules").await;
    assert_eq!(all["schedules"].as_array().unwrap().len(), 2, "{all}");
    let (status, one) = ops.get("/api/schedules/report?tenant=team-a").await;
    assert_eq!((status, one["tenant"].as_str()), (StatusCode::OK, Some("team-a")), "{one}");

    // A tick's mission is alice's tenant's, created in alice's name; bob cannot read it.
    let found =
        wait_until(Duration::from_secs(10), || missions_by_tick(&env.redis, "team-a", "report"), |m| !m.is_empty())
            .await;
    let by_tick = found.expect("alice's schedule fired");
    let first = by_tick.values().next().unwrap()[0].clone();
    assert_eq!((first["tenant"].as_str(), first["created_by"].as_str()), ("team-a", "alice"));
    let (status, _) = a.get(&format!("/api/missions/{}", first["id"])).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = b.get(&format!("/api/missions/{}", first["id"])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missions_by_tick(&env.redis, "team-b", "report").await.is_empty(), "bob's is paused");
}

/// `mission-runner schedule ...`: create, list, pause, resume, delete, and a
/// refusal that names the field.
#[tokio::test]
async fn the_schedule_cli() {
    let env = TestEnv::start().await;
    let url = env.host.url();
    let run = |args: Vec<&'static str>| {
        let url = url.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
                .args(["schedule"])
                .args(&args)
                .args(["--url", &url])
                .output()
                .await
                .expect("the CLI runs");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (code, out, err) = run(vec![
        "create",
        "cli-beat",
        "--type",
        "echo",
        "--payload",
        "{\"n\":1}",
        "--cron",
        "*/2 * * * * *",
        "--timezone",
        "UTC",
        "--paused",
    ])
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("cli-beat") && out.contains("paused"), "{out}");
    let (code, out, _) = run(vec!["list"]).await;
    assert_eq!(code, Some(0));
    assert!(out.lines().any(|l| l.starts_with("cli-beat")), "{out}");
    let (code, out, _) = run(vec!["resume", "cli-beat"]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("active"), "{out}");
    let (code, out, _) = run(vec!["pause", "cli-beat"]).await;
    assert_eq!((code, out.contains("paused")), (Some(0), true), "{out}");
    let (code, _, err) = run(vec!["create", "bad", "--type", "echo", "--cron", "not a cron"]).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("400") && err.contains("`cron`"), "{err}");
    let (code, out, _) = run(vec!["delete", "cli-beat"]).await;
    assert_eq!((code, out.trim()), (Some(0), "deleted cli-beat"));
    let (code, _, err) = run(vec!["get", "cli-beat"]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("404"), "{err}");
}
