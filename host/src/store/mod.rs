//! Everything in Redis: the key names, the Lua scripts, missions and their
//! queue, events, plugins, tokens and quotas, with one error type.
//!
//! The queue: every state change is one Lua script that updates the record,
//! the queue structures and the counters, and appends its event. Lifecycle: `enqueue` -> (`claim` -> `complete` | `fail`)* with `heartbeat`
//! renewing leases, `reap` recovering expired ones, `cancel` and `retry`
//! for operators, and `expire` enforcing retention.
//!
//! Names: a mission that ran out of attempts is `failed` (its status, and
//! every type and script reply that says so); the *dead-letter set* (key
//! `dead`, route `/api/dead`, metrics outcome `dead`) is where failed missions
//! wait, and keeps its wire names. Sending one back is a `retry`.

mod event_log;
mod flow;
mod keys;
mod kv;
mod listing;
mod plugin_config;
mod plugins;
mod quotas;
mod read;
mod schedules;
mod scripts;
pub mod secrets;
mod tokens;
mod transitions;

pub use event_log::{EventPage, EventQuery};
pub use flow::FlowChange;
pub use keys::{FIXED, Keys, PIN};
pub use kv::{KvNamespace, KvRefusal, KvResult};
pub use listing::{Cursor, ListQuery};
pub use plugin_config::{ConfigBudgets, ConfigEntry, ConfigReadError, ConfigSetError, PluginConfigStore};
pub use plugins::{ActivateOutcome, ActivePlugin, DeleteOutcome, PluginStore, PutOutcome, VersionRecord};
pub use quotas::{Quota, QuotaExceeded, QuotaOverrides, QuotaUsage, QuotaView, STREAM_LEASE, SlotOp, TenantQuotas};
pub use schedules::{FireOutcome, PauseOutcome, PutMode, SchedulePutOutcome};
pub use secrets::{SecretError, SecretKey};
// The read views live in the model; re-exported because the store returns them.
pub use crate::model::views::{EventStats, MissionPage, QueueEntry, Stats, TypeStats};
pub use scripts::{Scripts, prelude as lua_prelude};
pub use tokens::TokenStore;
pub use transitions::{Ack, CancelOutcome, ClaimBatch, Claimed, Completion, Enqueued, FailOutcome, RetryOutcome};

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use crate::model::mission::CorruptRecord;

/// The one error type of the store (missions, events, plugins, tokens,
/// quotas). API handlers map `Redis` to 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis is unreachable or refused the command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis holds something this version cannot read.
    #[error(transparent)]
    Corrupt(#[from] CorruptRecord),
    /// A script answered in an unexpected shape (a bug, or a foreign writer).
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
    /// No plugin is active for this mission type; nothing was written.
    #[error("no plugin serves mission type `{0}`")]
    UnknownType(String),
    /// A tenant's quota refused the change; nothing was written.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
}

impl From<redis::ParsingError> for StoreError {
    fn from(e: redis::ParsingError) -> Self {
        StoreError::Protocol(e.to_string())
    }
}

/// Settings of the queue, taken from the configuration by the server
/// (`Config::queue_settings`) and passed down as plain values.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Approximate cap of each event stream (each tenant's and the shared one).
    pub events_max_len: u64,
    /// Retention of completed and cancelled missions (ms, 0: forever).
    pub retention_completed_ms: u64,
    /// Retention of failed missions (ms, 0: forever).
    pub retention_failed_ms: u64,
    /// Idempotency window (ms).
    pub idempotency_window_ms: u64,
    /// Log lines kept per mission.
    pub max_log_lines: u32,
    /// Every tenant's quotas unless an admin set others.
    pub quotas: TenantQuotas,
    /// Event streams (SSE) one host serves at once.
    pub host_sse_streams: usize,
    /// Budgets of plugins' configuration (`[plugin_config]`).
    pub plugin_config: ConfigBudgets,
    /// The key that seals plugins' secrets (`[secrets]`); `None`: secrets cannot be set or read.
    pub secrets_key: Option<SecretKey>,
}

/// A handle on the queue; cheap to clone (one multiplexed connection underneath).
#[derive(Clone)]
pub struct Queue {
    conn: ConnectionManager,
    keys: Keys,
    fixed: Arc<[String; keys::FIXED.len()]>,
    scripts: Arc<Scripts>,
    settings: Arc<QueueSettings>,
    /// Who this host is, written as the `source` of the events it produces.
    source: Arc<str>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("root", &self.keys.root()).field("source", &self.source).finish()
    }
}

impl Queue {
    /// A queue over `conn` with keys under `prefix`; `source` names this host in events.
    pub fn new(conn: ConnectionManager, prefix: &str, settings: QueueSettings, source: &str) -> Self {
        let keys = Keys::new(prefix);
        Queue {
            conn,
            fixed: Arc::new(keys.fixed()),
            keys,
            scripts: Arc::new(Scripts::new()),
            settings: Arc::new(settings),
            source: source.into(),
        }
    }

    /// The key names.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The scripts.
    pub(crate) fn scripts(&self) -> &Scripts {
        &self.scripts
    }

    /// The settings.
    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// A connection for one command (clones share the multiplexed connection).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Starts a call of `script` with the fixed KEYS and the three common ARGV.
    /// The call is traced under the script's name (see [`crate::telemetry::script`]).
    pub(crate) fn invocation<'a>(&'a self, script: &'a Script) -> crate::telemetry::script::Invocation<'a> {
        let name = self.scripts.name_of(script);
        let mut inv = crate::telemetry::script::Invocation::new(script.prepare_invoke(), name);
        for k in self.fixed.iter() {
            inv.key(k);
        }
        inv.arg(self.keys.root()).arg(self.settings.events_max_len).arg(&*self.source);
        inv
    }

    /// Checks that Redis answers; returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let start = std::time::Instant::now();
        let _: String = redis::cmd("PING").query_async(&mut self.conn()).await?;
        Ok(start.elapsed())
    }
}
