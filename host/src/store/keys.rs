//! Every Redis key the host uses, in one place.
//!
//! All keys start with `{prefix}:`: the braces are a Redis Cluster hash tag, so
//! every key lands in one slot and every Lua script may touch all of them.

use crate::model::access::DEFAULT_TENANT;
use crate::model::mission::{RECORD_DEFAULTS, Status};
use crate::model::submission::OPTIONAL_FIELDS;

/// A member that keeps a sorted set out of Redis' compact encoding. Redis
/// keeps a sorted set of up to 128 members of up to 64 bytes
/// (`zset-max-listpack-*`) as a listpack, where each insert and removal scans
/// every member; a longer member makes it a skip list for good (Redis does not
/// convert back). The sets that stay near that size under load, about as big
/// as the slots running (the leases in `active`), hold it: at 100 missions
/// leased the scans cost 8 % of the queue scripts' instructions per mission.
/// Its score, `+inf`, is after every lease's expiry, out of every range read,
/// and readers that take the whole set skip it.
pub const PIN: &str = "~pin: keeps this sorted set a skip list (see store/keys.rs) ~~~~~~~~~~~~~~~";

/// Keys that take no parameter. Every script receives them in KEYS, in this
/// order, and the Lua prelude's `K` table is generated from this list
/// ([`lua_prelude`]): `K.<lua name>` is `KEYS[position]`, so the two cannot
/// disagree. (lua name, key suffix after the prefix)
pub const FIXED: [(&str, &str); 24] = [
    ("ready", "ready:tenants"),
    ("delayed", "delayed"),
    ("active", "active"),
    ("dead", "dead"),
    ("events", "events"),
    ("wake", "wake"),
    ("stats", "stats"),
    ("seq", "seq"),
    ("expiry", "expiry"),
    ("workers", "workers"),
    ("seen", "workers:seen"),
    ("counts", "events:counts"),
    ("plugins", "plugins:active"),
    ("quotas", "quotas"),
    ("names", "plugins:names"),
    // Flow control (see `store/flow.rs`): type settings, running counts,
    // tenant weights and passes, rate buckets, wake-ups and start deadlines.
    ("flow", "flow:types"),
    ("running", "flow:running"),
    ("weights", "flow:weights"),
    ("passes", "flow:passes"),
    ("rates", "flow:rates"),
    ("wakeups", "flow:wakeups"),
    ("deadlines", "flow:deadlines"),
    // The one ready ZSET of versions before flow control: emptied into the
    // per-(tenant, type) queues at start-up (`migrate.lua`), then unused.
    ("legacy_ready", "ready"),
    // Each tenant's missions waiting (pending or retrying): its queued quota.
    ("waiting", "waiting"),
];

/// A key derived from parameters: `{name}` placeholders, filled in order.
/// Rust fills them with [`Keys::derive`]; the Lua prelude gets one generated
/// function per template (`lua(params...)`), so both sides derive each key
/// from this one spelling.
#[derive(Debug)]
pub(crate) struct Template {
    /// The Lua function's name.
    pub lua: &'static str,
    /// The key after the prefix, with `{param}` placeholders.
    pub pattern: &'static str,
}

