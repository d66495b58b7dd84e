//! The Lua scripts, one per queue transition, each prefixed with `prelude.lua`.

use redis::Script;

const PRELUDE: &str = include_str!("lua/prelude.lua");
const KV_PRELUDE: &str = include_str!("lua/kv_prelude.lua");

/// A script: `prelude.lua` (with the key names generated from keys.rs in
/// place of its `--@KEYS@` line), then the script's body, run as a function,
/// then the index writes and counters it deferred and the trims of the
/// streams it added many events to (`flush_later`, `flush_counters`,
/// `flush_streams`, see the prelude), also when the body raised an error
/// after some writes.
fn load(body: &str) -> Script {
    Script::new(&format!(
        "{}\nlocal function body()\n{body}\nend\nlocal ok, reply = pcall(body)\nflush_later()\nflush_counters()\n\
         flush_streams()\nif not ok then error(reply, 0) end\nreturn reply\n",
        prelude()
    ))
}

/// A key-value script: the prelude, then `kv_prelude.lua`, then its body.
fn load_kv(body: &str) -> Script {
    Script::new(&format!("{}\n{KV_PRELUDE}\n{body}", prelude()))
}

/// The prelude every script starts with, key names included (public for the
/// test that runs its key functions in Redis and compares them with [`Keys`]).
///
/// [`Keys`]: super::Keys
pub fn prelude() -> String {
    PRELUDE.replacen("--@KEYS@\n", &super::keys::lua_prelude(), 1)
}

/// Helpers of the schedule scripts (`sched_member`, `emit_schedule`).
const SCHEDULE_COMMON: &str = include_str!("lua/schedule_common.lua");

/// A schedule script: the prelude, the schedule helpers, then `body`.
fn load_schedule(body: &str) -> Script {
    load(&format!("{SCHEDULE_COMMON}\n{body}"))
}

/// The fire script: the step (the last ARGV), the enqueue script's body as
/// the function `enqueue_missions` reading the missions from ARGV[6] to the
/// one before the step, then the schedule helpers and `schedule_fire.lua`.
/// The enqueue code is reused as it is, so a tick's mission is created
/// exactly as a submitted one (quotas, idempotency, queue structures).
pub(crate) fn fire_source() -> String {
    let enqueue = include_str!("lua/enqueue.lua").replace("#ARGV", "SPEC_LAST");
    format!(
        "local STEP = cjson.decode(ARGV[#ARGV])\nlocal SPEC_LAST = #ARGV - 1\nlocal function enqueue_missions()\n{enqueue}\nend\n{SCHEDULE_COMMON}\n{}",
        include_str!("lua/schedule_fire.lua")
    )
}

/// The loaded scripts (redis-rs runs them by SHA and loads them on NOSCRIPT).
#[derive(Debug)]
pub struct Scripts {
    pub(crate) enqueue: Script,
    pub(crate) claim: Script,
    pub(crate) complete: Script,
    pub(crate) fail: Script,
    pub(crate) heartbeat: Script,
    pub(crate) release: Script,
    pub(crate) reap: Script,
    pub(crate) cancel: Script,
    pub(crate) retry: Script,
    pub(crate) report: Script,
    pub(crate) expire: Script,
    pub(crate) plugin_put: Script,
    pub(crate) plugin_activate: Script,
    pub(crate) plugin_delete: Script,
    pub(crate) streams: Script,
    pub(crate) flow_set: Script,
    pub(crate) lapse: Script,
    pub(crate) migrate: Script,
    pub(crate) schedule_put: Script,
    pub(crate) schedule_delete: Script,
    pub(crate) schedule_pause: Script,
    pub(crate) schedule_due: Script,
    pub(crate) schedule_fire: Script,
    pub(crate) config_set: Script,
    pub(crate) config_delete: Script,
    pub(crate) kv_get: Script,
    pub(crate) kv_set: Script,
    pub(crate) kv_delete: Script,
    pub(crate) kv_increment: Script,
    pub(crate) kv_cas: Script,
}

