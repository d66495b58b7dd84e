//! What a guest's `config` and `kv` imports reach: two small traits the
//! runtime calls, implemented above it. The runtime may not use the store
//! (layers), so the worker builds one of each per attempt, for the plugin's
//! name and the mission's tenant, over Redis; `plugin run` uses the in-memory
//! ones here, so authors can try a plugin without Redis.
//!
//! The runtime checks the grants (names, `grants.kv`, key length, operations
//! per attempt) before calling these; the implementations enforce the quotas
//! of the namespace (keys, value bytes, total bytes), atomically.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::model::manifest::KvGrant;

/// Why a capability call did not happen: the guest sees it as its
/// interface's `error` variant, never as a trap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    /// The manifest does not grant it.
    #[error("not granted: {0}")]
    NotGranted(String),
    /// A quota would be exceeded.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// Malformed input (a key, an increment of a non-integer).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The backing store could not answer now.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Result of a capability call.
pub type CapResult<T> = Result<T, CapabilityError>;

/// The configuration values of one plugin for one tenant.
pub trait ConfigSource: Send + Sync {
    /// The tenant's override of `name`, else the plugin-wide value; `None` when unset.
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, CapResult<Option<String>>>;
}

/// The key-value namespace of one plugin and one tenant, with its quotas.
pub trait KvStore: Send + Sync {
    /// The value of `key`, `None` when absent or expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, CapResult<Option<Vec<u8>>>>;
    /// Sets `key`, expiring after `ttl_ms` when given.
    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl_ms: Option<u64>) -> BoxFuture<'a, CapResult<()>>;
    /// Deletes `key`; whether it existed.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, CapResult<bool>>;
    /// Adds `delta` to the integer at `key` (absent: 0); the new value.
    fn increment<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, CapResult<i64>>;
    /// Sets `key` to `new` only if its value is `expected` (`None`: absent); whether it did.
    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> BoxFuture<'a, CapResult<bool>>;
}

/// What one attempt's `config` and `kv` imports reach.
#[derive(Clone)]
pub struct Capabilities {
    /// The plugin's configuration for the mission's tenant.
    pub config: Arc<dyn ConfigSource>,
    /// The plugin's key-value namespace for the mission's tenant.
    pub kv: Arc<dyn KvStore>,
}

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capabilities").finish_non_exhaustive()
    }
}

impl Capabilities {
    /// Nothing behind either import: every read is `unavailable` (for callers
    /// that run plugins without a store, such as benches).
    pub fn none() -> Self {
        Capabilities { config: Arc::new(Unavailable), kv: Arc::new(Unavailable) }
    }

    /// In-memory configuration `values` and an empty in-memory key-value store
    /// with `grant`'s quotas (`plugin run`).
    pub fn in_memory(values: BTreeMap<String, String>, grant: Option<KvGrant>) -> Self {
        Capabilities {
            config: Arc::new(MemoryConfig(values)),
            kv: Arc::new(MemoryKv { grant: grant.unwrap_or_default(), entries: Mutex::default() }),
        }
    }
}

/// Neither configuration nor state is reachable.
struct Unavailable;

fn unavailable<'a, T: Send + 'a>() -> BoxFuture<'a, CapResult<T>> {
    Box::pin(async { Err(CapabilityError::Unavailable("this host has no store for plugin state".into())) })
}

impl ConfigSource for Unavailable {
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, CapResult<Option<String>>> {
        unavailable()
    }
}

impl KvStore for Unavailable {
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, CapResult<Option<Vec<u8>>>> {
        unavailable()
    }
    fn set<'a>(&'a self, _: &'a str, _: Vec<u8>, _: Option<u64>) -> BoxFuture<'a, CapResult<()>> {
        unavailable()
    }
    fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, CapResult<bool>> {
        unavailable()
    }
    fn increment<'a>(&'a self, _: &'a str, _: i64) -> BoxFuture<'a, CapResult<i64>> {
        unavailable()
    }
    fn compare_and_swap<'a>(
        &'a self,
        _: &'a str,
        _: Option<Vec<u8>>,
        _: Vec<u8>,
        _: Option<u64>,
    ) -> BoxFuture<'a, CapResult<bool>> {
        unavailable()
    }
}

/// Configuration values given on the command line.
struct MemoryConfig(BTreeMap<String, String>);

impl ConfigSource for MemoryConfig {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, CapResult<Option<String>>> {
        let value = self.0.get(name).cloned();
        Box::pin(async move { Ok(value) })
    }
}

/// A key-value namespace in this process (one `plugin run`), with the grant's quotas.
struct MemoryKv {
    grant: KvGrant,
    entries: Mutex<Entries>,
}

/// key -> (value, expiry).
type Entries = HashMap<String, (Vec<u8>, Option<Instant>)>;

