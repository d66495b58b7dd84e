//! `legacy-echo` (test fixture): echoes its payload, logging one line, built
//! against `mission-runner:plugin@1.0.0` exactly as plugins were before 1.1.0.

wit_bindgen::generate!({ path: "../fixtures/wit-1.0.0", world: "mission-plugin" });

use mission_runner::plugin::host;
use mission_runner::plugin::types::LogLevel;

struct LegacyEcho;

impl Guest for LegacyEcho {
    fn run(mission: Mission) -> Result<String, MissionError> {
        host::log(LogLevel::Info, &format!("echoing {} bytes (built against 1.0.0)", mission.payload.len()));
        Ok(mission.payload)
    }

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "legacy-echo".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            mission_types: vec!["legacy-echo".into()],
        }
    }
}

export!(LegacyEcho);
