//! The Lua scripts, one per queue transition, each prefixed with `prelude.lua`.

use redis::Script;

const PRELUDE: &str = include_str!("lua/prelude.lua");

/// A script: `prelude.lua` (with the key names generated from keys.rs in
/// place of its `--@KEYS@` line), then the script's body, run as a function,
/// then the counters it moved, written once (`flush_counters`, see the
/// prelude), also when the body raised an error after some writes.
fn load(body: &str) -> Script {
    Script::new(&format!(
        "{}\nlocal function body()\n{body}\nend\nlocal ok, reply = pcall(body)\nflush_counters()\n\
         if not ok then error(reply, 0) end\nreturn reply\n",
        prelude()
    ))
}

/// The prelude every script starts with, key names included (public for the
/// test that runs its key functions in Redis and compares them with [`Keys`]).
///
/// [`Keys`]: super::Keys
pub fn prelude() -> String {
    PRELUDE.replacen("--@KEYS@\n", &super::keys::lua_prelude(), 1)
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
        ];
        all.into_iter().find(|(s, _)| std::ptr::eq(*s, script)).map_or("script", |(_, name)| name)
    }
}

impl Default for Scripts {
    fn default() -> Self {
        Self::new()
    }
}
