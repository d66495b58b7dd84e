//! The guest's `config` and `kv` imports (contract 1.1.0): the grants are
//! checked here, in the runtime, so every caller of [`super::Runtime::run`]
//! enforces them the same way; the values come from the attempt's
//! [`Capabilities`]. Every refusal is the interface's `error` variant, which
//! the guest sees and handles: never a trap, never a host failure.
//!
//! Values are never logged or traced here (secrets pass through `config`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::bindings::mission_runner::plugin::{config, kv};
use super::capabilities::{CapResult, Capabilities, CapabilityError};
use super::state::MissionState;
use crate::model::manifest::{Grants, MAX_KV_KEY_BYTES};

/// The `config` and `kv` side of one attempt's store.
pub(crate) struct GuestCalls {
    /// Where values come from; `None` while the plugin only describes itself.
    pub caps: Option<Capabilities>,
    /// Names the manifest's `grants.config` lists.
    pub config_names: Arc<BTreeSet<String>>,
    /// Whether the manifest has `grants.kv`.
    pub kv_granted: bool,
    /// Key-value operations this attempt may still make (`limits.kv_operations`).
    pub kv_ops_left: u32,
    /// The limit, for the message once it is used up.
    pub kv_ops_limit: u32,
    /// What each name read gave: a name is read from the store at most once
    /// per attempt, and no value outlives the attempt.
    pub config_seen: HashMap<String, CapResult<Option<String>>>,
}

impl GuestCalls {
    /// The calls of an attempt of a plugin with `grants`.
    pub fn new(caps: Option<Capabilities>, grants: &Grants, kv_operations: u32) -> Self {
        GuestCalls {
            caps,
            config_names: Arc::new(grants.config.iter().cloned().collect()),
            kv_granted: grants.kv.is_some(),
            kv_ops_left: kv_operations,
            kv_ops_limit: kv_operations,
            config_seen: HashMap::new(),
        }
    }

    fn caps(&self) -> CapResult<&Capabilities> {
        self.caps.as_ref().ok_or_else(|| CapabilityError::Unavailable("not while describing the plugin".into()))
    }

    /// Checks the grant, the key and the operation budget of one kv call.
    fn kv_call(&mut self, key: &str) -> CapResult<Capabilities> {
        if !self.kv_granted {
            return Err(CapabilityError::NotGranted(
                "the manifest has no `grants.kv`: add `\"grants\": {\"kv\": {}}` to use the key-value store".into(),
            ));
        }
        if key.is_empty() || key.len() > MAX_KV_KEY_BYTES {
            return Err(CapabilityError::Invalid(format!(
                "a key is 1 to {MAX_KV_KEY_BYTES} bytes; this one is {}",
                key.len()
            )));
        }
        if self.kv_ops_left == 0 {
            return Err(CapabilityError::QuotaExceeded(format!(
                "more than {} key-value operations in one attempt (limits.kv_operations)",
                self.kv_ops_limit
            )));
        }
        self.kv_ops_left -= 1;
        self.caps().cloned()
    }
}

impl From<CapabilityError> for config::Error {
    fn from(e: CapabilityError) -> Self {
        match e {
            CapabilityError::NotGranted(m) => config::Error::NotGranted(m),
            CapabilityError::QuotaExceeded(m) | CapabilityError::Invalid(m) | CapabilityError::Unavailable(m) => {
                config::Error::Unavailable(m)
            }
        }
    }
}

impl From<CapabilityError> for kv::Error {
    fn from(e: CapabilityError) -> Self {
        match e {
            CapabilityError::NotGranted(m) => kv::Error::NotGranted(m),
            CapabilityError::QuotaExceeded(m) => kv::Error::QuotaExceeded(m),
            CapabilityError::Invalid(m) => kv::Error::Invalid(m),
            CapabilityError::Unavailable(m) => kv::Error::Unavailable(m),
        }
    }
}

impl config::Host for MissionState {
    async fn get(&mut self, name: String) -> Result<Option<String>, config::Error> {
        let calls = &mut self.calls;
        if !calls.config_names.contains(&name) {
            let shown: String = name.chars().take(128).collect();
            return Err(config::Error::NotGranted(format!(
                "`{shown}` is not in the manifest's `grants.config`: add it there to read it"
            )));
        }
        if let Some(seen) = calls.config_seen.get(&name) {
            return seen.clone().map_err(Into::into);
        }
        let read = match calls.caps() {
            Ok(caps) => caps.config.get(&name).await,
            Err(e) => Err(e),
        };
        calls.config_seen.insert(name, read.clone());
        read.map_err(Into::into)
    }
}

impl kv::Host for MissionState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, kv::Error> {
        let caps = self.calls.kv_call(&key)?;
        Ok(caps.kv.get(&key).await?)
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), kv::Error> {
        let caps = self.calls.kv_call(&key)?;
        Ok(caps.kv.set(&key, value, ttl_ms).await?)
    }

    async fn delete(&mut self, key: String) -> Result<bool, kv::Error> {
        let caps = self.calls.kv_call(&key)?;
        Ok(caps.kv.delete(&key).await?)
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, kv::Error> {
        let caps = self.calls.kv_call(&key)?;
        Ok(caps.kv.increment(&key, delta).await?)
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, kv::Error> {
        let caps = self.calls.kv_call(&key)?;
        Ok(caps.kv.compare_and_swap(&key, expected, new, ttl_ms).await?)
    }
}