impl Scripts {
    /// Loads every script.
    pub fn new() -> Self {
        Scripts {
            enqueue: load(include_str!("lua/enqueue.lua")),
            claim: load(include_str!("lua/claim.lua")),
            complete: load(include_str!("lua/complete.lua")),
            fail: load(include_str!("lua/fail.lua")),
            heartbeat: load(include_str!("lua/heartbeat.lua")),
            release: load(include_str!("lua/release.lua")),
            reap: load(include_str!("lua/reap.lua")),
            cancel: load(include_str!("lua/cancel.lua")),
            retry: load(include_str!("lua/retry.lua")),
            report: load(include_str!("lua/report.lua")),
            expire: load(include_str!("lua/expire.lua")),
            plugin_put: load(include_str!("lua/plugin_put.lua")),
            plugin_activate: load(include_str!("lua/plugin_activate.lua")),
            plugin_delete: load(include_str!("lua/plugin_delete.lua")),
            streams: load(include_str!("lua/streams.lua")),
            flow_set: load(include_str!("lua/flow_set.lua")),
            lapse: load(include_str!("lua/lapse.lua")),
            migrate: load(include_str!("lua/migrate.lua")),
            schedule_put: load_schedule(include_str!("lua/schedule_put.lua")),
            schedule_delete: load_schedule(include_str!("lua/schedule_delete.lua")),
            schedule_pause: load_schedule(include_str!("lua/schedule_pause.lua")),
            schedule_due: load(include_str!("lua/schedule_due.lua")),
            schedule_fire: load(&fire_source()),
            config_set: load(include_str!("lua/config_set.lua")),
            config_delete: load(include_str!("lua/config_delete.lua")),
            kv_get: load_kv(include_str!("lua/kv_get.lua")),
            kv_set: load_kv(include_str!("lua/kv_set.lua")),
            kv_delete: load_kv(include_str!("lua/kv_delete.lua")),
            kv_increment: load_kv(include_str!("lua/kv_increment.lua")),
            kv_cas: load_kv(include_str!("lua/kv_cas.lua")),
        }
    }
}

impl Scripts {
    /// The name of `script`, one of these (its file's name), for its trace span.
    pub(crate) fn name_of(&self, script: &Script) -> &'static str {
        let all = [
            (&self.enqueue, "enqueue"),
            (&self.claim, "claim"),
            (&self.complete, "complete"),
            (&self.fail, "fail"),
            (&self.heartbeat, "heartbeat"),
            (&self.release, "release"),
            (&self.reap, "reap"),
            (&self.cancel, "cancel"),
            (&self.retry, "retry"),
            (&self.report, "report"),
            (&self.expire, "expire"),
            (&self.plugin_put, "plugin_put"),
            (&self.plugin_activate, "plugin_activate"),
            (&self.plugin_delete, "plugin_delete"),
            (&self.streams, "streams"),
            (&self.flow_set, "flow_set"),
            (&self.lapse, "lapse"),
            (&self.migrate, "migrate"),
            (&self.schedule_put, "schedule_put"),
            (&self.schedule_delete, "schedule_delete"),
            (&self.schedule_pause, "schedule_pause"),
            (&self.schedule_due, "schedule_due"),
            (&self.schedule_fire, "schedule_fire"),
            (&self.config_set, "config_set"),
            (&self.config_delete, "config_delete"),
            (&self.kv_get, "kv_get"),
            (&self.kv_set, "kv_set"),
            (&self.kv_delete, "kv_delete"),
            (&self.kv_increment, "kv_increment"),
            (&self.kv_cas, "kv_cas"),
        ];
        all.into_iter().find(|(s, _)| std::ptr::eq(*s, script)).map_or("script", |(_, name)| name)
    }
}

impl Default for Scripts {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fire_script_reads_the_missions_before_its_step() {
        let src = super::fire_source();
        assert!(!src.contains("for i = 6, #ARGV, 18"), "the enqueue loop must stop before the step");
        assert!(
            src.contains("for i = 6, SPEC_LAST, 18 do"),
            "the enqueue loop was not found: enqueue.lua changed shape"
        );
    }
}
