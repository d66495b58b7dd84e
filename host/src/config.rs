//! The host's configuration: one typed value. `serve` builds it from the
//! defaults, then a TOML file (`--config`), then environment variables, then
//! flags, each overriding the one before; tests build it directly.
//! `mission-runner config --print-default` prints the defaults as a file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::submission::MAX_PRIORITY;
pub use crate::model::submission::{MissionDefaults, TypeDefaults};
use crate::store::{QueueSettings, TenantQuotas};

/// Durations in the file are whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Everything `serve` needs. [`Config::default`] is the documented default.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the REST API.
    pub listen: SocketAddr,
    /// Redis to use; `None` starts an embedded `redis-server` in `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Where the embedded Redis keeps its data.
    pub data_dir: PathBuf,
    /// Directory of plugin components (`*.wasm`) published at start (activated
    /// for types that have no active plugin) and, with `watch_plugins`, whenever
    /// they change. `None`: only what is already in Redis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins_dir: Option<PathBuf>,
    /// Watch `plugins_dir` and hot-load changed plugins.
    pub watch_plugins: bool,
    /// Compile cache directory (`None`: `data_dir/cache`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// Prefix of every Redis key; wrapped in a hash tag so all keys share one slot.
    pub key_prefix: String,
    /// Missions one host runs at the same time (0: run no worker, API only).
    pub concurrency: usize,
    /// Threads of the host's async runtime, where the API, the worker and every
    /// plugin run (1 to 1,024). `None`: every core, less one when Redis runs on
    /// this machine ([`Config::redis_is_local`]): Redis does its work on one
    /// thread, and a host that takes every core starves the Redis it waits on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_threads: Option<usize>,
    /// How long a claim holds a mission without a heartbeat.
    #[serde(rename = "lease_ms", with = "millis")]
    pub lease: Duration,
    /// On shutdown, how long running missions may take before they are handed back.
    #[serde(rename = "shutdown_grace_ms", with = "millis")]
    pub shutdown_grace: Duration,
    /// Approximate cap of the event stream (`XADD MAXLEN ~`).
    pub events_max_len: u64,
    /// How long completed and cancelled missions are kept (zero: forever).
    #[serde(rename = "retention_completed_ms", with = "millis")]
    pub retention_completed: Duration,
    /// How long failed (dead-lettered) missions are kept (zero: forever).
    #[serde(rename = "retention_failed_ms", with = "millis")]
    pub retention_failed: Duration,
    /// How long an idempotency key maps to its first mission.
    #[serde(rename = "idempotency_window_ms", with = "millis")]
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
    /// API tokens.
    pub auth: AuthConfig,
    /// Connection limits and timeouts of the API's HTTP server.
    pub http: HttpConfig,
    /// `[quotas]`: each tenant's default budget (an admin overrides it per
    /// tenant through `PUT /api/tenants/{tenant}/quotas`) and this host's caps.
    pub quotas: QuotaConfig,
    /// `[telemetry]`: OpenTelemetry trace export (off unless an endpoint is set).
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// `[flow]`: limits per mission type applied at start-up.
    pub flow: FlowConfig,
    /// `[outbound_http]`: the operator's deny list over plugins' outbound HTTP.
    pub outbound_http: crate::runtime::OutboundHttpConfig,
    /// `[schedules]`: budgets of schedules and how often hosts look for due ones.
    pub schedules: crate::model::schedule::ScheduleConfig,
    /// `[secrets]`: the key that seals plugins' secrets at rest.
    pub secrets: SecretsConfig,
    /// `[plugin_config]`: budgets of plugins' variables and secrets.
    pub plugin_config: crate::store::ConfigBudgets,
}

/// `[flow]`: `[flow.types.<type>]` sets that type's limits (`concurrency`,
/// `rate = {limit, window_ms, burst?}`, `ttl_ms`) when the host starts, as
/// `PUT /api/types/{type}/limits` would (only where they differ from Redis').
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowConfig {
    /// Limits by mission type.
    pub types: std::collections::BTreeMap<String, crate::model::flow::TypeLimits>,
}

