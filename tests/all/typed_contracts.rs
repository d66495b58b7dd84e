//! Typed contracts: the error codes the OpenAPI document lists are exactly the
//! `ErrorCode` variants, and the error body's schema refers to them; health,
//! workers and plugin listings are typed schemas, not bare objects.

use mission_runner::api::ErrorCode;

use crate::harness::TestEnv;

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_error_codes() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let (status, doc) = env.api.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    let schemas = &doc["components"]["schemas"];
    let listed: Vec<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let ours: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, ours);
    for c in ErrorCode::ALL {
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str(), "wire value of {c:?}");
    }
    assert_eq!(schemas["ErrorDetail"]["properties"]["code"]["$ref"], "#/components/schemas/ErrorCode");
    // An answer carries one of them.
    let (status, body) = env.api.get("/api/missions/not-an-id").await;
    assert_eq!(status, 404, "{body}");
    let code: ErrorCode = serde_json::from_value(body["error"]["code"].clone()).expect("a known code");
    assert_eq!(code, ErrorCode::MissionNotFound);
}

#[tokio::test]
async fn health_workers_and_plugins_are_documented_by_their_fields() {
    let env = TestEnv::start().await;
    let (_, doc) = env.api.get("/api/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    for (schema, fields) in [
        ("Health", &["status", "reason", "redis", "plugins", "compile", "worker", "auth", "version"][..]),
        ("WorkerInfo", &["id", "alive", "missions", "plugins", "last_heartbeat", "lease_ms"][..]),
        ("PluginList", &["plugins", "active", "next_cursor"][..]),
        ("PluginVersion", &["version", "digest", "manifest", "active_for", "loaded_on"][..]),
    ] {
        for f in fields {
            assert!(schemas[schema]["properties"][f].is_object(), "{schema}.{f}: {}", schemas[schema]);
        }
    }
    let health = &doc["paths"]["/api/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(health["$ref"], "#/components/schemas/Health");

    // The answers have those fields, keys in the order the `json!` answers had (sorted).
    let (status, health) = env.api.get("/api/health").await;
    assert_eq!(status, 200);
    let keys: Vec<&String> = health.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["auth", "compile", "plugins", "reason", "redis", "status", "version", "worker"]);
    assert_eq!((health["status"].as_str(), health["redis"]["ok"].as_bool()), (Some("ok"), Some(true)));
    assert!(health["reason"].is_null() && health["redis"]["error"].is_null());
    let url = format!("{}/api/plugins", env.host.url());
    let text = reqwest::Client::new().get(url).send().await.unwrap().text().await.unwrap();
    assert!(text.starts_with(r#"{"active":{"#), "{text}");
    let plugins: serde_json::Value = serde_json::from_str(&text).unwrap();
    let manifest = &plugins["plugins"][0]["versions"][0]["manifest"];
    let keys: Vec<&String> = manifest.as_object().expect("a manifest").keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "manifest keys stay sorted as before");
}
