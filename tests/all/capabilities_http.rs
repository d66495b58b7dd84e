//! Outbound HTTP (issue 12, section 1): the `http-probe` fixture sends what its
//! payload says through `wasi:http`, against a real server on loopback started
//! here, under the grant, the deny list and the limits of its manifest.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::harness::{TestEnv, plugins_dir, upload};

/// A small HTTP/1.1 server on loopback, one request per connection, with the
/// routes the tests need.
struct Server {
    port: u16,
    /// Told when a `/hang` request has arrived.
    hang_started: Arc<Notify>,
    /// Told when a `/hang` client closed its connection.
    hang_closed: Arc<Notify>,
}

impl Server {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (hang_started, hang_closed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (started, closed) = (hang_started.clone(), hang_closed.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, port, started.clone(), closed.clone()));
            }
        });
        Server { port, hang_started, hang_closed }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Reads one request's head and answers by its path.
async fn serve(mut conn: TcpStream, port: u16, hang_started: Arc<Notify>, hang_closed: Arc<Notify>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let target = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let path = target.split('?').next().unwrap_or("/");
    let reply = |status: &str, extra: &str, body: &str| {
        format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}", body.len())
    };
    let answer = match path {
        "/ok" => reply("200 OK", "", "hello"),
        "/echo" => reply("200 OK", "", &text),
        "/redirect" => reply("302 Found", &format!("location: http://localhost:{port}/ok\r\n"), ""),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            reply("200 OK", "", "late")
        }
        "/endless" => {
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n").await;
            let chunk = vec![b'x'; 64 << 10];
            while conn.write_all(&chunk).await.is_ok() {}
            return;
        }
        "/hang" => {
            hang_started.notify_one();
            // Never answers; waits for the client to go away.
            while let Ok(n) = conn.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            hang_closed.notify_one();
            return;
        }
        _ => reply("404 Not Found", "", ""),
    };
    let _ = conn.write_all(answer.as_bytes()).await;
    let _ = conn.shutdown().await;
}

fn probe_wasm() -> Vec<u8> {
    std::fs::read(plugins_dir().join("fixtures/http-probe.wasm"))
        .expect("http-probe is built (scripts/build-plugins.sh)")
}

/// The probe's manifest with `grants` and `limits.http` as given.
fn manifest(grants: Value, http_limits: Value) -> Value {
    json!({
        "name": "http-probe",
        "version": "1.0.0",
        "mission_types": ["http-probe"],
        "grants": grants,
        "limits": { "http": http_limits },
    })
}

/// A host with the probe uploaded and active, allowed `allowed` hosts.
async fn env_with(
    allowed: &[String],
    http_limits: Value,
    tweak: impl FnOnce(&mut mission_runner::config::Config),
) -> TestEnv {
    let env = TestEnv::start_with(tweak).await;
    let m = manifest(json!({ "http": { "allowed_hosts": allowed } }), http_limits);
    let (status, body) = upload(&env.api, &probe_wasm(), &m, true).await;
    assert!(status.is_success(), "{status} {body}");
    env
}

/// Runs the probe with `payload`; its result and the mission's log lines.
async fn probe(env: &TestEnv, payload: Value) -> (Value, Vec<String>) {
    let id = env.api.submit(json!({ "type": "http-probe", "payload": payload, "max_attempts": 1 })).await;
    let m = env.api.wait_status(&id, "completed", Duration::from_secs(60)).await;
    (m["result"].clone(), log_lines(env, &id).await)
}

async fn log_lines(env: &TestEnv, id: &str) -> Vec<String> {
    let (_, log) = env.api.get(&format!("/api/missions/{id}/log")).await;
    log["lines"].as_array().unwrap().iter().filter_map(|l| l["message"].as_str().map(str::to_owned)).collect()
}

