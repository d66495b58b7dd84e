//! Plugin versions in Redis: bytes by digest, a record per version, and the
//! active version per mission type. Each change is one script with its event.

use std::collections::BTreeMap;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::{Queue, StoreError};
use crate::model::manifest::Manifest;

/// One stored plugin version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionRecord {
    /// Plugin name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// Size of the component in bytes.
    pub size: usize,
    /// The manifest it was uploaded with.
    pub manifest: Manifest,
    /// Unix seconds.
    pub uploaded_at: f64,
    /// Who uploaded it.
    pub uploaded_by: String,
}

/// The active plugin of one mission type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivePlugin {
    /// Plugin name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Digest that claims of this type run.
    pub digest: String,
}

/// What storing a version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// New version stored.
    Stored,
    /// The same version with the same bytes was already there.
    Exists,
    /// The version exists with other bytes (this digest); versions are immutable.
    Conflict(String),
}

/// What an activation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivateOutcome {
    /// Now active for these types.
    Activated(Vec<String>),
    /// Already active everywhere it could be.
    Unchanged,
    /// No such version.
    Missing,
}

/// What a deletion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Deleted.
    Deleted,
    /// Refused: active for this mission type.
    Active(String),
    /// No such version.
    Missing,
}

/// Plugin storage on the queue's Redis (same prefix, same scripts' prelude).
#[derive(Debug, Clone)]
pub struct PluginStore {
    queue: Queue,
}

fn protocol(e: impl std::fmt::Display) -> StoreError {
    StoreError::Protocol(e.to_string())
}

impl PluginStore {
    /// Storage beside `queue`.
    pub fn new(queue: Queue) -> Self {
        PluginStore { queue }
    }

    /// Stores a version (already validated by the caller).
    pub async fn put(&self, record: &VersionRecord, wasm: &[u8]) -> Result<PutOutcome, StoreError> {
        let (what, digest): (String, String) = self
            .queue
            .invocation(&self.queue.scripts().plugin_put)
            .arg(&record.name)
            .arg(&record.version)
            .arg(&record.digest)
            .arg(serde_json::to_string(record).map_err(protocol)?)
            .arg(wasm)
            .invoke_async(&mut self.queue.conn())
            .await?;
        Ok(match what.as_str() {
            "stored" => PutOutcome::Stored,
            "exists" => PutOutcome::Exists,
            "conflict" => PutOutcome::Conflict(digest),
            other => return Err(super::transitions::unexpected(other)),
        })
    }

    /// Activates a version for its mission types; with `only_unset`, only for
    /// types that have no active plugin yet.
    pub async fn activate(
        &self,
        name: &str,
        version: &str,
        by: &str,
        only_unset: bool,
    ) -> Result<ActivateOutcome, StoreError> {
        let (what, types): (String, String) = self
            .queue
            .invocation(&self.queue.scripts().plugin_activate)
            .arg(name)
            .arg(version)
            .arg(by)
            .arg(if only_unset { "1" } else { "0" })
            .arg(self.queue.keys().plugins_channel())
            .invoke_async(&mut self.queue.conn())
            .await?;
        Ok(match what.as_str() {
            "activated" => ActivateOutcome::Activated(serde_json::from_str(&types).map_err(protocol)?),
            "unchanged" => ActivateOutcome::Unchanged,
            "missing" => ActivateOutcome::Missing,
            other => return Err(super::transitions::unexpected(other)),
        })
    }

    /// Deletes a version that is not active.
    pub async fn delete(&self, name: &str, version: &str, by: &str) -> Result<DeleteOutcome, StoreError> {
        let (what, t): (String, String) = self
            .queue
            .invocation(&self.queue.scripts().plugin_delete)
            .arg(name)
            .arg(version)
            .arg(by)
            .invoke_async(&mut self.queue.conn())
            .await?;
        Ok(match what.as_str() {
            "deleted" => DeleteOutcome::Deleted,
            "active" => DeleteOutcome::Active(t),
            "missing" => DeleteOutcome::Missing,
            other => return Err(super::transitions::unexpected(other)),
        })
    }

    /// The active plugin of every mission type.
    pub async fn active(&self) -> Result<BTreeMap<String, ActivePlugin>, StoreError> {
        let raw: BTreeMap<String, String> = self.queue.conn().hgetall(self.queue.keys().plugins_active()).await?;
        raw.into_iter().map(|(t, v)| Ok((t, serde_json::from_str(&v).map_err(protocol)?))).collect()
    }

    /// Every version of every plugin, by name then version.
    pub async fn versions(&self) -> Result<BTreeMap<String, Vec<VersionRecord>>, StoreError> {
        let names: Vec<String> = self.queue.conn().smembers(self.queue.keys().plugin_names()).await?;
        let mut out = BTreeMap::new();
        for name in names {
            out.insert(name.clone(), self.versions_of(&name).await?);
        }
        Ok(out)
    }

    /// Every version of one plugin, oldest upload first.
    pub async fn versions_of(&self, name: &str) -> Result<Vec<VersionRecord>, StoreError> {
        let raw: Vec<String> = self.queue.conn().hvals(self.queue.keys().plugin_versions(name)).await?;
        let mut v: Vec<VersionRecord> =
            raw.iter().map(|r| serde_json::from_str(r).map_err(protocol)).collect::<Result<_, _>>()?;
        v.sort_by(|a, b| a.uploaded_at.total_cmp(&b.uploaded_at));
        Ok(v)
    }

    /// One version's record.
    pub async fn version(&self, name: &str, version: &str) -> Result<Option<VersionRecord>, StoreError> {
        let raw: Option<String> = self.queue.conn().hget(self.queue.keys().plugin_versions(name), version).await?;
        raw.map(|r| serde_json::from_str(&r).map_err(protocol)).transpose()
    }

    /// A component's bytes.
    pub async fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.queue.conn().get(self.queue.keys().plugin_blob(digest)).await?)
    }

    /// The queue this store lives beside.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }
}
