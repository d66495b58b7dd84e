//! The embedded default: `serve` without a Redis URL runs its own redis-server,
//! persistent, stopped with the host, and never two on one data directory;
//! locked against other local users (password, owner-only files), with the
//! admin token shown once.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use mission_runner::embedded_redis::{Persistence, RedisServer};
use mission_runner::server;
use serde_json::json;

use crate::harness::{Api, plugins_dir, shared_cache_dir, test_config};

/// Whether a Redis answers on `port` at all (a refusal for want of a password is an answer).
async fn answers(port: u16) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else { return false };
    let Ok(Ok(mut c)) = tokio::time::timeout(Duration::from_secs(1), client.get_multiplexed_async_connection()).await
    else {
        return false;
    };
    match redis::cmd("PING").query_async::<String>(&mut c).await {
        Ok(_) => true,
        Err(e) => e.code().is_some(),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn serve_without_a_redis_url_keeps_missions_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let start = || {
        let mut c = test_config("unused");
        c.redis_url = None;
        c.data_dir = data.path().to_owned();
        server::start(c)
    };
    let host = start().await.unwrap();
    // The embedded default makes an admin token, keeps it in its data
    // directory (owner-only) and asks for it.
    let token = host.admin_token().expect("an admin token").to_owned();
    let stored = std::fs::read_to_string(data.path().join("admin-token")).unwrap();
    assert_eq!(stored.trim(), token);
    assert_eq!(mode(&data.path().join("admin-token")) & 0o077, 0, "only its owner may read the token");
    assert!(host.admin_token_created(), "made by this start");
    let (status, body) = Api::new(&host.url()).get("/api/missions").await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (401, Some("unauthorized")));
    let api = Api::with_token(&host.url(), &token);
    let id = api.submit(json!({ "type": "echo", "payload": "kept" })).await;
    api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    let port: u16 = host.redis_url().rsplit(':').next().unwrap().parse().unwrap();
    assert!(answers(port).await);
    host.shutdown().await.unwrap();
    assert!(!answers(port).await, "the embedded redis-server stopped with the host");

    // Persistence is on: a new host on the same data directory sees the mission.
    let again = start().await.unwrap();
    assert_eq!(again.admin_token(), Some(token.as_str()), "the same token on every start");
    assert!(!again.admin_token_created(), "read back, not made: so not shown again");
    let m = Api::with_token(&again.url(), &token).mission(&id).await;
    assert_eq!(m["result"], "kept");
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_server_left_running_is_adopted_not_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let first = RedisServer::start(dir.path(), Persistence::AppendOnly).await.unwrap();
    let port = first.port();
    // The host that started it dies without stopping it.
    std::mem::forget(first);
    let second = RedisServer::start(dir.path(), Persistence::AppendOnly).await.unwrap();
    assert_eq!(second.port(), port, "adopted the running server");
    second.shutdown().await.unwrap();
    assert!(!answers(port).await);
}

