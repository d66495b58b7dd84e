//! Typed contracts: the error codes the OpenAPI document lists are exactly the
//! `ErrorCode` variants, and the error body's schema refers to them.

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