impl MemoryKv {
    fn with<T: Send + 'static>(&self, f: impl FnOnce(&mut Entries, &KvGrant) -> CapResult<T>) -> CapResult<T> {
        let mut entries = self.entries.lock().map_err(|_| CapabilityError::Unavailable("poisoned".into()))?;
        let now = Instant::now();
        entries.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        f(&mut entries, &self.grant)
    }
}

/// Whether storing `value` at `key` keeps `entries` within `grant`.
fn fits(entries: &Entries, grant: &KvGrant, key: &str, value: &[u8]) -> CapResult<()> {
    if value.len() as u64 > grant.max_value_bytes {
        return Err(CapabilityError::QuotaExceeded(format!(
            "a value of {} bytes is over grants.kv.max_value_bytes ({})",
            value.len(),
            grant.max_value_bytes
        )));
    }
    let old = entries.get(key);
    if old.is_none() && entries.len() as u64 >= grant.max_keys {
        return Err(CapabilityError::QuotaExceeded(format!("grants.kv.max_keys ({}) keys are held", grant.max_keys)));
    }
    let total: usize = entries.iter().map(|(k, (v, _))| k.len() + v.len()).sum();
    let after = total - old.map_or(0, |(v, _)| key.len() + v.len()) + key.len() + value.len();
    if after as u64 > grant.max_total_bytes {
        return Err(CapabilityError::QuotaExceeded(format!(
            "{after} bytes would be held, over grants.kv.max_total_bytes ({})",
            grant.max_total_bytes
        )));
    }
    Ok(())
}

fn expiry(ttl_ms: Option<u64>) -> Option<Instant> {
    ttl_ms.map(|t| Instant::now() + Duration::from_millis(t))
}

impl KvStore for MemoryKv {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, CapResult<Option<Vec<u8>>>> {
        let r = self.with(|e, _| Ok(e.get(key).map(|(v, _)| v.clone())));
        Box::pin(async move { r })
    }
    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl_ms: Option<u64>) -> BoxFuture<'a, CapResult<()>> {
        let r = self.with(|e, g| {
            fits(e, g, key, &value)?;
            e.insert(key.to_owned(), (value, expiry(ttl_ms)));
            Ok(())
        });
        Box::pin(async move { r })
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, CapResult<bool>> {
        let r = self.with(|e, _| Ok(e.remove(key).is_some()));
        Box::pin(async move { r })
    }
    fn increment<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, CapResult<i64>> {
        let r = self.with(|e, g| {
            let (current, exp) = match e.get(key) {
                Some((v, exp)) => {
                    let n = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                        .ok_or_else(|| CapabilityError::Invalid(format!("the value at `{key}` is not an integer")))?;
                    (n, *exp)
                }
                None => (0, None),
            };
            let n = current
                .checked_add(delta)
                .ok_or_else(|| CapabilityError::Invalid(format!("incrementing `{key}` overflows")))?;
            let text = n.to_string().into_bytes();
            fits(e, g, key, &text)?;
            e.insert(key.to_owned(), (text, exp));
            Ok(n)
        });
        Box::pin(async move { r })
    }
    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> BoxFuture<'a, CapResult<bool>> {
        let r = self.with(|e, g| {
            if e.get(key).map(|(v, _)| v) != expected.as_ref() {
                return Ok(false);
            }
            fits(e, g, key, &new)?;
            e.insert(key.to_owned(), (new, expiry(ttl_ms)));
            Ok(true)
        });
        Box::pin(async move { r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_in_memory_store_keeps_its_quotas() {
        let grant = KvGrant { max_keys: 2, max_value_bytes: 8, max_total_bytes: 100 };
        let caps = Capabilities::in_memory(BTreeMap::from([("a".into(), "1".into())]), Some(grant));
        assert_eq!(caps.config.get("a").await, Ok(Some("1".into())));
        assert_eq!(caps.config.get("b").await, Ok(None));
        let kv = caps.kv;
        assert!(matches!(kv.set("k", vec![0; 9], None).await, Err(CapabilityError::QuotaExceeded(_))));
        kv.set("k1", b"5".to_vec(), None).await.unwrap();
        assert_eq!(kv.increment("k1", 2).await, Ok(7));
        assert!(kv.compare_and_swap("k2", None, b"x".to_vec(), None).await.unwrap());
        assert!(!kv.compare_and_swap("k2", None, b"y".to_vec(), None).await.unwrap());
        assert!(matches!(kv.set("k3", b"z".to_vec(), None).await, Err(CapabilityError::QuotaExceeded(_))));
        assert!(matches!(kv.increment("k2", 1).await, Err(CapabilityError::Invalid(_))));
        assert!(kv.delete("k2").await.unwrap());
    }
}
