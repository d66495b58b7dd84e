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
/// Its port is written to `redis.port` in its directory. A server left running
/// there by a host that was killed is adopted rather than joined by a second
/// server on the same files.
///
/// [`shutdown`]: RedisServer::shutdown
#[derive(Debug)]
pub struct RedisServer {
    /// `None` for an adopted server (started by an earlier host process).
    child: Option<Child>,
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
        let dir = std::fs::canonicalize(dir)?;
        let dir = dir.as_path();
        if let Some(adopted) = Self::adopt(dir).await {
            tracing::warn!(port = adopted.port, dir = %dir.display(), "adopted a redis-server left running by an earlier host");
            return Ok(adopted);
        }
        Self::start_on(dir, persistence, free_port()?).await
    }

    /// Starts `redis-server` on `port` (for restarting one where clients expect it).
    pub async fn start_on(dir: &Path, persistence: Persistence, port: u16) -> anyhow::Result<Self> {
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
        let mut server = RedisServer { child: Some(child), port, dir: dir.to_owned() };
        server.wait_ready().await?;
        std::fs::write(dir.join("redis.port"), port.to_string())?;
        Ok(server)
    }

    /// The server recorded in `dir/redis.port`, if one answers there and keeps
    /// its data in `dir`.
    async fn adopt(dir: &Path) -> Option<Self> {
        let port: u16 = std::fs::read_to_string(dir.join("redis.port")).ok()?.trim().parse().ok()?;
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        let mut c =
            tokio::time::timeout(Duration::from_secs(1), client.get_multiplexed_async_connection()).await.ok()?.ok()?;
        let kv: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("dir").query_async(&mut c).await.ok()?;
        (kv.get(1).map(PathBuf::from).as_deref() == Some(dir)).then(|| RedisServer {
            child: None,
            port,
            dir: dir.to_owned(),
        })
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(self.url())?;
        loop {
            if let Some(status) = self.child.as_mut().map(Child::try_wait).transpose()?.flatten() {
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
        let _ = std::fs::remove_file(self.dir.join("redis.port"));
        if let Some(child) = self.child.as_mut() {
            match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                Ok(status) => {
                    status?;
                }
                Err(_) => child.kill().await?,
            }
        }
        Ok(())
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
