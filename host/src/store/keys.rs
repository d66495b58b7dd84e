//! Every Redis key the host uses, in one place.
//!
//! All keys start with `{prefix}:`: the braces are a Redis Cluster hash tag, so
//! every key lands in one slot and every Lua script may touch all of them.

/// Key names under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `{prefix}:`, the start of every key.
    root: String,
}

impl Keys {
    /// Keys under `prefix` (for example `mr` gives `{mr}:ready`, ...).
    pub fn new(prefix: &str) -> Self {
        Keys { root: format!("{{{prefix}}}:") }
    }

    /// The common start of every key (the Lua prelude's `P`).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The fixed keys every script receives as KEYS, in the prelude's order.
    pub fn fixed(&self) -> [String; 14] {
        [
            "ready",
            "delayed",
            "active",
            "dead",
            "events",
            "wake",
            "stats",
            "seq",
            "expiry",
            "workers",
            "workers:seen",
            "events:counts",
            "plugins:active",
            "quotas",
        ]
        .map(|k| self.key(k))
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.root)
    }

    /// ZSET of ready missions (score: priority rank and sequence).
    pub fn ready(&self) -> String {
        self.key("ready")
    }
    /// ZSET of delayed and retrying missions (score: due time).
    pub fn delayed(&self) -> String {
        self.key("delayed")
    }
    /// ZSET of leased missions (score: lease expiry).
    pub fn active(&self) -> String {
        self.key("active")
    }
    /// ZSET of dead-lettered missions (score: failure time).
    pub fn dead(&self) -> String {
        self.key("dead")
    }
    /// The shared event stream: events of no tenant (`plugin.*`), which every
    /// tenant sees. Mission events go to [`Keys::tenant_events`].
    pub fn events(&self) -> String {
        self.key("events")
    }
    /// The event stream of one tenant's missions, capped on its own so that no
    /// tenant's burst can push another's events out.
    pub fn tenant_events(&self, tenant: &str) -> String {
        format!("{}t:{tenant}:events", self.root)
    }
    /// HASH of tenant -> JSON [`super::QuotaOverrides`] an admin set.
    pub fn quotas(&self) -> String {
        self.key("quotas")
    }
    /// HASH `tokens`, `ts_ms`: a tenant's submission token bucket (expires when full).
    pub fn submission_bucket(&self, tenant: &str) -> String {
        format!("{}t:{tenant}:bucket", self.root)
    }
    /// ZSET of a tenant's open event streams (SSE), scored by lease expiry (ms).
    pub fn open_streams(&self, tenant: &str) -> String {
        format!("{}t:{tenant}:streams", self.root)
    }
    /// LIST of wake-up markers for idle workers.
    pub fn wake(&self) -> String {
        self.key("wake")
    }
    /// HASH of counters `<tenant>|<type>|<status>`.
    pub fn stats(&self) -> String {
        self.key("stats")
    }
    /// ZSET of a tenant's missions by creation time.
    pub fn all(&self, tenant: &str) -> String {
        format!("{}t:{tenant}:all", self.root)
    }
    /// HASH of worker id -> JSON description.
    pub fn workers(&self) -> String {
        self.key("workers")
    }
    /// ZSET of worker id by last heartbeat.
    pub fn workers_seen(&self) -> String {
        self.key("workers:seen")
    }
    /// HASH of `<tenant>|<event type>` -> events written (no tenant: plugin events).
    pub fn event_counts(&self) -> String {
        self.key("events:counts")
    }
    /// ZSET of a tenant's missions with the given status, by time of the change.
    pub fn by_status(&self, tenant: &str, status: &str) -> String {
        format!("{}t:{tenant}:status:{status}", self.root)
    }
    /// HASH of token hash -> JSON [`crate::model::access::StoredToken`] (tokens created through the API).
    pub fn tokens(&self) -> String {
        self.key("tokens")
    }
    /// HASH of token id -> token hash, to revoke by id.
    pub fn token_ids(&self) -> String {
        self.key("tokens:ids")
    }
    /// HASH of one mission.
    pub fn mission(&self, id: &str) -> String {
        format!("{}m:{id}", self.root)
    }
    /// LIST of one mission's log lines (JSON).
    pub fn log(&self, id: &str) -> String {
        format!("{}m:{id}:log", self.root)
    }
    /// HASH of mission type -> JSON {name, version, digest} of its active plugin.
    pub fn plugins_active(&self) -> String {
        self.key("plugins:active")
    }
    /// HASH of version -> JSON record, for one plugin.
    pub fn plugin_versions(&self, name: &str) -> String {
        format!("{}plugins:v:{name}", self.root)
    }
    /// SET of plugin names.
    pub fn plugin_names(&self) -> String {
        self.key("plugins:names")
    }
    /// STRING holding a component's bytes.
    pub fn plugin_blob(&self, digest: &str) -> String {
        format!("{}plugins:blob:{digest}", self.root)
    }
    /// Pub/sub channel announcing activations to every host.
    pub fn plugins_channel(&self) -> String {
        self.key("plugins")
    }
    /// Pub/sub channel telling workers to stop a cancelled mission.
    pub fn cancel_channel(&self) -> String {
        self.key("cancel")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_shares_the_hash_tag() {
        let k = Keys::new("mr");
        assert_eq!(k.ready(), "{mr}:ready");
        assert_eq!(k.fixed()[4], k.events());
        assert_eq!(k.fixed()[13], k.quotas());
        assert_eq!(k.tenant_events("acme"), "{mr}:t:acme:events");
        for key in [
            k.mission("x"),
            k.log("x"),
            k.by_status("default", "pending"),
            k.all("default"),
            k.tenant_events("default"),
            k.submission_bucket("default"),
            k.open_streams("default"),
        ] {
            assert!(key.starts_with(k.root()), "{key}");
        }
    }
}
