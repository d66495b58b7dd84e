//! A private `redis-server` child process: the embedded default of `serve`, and
//! the Redis each integration test gets.
//!
//! It holds every tenant's payloads and the token hashes, so it is locked
//! down against other local users: a generated password (`redis.password`,
//! owner-only, given to redis-server in an owner-only config file rather than
//! on its command line, where `ps` would show it), its directory `0700`, and
//! its files created under `umask 077` (append-only file, RDB, log: `0600`).
//! Files left more open by an earlier version are tightened at start.

use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

/// The password file in the server's directory.
pub const PASSWORD_FILE: &str = "redis.password";

/// A running `redis-server` on a free loopback port, stopped on [`shutdown`]
/// (or killed when dropped), answering only clients that give its password.
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
    /// Asked of every client (`requirepass`); kept in `dir/redis.password`.
    password: String,
}

/// How the server keeps data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Append-only file, fsync every second (the embedded default).
    AppendOnly,
    /// Nothing on disk (tests).
    None,
}

/// Creates `dir` (and its parents) owner-only, or makes an existing one so.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    restrict(dir, 0o700)
}

/// Takes group and other permissions away from `path` (to at most `mode`).
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.file_type().is_symlink() || meta.permissions().mode() & 0o077 == 0 {
        return Ok(());
    }
    tracing::info!(path = %path.display(), "restricting permissions to the owner");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("restricting permissions of {}", path.display()))
}

/// Makes what an earlier version left in `dir` owner-only: its files `0600`,
/// its sub-directories (the append-only directory) `0700`.
fn tighten(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            restrict(&path, 0o700)?;
            tighten(&path)?;
        } else if meta.is_file() {
            restrict(&path, 0o600)?;
        }
    }
    Ok(())
}