const MISSION: Template = Template { lua: "mkey", pattern: "m:{id}" };
const LOG: Template = Template { lua: "log_key", pattern: "m:{id}:log" };
const ALL: Template = Template { lua: "all_key", pattern: "t:{tenant}:all" };
const BY_STATUS: Template = Template { lua: "status_key", pattern: "t:{tenant}:status:{status}" };
const TENANT_EVENTS: Template = Template { lua: "events_key", pattern: "t:{tenant}:events" };
const BUCKET: Template = Template { lua: "bucket_key", pattern: "t:{tenant}:bucket" };
const OPEN_STREAMS: Template = Template { lua: "streams_key", pattern: "t:{tenant}:streams" };
const IDEMPOTENCY: Template = Template { lua: "idem_key", pattern: "idem:{tenant}:{key}" };
const PLUGIN_VERSIONS: Template = Template { lua: "versions_key", pattern: "plugins:v:{name}" };
const PLUGIN_BLOB: Template = Template { lua: "blob_key", pattern: "plugins:blob:{digest}" };
const TYPE_QUEUE: Template = Template { lua: "queue_key", pattern: "q:{tenant}:{type}" };
const TENANT_TYPES: Template = Template { lua: "types_key", pattern: "t:{tenant}:types" };
const BLOCKED: Template = Template { lua: "blocked_key", pattern: "flow:blocked:{type}" };
const SCHEDULE: Template = Template { lua: "sched_key", pattern: "s:{tenant}:{name}" };
const TENANT_SCHEDULES: Template = Template { lua: "sched_names_key", pattern: "t:{tenant}:schedules" };
const SCHEDULES_DUE: Template = Template { lua: "sched_due_key", pattern: "schedules:due" };
const SCHEDULES_ALL: Template = Template { lua: "sched_all_key", pattern: "schedules:all" };
const PLUGIN_CONFIG: Template = Template { lua: "config_key", pattern: "plugins:config:{name}" };
const PLUGIN_CONFIG_COUNTS: Template = Template { lua: "config_counts_key", pattern: "plugins:config:{name}:counts" };
const KV_DATA: Template = Template { lua: "kv_data_key", pattern: "kv:{plugin}:{tenant}:data" };
const KV_EXPIRY: Template = Template { lua: "kv_expiry_key", pattern: "kv:{plugin}:{tenant}:expiry" };
const KV_USAGE: Template = Template { lua: "kv_usage_key", pattern: "kv:{plugin}:{tenant}:usage" };

/// Every derived key the scripts use (each becomes a prelude function).
pub(crate) const DERIVED: [&Template; 22] = [
    &MISSION,
    &LOG,
    &ALL,
    &BY_STATUS,
    &TENANT_EVENTS,
    &BUCKET,
    &OPEN_STREAMS,
    &IDEMPOTENCY,
    &PLUGIN_VERSIONS,
    &PLUGIN_BLOB,
    &TYPE_QUEUE,
    &TENANT_TYPES,
    &BLOCKED,
    &SCHEDULE,
    &TENANT_SCHEDULES,
    &SCHEDULES_DUE,
    &SCHEDULES_ALL,
    &PLUGIN_CONFIG,
    &PLUGIN_CONFIG_COUNTS,
    &KV_DATA,
    &KV_EXPIRY,
    &KV_USAGE,
];

