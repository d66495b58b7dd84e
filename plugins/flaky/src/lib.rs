//! `flaky`: fails with a retryable error on its first `fail_times` attempts
//! (from the payload, default 1), then succeeds. Exercises retries and backoff.

use mission_plugin_sdk::{Guest, Mission, MissionError, PluginInfo, export_plugin, log_info};
use serde::Deserialize;

#[derive(Deserialize, Default)]
struct Payload {
    #[serde(default = "one")]
    fail_times: u32,
}

fn one() -> u32 {
    1
}

struct Flaky;

impl Guest for Flaky {
    fn run(mission: Mission) -> Result<String, MissionError> {
        let payload: Payload = serde_json::from_str(&mission.payload)
            .map_err(|e| MissionError::Permanent(format!("invalid payload: {e}")))?;
        if mission.attempt <= payload.fail_times {
            return Err(MissionError::Retryable(format!(
                "flaky failure on attempt {} of {} planned",
                mission.attempt, payload.fail_times
            )));
        }
        log_info(&format!("succeeded on attempt {}", mission.attempt));
        Ok(serde_json::json!({ "succeeded_on_attempt": mission.attempt }).to_string())
    }

    fn describe() -> PluginInfo {
        PluginInfo::new("flaky", env!("CARGO_PKG_VERSION"), &["flaky"])
    }
}

export_plugin!(Flaky);
