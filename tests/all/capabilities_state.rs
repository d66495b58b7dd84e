//! Configuration, secrets and key-value state (issue 12, sections 2 to 4),
//! through real hosts, a real Redis and the `kv-probe` fixture plugin, which
//! runs the operations its payload lists and reports what the guest saw.

use std::time::Duration;

use mission_runner::auth::Scope;
use mission_runner::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, configured_tokens, plugins_dir, upload, wait_until};

/// (token, name, tenant, scopes).
const TOKENS: [(&str, &str, &str, &[Scope]); 4] = [
    ("tok-ops", "ops", "default", &[Scope::Admin]),
    ("tok-alpha", "alpha", "alpha", &[Scope::MissionsRead, Scope::MissionsWrite, Scope::PluginsAdmin]),
    ("tok-beta", "beta", "beta", &[Scope::MissionsRead, Scope::MissionsWrite]),
    ("tok-gamma", "gamma", "gamma", &[Scope::MissionsRead, Scope::MissionsWrite]),
];

const SECRET: &str = "s3cr3t-Value-that-must-never-show";
const ROTATED: &str = "r0tated-Secret-also-never-shown";

/// FNV-1a 64 in hex, as the probe's `config_hash` gives it (so no payload holds a secret).
fn fnv1a(s: &str) -> String {
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{h:016x}")
}

/// A host with tokens and a secrets key (in a file of the test's own).
async fn secured(tweak: impl FnOnce(&mut Config)) -> (TestEnv, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("secrets.key");
    std::fs::write(&key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("key written");
    let env = TestEnv::start_with(|c| {
        c.auth.tokens = configured_tokens(&TOKENS);
        c.secrets.key_file = Some(key);
        tweak(c);
    })
    .await;
    (env, dir)
}

fn as_(env: &TestEnv, token: &str) -> Api {
    Api::with_token(&env.host.url(), token)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(plugins_dir().join(format!("fixtures/{name}.wasm"))).expect("fixture built by build-plugins.sh")
}

fn manifest(name: &str, grants: Value, limits: Value) -> Value {
    json!({ "name": name, "version": "1.0.0", "mission_types": [name], "grants": grants, "limits": limits })
}

/// Uploads and activates the probe `name` with `grants` and `limits`. The
/// probe imports both `config` and `kv`, so a grant not given is added.
async fn probe(env: &TestEnv, name: &str, mut grants: Value, limits: Value) {
    if grants.get("config").is_none() {
        grants["config"] = json!(["unused"]);
    }
    if grants.get("kv").is_none() {
        grants["kv"] = json!({});
    }
    let (status, body) = upload(&as_(env, "tok-ops"), &fixture(name), &manifest(name, grants, limits), true).await;
    assert!(status.is_success(), "{status} {body}");
}

/// Sends a JSON body with `method` as `token`.
async fn send(
    env: &TestEnv,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", env.host.url())).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") })
}

async fn set_config(env: &TestEnv, token: &str, plugin: &str, key: &str, body: Value) -> (StatusCode, Value) {
    send(env, token, reqwest::Method::PUT, &format!("/api/plugins/{plugin}/config/{key}"), Some(body)).await
}

/// Runs one mission of `plugin` as `token` with `ops`; returns its results.
async fn run(env: &TestEnv, token: &str, plugin: &str, ops: Value) -> Vec<Value> {
    let api = as_(env, token);
    let id = api.submit(json!({ "type": plugin, "payload": { "ops": ops } })).await;
    let m = api.wait_status(&id, "completed", Duration::from_secs(30)).await;
    m["result"]["results"].as_array().expect("results").clone()
}

