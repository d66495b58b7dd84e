//! The operator CLI, end to end: the real binary against a real host.

use std::process::Output;
use std::time::Duration;

use serde_json::json;

use crate::harness::{TestEnv, plugins_dir};

/// Runs `mission-runner plugin ARGS --url URL` without blocking the test's
/// runtime (the host under test runs on it).
async fn cli(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .arg("plugin")
        .args(args)
        .args(["--url", url])
        .output()
        .await
        .expect("the CLI runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn plugin_push_list_activate_and_errors() {
    let env = TestEnv::start().await;
    let url = env.host.url();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("echo.json");
    std::fs::write(&manifest, json!({ "name": "echo", "version": "2.0.0", "mission_types": ["echo"] }).to_string()).unwrap();
    let wasm = plugins_dir().join("fixtures/echo-v2.wasm");
    let (wasm, manifest) = (wasm.to_str().unwrap(), manifest.to_str().unwrap());

    let out = cli(&url, &["push", wasm, "--manifest", manifest]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("echo 2.0.0 sha256:"), "{}", text(&out.stdout));

    let out = cli(&url, &["list"]).await;
    assert!(out.status.success());
    let listing = text(&out.stdout);
    let line = |v: &str| listing.lines().find(|l| l.starts_with("echo") && l.contains(v)).map(str::to_owned);
    assert!(line("1.0.0").is_some_and(|l| l.ends_with("echo")), "{listing}");
    assert!(line("2.0.0").is_some_and(|l| l.ends_with('-')), "{listing}");

    let out = cli(&url, &["activate", "echo", "2.0.0"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("active for: echo"), "{}", text(&out.stdout));
    let id = env.api.submit(json!({ "type": "echo", "payload": 1 })).await;
    let m = env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    assert_eq!(m["plugin"], "echo@2.0.0");

    let out = cli(&url, &["list", "--json"]).await;
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(body["active"]["echo"]["version"], "2.0.0");

    // The host refuses: exit 1 with its reason.
    let out = cli(&url, &["activate", "echo", "9.9.9"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("has no version 9.9.9"), "{}", text(&out.stderr));
    // Unreadable input: exit 2. Unreachable host: exit 3.
    let out = cli(&url, &["push", "/nonexistent.wasm", "--manifest", manifest]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = cli("http://127.0.0.1:1", &["list"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}
