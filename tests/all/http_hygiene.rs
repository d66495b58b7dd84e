//! What the HTTP server owes the host whoever the client is: slow or idle
//! connections are cut off, connections are capped without harming those
//! already open, an open API answers only loopback pages and names, health
//! tells strangers only up or down, and client errors are 4xx that never
//! count as Redis failures.

use std::time::{Duration, Instant};

use mission_runner::auth::{ConfiguredToken, Scope, hash_token};
use mission_runner::embedded_redis::{Persistence, RedisServer};
use mission_runner::server;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::{Api, TestEnv, test_config, wait_until};

/// A host whose configuration holds an admin (`tok-admin`) and a reader (`tok-reader`).
async fn secured() -> TestEnv {
    TestEnv::start_with(|c| {
        c.concurrency = 0;
        c.auth.tokens = [("tok-admin", Scope::Admin), ("tok-reader", Scope::MissionsRead)]
            .into_iter()
            .map(|(t, s)| ConfiguredToken {
                name: t.into(),
                tenant: "acme".into(),
                scopes: vec![s],
                sha256: hash_token(t),
            })
            .collect();
    })
    .await
}

/// Reads from `s` until the server closes the connection (or `within` passes);
/// returns what was read and whether it closed.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// `/api/health` answers 200 within a second.
async fn healthy_within_a_second(api: &Api) {
    let started = Instant::now();
    let (status, body) = api.get("/api/health").await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(1), "health took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_within_the_header_timeout() {
    let env = TestEnv::start_with(|c| {
        c.concurrency = 0;
        c.http.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let mut slow = TcpStream::connect(env.host.addr()).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let started = Instant::now();
    // One more header line every 200 ms, never the blank line that ends them.
    let mut cut = false;
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(format!("x-slow-{i}: y\r\n").as_bytes()).await.is_err() {
            cut = true;
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
            cut = true;
            break;
        }
        if i == 2 {
            healthy_within_a_second(&env.api).await;
        }
    }
    assert!(cut, "the slow client was never cut off");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "cut off after {took:?}, the header timeout is 1 s");

    // A connection that sends nothing at all, or stays idle after a response, is closed too.
    let mut silent = TcpStream::connect(env.host.addr()).await.unwrap();
    assert!(read_until_closed(&mut silent, Duration::from_secs(4)).await.1, "a silent connection stayed open");
    let mut kept = TcpStream::connect(env.host.addr()).await.unwrap();
    kept.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let (answer, closed) = read_until_closed(&mut kept, Duration::from_secs(4)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle keep-alive connection stayed open");
}

#[tokio::test]
async fn a_stalled_body_answers_408_and_a_silent_connection_is_closed() {
    let env = TestEnv::start_with(|c| {
        c.concurrency = 0;
        c.http.request_timeout = Duration::from_secs(1);
    })
    .await;
    let head = "POST /api/missions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n\
                content-length: 100\r\n\r\n{\"type\":";
    let mut s = TcpStream::connect(env.host.addr()).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    let (_, list) = env.api.get("/api/missions").await;
    assert_eq!(list["missions"], json!([]), "nothing was created");

    // Past the idle timeout a connection moving no byte is closed, whatever it is doing.
    let env = TestEnv::start_with(|c| {
        c.concurrency = 0;
        c.http.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let mut s = TcpStream::connect(env.host.addr()).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed && answer.is_empty(), "closed: {closed}, answer: {answer}");
}

#[tokio::test]
async fn the_event_stream_outlives_the_request_timeout() {
    let env = TestEnv::start_with(|c| c.http.request_timeout = Duration::from_millis(500)).await;
    let mut stream = reqwest::Client::new().get(format!("{}/api/events/stream", env.host.url())).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let id = env.api.submit(json!({ "type": "echo", "payload": 1 })).await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !text.contains(&id) {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the stream ended or stalled ({other:?}): {text}"),
        }
    }
}

#[tokio::test]
async fn an_event_stream_ends_with_the_host() {
    // The default request timeout (60 s) bounds the drain of in-flight requests;
    // an endless stream must not wait for it, let alone hold the stop forever.
    let TestEnv { redis: _redis, host, .. } = TestEnv::start_with(|c| c.concurrency = 0).await;
    let mut stream = reqwest::Client::new().get(format!("{}/api/events/stream", host.url())).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let stopped = tokio::time::timeout(Duration::from_secs(10), host.shutdown()).await;
    assert!(stopped.is_ok_and(|r| r.is_ok()), "the host did not stop with an event stream open");
    let ended =
        tokio::time::timeout(Duration::from_secs(5), async { while let Ok(Some(_)) = stream.chunk().await {} }).await;
    assert!(ended.is_ok(), "the stream outlived the host");
}

#[tokio::test]
async fn the_connection_cap_refuses_new_connections_and_keeps_serving_open_ones() {
    let env = TestEnv::start_with(|c| {
        c.concurrency = 0;
        c.http.max_connections = 4;
        c.http.header_read_timeout = Duration::from_secs(30);
    })
    .await;
    // One client with a kept-alive connection, then three idle sockets: the cap.
    let client = Api::new(&env.host.url());
    healthy_within_a_second(&client).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(env.host.addr()).await.unwrap());
    }
    for _ in 0..3 {
        let mut extra = TcpStream::connect(env.host.addr()).await.unwrap();
        let _ = extra.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
        let (answer, closed) = read_until_closed(&mut extra, Duration::from_secs(2)).await;
        assert!(closed, "a connection over the cap was kept open");
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(!answer.contains("\"ok\""), "served over the cap: {answer}");
    }
    // The client already connected is served as before.
    for _ in 0..3 {
        healthy_within_a_second(&client).await;
    }
    // Once connections end, new ones are accepted again.
    drop(idle);
    let fresh = wait_until(
        Duration::from_secs(10),
        || async { reqwest::Client::new().get(format!("{}/api/health", env.host.url())).send().await.ok() },
        |r| r.as_ref().is_some_and(|r| r.status() == 200),
    )
    .await;
    assert!(fresh.is_some(), "new connections are still refused");
}

