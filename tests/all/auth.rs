//! Tokens, scopes and tenants: the authorization matrix over every operation
//! of the OpenAPI document, tenant isolation, tokens made at run time, and the
//! refusal of an open API on a non-loopback address.

use std::time::Duration;

use mission_runner::auth::{ConfiguredToken, Scope, hash_token};
use mission_runner::server;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, configured_tokens, test_config, wait_until};

/// The tokens of [`secured`]: (token, name, tenant, scopes); all but the last are acme's.
const TOKENS: [(&str, &str, &str, &[Scope]); 6] = [
    ("tok-root", "root", "acme", &[Scope::Admin]),
    ("tok-writer", "writer", "acme", &[Scope::MissionsWrite]),
    ("tok-reader", "reader", "acme", &[Scope::MissionsRead]),
    ("tok-plugins", "plugin-ops", "acme", &[Scope::PluginsAdmin]),
    ("tok-acme-admin", "acme-admin", "acme", &[Scope::TenantAdmin]),
    ("tok-rival", "rival", "rival", &[Scope::MissionsRead, Scope::MissionsWrite]),
];

/// A host whose configuration file holds [`TOKENS`] (hashed).
async fn secured(concurrency: usize) -> TestEnv {
    TestEnv::start_with(|c| {
        c.concurrency = concurrency;
        c.auth.tokens = configured_tokens(&TOKENS);
    })
    .await
}

fn as_(env: &TestEnv, token: &str) -> Api {
    Api::with_token(&env.host.url(), token)
}

