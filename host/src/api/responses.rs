//! Typed bodies of the answers the API assembles from several sources (health,
//! the plugin listing), so the OpenAPI document shows their fields. Fields are
//! in alphabetical order where the answer used to be a `json!` object, whose
//! keys serde_json writes sorted: the bytes stay the same.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::model::manifest::Manifest;
use crate::store::ActivePlugin;

/// `GET /api/health`. Every caller sees `status` and `reason`; an `admin` also
/// sees the rest.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `tokens` when tokens are enforced, `open` when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMode>,
    /// This host's compile counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<CompileCounts>,
    /// The active plugins, one entry per version with the types it serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Vec<HealthPlugin>>,
    /// Why the host is degraded; `null` when it is not.
    pub reason: Option<&'static str>,
    /// Whether Redis answers, and how fast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisHealth>,
    /// `ok` or `degraded`.
    pub status: HealthStatus,
    /// The host's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    /// This host's worker id (`null` with concurrency 0); absent without the detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub worker: Option<Option<String>>,
}

/// Whether the host can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Redis answers.
    Ok,
    /// Redis does not answer (503).
    Degraded,
}

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Bearer tokens are required.
    Tokens,
    /// No token is configured: every caller is the anonymous admin (loopback only).
    Open,
}

/// Redis as the health check saw it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RedisHealth {
    /// What failed, when it does not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Round trip of a `PING` (ms), when it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Whether it answered.
    pub ok: bool,
}

/// Components this host compiled, and those it loaded from the compile cache.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CompileCounts {
    /// Loaded from the cache.
    pub cache_hits: u64,
    /// Compiled.
    pub compiled: u64,
}

/// One active plugin version in `/api/health`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HealthPlugin {
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Whether this host has it loaded.
    pub loaded: bool,
    /// The mission types it is active for.
    pub mission_types: Vec<String>,
    /// Plugin name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// `GET /api/plugins`: a page of plugins and the active version per type.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginList {
    /// Mission type -> its active plugin version.
    #[serde(serialize_with = "keys_sorted")]
    pub active: BTreeMap<String, ActivePlugin>,
    /// Where the next page starts (a plugin name); `null` at the end.
    pub next_cursor: Option<String>,
    /// The plugins of this page, by name.
    pub plugins: Vec<PluginVersions>,
}

/// One plugin and its stored versions.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginVersions {
    /// Plugin name.
    pub name: String,
    /// Its versions, oldest upload first.
    pub versions: Vec<PluginVersion>,
}

/// One stored version, with where it is active and loaded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginVersion {
    /// Mission types it is active for.
    pub active_for: Vec<String>,
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Ids of the workers that have it loaded.
    pub loaded_on: Vec<String>,
    /// The manifest it was uploaded with.
    #[serde(serialize_with = "keys_sorted")]
    pub manifest: Manifest,
    /// Size of the component in bytes.
    pub size: usize,
    /// Unix seconds.
    pub uploaded_at: f64,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// Version.
    pub version: String,
}

/// Writes `value` with its objects' keys sorted, as the `json!` answer did
/// (a type's fields serialize in declaration order).
fn keys_sorted<T: Serialize, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value).map_err(serde::ser::Error::custom)?.serialize(s)
}
