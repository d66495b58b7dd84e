//! `webhook`: delivers `{url, body, headers?}` as a POST signed per the Standard
//! Webhooks convention, with the tenant's `signing_secret` from config.
//!
//! The `webhook-id` is the mission id, the same on every attempt, so receivers
//! can drop duplicate deliveries. Network errors, 5xx and 429 are retryable;
//! other 4xx, a refused destination and a bad payload are permanent.

mod sign;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mission_plugin_sdk::http::{self, Request};
use mission_plugin_sdk::{Guest, Mission, MissionError, PluginInfo, config, export_plugin, log_info};
use serde_json::{Value, json};

struct Webhook;

impl Guest for Webhook {
    fn run(mission: Mission) -> Result<String, MissionError> {
        let payload: Value = serde_json::from_str(&mission.payload).map_err(|e| permanent(format!("payload: {e}")))?;
        let url = payload["url"].as_str().ok_or_else(|| permanent("payload: `url` must be a string".into()))?;
        let body = match &payload["body"] {
            Value::Null => return Err(permanent("payload: `body` is required".into())),
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let secret = config::require("signing_secret").map_err(MissionError::Permanent)?;
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let signature = sign::signature(&secret, &mission.id, timestamp, &body).map_err(|e| permanent(e.0))?;

        let length = body.len().to_string();
        let mut request = Request::post(url, body.into_bytes())
            .header("content-type", "application/json")
            .header("content-length", &length)
            .header("webhook-id", &mission.id)
            .header("webhook-timestamp", &timestamp.to_string())
            .header("webhook-signature", &signature);
        if let Some(extra) = payload["headers"].as_object() {
            for (name, value) in extra {
                let value =
                    value.as_str().ok_or_else(|| permanent(format!("payload: header `{name}` must be text")))?;
                if name.to_ascii_lowercase().starts_with("webhook-") {
                    return Err(permanent(format!("payload: header `{name}` is set by the plugin")));
                }
                request = request.header(name, value);
            }
        }

        let started = Instant::now();
        let response = http::send(&request).map_err(classify)?;
        let duration_ms = started.elapsed().as_millis() as u64;
        let status = response.status;
        log_info(&format!("delivered to {url}: {status} in {duration_ms} ms"));
        let outcome = json!({ "status": status, "duration_ms": duration_ms, "webhook_id": mission.id,
            "attempt": mission.attempt });
        match status {
            200..=299 => Ok(outcome.to_string()),
            429 | 500..=599 => Err(MissionError::Retryable(format!("the receiver answered {status}: {outcome}"))),
            _ => Err(permanent(format!("the receiver answered {status}: {outcome}"))),
        }
    }

    fn describe() -> PluginInfo {
        PluginInfo::from_manifest(include_str!("../manifest.json"))
    }
}

fn permanent(message: String) -> MissionError {
    MissionError::Permanent(message)
}

/// A destination the grants refuse, or a malformed request, will fail again;
/// everything else (refused connections, timeouts, resets) may not.
fn classify(error: http::Error) -> MissionError {
    use mission_plugin_sdk::http::ErrorCode as C;
    let message = format!("delivery failed: {error}");
    match &error {
        http::Error::Invalid(_)
        | http::Error::Http(C::HttpRequestDenied | C::DestinationIpProhibited | C::HttpRequestUriInvalid) => {
            MissionError::Permanent(message)
        }
        _ => MissionError::Retryable(message),
    }
}

export_plugin!(Webhook);
