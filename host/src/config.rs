//! The host's configuration: one typed value, built by the CLI or by tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::mission::Backoff;

/// Everything `serve` needs. [`Config::default`] is the documented default.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address of the REST API.
    pub listen: SocketAddr,
    /// Redis to use; `None` starts an embedded `redis-server` in `data_dir`.
    pub redis_url: Option<String>,
    /// Where the embedded Redis keeps its data.
    pub data_dir: PathBuf,
    /// Directory of plugin components (`*.wasm`) published at start (activated
    /// for types that have no active plugin) and, with `watch_plugins`, whenever
    /// they change. `None`: only what is already in Redis.
    pub plugins_dir: Option<PathBuf>,
    /// Watch `plugins_dir` and hot-load changed plugins.
    pub watch_plugins: bool,
    /// Compile cache directory (`None`: compile every time).
    pub cache_dir: Option<PathBuf>,
    /// Prefix of every Redis key; wrapped in a hash tag so all keys share one slot.
    pub key_prefix: String,
    /// Missions one host runs at the same time (0: run no worker, API only).
    pub concurrency: usize,
    /// How long a claim holds a mission without a heartbeat.
    pub lease: Duration,
    /// On shutdown, how long running missions may take before they are handed back.
    pub shutdown_grace: Duration,
    /// Approximate cap of the event stream (`XADD MAXLEN ~`).
    pub events_max_len: u64,
    /// How long completed and cancelled missions are kept (zero: forever).
    pub retention_completed: Duration,
    /// How long failed (dead-lettered) missions are kept (zero: forever).
    pub retention_failed: Duration,
    /// How long an idempotency key maps to its first mission.
    pub idempotency_window: Duration,
    /// Most log lines kept per mission.
    pub max_log_lines: u32,
    /// Largest request body the API accepts (413 past it).
    pub max_body_bytes: usize,
    /// Use wasmtime's pooling allocator (off only to measure the difference).
    pub pooling: bool,
    /// Per-instance limits of plugins.
    pub limits: crate::runtime::Limits,
    /// Defaults for fields a submission leaves out.
    pub mission_defaults: MissionDefaults,
}

/// Defaults and bounds for missions.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MissionDefaults {
    /// Attempts when a submission gives none.
    pub max_attempts: u32,
    /// Attempt timeout when a submission gives none (ms).
    pub timeout_ms: u64,
    /// Largest timeout a submission may ask for (ms).
    pub max_timeout_ms: u64,
    /// Backoff when a submission gives none.
    pub backoff: Backoff,
    /// Overrides per mission type (a submission's own values win over these).
    pub per_type: std::collections::HashMap<String, TypeDefaults>,
}

/// Defaults of one mission type; absent fields fall back to the global ones.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeDefaults {
    /// Attempts of this type's missions.
    pub max_attempts: Option<u32>,
    /// Attempt timeout (ms).
    pub timeout_ms: Option<u64>,
    /// Backoff between attempts.
    pub backoff: Option<Backoff>,
}

impl MissionDefaults {
    /// Reads defaults from a JSON file such as
    /// `{"max_attempts": 5, "per_type": {"flaky": {"backoff": {"base_ms": 100, "cap_ms": 2000}}}}`.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing mission defaults in {}", path.display()))
    }
}

impl Default for MissionDefaults {
    fn default() -> Self {
        MissionDefaults {
            max_attempts: 3,
            timeout_ms: 60_000,
            max_timeout_ms: 24 * 3_600_000,
            backoff: Backoff { base_ms: 1_000, cap_ms: 300_000 },
            per_type: Default::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            redis_url: None,
            data_dir: PathBuf::from(".data"),
            plugins_dir: Some(default_plugins_dir()),
            watch_plugins: true,
            cache_dir: Some(PathBuf::from(".data/cache")),
            key_prefix: "mr".to_owned(),
            concurrency: 8,
            lease: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(30),
            events_max_len: 100_000,
            retention_completed: Duration::from_secs(24 * 3600),
            retention_failed: Duration::from_secs(7 * 24 * 3600),
            idempotency_window: Duration::from_secs(24 * 3600),
            max_log_lines: 1_000,
            max_body_bytes: 1 << 20,
            pooling: true,
            limits: crate::runtime::Limits::default(),
            mission_defaults: MissionDefaults::default(),
        }
    }
}

/// The example plugins built from this repository (`plugins/dist`), found next
/// to the source tree when it exists, else `plugins/dist` below the working directory.
pub fn default_plugins_dir() -> PathBuf {
    let in_tree = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    std::fs::canonicalize(&in_tree).unwrap_or_else(|_| PathBuf::from("plugins/dist"))
}
