//! The command line: `mission-runner serve` (flags each also an environment
//! variable) and `mission-runner plugin ...` for operators.

mod client;
mod flow;
mod follow;
mod missions;
mod plugin;
mod plugin_author;
mod plugin_build;
mod plugin_build_go;
mod plugin_config;
mod plugin_new;
mod plugin_run;
mod plugin_wit;
mod plugin_world;
mod schedule;
mod token;
mod wait;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

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
    /// Writes, builds and runs plugins locally (new, build, run); manages
    /// them on a running host (push, list, activate).
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// API tokens: generate or hash one for the configuration file; create,
    /// list or revoke them on a running host.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Schedules: missions submitted on a cron expression or an interval
    /// (create, list, get, delete, pause, resume).
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// Shows the configuration.
    Config {
        /// Print the default configuration as a TOML file.
        #[arg(long, required = true)]
        print_default: bool,
    },
    #[command(flatten)]
    Mission(missions::MissionCommand),
    /// Pauses every mission type, or one with --type (admin): missions are
    /// still accepted; none starts until `resume`.
    Pause(flow::Scope),
    /// Resumes what `pause` paused.
    Resume(flow::Scope),
    /// Shows or sets a mission type's global limits (admin).
    Limits(flow::LimitArgs),
    /// Shows or sets a tenant's fair-share weight (admin).
    Weight(flow::WeightArgs),
}

/// `serve`'s flags. Each overrides the environment variable of the same
/// name, which overrides the configuration file, which overrides the default
/// (`mission-runner config --print-default` shows them all).
#[derive(Debug, Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "MISSION_RUNNER_CONFIG")]
    config: Option<PathBuf>,
    /// Address of the REST API [default: 127.0.0.1:8080].
    #[arg(long, env = "MISSION_RUNNER_LISTEN")]
    listen: Option<SocketAddr>,
    /// Redis to use, e.g. redis://127.0.0.1:6379. Without it, an embedded
    /// redis-server is started with its data in --data-dir.
    #[arg(long, env = "MISSION_RUNNER_REDIS_URL")]
    redis_url: Option<String>,
    /// Directory of plugin components (*.wasm) [default: the built example plugins].
    #[arg(long, env = "MISSION_RUNNER_PLUGINS_DIR")]
    plugins_dir: Option<PathBuf>,
    /// Do not watch --plugins-dir for changed plugins.
    #[arg(long, env = "MISSION_RUNNER_NO_WATCH")]
    no_watch: bool,
    /// Where the embedded Redis keeps its data [default: .data].
    #[arg(long, env = "MISSION_RUNNER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Compile cache directory [default: DATA_DIR/cache].
    #[arg(long, env = "MISSION_RUNNER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Missions this host runs at once; 0: API only [default: 8].
    #[arg(long, env = "MISSION_RUNNER_CONCURRENCY")]
    concurrency: Option<usize>,
    /// Threads of the host's runtime (API, worker, plugins) [default: one per
    /// core, less one when Redis runs on this machine].
    #[arg(long, env = "MISSION_RUNNER_WORKER_THREADS")]
    worker_threads: Option<usize>,
    /// Prefix of every Redis key; hosts sharing a queue use the same one [default: mr].
    #[arg(long, env = "MISSION_RUNNER_KEY_PREFIX")]
    key_prefix: Option<String>,
    /// Lease length in ms: how long a dead worker's mission waits to be recovered [default: 15000].
    #[arg(long, env = "MISSION_RUNNER_LEASE_MS")]
    lease_ms: Option<u64>,
    /// On SIGTERM or Ctrl-C, ms running missions may take to finish before they
    /// are stopped and handed back to the queue [default: 30000].
    #[arg(long, env = "MISSION_RUNNER_SHUTDOWN_GRACE_MS")]
    shutdown_grace_ms: Option<u64>,
    /// Largest request body the API accepts, in bytes; 413 past it [default: 1048576].
    #[arg(long, env = "MISSION_RUNNER_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Approximate cap of the event stream [default: 100000].
    #[arg(long, env = "MISSION_RUNNER_EVENTS_MAX_LEN")]
    events_max_len: Option<u64>,
    /// Seconds completed and cancelled missions are kept; 0: forever [default: 86400].
    #[arg(long, env = "MISSION_RUNNER_RETENTION_COMPLETED_S")]
    retention_completed_s: Option<u64>,
    /// Seconds failed (dead-lettered) missions are kept; 0: forever [default: 604800].
    #[arg(long, env = "MISSION_RUNNER_RETENTION_FAILED_S")]
    retention_failed_s: Option<u64>,
    /// JSON file of mission defaults: max_attempts, timeout_ms, backoff
    /// {base_ms, cap_ms}, and the same per mission type under "per_type".
    #[arg(long, env = "MISSION_RUNNER_MISSION_DEFAULTS")]
    mission_defaults: Option<PathBuf>,
}