#[tokio::test]
async fn a_secret_reaches_its_plugin_and_no_answer_log_or_event() {
    let (env, _key) = secured(|_| {}).await;
    probe(&env, "kv-probe", json!({ "config": ["api_key", "greeting"] }), json!({})).await;
    let (status, body) =
        set_config(&env, "tok-ops", "kv-probe", "api_key", json!({ "value": SECRET, "secret": true })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["secret"].as_bool(), body.get("value")), (Some(true), None), "{body}");
    let (status, _) = set_config(&env, "tok-ops", "kv-probe", "greeting", json!({ "value": "hello" })).await;
    assert_eq!(status, StatusCode::OK);

    let ops = json!([{ "op": "config_hash", "name": "api_key" }, { "op": "config", "name": "greeting" }]);
    let results = run(&env, "tok-ops", "kv-probe", ops).await;
    assert_eq!(results, vec![json!({ "ok": fnv1a(SECRET) }), json!({ "ok": "hello" })]);

    // A change reaches the next attempt, without a re-upload.
    let (status, _) =
        set_config(&env, "tok-ops", "kv-probe", "api_key", json!({ "value": ROTATED, "secret": true })).await;
    assert_eq!(status, StatusCode::OK);
    let results = run(&env, "tok-ops", "kv-probe", json!([{ "op": "config_hash", "name": "api_key" }])).await;
    assert_eq!(results, vec![json!({ "ok": fnv1a(ROTATED) })]);

    // The value is in no answer, no mission log and no event; in Redis it is sealed.
    let ops_api = as_(&env, "tok-ops");
    let (_, list) = ops_api.get("/api/plugins/kv-probe/config").await;
    let keys: Vec<&str> = list["entries"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["api_key", "greeting"], "{list}");
    assert_eq!(list["entries"][1]["value"], "hello", "variables show their value");
    let (_, missions) = ops_api.get("/api/missions").await;
    let (_, events) = ops_api.get("/api/events?limit=1000").await;
    let mut seen = vec![list.to_string(), missions.to_string(), events.to_string()];
    for m in missions["missions"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        seen.push(ops_api.get(&format!("/api/missions/{id}")).await.1.to_string());
        seen.push(ops_api.get(&format!("/api/missions/{id}/log")).await.1.to_string());
    }
    for text in &seen {
        assert!(!text.contains(SECRET) && !text.contains(ROTATED), "a secret leaked: {text}");
    }
    let types: Vec<&str> = events["events"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"plugin.config_set"), "{types:?}");
    let mut conn = env.redis.conn().await;
    let stored: Vec<String> =
        redis::cmd("HVALS").arg("{mr}:plugins:config:kv-probe").query_async(&mut conn).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|s| !s.contains(ROTATED)), "{stored:?}");
}

