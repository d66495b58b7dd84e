//! The runtime's `ConfigSource` and `KvStore` over Redis, built per attempt
//! for the plugin's name and the mission's tenant. Nothing here outlives the
//! attempt: each read goes to Redis (the runtime asks at most once per name).

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::model::manifest::Manifest;
use crate::runtime::capabilities::CapResult;
use crate::runtime::{Capabilities, CapabilityError, ConfigSource, KvStore};
use crate::store::{ConfigReadError, KvNamespace, KvRefusal, PluginConfigStore, Queue, StoreError};

/// What one attempt of `manifest`'s plugin, for a mission of `tenant`, reaches.
pub(super) fn for_attempt(queue: &Queue, manifest: &Manifest, tenant: &str) -> Capabilities {
    let config = RedisConfig {
        store: PluginConfigStore::new(queue.clone()),
        plugin: manifest.name.clone(),
        tenant: tenant.into(),
    };
    let kv = KvNamespace::new(queue.clone(), &manifest.name, tenant, manifest.grants.kv.unwrap_or_default());
    Capabilities { config: Arc::new(config), kv: Arc::new(RedisKv(kv)) }
}

fn unavailable(e: StoreError) -> CapabilityError {
    tracing::warn!(error = %e, "a plugin's config or kv call could not reach Redis");
    CapabilityError::Unavailable("the host's store is unavailable; another attempt may succeed".into())
}

fn refused(r: KvRefusal) -> CapabilityError {
    match r {
        KvRefusal::Quota(m) => CapabilityError::QuotaExceeded(m),
        KvRefusal::Invalid(m) => CapabilityError::Invalid(m),
    }
}

struct RedisConfig {
    store: PluginConfigStore,
    plugin: String,
    tenant: String,
}

impl ConfigSource for RedisConfig {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, CapResult<Option<String>>> {
        Box::pin(async move {
            self.store.read(&self.plugin, &self.tenant, name).await.map_err(|e| match e {
                ConfigReadError::Store(e) => unavailable(e),
                // Logged without the value (there is none here), only why.
                ConfigReadError::Secret(e) => {
                    tracing::warn!(plugin = %self.plugin, name, error = %e, "a secret could not be opened");
                    CapabilityError::Unavailable(format!("the secret `{name}` cannot be read on this host: {e}"))
                }
            })
        })
    }
}

struct RedisKv(KvNamespace);

impl KvStore for RedisKv {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, CapResult<Option<Vec<u8>>>> {
        Box::pin(async move { self.0.get(key).await.map_err(unavailable) })
    }
    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl_ms: Option<u64>) -> BoxFuture<'a, CapResult<()>> {
        Box::pin(async move { self.0.set(key, &value, ttl_ms).await.map_err(unavailable)?.map_err(refused) })
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, CapResult<bool>> {
        Box::pin(async move { self.0.delete(key).await.map_err(unavailable) })
    }
    fn increment<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, CapResult<i64>> {
        Box::pin(async move { self.0.increment(key, delta).await.map_err(unavailable)?.map_err(refused) })
    }
    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> BoxFuture<'a, CapResult<bool>> {
        Box::pin(async move {
            self.0.compare_and_swap(key, expected.as_deref(), &new, ttl_ms).await.map_err(unavailable)?.map_err(refused)
        })
    }
}