/// Sends `GET path` with `headers` as a fresh client; the status and error code.
async fn with_headers(base: &str, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Option<String>) {
    let mut req = reqwest::Client::new().get(format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn an_open_api_answers_only_loopback_names_and_pages() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let base = env.host.url();
    let port = env.host.addr().port();
    // DNS rebinding: a foreign name resolving to 127.0.0.1.
    for host in ["evil.example", &format!("evil.example:{port}"), &format!("127.0.0.1.nip.io:{port}")] {
        let (status, code) = with_headers(&base, "/api/missions", &[("host", host)]).await;
        assert_eq!((status.as_u16(), code.as_deref()), (421, Some("host_not_loopback")), "{host}");
    }
    // A page of another site.
    for origin in ["https://evil.example", "null", "http://localhost.evil.example"] {
        let (status, code) = with_headers(&base, "/api/missions", &[("origin", origin)]).await;
        assert_eq!((status.as_u16(), code.as_deref()), (403, Some("origin_not_loopback")), "{origin}");
    }
    // Loopback names and pages are fine.
    let loopback_host = format!("localhost:{port}");
    for headers in [
        vec![("host", loopback_host.as_str())],
        vec![("host", "[::1]"), ("origin", "http://localhost:3000")],
        vec![("origin", "http://127.0.0.1:8080")],
    ] {
        let (status, code) = with_headers(&base, "/api/missions", &headers).await;
        assert_eq!(status, 200, "{headers:?}: {code:?}");
    }

    // A cross-origin form upload (multipart needs no preflight) stores nothing.
    let wasm = std::fs::read(crate::harness::plugins_dir().join("echo.wasm")).unwrap();
    let manifest = json!({ "name": "evil", "version": "6.6.6", "mission_types": ["evil"] });
    let form = reqwest::multipart::Form::new()
        .part("wasm", reqwest::multipart::Part::bytes(wasm).file_name("plugin.wasm"))
        .text("manifest", manifest.to_string());
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/plugins?activate=true"))
        .header("origin", "https://evil.example")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let (_, plugins) = env.api.get("/api/plugins").await;
    assert!(!plugins.to_string().contains("evil"), "{plugins}");

    // With tokens the guard is off: a browser does not send bearer tokens by itself.
    let env = secured().await;
    let (status, code) = with_headers(
        &env.host.url(),
        "/api/missions",
        &[("origin", "https://dashboard.example"), ("authorization", "Bearer tok-admin")],
    )
    .await;
    assert_eq!(status, 200, "{code:?}");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let env = secured().await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let auth = format!("{scheme} tok-reader");
        let (status, code) = with_headers(&env.host.url(), "/api/missions", &[("authorization", &auth)]).await;
        assert_eq!(status, 200, "{scheme}: {code:?}");
    }
    let (status, _) =
        with_headers(&env.host.url(), "/api/missions", &[("authorization", "Basic dG9rLXJlYWRlcg==")]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn health_tells_strangers_only_up_or_down() {
    let env = secured().await;
    let url = env.host.url();
    for who in [None, Some("not-a-token"), Some("tok-reader")] {
        let api = who.map_or_else(|| Api::new(&url), |t| Api::with_token(&url, t));
        let (status, body) = api.get("/api/health").await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({ "status": "ok", "reason": null }), "as {who:?}");
    }
    let (_, full) = Api::with_token(&url, "tok-admin").get("/api/health").await;
    assert_eq!(full["redis"]["ok"], true, "{full}");
    assert!(full["plugins"].as_array().is_some_and(|p| !p.is_empty()), "{full}");
    assert!(full["worker"].is_null() && full["version"].is_string() && full["auth"] == "tokens", "{full}");

    // Down, a stranger learns that and why, nothing more.
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path(), Persistence::None).await.unwrap();
    let mut c = test_config(&redis.url());
    c.concurrency = 0;
    c.auth.tokens = vec![ConfiguredToken {
        name: "a".into(),
        tenant: "acme".into(),
        scopes: vec![Scope::Admin],
        sha256: hash_token("tok-admin"),
    }];
    let host = server::start(c).await.unwrap();
    redis.shutdown().await.unwrap();
    let (status, body) = Api::new(&host.url()).get("/api/health").await;
    assert_eq!(status, 503);
    assert_eq!(body, json!({ "status": "degraded", "reason": "Redis does not answer" }));
    let (_, full) = Api::with_token(&host.url(), "tok-admin").get("/api/health").await;
    assert!(full["redis"]["error"].is_string(), "{full}");
    host.shutdown().await.unwrap();
}

