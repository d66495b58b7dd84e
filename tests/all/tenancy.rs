//! Tenants are isolated in resources, not only in what they see: each has its
//! own capped event stream, quotas that answer 429 and recover, capped event
//! streams (SSE) that end when their token is revoked, and reads of events
//! that are bounded and refuse malformed queries with a 400.

use std::time::{Duration, Instant};

use futures::StreamExt;
use mission_runner::auth::{ConfiguredToken, Scope, hash_token};
use mission_runner::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, configured_tokens, start_host, wait_until};

/// (token, name, tenant, scopes).
const TOKENS: [(&str, &str, &str, &[Scope]); 4] = [
    ("tok-ops", "ops", "ops", &[Scope::Admin]),
    ("tok-alpha", "alpha", "alpha", &[Scope::MissionsRead, Scope::MissionsWrite]),
    ("tok-beta", "beta", "beta", &[Scope::MissionsRead, Scope::MissionsWrite]),
    ("tok-gamma", "gamma", "gamma", &[Scope::MissionsRead, Scope::MissionsWrite]),
];

async fn secured(tweak: impl FnOnce(&mut Config)) -> TestEnv {
    TestEnv::start_with(|c| {
        c.auth.tokens = configured_tokens(&TOKENS);
        tweak(c);
    })
    .await
}

fn as_(env: &TestEnv, token: &str) -> Api {
    Api::with_token(&env.host.url(), token)
}

/// One SSE block: its `id:` (if any), `event:` and `data:`.
#[derive(Debug, Clone)]
struct Block {
    id: Option<String>,
    event: String,
    data: Value,
}

/// An open SSE response, read block by block.
struct Sse {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

/// Opens `/api/events/stream` with `token`; the response's status and, if 200, the stream.
async fn open_stream(base: &str, token: &str, query: &str, last: Option<&str>) -> (StatusCode, Option<Sse>, Value) {
    let mut req = reqwest::Client::new().get(format!("{base}/api/events/stream{query}")).bearer_auth(token);
    if let Some(id) = last {
        req = req.header("Last-Event-ID", id);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    if status != StatusCode::OK {
        let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let mut body: Value = resp.json().await.expect("error body is JSON");
        body["retry_after"] = json!(retry);
        return (status, None, body);
    }
    (status, Some(Sse { body: Box::pin(resp.bytes_stream()), buf: String::new() }), Value::Null)
}

impl Sse {
    /// The next event or comment-free block; `None` when the stream ended.
    async fn next(&mut self, within: Duration) -> Option<Block> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    block.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim_start().to_owned()))
                };
                if let (Some(event), Some(data)) = (field("event"), field("data")) {
                    let data = serde_json::from_str(&data).expect("data is JSON");
                    return Some(Block { id: field("id"), event, data });
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await.expect("a block in time");
            match chunk {
                Some(Ok(c)) => self.buf.push_str(&String::from_utf8_lossy(&c)),
                _ => return None,
            }
        }
    }
}