/// Sends one request and reads only the status and, unless it is a stream,
/// the error code.
async fn call(base: &str, token: Option<&str>, method: &Method, path: &str) -> (StatusCode, Option<String>) {
    let mut req = reqwest::Client::new().request(method.clone(), format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if *method == Method::POST {
        req = req.json(&json!({}));
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let is_stream =
        resp.headers().get("content-type").is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
    if is_stream || status.is_success() {
        return (status, None);
    }
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn every_operation_asks_for_the_scope_its_document_names() {
    let env = secured(0).await;
    let base = env.host.url();
    let mission = as_(&env, "tok-writer").submit(json!({ "type": "echo", "payload": 1 })).await;
    let (status, doc) = Api::new(&base).get("/api/openapi.json").await;
    assert_eq!(status, 200, "the document is public");

    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let needs: Option<Scope> = op["security"][0]["bearer"][0].as_str().map(|s| s.parse().unwrap());
            // The bearer scheme with no scope: any valid token (GET /api/whoami).
            let any_token = op["security"][0]["bearer"] == json!([]);
            let concrete = path
                .replace("/api/missions/{id}", &format!("/api/missions/{mission}"))
                .replace("{id}", "no-such-token")
                .replace("{name}", "echo")
                .replace("{version}", "9.9.9");
            let what = format!("{method} {path}");

            let (status, code) = call(&base, None, &method, &concrete).await;
            match needs {
                Some(_) => assert_eq!(
                    (status.as_u16(), code.as_deref()),
                    (401, Some("unauthorized")),
                    "{what} without a token"
                ),
                None if any_token => assert_eq!(status, 401, "{what} without a token"),
                None => assert!(status != 401 && status != 403, "{what} is public, answered {status}"),
            }
            let (status, _) = call(&base, Some("not-a-token"), &method, &concrete).await;
            if needs.is_some() || any_token {
                assert_eq!(status, 401, "{what} with an unknown token");
            }
            // Refusals first: none of them may change anything.
            let mut allowed = Vec::new();
            for (token, name, _, scopes) in TOKENS.iter().take(5) {
                match needs {
                    Some(need) if !scopes.iter().any(|s| s.implies(need)) => {
                        let (status, code) = call(&base, Some(token), &method, &concrete).await;
                        assert_eq!((status.as_u16(), code.as_deref()), (403, Some("forbidden")), "{what} as {name}");
                    }
                    _ => allowed.push((token, name)),
                }
            }
            assert!(!allowed.is_empty(), "{what}: some token may call it");
            for (token, name) in allowed {
                let (status, code) = call(&base, Some(token), &method, &concrete).await;
                assert!(status != 401 && status != 403, "{what} as {name}: {status} {code:?}");
                let unrouted = matches!(code.as_deref(), Some("no_route" | "method_not_allowed"));
                assert!(!unrouted, "{what} is documented but not routed");
                assert!(status.as_u16() < 500, "{what} as {name}: {status} {code:?}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 24, "only {checked} operations in the document");
}

#[tokio::test]
async fn a_token_learns_its_own_name_tenant_and_scopes() {
    let env = secured(0).await;
    let (status, me) = as_(&env, "tok-acme-admin").get("/api/whoami").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["name"].as_str(), me["tenant"].as_str(), me["auth"].as_str()),
        (Some("acme-admin"), Some("acme"), Some("tokens"))
    );
    assert_eq!(me["scopes"], json!(["tenant:admin"]));
    assert_eq!(me["allows"], json!(["missions:write", "missions:read", "tenant:admin"]), "what tenant:admin implies");
    let (_, me) = as_(&env, "tok-plugins").get("/api/whoami").await;
    assert_eq!(me["allows"], json!(["plugins:admin"]), "{me}");
    let (_, me) = as_(&env, "tok-root").get("/api/whoami").await;
    assert_eq!(me["allows"].as_array().map(Vec::len), Some(5), "admin holds every scope: {me}");
    assert_eq!(as_(&env, "not-a-token").get("/api/whoami").await.0, 401);
    assert_eq!(Api::new(&env.host.url()).get("/api/whoami").await.0, 401);

    let open = TestEnv::start_with(|c| c.concurrency = 0).await;
    let (_, me) = open.api.get("/api/whoami").await;
    assert_eq!((me["name"].as_str(), me["auth"].as_str()), (Some("anonymous"), Some("open")), "{me}");
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_missions_events_and_stats() {
    let env = secured(4).await;
    let (acme, rival, reader) = (as_(&env, "tok-writer"), as_(&env, "tok-rival"), as_(&env, "tok-reader"));
    let ours = acme.submit(json!({ "type": "echo", "payload": "acme", "idempotency_key": "k1" })).await;
    let theirs = rival.submit(json!({ "type": "echo", "payload": "rival", "idempotency_key": "k1" })).await;
    assert_ne!(ours, theirs, "idempotency keys are per tenant");
    reader.wait_status(&ours, "completed", Duration::from_secs(10)).await;
    rival.wait_status(&theirs, "completed", Duration::from_secs(10)).await;

    let m = reader.mission(&ours).await;
    assert_eq!((m["tenant"].as_str(), m["created_by"].as_str()), (Some("acme"), Some("writer")));
    let (_, ev) = reader.get(&format!("/api/events?mission_id={ours}")).await;
    let events = ev["events"].as_array().unwrap();
    assert!(events.len() >= 3 && events.iter().all(|e| e["meta"]["tenant"] == "acme"), "{ev}");

    // Another tenant's mission is absent, whatever the route.
    for (method, path) in [
        (Method::GET, format!("/api/missions/{ours}")),
        (Method::GET, format!("/api/missions/{ours}/log")),
        (Method::POST, format!("/api/missions/{ours}/cancel")),
        (Method::POST, format!("/api/missions/{ours}/retry")),
        (Method::GET, format!("/api/events?mission_id={ours}")),
        (Method::GET, format!("/api/events/stream?mission_id={ours}")),
    ] {
        let (status, code) = call(&env.host.url(), Some("tok-rival"), &method, &path).await;
        assert_eq!((status.as_u16(), code.as_deref()), (404, Some("mission_not_found")), "{method} {path}");
    }
    let (status, body) = rival.post(&format!("/api/missions/{ours}/log"), json!({ "message": "hi" })).await;
    assert_eq!(status, 404, "{body}");

    let (_, list) = rival.get("/api/missions").await;
    let ids: Vec<&str> = list["missions"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [theirs.as_str()]);
    let (_, stats) = rival.get("/api/stats").await;
    assert_eq!(stats["totals"]["total"], 1, "{stats}");
    let (_, counts) = rival.get("/api/events/stats").await;
    assert_eq!(counts["by_type"]["mission.created"], 1, "{counts}");
    let (_, all) = rival.get("/api/events?limit=1000").await;
    let foreign =
        all["events"].as_array().unwrap().iter().filter(|e| e["payload"]["mission_id"] == ours.as_str()).count();
    assert_eq!(foreign, 0, "no event of another tenant's mission");

    // The live stream, replayed from the start, skips the other tenant's events too.
    let mut resp = reqwest::Client::new()
        .get(format!("{}/api/events/stream?last_event_id=0-0", env.host.url()))
        .bearer_auth("tok-rival")
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let done = format!("\"mission_id\":\"{theirs}\"");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(text.contains(&done) && text.contains("event: mission.completed")) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk()).await;
        let Ok(Ok(Some(chunk))) = chunk else { panic!("the stream did not reach the tenant's own completion: {text}") };
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!text.contains(&ours), "the stream showed another tenant's mission: {text}");
}

#[tokio::test]
async fn tokens_made_at_run_time_work_until_revoked() {
    let env = secured(0).await;
    let root = as_(&env, "tok-root");
    let (status, made) =
        root.post("/api/tokens", json!({ "name": "ci", "tenant": "rival", "scopes": ["missions:read"] })).await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_owned();
    let id = made["record"]["id"].as_str().unwrap().to_owned();

    let ci = as_(&env, &token);
    let (status, _) = ci.get("/api/missions").await;
    assert_eq!(status, 200);
    let (status, _) = ci.post("/api/missions", json!({ "type": "echo", "payload": 1 })).await;
    assert_eq!(status, 403, "its scopes hold");
    let (_, list) = root.get("/api/tokens").await;
    assert_eq!(list["tokens"][0]["name"], "ci");
    assert!(!list.to_string().contains(&token), "the secret is shown only once");
    let mut conn = env.redis.conn().await;
    let stored: Vec<String> = redis::cmd("HVALS").arg("{mr}:tokens").query_async(&mut conn).await.unwrap();
    assert!(stored.len() == 1 && !stored[0].contains(&token), "Redis holds the hash, not the token");

    let (status, body) = root.post("/api/tokens", json!({ "name": "x", "scopes": [] })).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = root.post("/api/tokens", json!({ "name": "x", "scopes": ["root"] })).await;
    assert_eq!(status, 400, "{body}");

    let (status, _) = root.request(Method::DELETE, &format!("/api/tokens/{id}")).await;
    assert_eq!(status, 204);
    let revoked = wait_until(
        mission_runner::auth::CACHE_TTL + Duration::from_secs(5),
        || ci.get("/api/missions"),
        |(s, _)| *s == 401,
    )
    .await;
    assert!(revoked.is_some(), "a revoked token is refused within the cache's lifetime");
}

#[tokio::test]
async fn an_open_api_is_refused_beyond_loopback_and_makes_no_tokens() {
    let env = TestEnv::start().await;
    let mut c = test_config(&env.redis.url());
    c.listen = "0.0.0.0:0".parse().unwrap();
    c.concurrency = 0;
    let err = server::start(c.clone()).await.expect_err("refused");
    assert!(format!("{err:#}").contains("no API tokens"), "{err:#}");
    c.auth.tokens = vec![ConfiguredToken {
        name: "a".into(),
        tenant: "default".into(),
        scopes: vec![Scope::Admin],
        sha256: hash_token("t"),
    }];
    server::start(c).await.expect("with tokens it serves").shutdown().await.unwrap();

    let (status, body) = env.api.post("/api/tokens", json!({ "name": "x", "scopes": ["admin"] })).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("auth_disabled")));
    let (_, health) = env.api.get("/api/health").await;
    assert_eq!(health["auth"], "open");
}

