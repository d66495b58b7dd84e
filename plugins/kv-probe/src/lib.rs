//! `kv-probe` (test fixture): runs the operations its payload lists, in order,
//! and returns what each gave, so tests can see what a guest sees.
//!
//! Payload: `{"ops": [op, ...]}` where op is one of
//! `{"op": "config", "name": ..}`, `{"op": "config_hash", "name": ..}` (FNV-1a 64 of the value, in hex),
//! `{"op": "get", "key": ..}`,
//! `{"op": "set", "key": .., "value": .., "ttl_ms"?: ..}`, `{"op": "delete", "key": ..}`,
//! `{"op": "incr", "key": .., "delta": ..}`,
//! `{"op": "cas", "key": .., "expected": string | null, "new": .., "ttl_ms"?: ..}`.
//! Result: `{"results": [{"ok": value} | {"error": {"kind": .., "message": ..}}, ...]}`.
//! The name (and mission type) is the crate's: `kv-probe`, or `kv-probe-b`.

use mission_plugin_sdk::{Guest, Mission, MissionError, PluginInfo, config, export_plugin, kv};
use serde_json::{Value, json};

struct Probe;

fn config_error(e: config::Error) -> Value {
    let (kind, message) = match e {
        config::Error::NotGranted(m) => ("not-granted", m),
        config::Error::Unavailable(m) => ("unavailable", m),
    };
    json!({ "error": { "kind": kind, "message": message } })
}

fn kv_error(e: kv::Error) -> Value {
    let (kind, message) = match e {
        kv::Error::NotGranted(m) => ("not-granted", m),
        kv::Error::QuotaExceeded(m) => ("quota-exceeded", m),
        kv::Error::Invalid(m) => ("invalid", m),
        kv::Error::Unavailable(m) => ("unavailable", m),
    };
    json!({ "error": { "kind": kind, "message": message } })
}

/// FNV-1a, 64 bits: a fingerprint for tests, not a security measure.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn text(op: &Value, field: &str) -> String {
    op[field].as_str().unwrap_or_default().to_owned()
}

fn run_op(op: &Value) -> Value {
    let key = text(op, "key");
    let ttl = op["ttl_ms"].as_u64();
    let bytes = |v: Option<Vec<u8>>| v.map(|b| String::from_utf8_lossy(&b).into_owned());
    match op["op"].as_str().unwrap_or_default() {
        "config" => config::get(&text(op, "name")).map_or_else(config_error, |v| json!({ "ok": v })),
        // A fingerprint of the value, not the value: a secret must not reach
        // the result (which events summarize), nor the payload that checks it.
        "config_hash" => config::get(&text(op, "name"))
            .map_or_else(config_error, |v| json!({ "ok": v.map(|s| format!("{:016x}", fnv1a(s.as_bytes()))) })),
        "get" => kv::get(&key).map_or_else(kv_error, |v| json!({ "ok": bytes(v) })),
        "set" => kv::set(&key, text(op, "value").as_bytes(), ttl).map_or_else(kv_error, |()| json!({ "ok": null })),
        "delete" => kv::delete(&key).map_or_else(kv_error, |v| json!({ "ok": v })),
        "incr" => kv::increment(&key, op["delta"].as_i64().unwrap_or(1)).map_or_else(kv_error, |v| json!({ "ok": v })),
        "cas" => {
            let expected = op["expected"].as_str().map(|s| s.as_bytes().to_vec());
            kv::compare_and_swap(&key, expected.as_deref(), text(op, "new").as_bytes(), ttl)
                .map_or_else(kv_error, |v| json!({ "ok": v }))
        }
        other => json!({ "error": { "kind": "probe", "message": format!("unknown op `{other}`") } }),
    }
}

impl Guest for Probe {
    fn run(mission: Mission) -> Result<String, MissionError> {
        let payload: Value = serde_json::from_str(&mission.payload)
            .map_err(|e| MissionError::Permanent(format!("payload is not JSON: {e}")))?;
        let results: Vec<Value> = payload["ops"].as_array().into_iter().flatten().map(run_op).collect();
        Ok(json!({ "results": results }).to_string())
    }

    fn describe() -> PluginInfo {
        PluginInfo::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), &[env!("CARGO_PKG_NAME")])
    }
}

export_plugin!(Probe);
