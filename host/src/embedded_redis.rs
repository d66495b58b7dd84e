//! A private `redis-server` child process: the embedded default of `serve`, and
//! the Redis each integration test gets.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

/// A running `redis-server` on a free loopback port, stopped on [`shutdown`]
/// (or killed when dropped).
///
/// [`shutdown`]: RedisServer::shutdown
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// How the server keeps data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Append-only file, fsync every second (the embedded default).
    AppendOnly,
    /// Nothing on disk (tests).
    None,
}

impl RedisServer {
    /// Starts `redis-server` with its data in `dir` and waits until it answers.
    pub async fn start(dir: &Path, persistence: Persistence) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = free_port()?;
        let aof = if persistence == Persistence::AppendOnly { "yes" } else { "no" };
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--protected-mode", "yes"])
            .args(["--daemonize", "no", "--save", "", "--appendonly", aof, "--appendfsync", "everysec"])
            .args(["--maxmemory-policy", "noeviction", "--loglevel", "warning"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "redis-server is not installed. Install it (Debian/Ubuntu: `apt-get install redis-server`), \
                 or point at an existing Redis with --redis-url redis://HOST:PORT"
            ),
            Err(e) => return Err(e).context("starting redis-server"),
        };
        let mut server = RedisServer { child, port, dir: dir.to_owned() };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(self.url())?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                bail!("redis-server exited ({status}) before answering: {}", log.trim());
            }
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING").query_async::<String>(&mut c).await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("redis-server did not answer on port {} within 10 s", self.port);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Asks the server to shut down (flushing its append-only file), then waits.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Ok(client) = redis::Client::open(self.url()) {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                // The connection closes instead of answering: an error is expected.
                let _ = redis::cmd("SHUTDOWN").query_async::<()>(&mut c).await;
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => self.child.kill().await?,
        }
        Ok(())
    }

    /// Kills the server at once (for fault tests).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
