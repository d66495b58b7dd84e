//! Plugins' configuration: variables and secrets an operator sets per plugin
//! name, with per-tenant overrides, read by the plugin's missions (through
//! the guest's `config` import) on every attempt: no host caches a value
//! past an attempt, so a change reaches the next attempt on every host.
//!
//! One HASH per plugin (`Keys::plugin_config`), field `<tenant>|<name>`
//! (tenant empty: the plugin-wide value), value a JSON [`StoredEntry`];
//! secrets sealed with the host's key (see [`super::secrets`]). A change is
//! one script with its event, which never carries the value.

use std::collections::BTreeMap;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::secrets::{SecretError, SecretKey};
use super::{Queue, StoreError};

/// The budgets of plugins' configuration (config `[plugin_config]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigBudgets {
    /// Longest value (bytes) of a variable or secret; longer ones are refused (400).
    pub max_value_bytes: usize,
    /// Most names one plugin holds plugin-wide, and each tenant's overrides
    /// of one plugin; a new name past it is refused (409).
    pub max_names: u32,
}

impl Default for ConfigBudgets {
    fn default() -> Self {
        ConfigBudgets { max_value_bytes: 16 << 10, max_names: 64 }
    }
}

/// One stored value, as kept in Redis.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredEntry {
    /// A variable's value (absent for a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    /// A secret's value, sealed (absent for a variable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
    secret: bool,
    /// Unix seconds.
    set_at: f64,
    set_by: String,
}

/// One configuration entry as the API lists it: never a secret's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfigEntry {
    /// The name the plugin reads.
    pub key: String,
    /// The tenant whose override this is; absent for the plugin-wide value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Whether it is a secret (its value is never shown).
    pub secret: bool,
    /// A variable's value; absent for a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// When it was set (Unix seconds).
    pub set_at: f64,
    /// Who set it.
    pub set_by: String,
}

/// Why a value was not set.
#[derive(Debug, thiserror::Error)]
pub enum ConfigSetError {
    /// The value is longer than the budget.
    #[error("`value`: {0} bytes, at most {1}")]
    TooLong(usize, usize),
    /// The plugin (or the tenant's overrides) holds the most names already.
    #[error("the plugin's configuration holds {0} names already, its most (config [plugin_config] max_names)")]
    TooMany(u32),
    /// A secret cannot be sealed (no key).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a value could not be read for an attempt.
#[derive(Debug, thiserror::Error)]
pub enum ConfigReadError {
    /// A secret cannot be opened (no key, or another key).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn field(tenant: Option<&str>, key: &str) -> String {
    format!("{}|{key}", tenant.unwrap_or(""))
}

fn protocol(e: impl std::fmt::Display) -> StoreError {
    StoreError::Protocol(e.to_string())
}

/// Plugins' configuration on the queue's Redis.
#[derive(Debug, Clone)]
pub struct PluginConfigStore {
    queue: Queue,
}

impl PluginConfigStore {
    /// The configuration beside `queue` (its settings hold the budgets and the key).
    pub fn new(queue: Queue) -> Self {
        PluginConfigStore { queue }
    }

    fn key(&self) -> Option<&SecretKey> {
        self.queue.settings().secrets_key.as_ref()
    }

    /// Sets `key` of `plugin` (for `tenant` only, or plugin-wide), a secret
    /// sealed first. The value never reaches the event or the log.
    pub async fn set(
        &self,
        plugin: &str,
        tenant: Option<&str>,
        key: &str,
        value: &str,
        secret: bool,
        by: &str,
    ) -> Result<(), ConfigSetError> {
        let budgets = &self.queue.settings().plugin_config;
        if value.len() > budgets.max_value_bytes {
            return Err(ConfigSetError::TooLong(value.len(), budgets.max_value_bytes));
        }
        let (value, sealed) = if secret {
            let k = self.key().ok_or(SecretError::NoKey)?;
            (None, Some(k.seal(plugin, tenant.unwrap_or(""), key, value)?))
        } else {
            (Some(value.to_owned()), None)
        };
        let set_at = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        let entry = StoredEntry { value, sealed, secret, set_at, set_by: by.to_owned() };
        let (what, held): (String, String) = self
            .queue
            .invocation(&self.queue.scripts().config_set)
            .arg(plugin)
            .arg(tenant.unwrap_or(""))
            .arg(key)
            .arg(serde_json::to_string(&entry).map_err(protocol)?)
            .arg(budgets.max_names)
            .arg(if secret { "1" } else { "0" })
            .arg(by)
            .invoke_async(&mut self.queue.conn())
            .await
            .map_err(StoreError::from)?;
        match what.as_str() {
            "set" => Ok(()),
            "too_many" => Err(ConfigSetError::TooMany(held.parse().unwrap_or(budgets.max_names))),
            other => Err(super::transitions::unexpected(other).into()),
        }
    }

    /// Removes `key` of `plugin` (a tenant's override, or the plugin-wide
    /// value); whether it was there.
    pub async fn delete(&self, plugin: &str, tenant: Option<&str>, key: &str, by: &str) -> Result<bool, StoreError> {
        let (what,): (String,) = self
            .queue
            .invocation(&self.queue.scripts().config_delete)
            .arg(plugin)
            .arg(tenant.unwrap_or(""))
            .arg(key)
            .arg(by)
            .invoke_async(&mut self.queue.conn())
            .await?;
        Ok(what == "deleted")
    }

    /// Every entry of `plugin` (only `tenant`'s overrides and the plugin-wide
    /// ones when given), without secrets' values, by tenant then name.
    pub async fn list(&self, plugin: &str, tenant: Option<&str>) -> Result<Vec<ConfigEntry>, StoreError> {
        let raw: BTreeMap<String, String> = self.queue.conn().hgetall(self.queue.keys().plugin_config(plugin)).await?;
        let mut out = Vec::new();
        for (field, json) in raw {
            let Some((t, key)) = field.split_once('|') else { continue };
            if tenant.is_some_and(|only| !t.is_empty() && t != only) {
                continue;
            }
            let e: StoredEntry = serde_json::from_str(&json).map_err(protocol)?;
            out.push(ConfigEntry {
                key: key.to_owned(),
                tenant: (!t.is_empty()).then(|| t.to_owned()),
                secret: e.secret,
                value: if e.secret { None } else { e.value },
                set_at: e.set_at,
                set_by: e.set_by,
            });
        }
        // Plugin-wide first, then each tenant's, each by name.
        out.sort_by(|a, b| (&a.tenant, &a.key).cmp(&(&b.tenant, &b.key)));
        Ok(out)
    }

    /// The value `plugin` reads as `key` in a mission of `tenant`: the
    /// tenant's override, else the plugin-wide value (one command; a secret
    /// opened here, in memory only).
    pub async fn read(&self, plugin: &str, tenant: &str, key: &str) -> Result<Option<String>, ConfigReadError> {
        let (over, wide): (Option<String>, Option<String>) = self
            .queue
            .conn()
            .hmget(self.queue.keys().plugin_config(plugin), &[field(Some(tenant), key), field(None, key)])
            .await
            .map_err(StoreError::from)?;
        let (owner, json) = match (over, wide) {
            (Some(j), _) => (tenant, j),
            (None, Some(j)) => ("", j),
            (None, None) => return Ok(None),
        };
        let e: StoredEntry = serde_json::from_str(&json).map_err(protocol)?;
        if !e.secret {
            return Ok(e.value);
        }
        let k = self.key().ok_or(SecretError::NoKey)?;
        let sealed = e.sealed.ok_or(SecretError::Tampered)?;
        Ok(Some(k.open(plugin, owner, key, &sealed)?))
    }
}
