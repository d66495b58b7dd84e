//! mission-runner hosts for the bench: in this process (the sweep, the slower
//! measurements) or as processes of the release binary (the scale curve),
//! from one configuration.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use mission_runner::config::Config;
use mission_runner::server::{self, Host};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};

use crate::Settings;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A directory holding only the `noop` plugin: hosts publish and compile
/// every plugin of their directory at start, and the Python and JavaScript
/// ones are large. Kept for the whole run.
#[derive(Debug)]
pub struct NoopPlugins(tempfile::TempDir);

impl NoopPlugins {
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let built = repo().join("plugins/dist/noop.wasm");
        std::fs::copy(&built, dir.path().join("noop.wasm"))
            .with_context(|| format!("{} (scripts/build-plugins.sh)", built.display()))?;
        Ok(NoopPlugins(dir))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// A host on `redis_url` running `concurrency` missions at once, with a
/// free port on loopback.
pub fn config(settings: &Settings, plugins: &NoopPlugins, redis_url: &str, concurrency: usize, prefix: &str) -> Config {
    Config {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        redis_url: Some(redis_url.to_owned()),
        plugins_dir: Some(plugins.path().to_owned()),
        watch_plugins: false,
        cache_dir: Some(repo().join("target/tmp/compile-cache")),
        concurrency,
        key_prefix: prefix.to_owned(),
        events_max_len: settings.events_max_len,
        quotas: crate::common::unlimited_quotas(),
        ..Config::default()
    }
}

/// `n` hosts in this process.
pub async fn in_process(
    settings: &Settings,
    plugins: &NoopPlugins,
    redis_url: &str,
    n: usize,
    concurrency: usize,
    prefix: &str,
) -> anyhow::Result<Vec<Host>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(server::start(config(settings, plugins, redis_url, concurrency, prefix)).await?);
    }
    Ok(out)
}

pub fn urls(hosts: &[Host]) -> Vec<String> {
    hosts.iter().map(Host::url).collect()
}

/// A host in a process of its own: the release binary of this package with
/// `serve --config FILE`, killed when dropped.
#[derive(Debug)]
pub struct HostProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`, from its "serving on" line.
    pub url: String,
    /// Its process id, to read its CPU time.
    pub pid: String,
    /// Its standard output, kept open: a host printing to a closed pipe would fail.
    _stdout: tokio::io::BufReader<tokio::process::ChildStdout>,
    /// Its configuration file and data directory.
    _dir: tempfile::TempDir,
}

impl HostProcess {
    /// Starts one and waits (with a deadline) until its health endpoint answers 200.
    pub async fn spawn(config: &Config) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = Config { data_dir: dir.path().join("data"), ..config.clone() };
        // The file, not the command line: the Redis URL carries its password.
        let file = dir.path().join("host.toml");
        std::fs::write(&file, toml::to_string_pretty(&config)?)?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_mission-runner"));
        // The file decides everything: no MISSION_RUNNER_* of the caller's environment overrides it.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MISSION_RUNNER_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .arg("serve")
            .arg("--config")
            .arg(&file)
            // In-process hosts log nothing; these log only what is wrong.
            .env("MISSION_RUNNER_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the mission-runner binary")?;
        let pid = child.id().context("host pid")?.to_string();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().context("stdout")?);
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(120), stdout.read_line(&mut line))
            .await
            .context("the host did not serve within 2 minutes")??;
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .with_context(|| format!("no URL in the host's first line {line:?}"))?
            .to_owned();
        wait_healthy(&url).await?;
        Ok(HostProcess { child, url, pid, _stdout: stdout, _dir: dir })
    }

    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// Polls `GET /api/health` until it answers 200, for at most 30 s.
async fn wait_healthy(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = http.get(format!("{url}/api/health")).send().await.map(|r| r.status());
        if matches!(status, Ok(s) if s.is_success()) {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "{url} not healthy within 30 s: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