#[tokio::test]
async fn a_tenant_override_wins_for_that_tenant_only_and_undeclared_names_are_refused_to_the_guest() {
    let (env, _key) = secured(|_| {}).await;
    probe(&env, "kv-probe", json!({ "config": ["greeting"] }), json!({})).await;
    set_config(&env, "tok-ops", "kv-probe", "greeting", json!({ "value": "hello" })).await;
    // A tenant's plugins:admin token sets its own tenant's override, and only that.
    let (status, body) =
        set_config(&env, "tok-alpha", "kv-probe", "greeting", json!({ "value": "hola", "tenant": "alpha" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = set_config(&env, "tok-alpha", "kv-probe", "greeting", json!({ "value": "x" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) =
        set_config(&env, "tok-alpha", "kv-probe", "greeting", json!({ "value": "x", "tenant": "beta" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let ops = json!([{ "op": "config", "name": "greeting" }, { "op": "config", "name": "other" }]);
    let alpha = run(&env, "tok-alpha", "kv-probe", ops.clone()).await;
    let beta = run(&env, "tok-beta", "kv-probe", ops).await;
    assert_eq!((&alpha[0], &beta[0]), (&json!({ "ok": "hola" }), &json!({ "ok": "hello" })));
    assert_eq!(alpha[1]["error"]["kind"], "not-granted", "{alpha:?}");
    assert!(alpha[1]["error"]["message"].as_str().unwrap().contains("grants.config"), "{alpha:?}");

    // Removing the override brings back the plugin-wide value.
    let (status, _) =
        send(&env, "tok-ops", reqwest::Method::DELETE, "/api/plugins/kv-probe/config/greeting?tenant=alpha", None)
            .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let alpha = run(&env, "tok-alpha", "kv-probe", json!([{ "op": "config", "name": "greeting" }])).await;
    assert_eq!(alpha[0], json!({ "ok": "hello" }));
    let (status, body) =
        send(&env, "tok-ops", reqwest::Method::DELETE, "/api/plugins/kv-probe/config/greeting?tenant=alpha", None)
            .await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("config_not_found")));
}

#[tokio::test]
async fn configuration_budgets_and_a_missing_key_are_clear_errors_that_change_nothing() {
    let env = TestEnv::start_with(|c| {
        c.auth.tokens = configured_tokens(&TOKENS);
        c.plugin_config.max_names = 2;
        c.plugin_config.max_value_bytes = 16;
    })
    .await;
    let (status, body) = set_config(&env, "tok-ops", "kv-probe", "a", json!({ "value": "x".repeat(17) })).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_field")));
    assert!(body["error"]["message"].as_str().unwrap().contains("`value`"), "{body}");
    let (status, body) = set_config(&env, "tok-ops", "kv-probe", "bad key!", json!({ "value": "x" })).await;
    assert!(status == StatusCode::BAD_REQUEST && body["error"]["message"].as_str().unwrap().contains("`key`"));
    for key in ["a", "b"] {
        assert_eq!(set_config(&env, "tok-ops", "kv-probe", key, json!({ "value": "1" })).await.0, StatusCode::OK);
    }
    let (status, body) = set_config(&env, "tok-ops", "kv-probe", "c", json!({ "value": "1" })).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("config_full")), "{body}");
    // Replacing a name is not a new one; a tenant's overrides have a budget of their own.
    assert_eq!(set_config(&env, "tok-ops", "kv-probe", "a", json!({ "value": "2" })).await.0, StatusCode::OK);
    let over = json!({ "value": "1", "tenant": "alpha" });
    assert_eq!(set_config(&env, "tok-ops", "kv-probe", "c", over).await.0, StatusCode::OK);
    // This host has no secrets key: a secret is refused, saying what to configure.
    let (status, body) = set_config(&env, "tok-ops", "kv-probe", "a", json!({ "value": "s", "secret": true })).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("no_secrets_key")));
    assert!(body["error"]["message"].as_str().unwrap().contains("key_file"), "{body}");
    let (_, list) = as_(&env, "tok-ops").get("/api/plugins/kv-probe/config").await;
    let values: Vec<(&str, &str)> = list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["key"].as_str().unwrap(), e["value"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(values, [("a", "2"), ("b", "1"), ("c", "1")], "nothing refused was written: {list}");
    // A tenant's token lists the plugin-wide names and its own overrides only.
    let (_, mine) = as_(&env, "tok-alpha").get("/api/plugins/kv-probe/config").await;
    assert_eq!(mine["entries"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn kv_namespaces_are_apart_by_plugin_and_by_tenant() {
    let (env, _key) = secured(|_| {}).await;
    probe(&env, "kv-probe", json!({ "kv": {} }), json!({})).await;
    probe(&env, "kv-probe-b", json!({ "kv": {} }), json!({})).await;
    let set = run(&env, "tok-alpha", "kv-probe", json!([{ "op": "set", "key": "k", "value": "alpha's" }])).await;
    assert_eq!(set[0], json!({ "ok": null }));
    let get = json!([{ "op": "get", "key": "k" }]);
    assert_eq!(run(&env, "tok-alpha", "kv-probe", get.clone()).await[0], json!({ "ok": "alpha's" }));
    assert_eq!(run(&env, "tok-beta", "kv-probe", get.clone()).await[0], json!({ "ok": null }), "another tenant");
    assert_eq!(run(&env, "tok-alpha", "kv-probe-b", get).await[0], json!({ "ok": null }), "another plugin");
}

#[tokio::test]
async fn kv_quotas_and_the_operation_budget_are_errors_the_guest_sees() {
    let (env, _key) = secured(|_| {}).await;
    let grants = json!({ "kv": { "max_keys": 2, "max_value_bytes": 8, "max_total_bytes": 10 } });
    probe(&env, "kv-probe", grants, json!({ "kv_operations": 6 })).await;
    let set = |k: &str, v: &str| json!({ "op": "set", "key": k, "value": v });
    let ops = json!([
        set("a", "1"),
        set("b", "2"),
        set("c", "3"),
        set("a", "123456789"),
        set("b", "12345678"),
        { "op": "get", "key": "a" },
        { "op": "get", "key": "a" },
    ]);
    let r = run(&env, "tok-alpha", "kv-probe", ops).await;
    let kinds: Vec<&str> = r.iter().map(|v| v["error"]["kind"].as_str().unwrap_or("ok")).collect();
    assert_eq!(kinds, ["ok", "ok", "quota-exceeded", "quota-exceeded", "quota-exceeded", "ok", "quota-exceeded"]);
    let msg = |i: usize| r[i]["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg(2).contains("max_keys"), "{}", msg(2));
    assert!(msg(3).contains("max_value_bytes"), "{}", msg(3));
    assert!(msg(4).contains("max_total_bytes"), "{}", msg(4));
    assert!(msg(6).contains("kv_operations"), "{}", msg(6));
    assert_eq!(r[5], json!({ "ok": "1" }), "a refused write changed nothing");
    let mut conn = env.redis.conn().await;
    let usage: i64 = redis::cmd("GET").arg("{mr}:kv:kv-probe:alpha:usage").query_async(&mut conn).await.unwrap();
    assert_eq!(usage, 4, "bytes held: a=1 and b=2");
    // Increments are integers only.
    let r = run(
        &env,
        "tok-alpha",
        "kv-probe",
        json!([{ "op": "incr", "key": "a", "delta": 41 }, { "op": "incr", "key": "z" }]),
    )
    .await;
    assert_eq!(r[0], json!({ "ok": 42 }));
    assert_eq!(r[1]["error"]["kind"], "quota-exceeded", "a third key: {r:?}");
    let r = run(
        &env,
        "tok-alpha",
        "kv-probe",
        json!([{ "op": "set", "key": "b", "value": "x" }, { "op": "incr", "key": "b" }]),
    )
    .await;
    assert_eq!(r[1]["error"]["kind"], "invalid", "{r:?}");
}

#[tokio::test]
async fn a_key_with_a_ttl_expires_and_gives_back_its_quota() {
    let (env, _key) = secured(|_| {}).await;
    probe(&env, "kv-probe", json!({ "kv": { "max_keys": 1 } }), json!({})).await;
    let r = run(&env, "tok-alpha", "kv-probe", json!([{ "op": "set", "key": "a", "value": "x", "ttl_ms": 300 }])).await;
    assert_eq!(r[0], json!({ "ok": null }));
    let gone = wait_until(
        Duration::from_secs(15),
        || run(&env, "tok-alpha", "kv-probe", json!([{ "op": "get", "key": "a" }])),
        |r| r[0] == json!({ "ok": null }),
    )
    .await;
    assert!(gone.is_some(), "the key did not expire");
    let r = run(&env, "tok-alpha", "kv-probe", json!([{ "op": "set", "key": "b", "value": "y" }])).await;
    assert_eq!(r[0], json!({ "ok": null }), "the expired key's quota is free again");
    let mut conn = env.redis.conn().await;
    let usage: i64 = redis::cmd("GET").arg("{mr}:kv:kv-probe:alpha:usage").query_async(&mut conn).await.unwrap();
    assert_eq!(usage, 2, "exact after the expiry");
}

#[tokio::test]
async fn compare_and_swap_lets_exactly_one_of_two_concurrent_missions_win() {
    let (env, _key) = secured(|_| {}).await;
    probe(&env, "kv-probe", json!({ "kv": {} }), json!({})).await;
    let api = as_(&env, "tok-alpha");
    let mut ids = Vec::new();
    for n in 0..2 {
        let ops = json!([
            { "op": "cas", "key": "lock", "expected": null, "new": format!("holder-{n}") },
            { "op": "incr", "key": "count", "delta": 1 },
        ]);
        ids.push(api.submit(json!({ "type": "kv-probe", "payload": { "ops": ops } })).await);
    }
    let mut won = 0;
    for id in &ids {
        let m = api.wait_status(id, "completed", Duration::from_secs(30)).await;
        if m["result"]["results"][0] == json!({ "ok": true }) {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one mission takes the lock");
    let r =
        run(&env, "tok-alpha", "kv-probe", json!([{ "op": "get", "key": "count" }, { "op": "get", "key": "lock" }]))
            .await;
    assert_eq!(r[0], json!({ "ok": "2" }));
    assert!(r[1]["ok"].as_str().unwrap().starts_with("holder-"));
}

#[tokio::test]
async fn a_plugin_built_against_contract_1_0_still_runs() {
    let env = TestEnv::start().await;
    let m = json!({ "name": "legacy-echo", "version": "1.0.0", "mission_types": ["legacy-echo"] });
    let (status, body) = upload(&env.api, &fixture("legacy-echo"), &m, true).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["capabilities"], json!([]));
    let id = env.api.submit(json!({ "type": "legacy-echo", "payload": { "kept": [1, 2] } })).await;
    let m = env.api.wait_status(&id, "completed", Duration::from_secs(30)).await;
    assert_eq!(m["result"], json!({ "kept": [1, 2] }));
    let (_, log) = env.api.get(&format!("/api/missions/{id}/log")).await;
    assert!(log.to_string().contains("built against 1.0.0"), "{log}");
}

#[tokio::test]
async fn an_upload_importing_what_its_manifest_does_not_grant_is_refused_naming_the_grant() {
    let env = TestEnv::start().await;
    let wasm = fixture("kv-probe");
    let (status, body) = upload(&env.api, &wasm, &manifest("kv-probe", json!({}), json!({})), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("mission-runner:plugin/config@1.1.0") && msg.contains("`grants.config`"), "{msg}");
    let only_config = manifest("kv-probe", json!({ "config": ["a"] }), json!({}));
    let (status, body) = upload(&env.api, &wasm, &only_config, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("no `grants.kv`"), "{body}");
    let both = manifest("kv-probe", json!({ "config": ["a"], "kv": {} }), json!({}));
    let (status, body) = upload(&env.api, &wasm, &both, false).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["capabilities"], json!(["config", "kv"]));
    let (_, list) = env.api.get("/api/plugins").await;
    assert!(list.to_string().contains("kv-probe"), "only the granted upload was stored");
}

#[tokio::test]
async fn the_embedded_default_generates_an_owner_only_secrets_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let data = tempfile::tempdir().expect("tempdir");
    let mut c = crate::harness::test_config("unused");
    c.redis_url = None;
    c.data_dir = data.path().to_owned();
    let host = mission_runner::server::start(c).await.expect("host starts");
    let key = data.path().join("secrets.key");
    let mode = std::fs::metadata(&key).expect("key file made").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(mission_runner::store::SecretKey::from_base64(&std::fs::read_to_string(&key).unwrap()).is_ok());
    host.shutdown().await.expect("stops");
}