/// Writes `contents` to `path`, readable by the owner only, replacing it.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    restrict(path, 0o600)?;
    f.write_all(contents.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// The password kept in `dir`, made on first use (256 random bits, hex).
fn password(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join(PASSWORD_FILE);
    match std::fs::read_to_string(&path) {
        Ok(p) if !p.trim().is_empty() => {
            restrict(&path, 0o600)?;
            return Ok(p.trim().to_owned());
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let password = crate::model::access::generate_token().trim_start_matches("mr_").to_owned();
    write_private(&path, &format!("{password}\n"))?;
    Ok(password)
}

impl RedisServer {
    /// Starts `redis-server` with its data in `dir` and waits until it answers.
    pub async fn start(dir: &Path, persistence: Persistence) -> anyhow::Result<Self> {
        private_dir(dir)?;
        let dir = std::fs::canonicalize(dir)?;
        let dir = dir.as_path();
        tighten(dir)?;
        if let Some(adopted) = Self::adopt(dir).await {
            tracing::warn!(port = adopted.port, dir = %dir.display(), "adopted a redis-server left running by an earlier host");
            return Ok(adopted);
        }
        Self::retire_unprotected(dir).await?;
        Self::start_on(dir, persistence, free_port()?).await
    }

    /// Stops a server that an earlier version left running on `dir` without a
    /// password (its clients get no protection, and a second server must not
    /// share its files). `SHUTDOWN` flushes its append-only file first.
    async fn retire_unprotected(dir: &Path) -> anyhow::Result<()> {
        let Some(port) =
            std::fs::read_to_string(dir.join("redis.port")).ok().and_then(|p| p.trim().parse::<u16>().ok())
        else {
            return Ok(());
        };
        let bare = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
        let connect = || tokio::time::timeout(Duration::from_secs(1), bare.get_multiplexed_async_connection());
        let Ok(Ok(mut c)) = connect().await else { return Ok(()) };
        let kv: Vec<String> = match redis::cmd("CONFIG").arg("GET").arg("dir").query_async(&mut c).await {
            Ok(kv) => kv,
            Err(_) => return Ok(()),
        };
        if kv.get(1).map(PathBuf::from).as_deref() != Some(dir) {
            return Ok(());
        }
        tracing::warn!(port, dir = %dir.display(), "stopping a redis-server without a password left running by an earlier version");
        let _ = redis::cmd("SHUTDOWN").query_async::<()>(&mut c).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(connect().await, Ok(Ok(_))) {
            if Instant::now() > deadline {
                bail!("the redis-server without a password on port {port} (data in {}) does not stop", dir.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Starts `redis-server` on `port` (for restarting one where clients expect it).
    /// The password is the one kept in `dir` (made if there is none).
    pub async fn start_on(dir: &Path, persistence: Persistence, port: u16) -> anyhow::Result<Self> {
        private_dir(dir)?;
        let password = password(dir)?;
        // The password goes in a file only its owner reads: on the command line `ps` would show it.
        let conf = dir.join("redis.conf");
        write_private(&conf, &format!("requirepass {password}\n"))?;
        let aof = if persistence == Persistence::AppendOnly { "yes" } else { "no" };
        // redis-server creates its files with the process' umask; `unsafe` (pre_exec) is
        // denied here, so a shell sets it and then becomes redis-server (same pid).
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "umask 077 && exec redis-server \"$@\"", "redis-server"])
            .arg(&conf)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--protected-mode", "yes"])
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
            Err(e) => return Err(e).context("starting redis-server (through sh)"),
        };
        let mut server = RedisServer { child: Some(child), port, dir: dir.to_owned(), password };
        server.wait_ready().await?;
        write_private(&dir.join("redis.port"), &port.to_string())?;
        Ok(server)
    }

    /// The server recorded in `dir/redis.port`, if one answers there and keeps
    /// its data in `dir`.
    async fn adopt(dir: &Path) -> Option<Self> {
        let port: u16 = std::fs::read_to_string(dir.join("redis.port")).ok()?.trim().parse().ok()?;
        let password = password(dir).ok()?;
        let client = redis::Client::open(url(&password, port)).ok()?;
        let mut c =
            tokio::time::timeout(Duration::from_secs(1), client.get_multiplexed_async_connection()).await.ok()?.ok()?;
        let kv: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("dir").query_async(&mut c).await.ok()?;
        (kv.get(1).map(PathBuf::from).as_deref() == Some(dir)).then(|| RedisServer {
            child: None,
            port,
            dir: dir.to_owned(),
            password,
        })
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = redis::Client::open(self.url())?;
        loop {
            if let Some(status) = self.child.as_mut().map(Child::try_wait).transpose()?.flatten() {
                if status.code() == Some(127) {
                    bail!(
                        "redis-server is not installed. Install it (Debian/Ubuntu: `apt-get install redis-server`), \
                         or point at an existing Redis with --redis-url redis://HOST:PORT"
                    );
                }
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                bail!("redis-server exited ({status}) before answering: {}", log.trim());
            }
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("redis-server did not answer on port {} within 10 s", self.port);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `redis://:<password>@127.0.0.1:<port>`: what clients connect with.
    pub fn url(&self) -> String {
        url(&self.password, self.port)
    }

    /// The URL without its password, for logs and messages.
    pub fn display_url(&self) -> String {
        format!("redis://127.0.0.1:{} (password in {})", self.port, self.dir.join(PASSWORD_FILE).display())
    }

    /// The password clients must give (`AUTH`, `REDISCLI_AUTH`).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The process id of the server this value started (`None` if adopted).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Where it keeps its data.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Asks the server to shut down (flushing its append-only file), then waits.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Ok(client) = redis::Client::open(self.url())
            && let Ok(mut c) = client.get_multiplexed_async_connection().await
        {
            // The connection closes instead of answering: an error is expected.
            let _ = redis::cmd("SHUTDOWN").query_async::<()>(&mut c).await;
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

/// The URL of a server on loopback `port` asking for `password`.
fn url(password: &str, port: u16) -> String {
    format!("redis://:{password}@127.0.0.1:{port}")
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