impl FlowConfig {
    /// Checks every type name and limit.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (t, limits) in &self.types {
            anyhow::ensure!(crate::model::submission::valid_type_name(t), "[flow.types] `{t}` is not a mission type");
            limits.validate().map_err(|(field, m)| anyhow::anyhow!("[flow.types.{t}] `{field}`: {m}"))?;
        }
        Ok(())
    }
}

/// `[secrets]`: where the key sealing plugins' secrets comes from: this file,
/// else the environment variable `MISSION_RUNNER_SECRETS_KEY`, else (the
/// embedded default only) `<data_dir>/secrets.key`, generated with mode 0600
/// on first start. Either holds base64 of 32 bytes. Without a key, secrets
/// cannot be set (400) or read (the plugin sees `unavailable`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// File holding the key (base64 of 32 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

/// `[http]`: what one client may hold of the API's HTTP server. Each bounds a
/// way to exhaust the host without a token (connections are accepted before
/// anyone is authenticated).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A request's headers must be complete within this time of the connection
    /// opening or of the previous response; past it the connection is closed
    /// (slowloris). In HTTP/1.1 this is also how long an idle keep-alive
    /// connection stays open.
    #[serde(rename = "header_read_timeout_ms", with = "millis")]
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed,
    /// whatever it is doing: a stalled upload, a reader that stopped reading an
    /// event stream (whose keep-alive comments come every 15 s).
    #[serde(rename = "idle_timeout_ms", with = "millis")]
    pub idle_timeout: Duration,
    /// A request, body included, must be answered within this time (408
    /// `request_timeout` past it). The event stream is exempt: it is endless.
    #[serde(rename = "request_timeout_ms", with = "millis")]
    pub request_timeout: Duration,
    /// Most connections open at once; past it a new connection gets a `503`
    /// and is closed at once, and those already open are served as before.
    /// Lowered at start to half the process' open-file limit if that is less.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// `[quotas]`: what one tenant may hold or do at once unless an admin set
/// otherwise for it, and the caps of one host. Every tenant quota is enforced
/// in Redis (the enqueue script, the stream-slot script), so it holds across
/// hosts; give every host sharing a Redis the same defaults.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Missions of one tenant waiting to run (pending or retrying, ready or delayed).
    pub queued_missions: u64,
    /// Missions one tenant may submit per second, sustained (a token bucket).
    pub submissions_per_second: u64,
    /// How many it may submit at once after a quiet spell (the bucket's size;
    /// a batch larger than this is refused whole).
    pub submission_burst: u64,
    /// Highest priority (0..=100) a tenant's missions may ask for.
    pub max_priority: u8,
    /// Longest attempt timeout (ms) a tenant's missions may ask for.
    pub max_timeout_ms: u64,
    /// Event streams (SSE) one tenant may hold open at once, over every host.
    pub sse_streams: u64,
    /// Event streams (SSE) this host serves at once, every tenant together.
    pub host_sse_streams: usize,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            queued_missions: 100_000,
            submissions_per_second: 1_000,
            submission_burst: 10_000,
            max_priority: 100,
            max_timeout_ms: 3_600_000,
            sse_streams: 16,
            host_sse_streams: 1_024,
        }
    }
}

impl QuotaConfig {
    /// Checks the values: each within what [`crate::store::QuotaOverrides`] accepts.
    pub fn validate(&self) -> anyhow::Result<()> {
        TenantQuotas::from(self).validate().map_err(|e| anyhow::anyhow!("[quotas] {e}"))?;
        anyhow::ensure!(self.host_sse_streams >= 1, "[quotas] `host_sse_streams` must be at least 1");
        Ok(())
    }
}

