//! The example plugins that use capabilities (issue 12, section 5), on a real
//! host and Redis against a real HTTP server on loopback: `webhook` (Rust:
//! outbound HTTP and a per-tenant secret) and `fetch-summary` (JavaScript:
//! `fetch` and the key-value store).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use mission_runner::auth::Scope;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::harness::{Api, TestEnv, configured_tokens, plugins_dir, upload};

/// (token, name, tenant, scopes).
const TOKENS: [(&str, &str, &str, &[Scope]); 3] = [
    ("tok-ops", "ops", "default", &[Scope::Admin]),
    ("tok-alpha", "alpha", "alpha", &[Scope::MissionsRead, Scope::MissionsWrite]),
    ("tok-beta", "beta", "beta", &[Scope::MissionsRead, Scope::MissionsWrite]),
];

/// Standard Webhooks secrets: the plugin-wide one and tenant alpha's own.
const SHARED_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ALPHA_SECRET: &str = "whsec_QWxwaGEncyBvd24gc2lnbmluZyBrZXkgMzIgYnl0ZXM=";

const PAGE: &str = "<html><head><title>  The  Example\n Page </title></head><body>hello</body></html>";

/// One delivery the receiver got: its headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A receiver on loopback: `/hook` answers 200, `/busy` 503, `/gone` 410;
/// `/page` serves [`PAGE`]. Returns its base URL and what it received.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let keep = |status: StatusCode| {
        let received = received.clone();
        move |headers: HeaderMap, body: String| async move {
            received.lock().unwrap().push((headers, body));
            status
        }
    };
    let app = Router::new()
        .route("/hook", post(keep(StatusCode::OK)))
        .route("/busy", post(keep(StatusCode::SERVICE_UNAVAILABLE)))
        .route("/gone", post(keep(StatusCode::GONE)))
        .route("/page", get(|| async { ([("content-type", "text/html; charset=utf-8")], PAGE) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, received)
}

/// A host with tokens and a secrets key of the test's own.
async fn host() -> (TestEnv, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secrets.key");
    std::fs::write(&key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    let env = TestEnv::start_with(|c| {
        c.auth.tokens = configured_tokens(&TOKENS);
        c.secrets.key_file = Some(key);
    })
    .await;
    (env, dir)
}

/// Uploads and activates the example `file` (from plugins/dist) with its own
/// manifest, the HTTP grant pointed at `base`.
async fn ship(env: &TestEnv, file: &str, base: &str) {
    let dist = plugins_dir();
    let wasm = std::fs::read(dist.join(format!("{file}.wasm"))).expect("built by build-plugins.sh");
    let text = std::fs::read_to_string(dist.join(format!("{file}.manifest.json"))).unwrap();
    let mut manifest: Value = serde_json::from_str(&text).unwrap();
    manifest["grants"]["http"]["allowed_hosts"] = json!([base]);
    let (status, body) = upload(&Api::with_token(&env.host.url(), "tok-ops"), &wasm, &manifest, true).await;
    assert!(status.is_success(), "{status} {body}");
}

/// Runs one mission as `token`; waits for `status`; returns the record.
async fn mission(env: &TestEnv, token: &str, body: Value, status: &str) -> Value {
    let api = Api::with_token(&env.host.url(), token);
    let id = api.submit(body).await;
    api.wait_status(&id, status, Duration::from_secs(60)).await
}

/// Checks a delivery with the `standardwebhooks` package from PyPI (the
/// reference implementation, installed by scripts/setup.sh): true if it verifies.
fn verifies(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let script = "import sys\nfrom standardwebhooks import Webhook\n\
                  secret, msg_id, ts, sig, body = sys.argv[1:]\n\
                  Webhook(secret).verify(body, {'webhook-id': msg_id, 'webhook-timestamp': ts, 'webhook-signature': sig})\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, secret])
        .args([header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"), body.to_owned()])
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("ModuleNotFoundError"), "standardwebhooks is not installed (scripts/setup.sh): {stderr}");
    out.status.success()
}

#[tokio::test]
async fn the_webhook_plugin_signs_per_tenant_and_retries_only_what_may_succeed() {
    let (env, _key) = host().await;
    let (base, received) = receiver().await;
    ship(&env, "webhook", &base).await;
    let ops = Api::with_token(&env.host.url(), "tok-ops");
    let path = "/api/plugins/webhook/config/signing_secret";
    let shared = json!({ "value": SHARED_SECRET, "secret": true });
    let alpha = json!({ "value": ALPHA_SECRET, "secret": true, "tenant": "alpha" });
    assert_eq!(ops.send_json(reqwest::Method::PUT, path, shared).await.0, StatusCode::OK);
    assert_eq!(ops.send_json(reqwest::Method::PUT, path, alpha).await.0, StatusCode::OK);

    let event = json!({ "type": "invoice.paid", "amount": 42 });
    let done = mission(
        &env,
        "tok-alpha",
        json!({ "type": "webhook", "payload": { "url": format!("{base}/hook"), "body": event } }),
        "completed",
    )
    .await;
    assert_eq!(done["result"]["status"], 200, "{done}");
    let beta = mission(
        &env,
        "tok-beta",
        json!({ "type": "webhook", "payload": { "url": format!("{base}/hook"), "body": event } }),
        "completed",
    )
    .await;

    let deliveries = received.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 2);
    let (alpha_headers, alpha_body) = &deliveries[0];
    let (beta_headers, beta_body) = &deliveries[1];
    assert_eq!(serde_json::from_str::<Value>(alpha_body).unwrap(), event);
    assert_eq!(alpha_headers["webhook-id"], done["id"].as_str().unwrap(), "the id is the mission's");
    // Each tenant's delivery verifies with its own secret, and only with it.
    assert!(verifies(ALPHA_SECRET, alpha_headers, alpha_body), "alpha's delivery verifies with alpha's secret");
    assert!(!verifies(SHARED_SECRET, alpha_headers, alpha_body), "and not with the shared one");
    assert!(verifies(SHARED_SECRET, beta_headers, beta_body), "beta has no override: the shared secret");
    assert_eq!(beta_headers["webhook-id"], beta["id"].as_str().unwrap());

    // 503: retryable, so every attempt delivers; 410: permanent after one.
    let busy = json!({ "type": "webhook", "max_attempts": 2, "backoff": { "base_ms": 10, "cap_ms": 10 },
        "payload": { "url": format!("{base}/busy"), "body": {} } });
    let failed = mission(&env, "tok-beta", busy, "failed").await;
    assert_eq!(
        (failed["attempts"].as_u64(), failed["error"]["kind"].as_str()),
        (Some(2), Some("retryable")),
        "{failed}"
    );
    let gone =
        json!({ "type": "webhook", "max_attempts": 3, "payload": { "url": format!("{base}/gone"), "body": {} } });
    let failed = mission(&env, "tok-beta", gone, "failed").await;
    assert_eq!(
        (failed["attempts"].as_u64(), failed["error"]["kind"].as_str()),
        (Some(1), Some("permanent")),
        "{failed}"
    );
    assert!(failed["error"]["message"].as_str().unwrap().contains("410"), "{failed}");
    assert_eq!(received.lock().unwrap().len(), 2 + 2 + 1);
}

#[tokio::test]
async fn the_fetch_summary_plugin_summarises_a_page_and_counts_fetches_per_tenant() {
    let (env, _key) = host().await;
    let (base, _) = receiver().await;
    ship(&env, "js-fetch-summary", &base).await;
    let url = format!("{base}/page");
    let body = json!({ "type": "fetch-summary", "payload": { "url": url } });
    let first = mission(&env, "tok-alpha", body.clone(), "completed").await;
    let summary = &first["result"];
    let sha = format!("{:x}", sha2::Sha256::digest(PAGE.as_bytes()));
    assert_eq!(
        (summary["status"].as_u64(), summary["size"].as_u64(), summary["sha256"].as_str(), summary["title"].as_str()),
        (Some(200), Some(PAGE.len() as u64), Some(sha.as_str()), Some("The Example Page")),
        "{first}"
    );
    assert_eq!(summary["content_type"], "text/html; charset=utf-8");
    assert_eq!(summary["fetch_count"], 1);
    let second = mission(&env, "tok-alpha", body.clone(), "completed").await;
    assert_eq!(second["result"]["fetch_count"], 2, "the counter is kept in the plugin's store");
    let other = mission(&env, "tok-beta", body, "completed").await;
    assert_eq!(other["result"]["fetch_count"], 1, "another tenant has its own store");

    // A destination off the allow-list is refused, and the log says why.
    let denied = json!({ "type": "fetch-summary", "max_attempts": 1, "payload": { "url": "http://127.0.0.2:9/" } });
    let failed = mission(&env, "tok-alpha", denied, "failed").await;
    let id = failed["id"].as_str().unwrap();
    let (_, log) = Api::with_token(&env.host.url(), "tok-alpha").get(&format!("/api/missions/{id}/log")).await;
    assert!(log.to_string().contains("127.0.0.2"), "{log}");
}
