//! Configuration precedence: defaults < file < environment < flags.

use tokio::io::AsyncBufReadExt as _;

use crate::harness::{TestRedis, plugins_dir, shared_cache_dir};

/// Writes `mission-runner.toml` in `dir`: an API-only host on `redis`, on a
/// free port, with the built plugins, and `more` (TOML lines).
fn host_file(redis: &TestRedis, dir: &std::path::Path, more: &str) -> std::path::PathBuf {
    let file = dir.join("mission-runner.toml");
    let toml = format!(
        "listen = \"127.0.0.1:0\"\nredis_url = \"{}\"\nconcurrency = 0\nwatch_plugins = false\n\
         plugins_dir = {:?}\ncache_dir = {:?}\ndata_dir = {:?}\n{more}",
        redis.url(),
        plugins_dir(),
        shared_cache_dir(),
        dir
    );
    std::fs::write(&file, toml).unwrap();
    file
}

/// Starts `serve --config FILE [flags]` with `env`, waits until it serves,
/// and returns the key prefixes used so far (each run below uses a new one).
async fn prefixes_used(redis: &TestRedis, file: &std::path::Path, env: &[(&str, &str)], flags: &[&str]) -> Vec<String> {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(["serve", "--config"])
        .arg(file)
        .args(flags)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    tokio::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).await.unwrap();
    assert!(line.contains("serving on http://127.0.0.1:"), "{line}");
    child.kill().await.unwrap();
    let mut conn = redis.conn().await;
    let keys: Vec<String> = redis::cmd("KEYS").arg("*:plugins:active").query_async(&mut conn).await.unwrap();
    let mut prefixes: Vec<String> = keys.iter().map(|k| k.trim_end_matches(":plugins:active").to_owned()).collect();
    prefixes.sort();
    prefixes
}

#[tokio::test]
async fn flags_override_environment_override_the_file() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = host_file(&redis, dir.path(), "key_prefix = \"from-file\"\n");

    assert_eq!(prefixes_used(&redis, &file, &[], &[]).await, ["{from-file}"]);
    let env = [("MISSION_RUNNER_KEY_PREFIX", "from-env")];
    assert_eq!(prefixes_used(&redis, &file, &env, &[]).await, ["{from-env}", "{from-file}"]);
    let all = prefixes_used(&redis, &file, &env, &["--key-prefix", "from-flag"]).await;
    assert_eq!(all, ["{from-env}", "{from-file}", "{from-flag}"]);

    // A typo in the file is refused with the file's name, not silently ignored.
    std::fs::write(&file, "concurency = 2\n").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mission-runner.toml") && err.contains("concurency"), "{err}");
}

/// The runtime's threads as the host logs them at start, with `flags` and `env`.
async fn runtime_threads(file: &std::path::Path, env: &[(&str, &str)], flags: &[&str]) -> String {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(file)
        .args(flags)
        .envs(env.iter().copied())
        .env("MISSION_RUNNER_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let found = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(n) = entry["fields"]["worker_threads"].as_u64() {
                return n.to_string();
            }
        }
        panic!("the host ended without logging its runtime threads");
    })
    .await
    .expect("the host logs its runtime threads within a minute");
    child.kill().await.unwrap();
    found
}

#[tokio::test]
async fn the_runtime_takes_the_threads_asked_for_else_leaves_a_core_to_a_local_redis() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = host_file(&redis, dir.path(), "");

    // The test's Redis is on loopback: one core is left to it.
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(runtime_threads(&file, &[], &[]).await, cores.saturating_sub(1).max(1).to_string());
    let env = [("MISSION_RUNNER_WORKER_THREADS", "3")];
    assert_eq!(runtime_threads(&file, &env, &[]).await, "3");
    assert_eq!(runtime_threads(&file, &env, &["--worker-threads", "5"]).await, "5");

    // Out of range: refused, naming the setting, before anything starts.
    for bad in ["0", "1025"] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
            .args(["serve", "--config"])
            .arg(&file)
            .args(["--worker-threads", bad])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("worker_threads") && err.contains(bad), "{err}");
    }
}