#[tokio::test]
async fn the_embedded_redis_asks_for_its_password_and_keeps_its_files_private() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("redis");
    let server = RedisServer::start(&dir, Persistence::AppendOnly).await.unwrap();
    let url = server.url();
    assert!(url.contains(server.password()) && server.password().len() >= 32, "{url}");

    // Without the password, every command is refused.
    let bare = redis::Client::open(format!("redis://127.0.0.1:{}", server.port())).unwrap();
    let mut c = bare.get_multiplexed_async_connection().await.unwrap();
    let err = redis::cmd("SET").arg("{mr}:tokens").arg("x").query_async::<()>(&mut c).await.unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
    let wrong = redis::Client::open(format!("redis://:guess@127.0.0.1:{}", server.port())).unwrap();
    assert!(wrong.get_multiplexed_async_connection().await.is_err(), "a wrong password is refused");
    // With it, it serves; and the append-only file is written.
    let mut c = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("SET").arg("k").arg("v").query_async(&mut c).await.unwrap();

    // The password is not on redis-server's command line, which `ps` shows every user.
    let pid = server.pid().expect("started here");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(server.password()), "the password is on the command line");

    // Owner-only: the directory, the password, the config, the log, the append-only files.
    assert_eq!(mode(&dir), 0o700);
    let aof_dir = dir.join("appendonlydir");
    let found = crate::harness::wait_until(
        Duration::from_secs(10),
        || async { std::fs::read_dir(&aof_dir).map(|d| d.count()).unwrap_or(0) },
        |n| *n >= 2,
    )
    .await;
    assert!(found.is_some(), "no append-only files in {}", aof_dir.display());
    assert_eq!(mode(&aof_dir), 0o700);
    let mut files =
        vec![dir.join("redis.password"), dir.join("redis.conf"), dir.join("redis.log"), dir.join("redis.port")];
    files.extend(std::fs::read_dir(&aof_dir).unwrap().map(|e| e.unwrap().path()));
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    server.shutdown().await.unwrap();

    // Files an earlier version left open are tightened at the next start.
    let aof = std::fs::read_dir(&aof_dir).unwrap().next().unwrap().unwrap().path();
    std::fs::set_permissions(&aof, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let again = RedisServer::start(&dir, Persistence::AppendOnly).await.unwrap();
    assert_eq!((mode(&dir), mode(&aof)), (0o700, 0o600));
    let mut c = redis::Client::open(again.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    assert_eq!(
        redis::cmd("GET").arg("k").query_async::<String>(&mut c).await.unwrap(),
        "v",
        "same password, same data"
    );
    again.shutdown().await.unwrap();
}

/// Runs `serve` with an embedded Redis on `data` until it serves; returns its
/// first two lines of output (the serving line, the admin token's), then stops it.
async fn serve_lines(data: &Path) -> String {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(["serve", "--listen", "127.0.0.1:0", "--no-watch", "--concurrency", "0"])
        .arg("--data-dir")
        .arg(data)
        .arg("--plugins-dir")
        .arg(plugins_dir())
        .arg("--cache-dir")
        .arg(shared_cache_dir())
        .env_remove("MISSION_RUNNER_REDIS_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("host process starts");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    for _ in 0..2 {
        stdout.read_line(&mut text).await.unwrap();
    }
    // SIGTERM: a graceful stop, which stops the embedded redis-server too.
    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(killed.success());
    tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("stops on SIGTERM").unwrap();
    text
}

#[tokio::test]
async fn the_admin_token_is_printed_once_then_pointed_to() {
    let data = tempfile::tempdir().unwrap();
    let first = serve_lines(data.path()).await;
    let token = std::fs::read_to_string(data.path().join("admin-token")).unwrap().trim().to_owned();
    assert!(first.contains(&format!("admin token: {token}")), "{first}");
    let password = std::fs::read_to_string(data.path().join("redis/redis.password")).unwrap().trim().to_owned();
    assert!(!first.contains(&password), "the Redis password is not printed: {first}");
    assert_eq!(mode(data.path()), 0o700, "the data directory is owner-only");

    let second = serve_lines(data.path()).await;
    assert!(!second.contains(&token), "printed again: {second}");
    let path = data.path().join("admin-token");
    assert!(second.contains(&format!("admin token: in {}", path.display())), "{second}");
}

#[tokio::test]
async fn a_server_without_a_password_left_by_an_earlier_version_is_replaced_not_joined() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("redis");
    std::fs::create_dir_all(&dir).unwrap();
    let dir = std::fs::canonicalize(&dir).unwrap();
    // As an earlier version ran it: no password, its port recorded beside its files.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut old = tokio::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
        .arg("--dir")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    std::fs::write(dir.join("redis.port"), port.to_string()).unwrap();
    let bare = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let ready = crate::harness::wait_until(
        Duration::from_secs(10),
        || async { bare.get_multiplexed_async_connection().await.is_ok() },
        |up| *up,
    )
    .await;
    assert!(ready.is_some());
    let mut c = bare.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("SET").arg("kept").arg("yes").query_async(&mut c).await.unwrap();

    let server = RedisServer::start(&dir, Persistence::AppendOnly).await.unwrap();
    let exited = tokio::time::timeout(Duration::from_secs(10), old.wait()).await;
    assert!(exited.is_ok(), "the unprotected server still runs");
    assert_ne!(server.pid(), None, "a server of its own, with a password");
    let mut c = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    assert_eq!(
        redis::cmd("GET").arg("kept").query_async::<String>(&mut c).await.unwrap(),
        "yes",
        "its data carried over"
    );
    server.shutdown().await.unwrap();
}
