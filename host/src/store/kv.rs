//! Plugins' key-value state: one namespace per plugin name and tenant, each
//! operation one script (`lua/kv_*.lua`, after `lua/kv_prelude.lua`, which
//! says how expiry keeps the quotas' counters exact).

use crate::model::manifest::KvGrant;

use super::{Queue, StoreError};

/// Why an operation was refused (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvRefusal {
    /// A quota of the grant.
    #[error("{0}")]
    Quota(String),
    /// A value that is not an integer, or an overflow.
    #[error("{0}")]
    Invalid(String),
}

/// The outcome of one operation: done, or refused; Redis' own failures apart.
pub type KvResult<T> = Result<Result<T, KvRefusal>, StoreError>;

/// One plugin's namespace for one tenant, with the grant's quotas.
#[derive(Debug, Clone)]
pub struct KvNamespace {
    queue: Queue,
    plugin: String,
    tenant: String,
    grant: KvGrant,
}

fn ttl(ttl_ms: Option<u64>) -> String {
    ttl_ms.map(|t| t.to_string()).unwrap_or_default()
}

fn refusal(kind: &str, why: String) -> Result<KvRefusal, StoreError> {
    match kind {
        "quota" => Ok(KvRefusal::Quota(why)),
        "invalid" => Ok(KvRefusal::Invalid(why)),
        other => Err(super::transitions::unexpected(other)),
    }
}

impl KvNamespace {
    /// The namespace of `plugin` for `tenant`.
    pub fn new(queue: Queue, plugin: &str, tenant: &str, grant: KvGrant) -> Self {
        KvNamespace { queue, plugin: plugin.to_owned(), tenant: tenant.to_owned(), grant }
    }

    fn call<'a>(&'a self, script: &'a redis::Script, key: &str) -> crate::telemetry::script::Invocation<'a> {
        let mut inv = self.queue.invocation(script);
        inv.arg(&self.plugin).arg(&self.tenant).arg(key);
        inv
    }

    fn quotas(&self, inv: &mut crate::telemetry::script::Invocation<'_>) {
        inv.arg(self.grant.max_keys).arg(self.grant.max_value_bytes).arg(self.grant.max_total_bytes);
    }

    /// The live value of `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let reply: Vec<redis::Value> =
            self.call(&self.queue.scripts().kv_get, key).invoke_async(&mut self.queue.conn()).await?;
        let mut it = reply.into_iter();
        let what: String = redis::from_redis_value(it.next().ok_or_else(|| super::transitions::unexpected("empty"))?)?;
        match (what.as_str(), it.next()) {
            ("ok", Some(v)) => Ok(Some(redis::from_redis_value(v)?)),
            ("none", _) => Ok(None),
            (other, _) => Err(super::transitions::unexpected(other)),
        }
    }

    /// Sets `key`, with an optional TTL, within the quotas.
    pub async fn set(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> KvResult<()> {
        let mut inv = self.call(&self.queue.scripts().kv_set, key);
        inv.arg(value).arg(ttl(ttl_ms));
        self.quotas(&mut inv);
        let reply: Vec<String> = inv.invoke_async(&mut self.queue.conn()).await?;
        match reply.as_slice() {
            [ok] if ok == "ok" => Ok(Ok(())),
            [kind, why] => Ok(Err(refusal(kind, why.clone())?)),
            _ => Err(super::transitions::unexpected("kv_set reply")),
        }
    }

    /// Deletes `key`; whether it held a live value.
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let (_, deleted): (String, i64) =
            self.call(&self.queue.scripts().kv_delete, key).invoke_async(&mut self.queue.conn()).await?;
        Ok(deleted == 1)
    }

    /// Adds `delta` to the integer at `key` (absent: 0); the new value.
    pub async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let mut inv = self.call(&self.queue.scripts().kv_increment, key);
        inv.arg(delta);
        self.quotas(&mut inv);
        let (kind, text): (String, String) = inv.invoke_async(&mut self.queue.conn()).await?;
        match kind.as_str() {
            "ok" => Ok(Ok(text.parse().map_err(|_| super::transitions::unexpected(&text))?)),
            _ => Ok(Err(refusal(&kind, text)?)),
        }
    }

    /// Sets `key` to `new` only if its live value is `expected` (`None`: absent); whether it did.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl_ms: Option<u64>,
    ) -> KvResult<bool> {
        let mut inv = self.call(&self.queue.scripts().kv_cas, key);
        inv.arg(if expected.is_some() { "1" } else { "0" }).arg(expected.unwrap_or_default()).arg(new).arg(ttl(ttl_ms));
        self.quotas(&mut inv);
        let reply: Vec<redis::Value> = inv.invoke_async(&mut self.queue.conn()).await?;
        let mut it = reply.into_iter();
        let kind: String = redis::from_redis_value(it.next().ok_or_else(|| super::transitions::unexpected("empty"))?)?;
        let rest = it.next().ok_or_else(|| super::transitions::unexpected("kv_cas reply"))?;
        match kind.as_str() {
            "ok" => Ok(Ok(redis::from_redis_value::<i64>(rest)? == 1)),
            _ => Ok(Err(refusal(&kind, redis::from_redis_value(rest)?)?)),
        }
    }
}