/// API tokens. With none here (and no embedded Redis, which makes an admin
/// token of its own) the API is open, which is only allowed on loopback.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `[[auth.tokens]]`: name, tenant, scopes and the token's SHA-256
    /// (`mission-runner token hash` prints it; the token itself is never stored).
    pub tokens: Vec<crate::auth::ConfiguredToken>,
}

impl AuthConfig {
    /// Checks every token entry.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut names = std::collections::HashSet::new();
        for t in &self.tokens {
            let ok_hash = t.sha256.len() == 64 && t.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            anyhow::ensure!(
                ok_hash,
                "auth token `{}`: `sha256` must be 64 hex digits (mission-runner token hash)",
                t.name
            );
            anyhow::ensure!(!t.scopes.is_empty(), "auth token `{}`: give at least one scope", t.name);
            anyhow::ensure!(
                crate::auth::valid_tenant(&t.tenant),
                "auth token `{}`: `{}` is not a tenant name",
                t.name,
                t.tenant
            );
            anyhow::ensure!(names.insert(&t.name), "auth token name `{}` is used twice", t.name);
        }
        Ok(())
    }
}

impl Config {
    /// The queue part of the host configuration.
    pub fn queue_settings(&self) -> QueueSettings {
        let c = self;
        let ms = |d: Duration| d.as_millis() as u64;
        QueueSettings {
            events_max_len: c.events_max_len,
            retention_completed_ms: ms(c.retention_completed),
            retention_failed_ms: ms(c.retention_failed),
            idempotency_window_ms: ms(c.idempotency_window).max(1),
            max_log_lines: c.max_log_lines,
            // Out-of-range defaults are refused by `QuotaConfig::validate`; these
            // floors only keep the scripts' arithmetic sound should one slip through.
            quotas: TenantQuotas {
                submissions_per_second: c.quotas.submissions_per_second.max(1),
                submission_burst: c.quotas.submission_burst.max(1),
                max_priority: c.quotas.max_priority.min(MAX_PRIORITY),
                ..TenantQuotas::from(&c.quotas)
            },
            host_sse_streams: c.quotas.host_sse_streams.max(1),
            plugin_config: c.plugin_config.clone(),
            // Loaded by the server at start (`server::secrets_key`): a file, the
            // environment, or the embedded default's generated key.
            secrets_key: None,
        }
    }
}

/// The `[quotas]` defaults as the store's every-tenant quotas.
impl From<&QuotaConfig> for TenantQuotas {
    fn from(c: &QuotaConfig) -> Self {
        TenantQuotas {
            queued_missions: c.queued_missions,
            submissions_per_second: c.submissions_per_second,
            submission_burst: c.submission_burst,
            max_priority: c.max_priority,
            max_timeout_ms: c.max_timeout_ms,
            sse_streams: c.sse_streams,
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
            cache_dir: None,
            key_prefix: "mr".to_owned(),
            concurrency: 8,
            worker_threads: None,
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
            auth: AuthConfig::default(),
            http: HttpConfig::default(),
            quotas: QuotaConfig::default(),
            telemetry: crate::telemetry::TelemetryConfig::default(),
            flow: FlowConfig::default(),
            outbound_http: Default::default(),
            schedules: crate::model::schedule::ScheduleConfig::default(),
            secrets: SecretsConfig::default(),
            plugin_config: crate::store::ConfigBudgets::default(),
        }
    }
}

/// Most threads `worker_threads` may ask for.
pub const MAX_WORKER_THREADS: usize = 1024;

/// A host's runtime threads by default: one per core, less the core a Redis on
/// the same machine needs (at least one). On two cores shared with Redis, a
/// host with two threads made Redis wait for the CPU: 14,300 to 21,700
/// missions per second in the throughput bench, against 25,600 to 26,800 with one.
pub fn default_worker_threads(cores: usize, redis_local: bool) -> usize {
    if redis_local { cores.saturating_sub(1).max(1) } else { cores.max(1) }
}