/// `mission_runner_redis_errors_total` as `/metrics` of the host at `base` shows it.
async fn redis_errors(base: &str, token: Option<&str>) -> f64 {
    let mut req = reqwest::Client::new().get(format!("{base}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("mission_runner_redis_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the metric")
}

#[tokio::test]
async fn client_errors_are_400s_and_never_count_as_redis_errors() {
    let env = secured().await;
    let admin = Api::with_token(&env.host.url(), "tok-admin");
    let id = "0190f1a0-0000-7000-8000-000000000000";
    let long = "c".repeat(300);
    for path in [
        "/api/missions?limit=0".to_owned(),
        "/api/missions?limit=99999999999999999999999".to_owned(),
        "/api/missions?cursor=garbage".to_owned(),
        "/api/missions?cursor=99999999999999999999:0190f1a0-0000-7000-8000-000000000000".to_owned(),
        "/api/missions?status=lost".to_owned(),
        "/api/missions?type=Bad!".to_owned(),
        format!("/api/missions/{id}/log?cursor=-1"),
        format!("/api/missions/{id}/log?cursor=99999999999999999999999"),
        "/api/queue?cursor=99999999999999999999999".to_owned(),
        "/api/dead?cursor=x".to_owned(),
        format!("/api/workers?cursor={long}"),
        format!("/api/tokens?cursor={long}"),
    ] {
        let (status, body) = admin.get(&path).await;
        assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_query")), "{path}: {body}");
    }
    // Events' query values are never blamed on Redis either.
    for path in ["/api/events?until=0001-01-01T00:00:00Z", "/api/events?before=99999999999999999999999"] {
        let (status, body) = admin.get(path).await;
        assert_ne!(status, 503, "{path}: {body}");
    }
    let (status, body) = admin.request(reqwest::Method::DELETE, &format!("/api/tokens/{long}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(redis_errors(&env.host.url(), Some("tok-admin")).await, 0.0, "client errors counted as Redis errors");

    // A real Redis failure is a 503, and counted.
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path(), Persistence::None).await.unwrap();
    let mut c = test_config(&redis.url());
    c.concurrency = 0;
    let host = server::start(c).await.unwrap();
    let api = Api::new(&host.url());
    redis.shutdown().await.unwrap();
    let (status, body) = api.post("/api/missions", json!({ "type": "echo", "payload": 1 })).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (503, Some("redis_unavailable")));
    assert!(redis_errors(&host.url(), None).await >= 1.0);
    host.shutdown().await.unwrap();
}

/// Posts `body` as JSON text; the status and the answer.
async fn post_text(api_base: &str, path: &str, body: String) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{api_base}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn deeply_nested_payloads_are_refused() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let base = env.host.url();
    let deep = |n: usize| format!(r#"{{"type":"echo","payload":{}{}}}"#, "[".repeat(n), "]".repeat(n));
    let (status, body) = post_text(&base, "/api/missions", deep(200_000)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("`payload`"), "{body}");
    let (status, body) = post_text(&base, "/api/missions", deep(65)).await;
    assert_eq!(status, 400, "{body}");
    let batch = format!(r#"{{"missions":[{{"type":"echo","payload":1}},{}]}}"#, deep(100));
    let (status, body) = post_text(&base, "/api/missions/batch", batch).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("missions[1]: `payload`"), "{body}");
    let (_, list) = env.api.get("/api/missions").await;
    assert_eq!(list["missions"], json!([]), "nothing was stored");
    let (status, body) = post_text(&base, "/api/missions", deep(64)).await;
    assert_eq!(status, 201, "{body}");
}
