//! The OpenAPI document: generated from the handlers, complete, and the only
//! way routes are registered.

use serde_json::Value;

use crate::harness::TestEnv;

/// Operations a client of this API relies on; a route dropped from the
/// router (and so from the document) fails here.
const EXPECTED: [&str; 47] = [
    "post /api/missions",
    "get /api/missions",
    "post /api/missions/batch",
    "get /api/missions/{id}",
    "post /api/missions/{id}/cancel",
    "post /api/missions/{id}/retry",
    "get /api/missions/{id}/log",
    "post /api/missions/{id}/log",
    "get /api/events",
    "get /api/events/stats",
    "get /api/events/stream",
    "get /api/stats",
    "get /api/queue",
    "get /api/dead",
    "get /api/workers",
    "get /api/health",
    "get /api/whoami",
    "get /metrics",
    "post /api/plugins",
    "get /api/plugins",
    "post /api/plugins/{name}/activate",
    "delete /api/plugins/{name}/versions/{version}",
    "get /api/plugins/{name}/config",
    "put /api/plugins/{name}/config/{key}",
    "delete /api/plugins/{name}/config/{key}",
    "post /api/tokens",
    "get /api/tokens",
    "delete /api/tokens/{id}",
    "get /api/tenants/{tenant}/quotas",
    "put /api/tenants/{tenant}/quotas",
    "get /api/openapi.json",
    "put /api/queue/pause",
    "delete /api/queue/pause",
    "put /api/types/{type}/pause",
    "delete /api/types/{type}/pause",
    "get /api/types/{type}/limits",
    "put /api/types/{type}/limits",
    "get /api/types",
    "get /api/tenants/{tenant}/weight",
    "put /api/tenants/{tenant}/weight",
    "post /api/schedules",
    "get /api/schedules",
    "get /api/schedules/{name}",
    "put /api/schedules/{name}",
    "delete /api/schedules/{name}",
    "post /api/schedules/{name}/pause",
    "post /api/schedules/{name}/resume",
];

#[test]
fn routes_are_registered_only_with_their_documentation() {
    // `routes!` takes a handler's `#[utoipa::path]`; a plain `.route(` would
    // serve a path the document does not show.
    let source = include_str!("../../host/src/api/mod.rs");
    let code: Vec<&str> = source.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
    assert!(!code.iter().any(|l| l.contains(".route(") || l.contains(".nest(") || l.contains(".merge(")), "{source}");
    assert!(code.iter().filter(|l| l.contains("routes!(")).count() >= 20);
}

#[tokio::test]
async fn the_document_describes_every_operation_with_its_schemas_and_scope() {
    let env = TestEnv::start_with(|c| c.concurrency = 0).await;
    let (status, doc) = env.api.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            let text = format!("{}{}", op["summary"].as_str().unwrap_or(""), op["description"].as_str().unwrap_or(""));
            assert!(!text.is_empty(), "{name} is not described");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{name} has no responses");
            let public = ["get /api/health", "get /api/openapi.json"].contains(&name.as_str());
            let scope = op["security"][0]["bearer"][0].as_str();
            if name == "get /api/whoami" {
                // Any valid token: the bearer scheme with no scope.
                assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{name}");
                ops.push(name);
                continue;
            }
            assert_eq!(scope.is_none(), public, "{name}: scope {scope:?}");
            ops.push(name);
        }
    }
    for e in EXPECTED {
        assert!(ops.iter().any(|o| o == e), "{e} is missing from {ops:?}");
    }
    assert_eq!(ops.len(), EXPECTED.len(), "{ops:?}");

    let schemas = &doc["components"]["schemas"];
    for s in ["Mission", "MissionRequest", "BatchRequest", "ErrorBody", "Event", "Stats", "Manifest", "Status"] {
        assert!(schemas[s].is_object(), "schema {s} is missing");
    }
    let request: &Value = &schemas["MissionRequest"];
    let required: Vec<&str> = request["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(required, ["type", "payload"], "{request}");
    assert_eq!(request["additionalProperties"], false, "unknown fields are refused, and documented as such");
}