/// The example plugins built from this repository (`plugins/dist`), found next
/// to the source tree when it exists, else `plugins/dist` below the working directory.
pub fn default_plugins_dir() -> PathBuf {
    let in_tree = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    std::fs::canonicalize(&in_tree).unwrap_or_else(|_| PathBuf::from("plugins/dist"))
}

impl Config {
    /// Reads a TOML file; what it leaves out keeps its default.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Whether Redis runs on this machine: embedded (no URL), or a URL of a
    /// loopback address or a Unix socket.
    pub fn redis_is_local(&self) -> bool {
        let Some(raw) = &self.redis_url else { return true };
        match url::Url::parse(raw) {
            Ok(u) if u.scheme().ends_with("unix") => true,
            Ok(u) => match u.host() {
                // A `redis:` URL's host is not parsed as an address (not a special scheme).
                Some(url::Host::Domain(d)) => {
                    d.eq_ignore_ascii_case("localhost")
                        || d.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
                }
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            },
            Err(_) => false,
        }
    }

    /// The async runtime's threads: `worker_threads` if set, else
    /// [`default_worker_threads`] for this machine's cores and Redis.
    pub fn runtime_threads(&self) -> anyhow::Result<usize> {
        match self.worker_threads {
            Some(n) if (1..=MAX_WORKER_THREADS).contains(&n) => Ok(n),
            Some(n) => anyhow::bail!("`worker_threads` is {n}; give 1 to {MAX_WORKER_THREADS}"),
            None => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                Ok(default_worker_threads(cores, self.redis_is_local()))
            }
        }
    }

    /// The defaults as a TOML file, with every field.
    pub fn default_toml() -> String {
        toml::to_string_pretty(&Config::default()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_defaults_read_back_as_the_defaults() {
        let text = Config::default_toml();
        assert!(text.contains("lease_ms = 15000"), "{text}");
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(toml::to_string_pretty(&back).unwrap(), text);
        let partial: Config = toml::from_str("concurrency = 3\n[mission_defaults]\nmax_attempts = 9\n").unwrap();
        assert_eq!(
            (partial.concurrency, partial.mission_defaults.max_attempts, partial.lease),
            (3, 9, Duration::from_secs(15))
        );
        assert!(toml::from_str::<Config>("concurency = 3").is_err(), "typos are refused");
    }

    #[test]
    fn the_runtime_leaves_a_core_to_a_redis_on_this_machine() {
        assert_eq!(default_worker_threads(8, false), 8);
        assert_eq!(default_worker_threads(8, true), 7);
        assert_eq!(default_worker_threads(2, true), 1);
        assert_eq!(default_worker_threads(1, true), 1, "never none");
        let with = |url: Option<&str>| Config { redis_url: url.map(str::to_owned), ..Config::default() };
        for local in [
            None,
            Some("redis://127.0.0.1:6379"),
            Some("redis://:pw@localhost/0"),
            Some("redis://[::1]:7000"),
            Some("redis+unix:///run/redis.sock"),
            Some("unix:///tmp/r.sock"),
        ] {
            assert!(with(local).redis_is_local(), "{local:?}");
        }
        for remote in [Some("redis://10.0.0.5:6379"), Some("rediss://cache.example.com"), Some("not a url")] {
            assert!(!with(remote).redis_is_local(), "{remote:?}");
        }
        let threads = |n| Config { worker_threads: Some(n), ..Config::default() }.runtime_threads();
        assert_eq!(threads(3).unwrap(), 3);
        assert_eq!(threads(MAX_WORKER_THREADS).unwrap(), MAX_WORKER_THREADS);
        for bad in [0, MAX_WORKER_THREADS + 1] {
            let e = threads(bad).unwrap_err().to_string();
            assert!(e.contains("worker_threads") && e.contains(&bad.to_string()), "{e}");
        }
        assert!(Config::default().runtime_threads().unwrap() >= 1);
    }
}
