//! The command line: `mission-runner serve` (flags each also an environment
//! variable) and `mission-runner plugin ...` for operators.

mod client;
mod missions;
mod plugin;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, default_plugins_dir};

/// Runs queued missions as sandboxed WebAssembly components, with Redis as the engine.
#[derive(Debug, Parser)]
#[command(name = "mission-runner", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The host that client commands talk to.
    #[command(flatten)]
    remote: client::Remote,
    /// Log format.
    #[arg(long, global = true, env = "MISSION_RUNNER_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the REST API and a worker in one process.
    Serve(ServeArgs),
    /// Manages plugins on a running host: push, list, activate.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    #[command(flatten)]
    Mission(missions::MissionCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address of the REST API.
    #[arg(long, env = "MISSION_RUNNER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Redis to use, e.g. redis://127.0.0.1:6379. Without it, an embedded
    /// redis-server is started with its data in --data-dir.
    #[arg(long, env = "MISSION_RUNNER_REDIS_URL")]
    redis_url: Option<String>,
    /// Directory of plugin components (*.wasm); default: the built example plugins.
    #[arg(long, env = "MISSION_RUNNER_PLUGINS_DIR")]
    plugins_dir: Option<PathBuf>,
    /// Do not watch --plugins-dir for changed plugins.
    #[arg(long, env = "MISSION_RUNNER_NO_WATCH")]
    no_watch: bool,
    /// Where the embedded Redis keeps its data (and the compile cache lives).
    #[arg(long, env = "MISSION_RUNNER_DATA_DIR", default_value = ".data")]
    data_dir: PathBuf,
    /// Compile cache directory (default: DATA_DIR/cache).
    #[arg(long, env = "MISSION_RUNNER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Missions this host runs at once (0: API only, no worker).
    #[arg(long, env = "MISSION_RUNNER_CONCURRENCY", default_value_t = 8)]
    concurrency: usize,
    /// Prefix of every Redis key (hosts sharing a queue use the same one).
    #[arg(long, env = "MISSION_RUNNER_KEY_PREFIX", default_value = "mr")]
    key_prefix: String,
    /// Lease length in milliseconds: how long a dead worker's mission waits to be recovered.
    #[arg(long, env = "MISSION_RUNNER_LEASE_MS", default_value_t = 15_000)]
    lease_ms: u64,
    /// On SIGTERM or Ctrl-C, milliseconds running missions may take to finish
    /// before they are stopped and handed back to the queue.
    #[arg(long, env = "MISSION_RUNNER_SHUTDOWN_GRACE_MS", default_value_t = 30_000)]
    shutdown_grace_ms: u64,
    /// Largest request body the API accepts, in bytes (413 past it).
    #[arg(long, env = "MISSION_RUNNER_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Approximate cap of the event stream.
    #[arg(long, env = "MISSION_RUNNER_EVENTS_MAX_LEN", default_value_t = 100_000)]
    events_max_len: u64,
    /// Seconds completed and cancelled missions are kept (0: forever).
    #[arg(long, env = "MISSION_RUNNER_RETENTION_COMPLETED_S", default_value_t = 86_400)]
    retention_completed_s: u64,
    /// Seconds failed (dead-lettered) missions are kept (0: forever).
    #[arg(long, env = "MISSION_RUNNER_RETENTION_FAILED_S", default_value_t = 604_800)]
    retention_failed_s: u64,
    /// JSON file of mission defaults: max_attempts, timeout_ms, backoff
    /// {base_ms, cap_ms}, and the same per mission type under "per_type".
    #[arg(long, env = "MISSION_RUNNER_MISSION_DEFAULTS")]
    mission_defaults: Option<PathBuf>,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let mission_defaults = match &self.mission_defaults {
            Some(path) => crate::config::MissionDefaults::from_file(path)?,
            None => Default::default(),
        };
        Ok(Config {
            listen: self.listen,
            redis_url: self.redis_url,
            cache_dir: Some(self.cache_dir.unwrap_or_else(|| self.data_dir.join("cache"))),
            data_dir: self.data_dir,
            plugins_dir: Some(self.plugins_dir.unwrap_or_else(default_plugins_dir)),
            watch_plugins: !self.no_watch,
            key_prefix: self.key_prefix,
            concurrency: self.concurrency,
            lease: Duration::from_millis(self.lease_ms.max(100)),
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            max_body_bytes: self.max_body_bytes,
            events_max_len: self.events_max_len,
            retention_completed: Duration::from_secs(self.retention_completed_s),
            retention_failed: Duration::from_secs(self.retention_failed_s),
            mission_defaults,
            ..Config::default()
        })
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MISSION_RUNNER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let remote = cli.remote;
    match cli.command {
        Command::Plugin(cmd) => run_client(plugin::run(&remote, cmd)),
        Command::Mission(cmd) => run_client(missions::run(&remote, cmd)),
        Command::Serve(args) => {
            init_tracing(cli.log_format);
            let result = tokio::runtime::Runtime::new()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(async { serve(args.into_config()?).await }));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
    }
}

/// Runs a client command on a small runtime; its failure sets the exit code.
fn run_client(work: impl std::future::Future<Output = Result<(), client::Failure>>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => match rt.block_on(work) {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => f.exit(),
        },
        Err(e) => fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let plugins_dir = config.plugins_dir.clone().unwrap_or_default();
    let host = crate::server::start(config).await?;
    println!("mission-runner serving on {} (redis: {}, plugins: {})", host.url(), host.redis_url(), plugins_dir.display());
    wait_for_signal().await;
    tracing::info!("shutting down: no new claims; waiting for running missions");
    host.shutdown().await
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
