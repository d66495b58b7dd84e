//! Configuration precedence: defaults < file < environment < flags.

use tokio::io::AsyncBufReadExt as _;

use crate::harness::{TestRedis, plugins_dir, shared_cache_dir};

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
    let file = dir.path().join("mission-runner.toml");
    let toml = format!(
        "listen = \"127.0.0.1:0\"\nredis_url = \"{}\"\nconcurrency = 0\nkey_prefix = \"from-file\"\nwatch_plugins = false\n\
         plugins_dir = {:?}\ncache_dir = {:?}\ndata_dir = {:?}\n",
        redis.url(),
        plugins_dir(),
        shared_cache_dir(),
        dir.path()
    );
    std::fs::write(&file, toml).unwrap();

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
