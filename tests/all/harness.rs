//! Test harness: a private Redis and a host per test, an HTTP client, and
//! waiting for conditions with deadlines (never bare sleeps).

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mission_runner::config::Config;
use mission_runner::embedded_redis::{Persistence, RedisServer};
use mission_runner::runtime::Limits;
use mission_runner::server::{self, Host};
use mission_runner::store::Queue;
use reqwest::StatusCode;
use serde_json::Value;

/// The example plugins, built by `scripts/build-plugins.sh`.
pub fn plugins_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    assert!(
        dir.join("echo.wasm").is_file(),
        "plugins are not built: run scripts/build-plugins.sh (scripts/test.sh does it)"
    );
    dir
}

/// A Redis of the test's own, stopped when dropped.
pub struct TestRedis {
    pub server: RedisServer,
    _dir: tempfile::TempDir,
}

impl TestRedis {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = RedisServer::start(dir.path(), Persistence::None).await.expect("redis-server starts");
        TestRedis { server, _dir: dir }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A plain connection for looking at Redis directly.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }
}

/// The compile cache shared by every test host, in-process or not: entries are
/// content-addressed and written atomically.
pub fn shared_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

/// A host in a process of its own (the real binary) on `redis_url`, with
/// `args` added to `serve`; returns the process and its API once it serves.
pub async fn spawn_host(redis_url: &str, args: &[&str]) -> (tokio::process::Child, Api) {
    use tokio::io::AsyncBufReadExt as _;
    let data = tempfile::tempdir().expect("tempdir").keep();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(["serve", "--listen", "127.0.0.1:0", "--no-watch"])
        .args(args)
        .arg("--redis-url")
        .arg(redis_url)
        .arg("--plugins-dir")
        .arg(plugins_dir())
        .arg("--data-dir")
        .arg(&data)
        .arg("--cache-dir")
        .arg(shared_cache_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("host process starts");
    let mut line = String::new();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut line).await.expect("serving line");
    let url =
        line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("no URL in {line:?}"));
    (child, Api::new(url))
}

/// A host configuration for tests: API on a free port, short lease.
pub fn test_config(redis_url: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        redis_url: Some(redis_url.to_owned()),
        plugins_dir: Some(plugins_dir()),
        watch_plugins: false,
        cache_dir: Some(shared_cache_dir()),
        concurrency: 4,
        lease: Duration::from_secs(2),
        // Debug builds compile the 12-18 MB Python and JS components about four times slower than
        // release, and many test hosts start at once with an empty cache: the budget tests set
        // their own, tighter, values.
        limits: Limits { compile_timeout_ms: 600_000, ..Limits::default() },
        ..Config::default()
    }
}

/// Starts an in-process host on `redis` with `concurrency` worker slots.
pub async fn start_host(redis: &TestRedis, concurrency: usize) -> (Host, Api) {
    let mut c = test_config(&redis.url());
    c.concurrency = concurrency;
    let host = server::start(c).await.expect("host starts");
    let api = Api::new(&host.url());
    (host, api)
}

/// The store's queue on `redis`, as a host has it: for tests that act as a
/// worker or look at the queue directly.
pub async fn queue_on(redis: &TestRedis) -> Queue {
    let client = redis::Client::open(redis.url()).unwrap();
    let conn = server::connect(&client, Duration::from_secs(5)).await.unwrap();
    let config = test_config(&redis.url());
    Queue::new(conn, &config.key_prefix, config.queue_settings(), "test")
}

/// One Redis and one host on it.
pub struct TestEnv {
    pub redis: TestRedis,
    pub host: Host,
    pub api: Api,
}

impl TestEnv {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let redis = TestRedis::start().await;
        let mut config = test_config(&redis.url());
        tweak(&mut config);
        let host = server::start(config).await.expect("host starts");
        let api = Api::new(&host.url());
        TestEnv { redis, host, api }
    }
}

/// A small JSON client of the REST API.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Api { base: base.to_owned(), http: reqwest::Client::new() }
    }

    /// A client that sends `token` as its bearer token.
    pub fn with_token(base: &str, token: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("header value"));
        Api {
            base: base.to_owned(),
            http: reqwest::Client::builder().default_headers(headers).build().expect("client"),
        }
    }

    /// The host's base URL.
    pub fn base(&self) -> String {
        self.base.clone()
    }

    /// Sends any request; for tests of methods and headers of their own.
    pub async fn request(&self, method: reqwest::Method, path: &str) -> (StatusCode, Value) {
        self.send(self.http.request(method, format!("{}{path}", self.base))).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        let body = match text.as_str() {
            "" => Value::Null,
            _ => serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON ({status}): {text}")),
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body)).await
    }

    /// Sends `body` as JSON with any method (PUT, PATCH...).
    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.request(method, format!("{}{path}", self.base)).json(&body)).await
    }

    /// Posts raw bytes as JSON (for malformed bodies).
    pub async fn post_raw(&self, path: &str, body: &'static str) -> (StatusCode, Value) {
        let req = self.http.post(format!("{}{path}", self.base)).header("content-type", "application/json").body(body);
        self.send(req).await
    }

    /// Submits a mission; asserts 201 and returns its id.
    pub async fn submit(&self, body: Value) -> String {
        let (status, m) = self.post("/api/missions", body).await;
        assert_eq!(status, StatusCode::CREATED, "{m}");
        m["id"].as_str().expect("id").to_owned()
    }

    pub async fn mission(&self, id: &str) -> Value {
        let (status, m) = self.get(&format!("/api/missions/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{m}");
        m
    }

    /// Waits until the mission has `status`; returns the record.
    pub async fn wait_status(&self, id: &str, status: &str, within: Duration) -> Value {
        let mut last = Value::Null;
        let found = wait_until(
            within,
            || {
                let api = self.clone();
                let id = id.to_owned();
                async move { api.mission(&id).await }
            },
            |m: &Value| {
                last = m.clone();
                m["status"] == status
            },
        )
        .await;
        found.unwrap_or_else(|| panic!("mission {id} not {status} within {within:?}; last: {last}"))
    }

    /// The types of a mission's events, in order.
    pub async fn event_types(&self, id: &str) -> Vec<String> {
        let (status, body) = self.get(&format!("/api/events?mission_id={id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
    }
}

/// Polls `probe` until `done` holds or `within` passes; returns the value that held.
pub async fn wait_until<T, F, Fut>(within: Duration, mut probe: F, mut done: impl FnMut(&T) -> bool) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + within;
    loop {
        let v = probe().await;
        if done(&v) {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Uploads a plugin through the API (multipart), optionally activating it.
pub async fn upload(api: &Api, wasm: &[u8], manifest: &Value, activate: bool) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new()
        .part("wasm", reqwest::multipart::Part::bytes(wasm.to_vec()).file_name("plugin.wasm"))
        .text("manifest", manifest.to_string());
    let req = api.http.post(format!("{}/api/plugins?activate={activate}", api.base)).multipart(form);
    api.send(req).await
}

/// Configuration entries for test tokens given as (token, name, tenant, scopes).
pub fn configured_tokens(
    tokens: &[(&str, &str, &str, &[mission_runner::auth::Scope])],
) -> Vec<mission_runner::auth::ConfiguredToken> {
    tokens
        .iter()
        .map(|(token, name, tenant, scopes)| mission_runner::auth::ConfiguredToken {
            name: (*name).into(),
            tenant: (*tenant).into(),
            scopes: scopes.to_vec(),
            sha256: mission_runner::auth::hash_token(token),
        })
        .collect()
}