fn error_of(result: &Value) -> String {
    assert_eq!(result["ok"], false, "expected a failure: {result}");
    result["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_allowed_host_answers_and_every_other_host_port_and_scheme_is_denied_with_the_reason() {
    let server = Server::start().await;
    let other = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_port = other.local_addr().unwrap().port();
    let env = env_with(&[format!("http://127.0.0.1:{}", server.port)], json!({}), |_| {}).await;

    let (ok, log) = probe(&env, json!({ "url": server.url("/ok") })).await;
    assert_eq!(
        (ok["ok"].as_bool(), ok["status"].as_u64(), ok["body"].as_str()),
        (Some(true), Some(200), Some("hello"))
    );
    let line = format!("http GET http://127.0.0.1:{}/ok -> 200", server.port);
    assert!(log.iter().any(|l| l.starts_with(&line) && l.contains("5 bytes received")), "{log:?}");

    for url in [
        format!("http://localhost:{}/ok", server.port),
        format!("http://127.0.0.1:{other_port}/ok"),
        format!("https://127.0.0.1:{}/ok", server.port),
    ] {
        let (denied, log) = probe(&env, json!({ "url": url })).await;
        assert_eq!(error_of(&denied), "HttpRequestDenied", "{url}");
        let why = log.iter().find(|l| l.contains("refused:")).unwrap_or_else(|| panic!("{url}: {log:?}"));
        assert!(why.contains("no pattern of grants.http.allowed_hosts") && why.contains("127.0.0.1"), "{why}");
    }
    drop(other);
}

#[tokio::test]
async fn internal_addresses_are_refused_unless_the_grant_names_them_literally() {
    let server = Server::start().await;
    let port = server.port;
    // The allow-list matches every host on the port, and names no address.
    let env = env_with(&[format!("http://*:{port}")], json!({}), |_| {}).await;
    for url in [
        format!("http://localhost:{port}/ok"),
        format!("http://[::1]:{port}/ok"),
        format!("http://2130706433:{port}/ok"),
        format!("http://0177.0.0.1:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
    ] {
        let (refused, log) = probe(&env, json!({ "url": url })).await;
        assert_eq!(error_of(&refused), "DestinationIpProhibited", "{url}");
        assert!(log.iter().any(|l| l.contains("an internal address is reachable only when")), "{url}: {log:?}");
    }
}

#[tokio::test]
async fn a_redirect_to_a_denied_host_is_the_guests_to_follow_and_is_refused_then() {
    let server = Server::start().await;
    let port = server.port;
    let env = env_with(&[format!("http://127.0.0.1:{port}"), format!("http://*:{port}")], json!({}), |_| {}).await;
    // Not followed by the host: the guest sees the redirect itself.
    let (seen, _) = probe(&env, json!({ "url": server.url("/redirect") })).await;
    assert_eq!(
        (seen["status"].as_u64(), seen["location"].as_str()),
        (Some(302), Some(&*format!("http://localhost:{port}/ok")))
    );
    // Followed by the guest: the second request goes to a name that resolves to loopback.
    let (followed, log) = probe(&env, json!({ "url": server.url("/redirect"), "follow": 1 })).await;
    assert_eq!(error_of(&followed), "DestinationIpProhibited");
    assert_eq!(followed["sent"], 2);
    assert!(log.iter().any(|l| l.contains(&format!("GET http://localhost:{port}/ok -> refused"))), "{log:?}");
}

#[tokio::test]
async fn the_operators_deny_list_overrides_a_grant() {
    let server = Server::start().await;
    let deny: Vec<mission_runner::runtime::outbound::DenyRule> = vec!["127.0.0.0/8".to_owned().try_into().unwrap()];
    let env = env_with(&[server.url("").trim_end_matches('/').to_owned()], json!({}), |c| {
        c.outbound_http.deny = deny;
    })
    .await;
    let (denied, log) = probe(&env, json!({ "url": server.url("/ok") })).await;
    assert_eq!(error_of(&denied), "HttpRequestDenied");
    assert!(log.iter().any(|l| l.contains("the host's deny list refuses") && l.contains("127.0.0.0/8")), "{log:?}");
}

#[tokio::test]
async fn a_slow_server_trips_the_first_byte_timeout_an_endless_body_the_cap_and_the_host_stays_healthy() {
    let server = Server::start().await;
    let limits = json!({ "first_byte_timeout_ms": 300, "max_response_body_bytes": 100_000 });
    let env = env_with(&[server.url("")], limits, |_| {}).await;

    let started = std::time::Instant::now();
    let (slow, log) = probe(&env, json!({ "url": server.url("/slow") })).await;
    assert_eq!(error_of(&slow), "ConnectionReadTimeout");
    assert!(started.elapsed() < Duration::from_secs(20), "the timeout, not the server, ended it");
    assert!(log.iter().any(|l| l.contains("limits.http.first_byte_timeout_ms")), "{log:?}");

    let (endless, log) = probe(&env, json!({ "url": server.url("/endless") })).await;
    // The status came; the body stream fails at the cap.
    assert!(error_of(&endless).contains("response body size exceeds limit: 100000 bytes"), "{endless}");
    assert!(log.iter().any(|l| l.contains("limits.http.max_response_body_bytes")), "{log:?}");

    let (status, _) = env.api.get("/api/health").await;
    assert_eq!(status, 200);
    let id = env.api.submit(json!({ "type": "echo", "payload": "still here" })).await;
    env.api.wait_status(&id, "completed", Duration::from_secs(20)).await;
}

#[tokio::test]
async fn cancelling_a_mission_closes_its_request_in_flight() {
    let server = Server::start().await;
    let env = env_with(&[server.url("")], json!({}), |_| {}).await;
    let id = env
        .api
        .submit(json!({ "type": "http-probe", "payload": { "url": server.url("/hang") }, "timeout_ms": 600_000 }))
        .await;
    tokio::time::timeout(Duration::from_secs(30), server.hang_started.notified()).await.expect("the request arrived");
    let (status, m) = env.api.post(&format!("/api/missions/{id}/cancel"), json!({})).await;
    assert_eq!((status.as_u16(), m["status"].as_str()), (200, Some("cancelled")), "{m}");
    tokio::time::timeout(Duration::from_secs(5), server.hang_closed.notified())
        .await
        .expect("the server saw the connection close after the cancel");
}

#[tokio::test]
async fn the_request_the_concurrency_and_the_request_body_limits_hold() {
    let server = Server::start().await;
    let limits = json!({ "max_requests": 3, "max_concurrent": 2, "max_request_body_bytes": 10 });
    let env = env_with(&[server.url("")], limits, |_| {}).await;

    let (counted, log) = probe(&env, json!({ "url": server.url("/ok"), "repeat": 5 })).await;
    assert_eq!((error_of(&counted).as_str(), counted["sent"].as_u64()), ("ConnectionLimitReached", Some(4)));
    assert!(log.iter().any(|l| l.contains("limits.http.max_requests")), "{log:?}");

    let (parallel, log) = probe(&env, json!({ "url": server.url("/ok"), "parallel": 3 })).await;
    let results = parallel["results"].as_array().unwrap();
    assert_eq!(results.iter().filter(|r| r["ok"] == true).count(), 2, "{parallel}");
    assert_eq!(error_of(&results[2]), "ConnectionLimitReached");
    assert!(log.iter().any(|l| l.contains("limits.http.max_concurrent")), "{log:?}");

    let body = json!({ "url": server.url("/ok"), "method": "POST", "body": "more than ten bytes",
                       "headers": { "content-length": "19" } });
    let (big, log) = probe(&env, body).await;
    assert!(error_of(&big).starts_with("HttpRequestBodySize"), "{big}");
    assert!(log.iter().any(|l| l.contains("limits.http.max_request_body_bytes")), "{log:?}");
}

#[tokio::test]
async fn log_lines_carry_no_query_string_or_header_and_the_metric_counts_by_status_class() {
    let server = Server::start().await;
    let env = env_with(&[server.url("")], json!({}), |_| {}).await;
    let payload = json!({ "url": server.url("/echo?token=s3cr3t-query"), "headers": { "x-api-key": "s3cr3t-header" } });
    let (echoed, log) = probe(&env, payload).await;
    // The server did get both...
    let body = echoed["body"].as_str().unwrap();
    assert!(body.contains("s3cr3t-query") && body.contains("s3cr3t-header"), "{body}");
    // ...and the log shows neither.
    let line = log.iter().find(|l| l.starts_with("http GET")).unwrap_or_else(|| panic!("{log:?}"));
    assert!(line.starts_with(&format!("http GET http://127.0.0.1:{}/echo -> 200", server.port)), "{line}");
    assert!(log.iter().all(|l| !l.contains("s3cr3t")), "{log:?}");

    let metrics = reqwest::get(format!("{}/metrics", env.host.url())).await.unwrap().text().await.unwrap();
    let series = metrics
        .lines()
        .find(|l| l.starts_with("mission_runner_plugin_http_requests_total") && l.contains("status=\"2xx\""))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(series.contains("plugin=\"http-probe\"") && series.contains("host=\"127.0.0.1\""), "{series}");
}

#[tokio::test]
async fn an_upload_importing_wasi_http_without_grants_http_is_refused_naming_the_grant() {
    let env = TestEnv::start().await;
    let (status, body) = upload(&env.api, &probe_wasm(), &manifest(json!({}), json!({})), true).await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("`grants.http`") && message.contains("wasi:http/"), "{message}");

    let bad = manifest(json!({ "http": { "allowed_hosts": ["ftp://example.com"] } }), json!({}));
    let (status, body) = upload(&env.api, &probe_wasm(), &bad, true).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("grants.http.allowed_hosts"), "{body}");
}

#[tokio::test]
async fn with_tracing_on_a_request_carries_the_missions_trace() {
    let server = Server::start().await;
    let redis = crate::harness::TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("host.toml");
    // Nothing listens there: spans are still made (and their export fails quietly).
    std::fs::write(&config, "[telemetry]\notlp_endpoint = \"http://127.0.0.1:9\"\n").unwrap();
    let (_host, api) = crate::harness::spawn_host(&redis.url(), &["--config", config.to_str().unwrap()]).await;
    let m = manifest(json!({ "http": { "allowed_hosts": [server.url("")] } }), json!({}));
    let (status, body) = upload(&api, &probe_wasm(), &m, true).await;
    assert!(status.is_success(), "{status} {body}");

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let resp = reqwest::Client::new()
        .post(format!("{}/api/missions", api.base()))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .json(&json!({ "type": "http-probe", "payload": { "url": server.url("/echo") }, "max_attempts": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let m = api.wait_status(&id, "completed", Duration::from_secs(60)).await;
    let echoed = m["result"]["body"].as_str().unwrap().to_ascii_lowercase();
    assert!(echoed.contains(&format!("traceparent: 00-{trace}-")), "{echoed}");
}
