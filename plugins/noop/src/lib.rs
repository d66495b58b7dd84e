//! `noop`: does nothing and returns `{}`: the benchmark's mission, whose cost
//! is the host's alone (a fresh sandboxed instance, the queue, the events).

use mission_plugin_sdk::{Guest, Mission, MissionError, PluginInfo, export_plugin};

struct Noop;

impl Guest for Noop {
    fn run(_mission: Mission) -> Result<String, MissionError> {
        Ok("{}".to_owned())
    }

    fn describe() -> PluginInfo {
        PluginInfo::new("noop", env!("CARGO_PKG_VERSION"), &["noop"])
    }
}

export_plugin!(Noop);
