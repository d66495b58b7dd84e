//! `echo`: returns its payload unchanged and logs one line.

use mission_plugin_sdk::{Guest, Mission, MissionError, PluginInfo, export_plugin, log_info};

struct Echo;

impl Guest for Echo {
    fn run(mission: Mission) -> Result<String, MissionError> {
        log_info(&format!("echoing {} bytes", mission.payload.len()));
        Ok(mission.payload)
    }

    fn describe() -> PluginInfo {
        PluginInfo::new("echo", env!("CARGO_PKG_VERSION"), &["echo"])
    }
}

export_plugin!(Echo);
