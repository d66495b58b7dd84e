//! `{{name}}`: a mission-runner plugin. Payload `{"name": "..."}`, result
//! `{"message": "hello, <name>"}`.

use mission_plugin_sdk::{Guest, Mission, MissionError, PluginInfo, export_plugin, host, log_info};
use serde::Deserialize;

/// The payload this plugin accepts; unknown fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    name: String,
}

struct Plugin;

impl Guest for Plugin {
    fn run(mission: Mission) -> Result<String, MissionError> {
        // A payload that does not parse will not parse next time either: permanent.
        let payload: Payload = serde_json::from_str(&mission.payload)
            .map_err(|e| MissionError::Permanent(format!("payload must be {{\"name\": string}}: {e}")))?;
        log_info(&format!("greeting {}", payload.name));
        host::progress(100, "done");
        Ok(serde_json::json!({ "message": format!("hello, {}", payload.name) }).to_string())
    }

    fn describe() -> PluginInfo {
        // Name, version and mission types: manifest.json is their one source.
        PluginInfo::from_manifest(include_str!("../manifest.json"))
    }
}

export_plugin!(Plugin);
