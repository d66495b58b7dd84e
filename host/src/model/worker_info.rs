//! A worker as `GET /api/workers` shows it: the description its heartbeat
//! writes to Redis (id, host, pid, started_at, concurrency, worker_threads,
//! plugins), what the heartbeat script adds (missions, lease_ms,
//! last_heartbeat), and whether it is alive (read time).

use serde::{Deserialize, Serialize};

/// One registered worker. Fields are in alphabetical order: the listing used
/// to be built from JSON objects, whose keys serde_json writes sorted, and
/// this keeps its bytes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct WorkerInfo {
    /// Whether its last heartbeat is within its lease length.
    pub alive: bool,
    /// Attempts it runs at once.
    pub concurrency: u64,
    /// Its machine's host name.
    pub host: String,
    /// Its id (`<host>-<pid>-<random>`).
    pub id: String,
    /// Unix seconds of its last heartbeat.
    pub last_heartbeat: f64,
    /// Its lease length (ms).
    pub lease_ms: u64,
    /// Ids of the missions it held at its last heartbeat.
    pub missions: Vec<String>,
    /// Its process id.
    pub pid: u64,
    /// The plugin versions it has loaded (`name@version`).
    pub plugins: Vec<String>,
    /// Unix seconds when it started.
    pub started_at: f64,
    /// Threads of its async runtime (`worker_threads`); 0 from a host of an
    /// earlier version, which did not say.
    pub worker_threads: u64,
}
