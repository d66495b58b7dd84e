//! The operator CLI, end to end: the real binary against a real host.

use std::process::Output;
use std::time::Duration;

use serde_json::json;

use crate::harness::{TestEnv, plugins_dir};

/// Runs `mission-runner plugin ARGS --url URL` without blocking the test's
/// runtime (the host under test runs on it).
async fn cli(url: &str, args: &[&str]) -> Output {
    let mut all = vec!["plugin"];
    all.extend_from_slice(args);
    run(url, &all).await
}

/// Runs `mission-runner ARGS --url URL`.
async fn run(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
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
    std::fs::write(&manifest, json!({ "name": "echo", "version": "2.0.0", "mission_types": ["echo"] }).to_string())
        .unwrap();
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

#[tokio::test]
async fn mission_commands_end_to_end() {
    use tokio::io::AsyncBufReadExt as _;
    let env = TestEnv::start().await;
    let url = env.host.url();

    // Follow events from the stream's start: nothing is missed however late
    // the follower connects.
    let mut follower = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(["events", "--follow", "--after", "0", "--type", "mission.completed", "--url", &url])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut follow_lines = tokio::io::BufReader::new(follower.stdout.take().unwrap()).lines();

    let out = run(&url, &["submit", "text-stats", r#"{"text": "a b c"}"#, "--priority", "high"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_owned();
    env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;

    let line = tokio::time::timeout(Duration::from_secs(10), follow_lines.next_line()).await.unwrap().unwrap().unwrap();
    assert!(line.contains("mission.completed") && line.contains(&id), "{line}");

    let out = run(&url, &["get", &id]).await;
    let shown = text(&out.stdout);
    assert!(shown.contains("completed") && shown.contains("prio 75") && shown.contains(r#""words":3"#), "{shown}");
    let out = run(&url, &["get", &id, "--json"]).await;
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["result"]["words"], 3);
    let out = run(&url, &["list", "--status", "completed"]).await;
    assert!(text(&out.stdout).lines().any(|l| l.starts_with(&id)), "{}", text(&out.stdout));
    let out = run(&url, &["log", &id]).await;
    assert!(text(&out.stdout).is_empty(), "text-stats logs nothing: {}", text(&out.stdout));
    let out = run(&url, &["events", "--mission", &id]).await;
    let events = text(&out.stdout);
    assert_eq!(events.lines().filter(|l| l.contains("mission.progress")).count(), 3, "{events}");
    let out = run(&url, &["stats"]).await;
    assert!(text(&out.stdout).contains("text-stats"), "{}", text(&out.stdout));

    // Refusals exit 1 with the host's reason; bad input exits 2.
    let out = run(&url, &["cancel", &id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already completed"), "{}", text(&out.stderr));
    let out = run(&url, &["retry", &id]).await;
    assert_eq!(out.status.code(), Some(1));
    let out = run(&url, &["submit", "echo", "{not json"]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = run(&url, &["submit", "nope", "{}"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("422"), "{}", text(&out.stderr));

    // A pending mission can be cancelled.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let out = run(&url, &["submit", "echo", "1", "--run-at", &later]).await;
    let pending = text(&out.stdout).trim().to_owned();
    let out = run(&url, &["cancel", &pending, "--reason", "changed my mind"]).await;
    assert!(out.status.success() && text(&out.stdout).contains("cancelled"), "{}", text(&out.stderr));
    follower.kill().await.unwrap();
}

#[tokio::test]
async fn tokens_from_generate_to_revoke() {
    use tokio::io::AsyncWriteExt as _;
    let bin = env!("CARGO_BIN_EXE_mission-runner");
    let out = tokio::process::Command::new(bin)
        .args(["token", "generate", "--name", "ops", "--tenant", "acme", "--scope", "admin"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let token = printed.lines().find_map(|l| l.strip_prefix("token: ")).expect("token line").to_owned();
    // The printed entry is a configuration file fragment as it stands.
    let entry = &printed[printed.find("[[auth.tokens]]").expect("entry")..];
    let config: mission_runner::config::Config = toml::from_str(entry).expect(entry);
    assert_eq!(config.auth.tokens[0].tenant, "acme");

    let mut hash = tokio::process::Command::new(bin)
        .args(["token", "hash"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    hash.stdin.take().unwrap().write_all(format!("{token}\n").as_bytes()).await.unwrap();
    let hashed = hash.wait_with_output().await.unwrap();
    assert_eq!(text(&hashed.stdout).trim(), config.auth.tokens[0].sha256);

    let env = TestEnv::start_with(|c| c.auth = config.auth.clone()).await;
    let url = env.host.url();
    let nobody = tempfile::tempdir().unwrap();
    let as_nobody = |args: &'static [&'static str]| {
        tokio::process::Command::new(bin)
            .args(args)
            .args(["--url", &url])
            .env("MISSION_RUNNER_DATA_DIR", nobody.path())
            .output()
    };
    let refused = as_nobody(&["submit", "echo", "1"]).await.unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("401"), "{}", text(&refused.stderr));

    let with = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["--token".into(), token.clone()]);
        run_owned(url.clone(), all)
    };
    let made =
        with(&["token", "create", "--name", "ci", "--tenant", "acme", "--scope", "missions:read", "--json"]).await;
    assert!(made.status.success(), "{}", text(&made.stderr));
    let made: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    let id = made["record"]["id"].as_str().unwrap().to_owned();
    let ci = made["token"].as_str().unwrap();
    let listed = run_owned(url.clone(), vec!["list".into(), "--token".into(), ci.into()]).await;
    assert!(listed.status.success(), "a missions:read token lists: {}", text(&listed.stderr));
    let listed = with(&["token", "list"]).await;
    assert!(text(&listed.stdout).contains(&id));
    assert!(with(&["token", "revoke", &id]).await.status.success());
    assert_eq!(with(&["token", "revoke", &id]).await.status.code(), Some(1), "a second revoke finds nothing");
}

async fn run_owned(url: String, args: Vec<String>) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(&args)
        .args(["--url", &url])
        .output()
        .await
        .expect("the CLI runs")
}

#[tokio::test]
async fn serve_help_lists_only_what_serve_uses() {
    let help = |args: &'static [&'static str]| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
            .args(args)
            .arg("--help")
            .output()
            .await
            .expect("the CLI runs");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let serve = help(&["serve"]).await;
    assert!(serve.contains("--redis-url") && serve.contains("--plugins-dir"), "{serve}");
    for client_only in ["--url", "--token", "--json", "MISSION_RUNNER_TOKEN"] {
        assert!(!serve.contains(client_only), "serve --help shows {client_only}: {serve}");
    }
    // The client commands keep theirs, wherever they are given.
    for args in [&["submit"][..], &["list"], &["plugin", "push"], &["token", "list"]] {
        let out = help(args).await;
        assert!(out.contains("--url") && out.contains("--token") && out.contains("--json"), "{args:?}: {out}");
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(["--url", "http://127.0.0.1:9", "--token", "t", "list"])
        .output()
        .await
        .expect("the CLI runs");
    assert_eq!(out.status.code(), Some(3), "before the command: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot reach http://127.0.0.1:9"), "{}", text(&out.stderr));
}