#[tokio::test]
async fn admin_spans_tenants_and_a_tenant_admin_stays_in_its_own() {
    let env = secured(0).await;
    let (root, acme_admin) = (as_(&env, "tok-root"), as_(&env, "tok-acme-admin"));

    // The operator mints for any tenant, including a tenant admin of another one.
    let (status, made) =
        root.post("/api/tokens", json!({ "name": "rival-admin", "tenant": "rival", "scopes": ["tenant:admin"] })).await;
    assert_eq!(status, 201, "{made}");
    let rival_admin = as_(&env, made["token"].as_str().unwrap());
    let (status, theirs) =
        root.post("/api/tokens", json!({ "name": "r1", "tenant": "rival", "scopes": ["missions:read"] })).await;
    assert_eq!(status, 201, "{theirs}");
    let theirs_id = theirs["record"]["id"].as_str().unwrap().to_owned();

    // A tenant admin mints in its own tenant (the default), with scopes it holds.
    let (status, ours) = acme_admin.post("/api/tokens", json!({ "name": "ci", "scopes": ["missions:write"] })).await;
    assert_eq!(status, 201, "{ours}");
    assert_eq!(ours["record"]["tenant"], "acme", "a tenant admin's tokens are of its tenant by default");
    let ci = as_(&env, ours["token"].as_str().unwrap());
    let id = ci.submit(json!({ "type": "echo", "payload": 1 })).await;
    assert_eq!(acme_admin.mission(&id).await["tenant"], "acme", "it reads its tenant's missions");

    // ... but nothing beyond: no other tenant, no wider scope, no operator views.
    for body in [
        json!({ "name": "x", "tenant": "rival", "scopes": ["missions:read"] }),
        json!({ "name": "x", "scopes": ["admin"] }),
        json!({ "name": "x", "scopes": ["plugins:admin"] }),
    ] {
        let (status, err) = acme_admin.post("/api/tokens", body.clone()).await;
        assert_eq!((status.as_u16(), err["error"]["code"].as_str()), (403, Some("forbidden")), "{body}: {err}");
    }
    let (status, _) = acme_admin.get("/api/queue").await;
    assert_eq!(status, 403, "the queue of every tenant is the operator's");
    let (status, _) = rival_admin.get(&format!("/api/missions/{id}")).await;
    assert_eq!(status, 404, "another tenant's tenant admin does not see acme's missions");

    // Listing and revoking stay inside the tenant; another tenant's token is absent.
    let (_, listed) = acme_admin.get("/api/tokens").await;
    let tenants: Vec<&str> =
        listed["tokens"].as_array().unwrap().iter().map(|t| t["tenant"].as_str().unwrap()).collect();
    assert_eq!(tenants, ["acme"], "{listed}");
    let (_, all) = root.get("/api/tokens").await;
    assert_eq!(all["tokens"].as_array().unwrap().len(), 3, "the operator lists every tenant's: {all}");
    let (status, _) = acme_admin.request(Method::DELETE, &format!("/api/tokens/{theirs_id}")).await;
    assert_eq!(status, 404);
    let (status, _) = rival_admin.request(Method::DELETE, &format!("/api/tokens/{theirs_id}")).await;
    assert_eq!(status, 204, "its own tenant's token");
    let (_, all) = root.get("/api/tokens").await;
    assert_eq!(all["tokens"].as_array().unwrap().len(), 2, "{all}");
}