/// The Lua that names every key for the scripts: `K` from KEYS (see
/// [`FIXED`]), one function per [`DERIVED`] template over the prefix `P`,
/// `DEFAULT_TENANT`, [`PIN`], `RECORD_DEFAULT` (the values a record
/// leaves out, [`RECORD_DEFAULTS`]), `OPTIONAL` (the record's optional
/// fields by the byte of their letter: name and argument offset,
/// [`OPTIONAL_FIELDS`]) and `INDEXED` (the statuses with an index
/// per tenant, [`Keys::by_status`]). Prepended to `prelude.lua` when the scripts load.
pub(crate) fn lua_prelude() -> String {
    let mut out =
        String::from("-- Generated from keys.rs (FIXED, DERIVED): the one spelling of every key.\nlocal K = {\n");
    for (i, (name, _)) in FIXED.iter().enumerate() {
        out.push_str(&format!("  {name} = KEYS[{}],\n", i + 1));
    }
    out.push_str("}\n");
    for t in DERIVED {
        let (mut params, mut body) = (Vec::new(), String::from("P"));
        let mut rest = t.pattern;
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').unwrap_or(rest.len() - open);
            if open > 0 {
                body.push_str(&format!(" .. '{}'", &rest[..open]));
            }
            let param = &rest[open + 1..close];
            body.push_str(&format!(" .. {param}"));
            params.push(param);
            rest = rest.get(close + 1..).unwrap_or("");
        }
        if !rest.is_empty() {
            body.push_str(&format!(" .. '{rest}'"));
        }
        out.push_str(&format!("local function {}({}) return {body} end\n", t.lua, params.join(", ")));
    }
    out.push_str(&format!("local DEFAULT_TENANT = '{DEFAULT_TENANT}'\n"));
    out.push_str(&format!("local PIN = '{PIN}'\n"));
    let defaults: Vec<String> =
        RECORD_DEFAULTS.fields().iter().map(|(field, value)| format!("{field} = '{value}'")).collect();
    out.push_str(&format!("local RECORD_DEFAULT = {{ {} }}\n", defaults.join(", ")));
    let optional: Vec<String> =
        OPTIONAL_FIELDS.iter().map(|f| format!("[{}] = {{ '{}', {} }}", u32::from(f.letter), f.field, f.arg)).collect();
    out.push_str(&format!("local OPTIONAL = {{ {} }}\n", optional.join(", ")));
    let indexed: Vec<String> =
        Status::ALL.iter().filter(|s| Keys::is_indexed(**s)).map(|s| format!("{s} = true")).collect();
    out.push_str(&format!("local INDEXED = {{ {} }}\n", indexed.join(", ")));
    out
}

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

    /// The fixed keys every script receives as KEYS, in [`FIXED`]'s order.
    pub fn fixed(&self) -> [String; FIXED.len()] {
        FIXED.map(|(_, suffix)| self.key(suffix))
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.root)
    }

    fn fixed_key(&self, lua: &str) -> String {
        let suffix = FIXED.iter().find(|(name, _)| *name == lua).map_or(lua, |(_, s)| s);
        self.key(suffix)
    }

    /// Fills `t`'s placeholders with `params`, in order.
    pub(crate) fn derive(&self, t: &Template, params: &[&str]) -> String {
        let mut out = self.root.clone();
        let mut rest = t.pattern;
        let mut params = params.iter();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            out.push_str(params.next().copied().unwrap_or_default());
            rest = rest[open..].split_once('}').map_or("", |(_, after)| after);
        }
        out.push_str(rest);
        out
    }

    /// ZSET of the tenants with claimable work, scored by their virtual time
    /// (fair share: see `store/flow.rs`). Their ready missions are in
    /// [`Keys::type_queue`]s.
    pub fn ready(&self) -> String {
        self.fixed_key("ready")
    }
    /// ZSET of one tenant's ready missions of one type (score: priority rank and sequence).
    pub fn type_queue(&self, tenant: &str, mission_type: &str) -> String {
        self.derive(&TYPE_QUEUE, &[tenant, mission_type])
    }
    /// ZSET of a tenant's claimable types, scored by the head of each type queue.
    pub fn tenant_types(&self, tenant: &str) -> String {
        self.derive(&TENANT_TYPES, &[tenant])
    }
    /// SET of the tenants whose queue of `mission_type` is parked (paused or over a limit).
    pub fn blocked(&self, mission_type: &str) -> String {
        self.derive(&BLOCKED, &[mission_type])
    }
    /// HASH of mission type -> JSON [`super::TypeFlow`]; field `*`: the global pause.
    pub fn flow(&self) -> String {
        self.fixed_key("flow")
    }
    /// HASH of mission type -> missions running now (every host).
    pub fn running(&self) -> String {
        self.fixed_key("running")
    }
    /// HASH of tenant -> fair-share weight an admin set (absent: 1).
    pub fn weights(&self) -> String {
        self.fixed_key("weights")
    }
    /// HASH of `<type>|tokens` and `<type>|ts`: each rate-limited type's token bucket.
    pub fn rates(&self) -> String {
        self.fixed_key("rates")
    }
    /// ZSET of mission ids by the time they expire unless started (ms).
    pub fn deadlines(&self) -> String {
        self.fixed_key("deadlines")
    }
    /// ZSET of delayed and retrying missions (score: due time).
    pub fn delayed(&self) -> String {
        self.fixed_key("delayed")
    }
    /// ZSET of leased missions (score: lease expiry).
    pub fn active(&self) -> String {
        self.fixed_key("active")
    }
    /// ZSET of dead-lettered missions (score: failure time).
    pub fn dead(&self) -> String {
        self.fixed_key("dead")
    }
    /// The shared event stream: events of no tenant (`plugin.*`), which every
    /// tenant sees. Mission events go to [`Keys::tenant_events`].
    pub fn events(&self) -> String {
        self.fixed_key("events")
    }
    /// The event stream of one tenant's missions, capped on its own so that no
    /// tenant's burst can push another's events out.
    pub fn tenant_events(&self, tenant: &str) -> String {
        self.derive(&TENANT_EVENTS, &[tenant])
    }
    /// HASH of tenant -> JSON [`super::QuotaOverrides`] an admin set.
    pub fn quotas(&self) -> String {
        self.fixed_key("quotas")
    }
    /// HASH `tokens`, `ts_ms`: a tenant's submission token bucket (expires when full).
    pub fn submission_bucket(&self, tenant: &str) -> String {
        self.derive(&BUCKET, &[tenant])
    }
    /// ZSET of a tenant's open event streams (SSE), scored by lease expiry (ms).
    pub fn open_streams(&self, tenant: &str) -> String {
        self.derive(&OPEN_STREAMS, &[tenant])
    }
    /// LIST of wake-up markers for idle workers.
    pub fn wake(&self) -> String {
        self.fixed_key("wake")
    }
    /// HASH of counters `<tenant>|<type>|<status>`.
    pub fn stats(&self) -> String {
        self.fixed_key("stats")
    }
    /// ZSET of a tenant's missions by creation time.
    pub fn all(&self, tenant: &str) -> String {
        self.derive(&ALL, &[tenant])
    }
    /// HASH of worker id -> JSON description.
    pub fn workers(&self) -> String {
        self.fixed_key("workers")
    }
    /// ZSET of worker id by last heartbeat.
    pub fn workers_seen(&self) -> String {
        self.fixed_key("seen")
    }
    /// HASH of `<tenant>|<event type>` -> events written (no tenant: plugin events).
    pub fn event_counts(&self) -> String {
        self.fixed_key("counts")
    }
    /// ZSET of a tenant's missions with the given status, by time of the
    /// change; only for the statuses that [`Keys::is_indexed`].
    pub fn by_status(&self, tenant: &str, status: &str) -> String {
        self.derive(&BY_STATUS, &[tenant, status])
    }
    /// Whether `status` has an index per tenant: the final ones, where
    /// missions stay until they expire. The moving ones have none (each
    /// would cost every mission two sorted-set moves and, while it waits,
    /// a member's memory): `active` holds what runs, a listing of the
    /// waiting reads [`Keys::all`], and [`Keys::waiting`] counts them.
    pub fn is_indexed(status: Status) -> bool {
        status.is_finished()
    }
    /// HASH of tenant -> its missions pending or retrying (its
    /// `queued_missions` usage), kept with every status change.
    pub fn waiting(&self) -> String {
        self.fixed_key("waiting")
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
        self.derive(&MISSION, &[id])
    }
    /// LIST of one mission's log lines (JSON).
    pub fn log(&self, id: &str) -> String {
        self.derive(&LOG, &[id])
    }
    /// HASH of mission type -> JSON {name, version, digest} of its active plugin.
    pub fn plugins_active(&self) -> String {
        self.fixed_key("plugins")
    }
    /// HASH of version -> JSON record, for one plugin.
    pub fn plugin_versions(&self, name: &str) -> String {
        self.derive(&PLUGIN_VERSIONS, &[name])
    }
    /// SET of plugin names.
    pub fn plugin_names(&self) -> String {
        self.fixed_key("names")
    }
    /// STRING holding a component's bytes.
    pub fn plugin_blob(&self, digest: &str) -> String {
        self.derive(&PLUGIN_BLOB, &[digest])
    }
    /// STRING: the mission an idempotency key of a tenant created (expires
    /// with the idempotency window).
    pub fn idempotency(&self, tenant: &str, key: &str) -> String {
        self.derive(&IDEMPOTENCY, &[tenant, key])
    }
    /// HASH of one schedule: `spec` (JSON), `name`, `tenant`, its state
    /// (`next_ms`, `last_mission`, `last_tick_ms`, `buffered_ms`, `paused`)
    /// and counters.
    pub fn schedule(&self, tenant: &str, name: &str) -> String {
        self.derive(&SCHEDULE, &[tenant, name])
    }
    /// SET of a tenant's schedule names (its size is the per-tenant budget).
    pub fn tenant_schedules(&self, tenant: &str) -> String {
        self.derive(&TENANT_SCHEDULES, &[tenant])
    }
    /// ZSET of `<tenant>/<name>` by when a host should next look at the
    /// schedule (its next tick): a host's loop reads only what is due.
    pub fn schedules_due(&self) -> String {
        self.derive(&SCHEDULES_DUE, &[])
    }
    /// ZSET of every schedule, `<tenant>/<name>` by creation time (the admin's list).
    pub fn schedules_all(&self) -> String {
        self.derive(&SCHEDULES_ALL, &[])
    }
    /// HASH of `<tenant>|<name>` -> JSON entry of one plugin's configuration
    /// (tenant empty: the plugin-wide value); secrets sealed (see `secrets`).
    pub fn plugin_config(&self, name: &str) -> String {
        self.derive(&PLUGIN_CONFIG, &[name])
    }
    /// HASH of tenant (empty: plugin-wide) -> how many names one plugin's configuration holds.
    pub fn plugin_config_counts(&self, name: &str) -> String {
        self.derive(&PLUGIN_CONFIG_COUNTS, &[name])
    }
    /// HASH of key -> value: one plugin's key-value state for one tenant.
    pub fn kv_data(&self, plugin: &str, tenant: &str) -> String {
        self.derive(&KV_DATA, &[plugin, tenant])
    }
    /// ZSET of key -> expiry (ms) of the keys of [`Keys::kv_data`] that expire.
    pub fn kv_expiry(&self, plugin: &str, tenant: &str) -> String {
        self.derive(&KV_EXPIRY, &[plugin, tenant])
    }
    /// STRING: the bytes (keys and values) [`Keys::kv_data`] holds, kept exact by the kv scripts.
    pub fn kv_usage(&self, plugin: &str, tenant: &str) -> String {
        self.derive(&KV_USAGE, &[plugin, tenant])
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
    fn the_generated_lua_names_each_key_once_and_quotes_safely() {
        let lua = lua_prelude();
        for t in DERIVED {
            assert!(!t.pattern.contains(['\'', '\\']), "{}", t.pattern);
            assert_eq!(lua.matches(&format!("local function {}(", t.lua)).count(), 1, "{}", t.lua);
        }
        assert!(lua.contains(
            "local function status_key(tenant, status) return P .. 't:' .. tenant .. ':status:' .. status end"
        ));
        assert!(lua.contains("  names = KEYS[15],"), "{lua}");
    }

    #[test]
    fn every_key_shares_the_hash_tag() {
        let k = Keys::new("mr");
        assert_eq!(k.ready(), "{mr}:ready:tenants");
        assert_eq!(k.fixed()[4], k.events());
        assert_eq!(k.fixed()[13], k.quotas());
        assert_eq!(k.fixed()[14], k.plugin_names());
        assert_eq!(k.by_status("a", "failed"), "{mr}:t:a:status:failed");
        assert_eq!(k.idempotency("a", "x:y"), "{mr}:idem:a:x:y");
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

#[cfg(test)]
mod pin_tests {
    use super::PIN;

    #[test]
    fn the_pin_is_longer_than_a_listpack_member_and_no_mission_id() {
        // zset-max-listpack-value: 64 bytes by default.
        assert!(PIN.len() > 64, "{} bytes", PIN.len());
        assert!(uuid::Uuid::parse_str(PIN).is_err());
        assert!(!PIN.contains('\''), "it is spelled in Lua between single quotes");
    }
}