/// Submits `n` no-op missions in batches of 1,000; asserts each batch is created.
async fn burst(api: &Api, n: usize) {
    for from in (0..n).step_by(1000) {
        let missions: Vec<Value> =
            (from..(from + 1000).min(n)).map(|i| json!({ "type": "noop", "payload": i })).collect();
        let (status, body) = api.post("/api/missions/batch", json!({ "missions": missions })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

/// Sets a tenant's quotas as the admin; returns the answer.
async fn put_quotas(base: &str, tenant: &str, quotas: Value) -> Value {
    let resp = reqwest::Client::new()
        .put(format!("{base}/api/tenants/{tenant}/quotas"))
        .bearer_auth("tok-ops")
        .json(&quotas)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

/// Submits one mission; the status, the body and `Retry-After`.
async fn submit(base: &str, token: &str, body: Value, path: &str) -> (StatusCode, Value, Option<u64>) {
    let resp =
        reqwest::Client::new().post(format!("{base}{path}")).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().expect("Retry-After is seconds"));
    (status, resp.json().await.unwrap(), retry)
}

fn assert_quota(got: &(StatusCode, Value, Option<u64>), quota: &str) {
    let (status, body, retry) = got;
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["quota"].as_str()),
        (Some("quota_exceeded"), Some(quota))
    );
    assert!(body["error"]["message"].as_str().unwrap().contains(quota), "{body}");
    assert!(retry.is_some_and(|s| s >= 1), "429 without Retry-After: {body}");
}

async fn total_missions(api: &Api) -> u64 {
    let (_, stats) = api.get("/api/stats").await;
    stats["totals"]["total"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_tenants_burst_leaves_another_tenants_events_and_resume_whole() {
    // Each stream keeps about 1,000 events; alpha writes 20,000 (20 times the
    // cap), which in one shared stream would have evicted everything of beta's.
    let env = secured(|c| {
        c.concurrency = 0;
        c.events_max_len = 1_000;
    })
    .await;
    let (alpha, beta) = (as_(&env, "tok-alpha"), as_(&env, "tok-beta"));
    put_quotas(&env.host.url(), "alpha", json!({ "submissions_per_second": 1_000_000, "submission_burst": 1_000_000 }))
        .await;

    let (_, sse, _) = open_stream(&env.host.url(), "tok-beta", "", None).await;
    let mut sse = sse.expect("beta's stream opens");
    let mut seen = Vec::new();
    for i in 0..3 {
        let id = beta.submit(json!({ "type": "echo", "payload": i })).await;
        let b = sse.next(Duration::from_secs(10)).await.expect("an event");
        assert_eq!(
            (b.event.as_str(), b.data["payload"]["mission_id"].as_str()),
            ("mission.created", Some(id.as_str()))
        );
        seen.push(id);
    }
    drop(sse);
    let (_, page) = beta.get("/api/events?limit=3").await;
    let third: mission_runner::model::event_id::EventId = page["events"][2]["id"].as_str().unwrap().parse().unwrap();
    let resume = format!("{}_0-0", third.entry);

    // While beta is away: two of its own, then alpha's burst.
    let mut missed = Vec::new();
    for i in 0..2 {
        missed.push(beta.submit(json!({ "type": "echo", "payload": 10 + i })).await);
    }
    burst(&alpha, 20_000).await;

    let (_, a_stats) = alpha.get("/api/events/stats").await;
    assert_eq!(a_stats["by_type"]["mission.created"], 20_000, "{a_stats}");
    assert!(a_stats["tenant_stream_length"].as_u64().unwrap() <= 1_100, "alpha's stream is capped: {a_stats}");
    let (_, b_stats) = beta.get("/api/events/stats").await;
    assert_eq!(b_stats["tenant_stream_length"], 5, "beta's stream lost nothing: {b_stats}");
    let (_, page) = beta.get("/api/events?type=mission.created").await;
    let ids: Vec<&str> =
        page["events"].as_array().unwrap().iter().map(|e| e["payload"]["mission_id"].as_str().unwrap()).collect();
    let expected: Vec<&str> = seen.iter().chain(&missed).map(String::as_str).collect();
    assert_eq!(ids, expected, "beta's recent events are all readable");

    // Beta resumes where it stopped: exactly what it missed, and no loss reported.
    let (_, sse, _) = open_stream(&env.host.url(), "tok-beta", "?type=mission.created", Some(&resume)).await;
    let mut sse = sse.expect("beta's stream reopens");
    for id in &missed {
        let b = sse.next(Duration::from_secs(10)).await.expect("a missed event");
        assert_eq!(
            (b.event.as_str(), b.data["payload"]["mission_id"].as_str()),
            ("mission.created", Some(id.as_str()))
        );
    }
    let extra = beta.submit(json!({ "type": "echo", "payload": "after" })).await;
    let b = sse.next(Duration::from_secs(10)).await.expect("a live event");
    assert_eq!(b.data["payload"]["mission_id"], extra.as_str(), "{b:?}");

    // Alpha, resuming from before its own burst, is told it lost events.
    let (_, sse, _) = open_stream(&env.host.url(), "tok-alpha", "", Some("1-0_0-0")).await;
    let b = sse.expect("alpha's stream opens").next(Duration::from_secs(10)).await.expect("a block");
    assert_eq!((b.event.as_str(), b.data["stream"].as_str(), b.id.as_deref()), ("events.lost", Some("tenant"), None));
    assert!(b.data["oldest_retained"].as_str().is_some(), "{b:?}");
}

#[tokio::test]
async fn every_quota_refuses_with_429_changes_nothing_and_recovers() {
    let env = secured(|c| c.concurrency = 0).await;
    let (base, alpha, ops) = (env.host.url(), as_(&env, "tok-alpha"), as_(&env, "tok-ops"));
    let one = |extra: Value| {
        let mut m = json!({ "type": "echo", "payload": 1 });
        m.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        m
    };

    // Only an admin reads or sets quotas; values are checked.
    let (status, _) = alpha.get("/api/tenants/alpha/quotas").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, view) = ops.get("/api/tenants/alpha/quotas").await;
    assert_eq!(view["effective"]["max_priority"], 100, "{view}");
    for (bad, field) in [
        (json!({ "max_priority": 101 }), "max_priority"),
        (json!({ "submissions_per_second": 0 }), "submissions_per_second"),
        (json!({ "max_prio": 1 }), "max_prio"),
    ] {
        let resp = reqwest::Client::new()
            .put(format!("{base}/api/tenants/alpha/quotas"))
            .bearer_auth("tok-ops")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{body}");
    }

    // Highest priority and longest timeout: refused until an admin raises them.
    put_quotas(&env.host.url(), "alpha", json!({ "max_priority": 50, "max_timeout_ms": 60_000 })).await;
    let before = total_missions(&alpha).await;
    assert_quota(
        &submit(&base, "tok-alpha", one(json!({ "priority": "high" })), "/api/missions").await,
        "max_priority",
    );
    assert_quota(
        &submit(&base, "tok-alpha", one(json!({ "timeout_ms": 60_001 })), "/api/missions").await,
        "max_timeout_ms",
    );
    let batch = json!({ "missions": [one(json!({})), one(json!({ "priority": 51 }))] });
    assert_quota(&submit(&base, "tok-alpha", batch.clone(), "/api/missions/batch").await, "max_priority");
    assert_eq!(total_missions(&alpha).await, before, "a refused batch creates none of its missions");
    let (status, ..) = submit(&base, "tok-beta", one(json!({ "priority": "high" })), "/api/missions").await;
    assert_eq!(status, StatusCode::CREATED, "another tenant keeps the defaults");
    put_quotas(&env.host.url(), "alpha", json!({})).await;
    let (status, ..) = submit(&base, "tok-alpha", batch, "/api/missions/batch").await;
    assert_eq!(status, StatusCode::CREATED, "raised again, the same batch passes");

    // Queued missions: refused while too many wait, accepted once they drain.
    put_quotas(&env.host.url(), "alpha", json!({ "queued_missions": 4 })).await;
    let (status, ..) =
        submit(&base, "tok-alpha", json!({ "missions": [one(json!({})), one(json!({}))] }), "/api/missions/batch")
            .await;
    assert_eq!(status, StatusCode::CREATED, "two more make four waiting");
    let before = total_missions(&alpha).await;
    let refused = submit(&base, "tok-alpha", one(json!({})), "/api/missions").await;
    assert_quota(&refused, "queued_missions");
    assert_eq!(total_missions(&alpha).await, before);
    let (_, view) = ops.get("/api/tenants/alpha/quotas").await;
    assert_eq!(
        (view["usage"]["queued_missions"].as_u64(), view["effective"]["queued_missions"].as_u64()),
        (Some(4), Some(4))
    );
    let (_worker, _) = start_host(&env.redis, 2).await;
    let drained = wait_until(
        Duration::from_secs(30),
        || submit(&base, "tok-alpha", one(json!({})), "/api/missions"),
        |r| r.0 == StatusCode::CREATED,
    )
    .await;
    assert!(drained.is_some(), "missions ran, and the tenant may submit again");

    // Submissions per second: a token bucket of 4, refilled at 2 per second.
    put_quotas(&env.host.url(), "alpha", json!({ "submissions_per_second": 2, "submission_burst": 4 })).await;
    let four: Vec<Value> = (0..4).map(|_| one(json!({}))).collect();
    let five: Vec<Value> = (0..5).map(|_| one(json!({}))).collect();
    assert_quota(
        &submit(&base, "tok-alpha", json!({ "missions": five }), "/api/missions/batch").await,
        "submission_burst",
    );
    let (status, body, _) = submit(&base, "tok-alpha", json!({ "missions": four }), "/api/missions/batch").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let refused = submit(&base, "tok-alpha", one(json!({})), "/api/missions").await;
    assert_quota(&refused, "submissions_per_second");
    let wait = Duration::from_secs(refused.2.unwrap());
    assert!(wait <= Duration::from_secs(1), "one mission needs half a second of refill: {wait:?}");
    tokio::time::sleep(wait).await;
    let (status, body, _) = submit(&base, "tok-alpha", one(json!({})), "/api/missions").await;
    assert_eq!(status, StatusCode::CREATED, "after Retry-After the window has refilled: {body}");
}

#[tokio::test]
async fn event_streams_are_capped_per_tenant_over_every_host_and_per_host() {
    let env = secured(|c| {
        c.concurrency = 0;
        c.quotas.host_sse_streams = 3;
    })
    .await;
    let base = env.host.url();
    // Set by an admin, in Redis: every host applies it.
    put_quotas(&base, "alpha", json!({ "sse_streams": 2 })).await;
    let (_, a1, _) = open_stream(&base, "tok-alpha", "", None).await;
    let (_, a2, _) = open_stream(&base, "tok-alpha", "", None).await;
    assert!(a1.is_some() && a2.is_some());
    let (status, none, body) = open_stream(&base, "tok-alpha", "", None).await;
    assert!(none.is_none());
    assert_eq!(
        (status, body["error"]["quota"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("sse_streams")),
        "{body}"
    );
    assert!(body["retry_after"].as_str().is_some(), "{body}");

    // The tenant quota holds on another host sharing the Redis.
    let mut c = crate::harness::test_config(&env.redis.url());
    c.concurrency = 0;
    c.auth.tokens = vec![ConfiguredToken {
        name: "alpha".into(),
        tenant: "alpha".into(),
        scopes: vec![Scope::MissionsRead],
        sha256: hash_token("tok-alpha"),
    }];
    let other = mission_runner::server::start(c).await.unwrap();
    let (status, _, body) = open_stream(&other.url(), "tok-alpha", "", None).await;
    assert_eq!((status, body["error"]["quota"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("sse_streams")));

    // The host cap: a third stream of another tenant fits, a fourth does not.
    let (_, b1, _) = open_stream(&base, "tok-beta", "", None).await;
    assert!(b1.is_some());
    let (status, _, body) = open_stream(&base, "tok-gamma", "", None).await;
    assert_eq!((status, body["error"]["quota"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("host_sse_streams")));

    // A closed stream gives its slot back.
    drop(a1);
    let other_url = other.url();
    let reopened =
        wait_until(Duration::from_secs(10), || open_stream(&other_url, "tok-alpha", "", None), |r| r.1.is_some()).await;
    assert!(reopened.is_some(), "alpha's slot came back once a stream closed");
}

#[tokio::test]
async fn a_revoked_tokens_stream_ends_within_the_revocation_delay() {
    let env = secured(|c| c.concurrency = 0).await;
    let ops = as_(&env, "tok-ops");
    let (status, made) =
        ops.post("/api/tokens", json!({ "name": "dash", "tenant": "alpha", "scopes": ["missions:read"] })).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let token = made["token"].as_str().unwrap().to_owned();
    let (_, sse, _) = open_stream(&env.host.url(), &token, "", None).await;
    let mut sse = sse.expect("the stream opens");
    let id = as_(&env, "tok-alpha").submit(json!({ "type": "echo", "payload": 1 })).await;
    let b = sse.next(Duration::from_secs(10)).await.expect("an event");
    assert_eq!(b.data["payload"]["mission_id"], id.as_str(), "the stream is live");

    let revoked = Instant::now();
    let (status, _) =
        ops.request(reqwest::Method::DELETE, &format!("/api/tokens/{}", made["record"]["id"].as_str().unwrap())).await;
    assert!(status.is_success(), "{status}");
    let mut last = None;
    while let Some(b) = sse.next(Duration::from_secs(10)).await {
        last = Some(b);
    }
    let took = revoked.elapsed();
    eprintln!("the revoked token's stream ended {took:?} after the revocation");
    let last = last.expect("a closing event");
    assert_eq!((last.event.as_str(), last.data["reason"].as_str()), ("stream.closed", Some("token_revoked")));
    // The revocation delay is the token cache's 5 s, plus a recheck of 0.5 s.
    assert!(took <= mission_runner::auth::CACHE_TTL + Duration::from_secs(2), "the stream ended after {took:?}");
    let (status, ..) = open_stream(&env.host.url(), &token, "", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn event_reads_are_bounded_and_malformed_queries_are_400s() {
    let env = secured(|c| c.concurrency = 0).await;
    let alpha = as_(&env, "tok-alpha");
    burst(&alpha, 2_000).await;

    // An unknown mission's events: a 404, and not one stream entry read.
    let ranges = |info: String| -> u64 {
        info.lines()
            .filter(|l| l.starts_with("cmdstat_xrange:") || l.starts_with("cmdstat_xrevrange:"))
            .filter_map(|l| l.split(',').next()?.split("calls=").nth(1)?.parse::<u64>().ok())
            .sum()
    };
    let info = || async {
        redis::cmd("INFO").arg("commandstats").query_async::<String>(&mut env.redis.conn().await).await.unwrap()
    };
    let before = ranges(info().await);
    for unknown in ["01890a5d-ac96-774b-bcce-b302099a8057", "6f1c1fd4-1b8e-4b5e-9c64-2b1b6f0e0d11"] {
        let (status, body) = alpha.get(&format!("/api/events?mission_id={unknown}")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("mission_not_found")));
    }
    assert_eq!(ranges(info().await), before, "no stream was read for an unknown mission");

    for (query, field) in [
        ("until=0001-01-01T00:00:00Z", "until"),
        ("since=1e300", "since"),
        ("since=-1", "since"),
        ("before=99999999999999999999999", "before"),
        ("before=1-2-3", "before"),
        ("before=latest", "before"),
        ("limit=99999999999999999999999", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("type=Not%20a%20type", "type"),
        ("mission_id=nope", "mission_id"),
    ] {
        let (status, body) = alpha.get(&format!("/api/events?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{query}: {body}");
    }
    for (query, last) in [
        ("?last_event_id=99999999999999999999999-0", None),
        ("", Some("1-0_x")),
        ("", Some("99999999999999999999999")),
        ("?mission_id=nope", None),
        ("?type=A", None),
    ] {
        let (status, _, body) = open_stream(&env.host.url(), "tok-alpha", query, last).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query} {last:?}: {body}");
    }
    // None of these counted as a Redis failure.
    let resp =
        reqwest::Client::new().get(format!("{}/metrics", env.host.url())).bearer_auth("tok-ops").send().await.unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.lines().any(|l| l == "mission_runner_redis_errors_total 0"), "{text}");

    // Paging back through a full tenant stream and the plugin stream sees every event once.
    let mut path = "/api/events?limit=1000".to_owned();
    let mut seen = std::collections::HashSet::new();
    let mut pages = 0;
    loop {
        let (status, page) = alpha.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for e in page["events"].as_array().unwrap() {
            let key = format!("{}/{}", e["type"], e["id"]);
            assert!(seen.insert(key), "an event came twice: {e}");
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/events?limit=1000&before={c}"),
            None => break,
        }
    }
    let created = seen.iter().filter(|k| k.starts_with("\"mission.created\"")).count();
    assert_eq!(created, 2_000);
    assert!(seen.iter().any(|k| k.starts_with("\"plugin.")), "plugin events are part of the tenant's view");
    assert!(pages >= 3, "{pages} pages");
}

#[tokio::test]
async fn a_redrive_counts_against_the_queued_missions_quota() {
    let env = secured(|c| c.concurrency = 2).await;
    let (base, alpha) = (env.host.url(), as_(&env, "tok-alpha"));
    let id =
        alpha.submit(json!({ "type": "chaos", "payload": { "do": "fail", "message": "no" }, "max_attempts": 1 })).await;
    alpha.wait_status(&id, "failed", Duration::from_secs(10)).await;
    put_quotas(&base, "alpha", json!({ "queued_missions": 0 })).await;
    let retry = format!("/api/missions/{id}/retry");
    assert_quota(&submit(&base, "tok-alpha", json!({}), &retry).await, "queued_missions");
    assert_eq!(alpha.mission(&id).await["status"], "failed", "nothing changed");
    put_quotas(&base, "alpha", json!({})).await;
    let (status, body, _) = submit(&base, "tok-alpha", json!({}), &retry).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
