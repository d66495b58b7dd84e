//! What the store reads back for the API to show: pages of missions, the
//! queue, counts of missions and events. Plain values: the store fills them,
//! the API serializes them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::mission::Mission;

/// One page of missions.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MissionPage {
    /// The missions, newest first.
    pub missions: Vec<Mission>,
    /// Where the next page starts; `None` when nothing can follow.
    pub next_cursor: Option<String>,
}

/// Counts per status for one mission type (or all).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct TypeStats {
    /// Missions per status.
    pub by_status: BTreeMap<String, i64>,
    /// All missions.
    pub total: i64,
}

/// `GET /api/stats`: counts of the caller's tenant; the queue's gauges are
/// those of the one queue every tenant shares.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// All types together.
    pub totals: TypeStats,
    /// Per mission type.
    pub by_type: BTreeMap<String, TypeStats>,
    /// Missions ready to run now.
    pub queue_depth: u64,
    /// Missions waiting for `run_at` or a retry.
    pub delayed: u64,
    /// Missions under a lease.
    pub running: u64,
    /// Missions in the dead-letter set.
    pub dead: u64,
}

/// One entry of `GET /api/queue`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueEntry {
    /// 1 is next.
    pub position: usize,
    /// Mission id.
    pub id: String,
    /// Mission type.
    #[serde(rename = "type")]
    pub mission_type: String,
    /// Priority.
    pub priority: u8,
    /// Its tenant.
    pub tenant: String,
}

/// `GET /api/events/stats`.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct EventStats {
    /// Events the caller may see written per type since the queue began (not
    /// reduced by trimming).
    pub by_type: BTreeMap<String, u64>,
    /// Entries the caller's streams hold now: its tenant's and the shared
    /// plugin stream (each capped on its own).
    pub stream_length: u64,
    /// Entries in the tenant's own stream.
    pub tenant_stream_length: u64,
    /// Entries in the shared plugin stream.
    pub plugin_stream_length: u64,
}