impl ServeArgs {
    /// The defaults, overridden by the file, overridden by what was given here.
    fn into_config(self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        let secs = Duration::from_secs;
        let millis = Duration::from_millis;
        macro_rules! overlay {
            ($($field:ident = $value:expr;)*) => { $(if let Some(v) = $value { c.$field = v; })* };
        }
        overlay! {
            listen = self.listen;
            data_dir = self.data_dir;
            concurrency = self.concurrency;
            worker_threads = self.worker_threads.map(Some);
            key_prefix = self.key_prefix;
            lease = self.lease_ms.map(|ms| millis(ms.max(100)));
            shutdown_grace = self.shutdown_grace_ms.map(millis);
            max_body_bytes = self.max_body_bytes;
            events_max_len = self.events_max_len;
            retention_completed = self.retention_completed_s.map(secs);
            retention_failed = self.retention_failed_s.map(secs);
        }
        if self.redis_url.is_some() {
            c.redis_url = self.redis_url;
        }
        if self.cache_dir.is_some() {
            c.cache_dir = self.cache_dir;
        }
        if let Some(dir) = self.plugins_dir {
            c.plugins_dir = Some(dir);
        }
        c.plugins_dir = c.plugins_dir.or_else(|| Some(default_plugins_dir()));
        if self.no_watch {
            c.watch_plugins = false;
        }
        if let Some(path) = &self.mission_defaults {
            c.mission_defaults = crate::config::MissionDefaults::from_file(path)?;
        }
        Ok(c)
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let remote = cli.remote;
    match cli.command {
        Command::Plugin(cmd) => run_client(plugin::run(&remote, cmd)),
        Command::Config { .. } => {
            print!("{}", Config::default_toml());
            ExitCode::SUCCESS
        }
        Command::Mission(cmd) => run_client(missions::run(&remote, cmd)),
        Command::Token(cmd) => run_client(token::run(&remote, cmd)),
        Command::Pause(scope) => run_client(flow::pause(&remote, scope, true)),
        Command::Resume(scope) => run_client(flow::pause(&remote, scope, false)),
        Command::Limits(a) => run_client(flow::limits(&remote, a)),
        Command::Weight(a) => run_client(flow::weight(&remote, a)),
        Command::Schedule(cmd) => run_client(schedule::run(&remote, cmd)),
        Command::Serve(args) => {
            let config = match args.into_config() {
                Ok(c) => c,
                Err(e) => return fail(&e),
            };
            let telemetry = match crate::telemetry::init(matches!(cli.log_format, LogFormat::Json), &config.telemetry) {
                Ok(t) => t,
                Err(e) => return fail(&e),
            };
            let result = config.runtime_threads().and_then(|threads| {
                let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
                rt.block_on(serve(config))
            });
            // Outside the runtime: the exporter sends what is left, blocking.
            telemetry.shutdown();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
    }
}

/// Commands that talk to no host: their help leaves out the client's flags.
const LOCAL_COMMANDS: &[&str] = &["serve", "config"];

/// The command line, with the client's flags (`--url`, `--token`, `--json`)
/// hidden from the help of the commands that do not use them.
///
/// The flags stay `global` on the root, so `mission-runner --url U submit ..`
/// and `submit .. --url U` keep working. Clap copies a global flag into each
/// subcommand that has no flag of that id, so the local commands get hidden,
/// non-global copies first (accepted and ignored, as before).
pub fn command() -> clap::Command {
    let hidden: Vec<clap::Arg> = client::Remote::augment_args(clap::Command::new("remote"))
        .get_arguments()
        .map(|a| a.clone().global(false).hide(true))
        .collect();
    LOCAL_COMMANDS
        .iter()
        .fold(Cli::command(), |cmd, name| cmd.mut_subcommand(name, |sub| sub.args(hidden.iter().cloned())))
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
    tracing::info!(worker_threads = tokio::runtime::Handle::current().metrics().num_workers(), "runtime threads");
    println!(
        "mission-runner serving on {} (redis: {}, plugins: {})",
        host.url(),
        host.redis_display(),
        plugins_dir.display()
    );
    // The token is shown once, when it is made; later starts say where it is kept.
    match (host.admin_token(), host.admin_token_path()) {
        (Some(token), _) if host.admin_token_created() => println!("admin token: {token}"),
        (Some(_), Some(path)) => println!("admin token: in {}", path.display()),
        _ => {}
    }
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
