//! A misbehaving plugin fails its own mission, with the cause in the error, and
//! the host and the other missions carry on.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{TestEnv, upload};

/// Runs one chaos action to its end (one attempt) and returns the record.
async fn chaos(env: &TestEnv, action: Value) -> Value {
    let id =
        env.api.submit(json!({ "type": "chaos", "payload": action, "max_attempts": 1, "timeout_ms": 20_000 })).await;
    let found = crate::harness::wait_until(
        Duration::from_secs(30),
        || env.api.mission(&id),
        |m: &Value| matches!(m["status"].as_str(), Some("completed" | "failed")),
    )
    .await;
    found.unwrap_or_else(|| panic!("chaos mission {action} did not finish"))
}

fn error_of(m: &Value) -> &str {
    assert_eq!(m["status"], "failed", "{m}");
    m["error"]["message"].as_str().unwrap()
}

#[tokio::test]
async fn each_misbehaviour_fails_only_its_mission_and_names_the_cause() {
    let env = TestEnv::start().await;
    let cases = [
        (json!({ "do": "oom" }), "exceeded its memory limit of 128 MiB"),
        (json!({ "do": "recurse" }), "overflowed its stack"),
        (json!({ "do": "panic" }), "chaos plugin panicked on purpose"),
        (json!({ "do": "big-result", "bytes": 2_000_000 }), "exceeds the limit of 1048576 bytes"),
        (json!({ "do": "open-file", "path": "/etc/passwd" }), "cannot open /etc/passwd"),
        (json!({ "do": "connect", "addr": format!("127.0.0.1:{}", env.redis.server.port()) }), "cannot connect"),
    ];
    for (action, cause) in cases {
        let m = chaos(&env, action.clone()).await;
        let error = error_of(&m);
        assert!(error.contains(cause), "{action}: error {error:?} should say {cause:?}");
    }
    // A trap is retryable, a plugin's own refusal permanent.
    let m = chaos(&env, json!({ "do": "panic" })).await;
    assert_eq!(m["error"]["kind"], "retryable");

    // Nothing is granted: no environment.
    let m = chaos(&env, json!({ "do": "env", "name": "PATH" })).await;
    assert_eq!(m["result"], json!({ "value": null }));

    // Output goes to the mission's log, never the host's.
    let m = chaos(&env, json!({ "do": "print", "text": "hello from the guest" })).await;
    let (_, log) = env.api.get(&format!("/api/missions/{}/log", m["id"].as_str().unwrap())).await;
    let lines: Vec<&str> = log["lines"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert!(lines.contains(&"[stdout] hello from the guest"), "{lines:?}");
    assert!(lines.contains(&"[stderr] hello from the guest"), "{lines:?}");

    // And the host carries on.
    let id = env.api.submit(json!({ "type": "echo", "payload": "fine" })).await;
    env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    let (status, _) = env.api.get("/api/health").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_manifest_grants_environment_and_sets_limits() {
    let env = TestEnv::start().await;
    let chaos_wasm = std::fs::read(crate::harness::plugins_dir().join("chaos.wasm")).unwrap();
    let manifest = json!({
        "name": "chaos", "version": "1.0.0+granted", "mission_types": ["chaos"],
        "limits": { "memory_mb": 16, "max_result_bytes": 100, "timeout_ms": 200 },
        "grants": { "env": { "GREETING": "hello" } },
    });
    let (status, body) = upload(&env.api, &chaos_wasm, &manifest, true).await;
    assert_eq!(status, 201, "{body}");

    let m = chaos(&env, json!({ "do": "env", "name": "GREETING" })).await;
    assert_eq!(m["result"], json!({ "value": "hello" }));
    assert!(m["plugin"].as_str().unwrap().ends_with("+granted"), "{m}");
    assert!(error_of(&chaos(&env, json!({ "do": "oom" })).await).contains("memory limit of 16 MiB"));
    assert!(error_of(&chaos(&env, json!({ "do": "big-result", "bytes": 200 })).await).contains("limit of 100 bytes"));
    // The manifest's timeout caps the mission's own.
    assert!(error_of(&chaos(&env, json!({ "do": "spin" })).await).contains("timed out after 200 ms"));
}

#[tokio::test]
async fn a_fuel_limit_stops_a_busy_plugin() {
    let env = TestEnv::start().await;
    let chaos_wasm = std::fs::read(crate::harness::plugins_dir().join("chaos.wasm")).unwrap();
    let manifest = json!({ "name": "chaos", "version": "1.0.0+metered", "mission_types": ["chaos"],
        "limits": { "fuel": 50_000_000 } });
    let (status, body) = upload(&env.api, &chaos_wasm, &manifest, true).await;
    assert_eq!(status, 201, "{body}");
    let m = chaos(&env, json!({ "do": "spin" })).await;
    assert!(error_of(&m).contains("ran out of fuel"), "{m}");
    // Small work fits in the budget.
    let m = chaos(&env, json!({ "do": "env", "name": "X" })).await;
    assert_eq!(m["status"], "completed", "{m}");
}
