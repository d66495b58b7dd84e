//! `http-probe`: sends the requests its payload describes and returns what came
//! back, failures included (as text), so tests can see what the host allowed.
//!
//! Payload: `{url, method?, body?, headers?: {name: value}, follow?: hops,
//! repeat?: n, parallel?: n}`. `repeat` sends n requests one after the other
//! (stopping at the first failure), `parallel` starts n at once and then reads
//! each; `follow` follows up to that many redirects (`Location`), as a guest
//! may. Result: `{ok, status?, bytes?, body?, location?, error?, sent, results?}`.

use mission_plugin_sdk::http::{self, Request, Response};
use mission_plugin_sdk::{Guest, Mission, MissionError, PluginInfo, export_plugin};
use serde_json::{Value, json};

struct Probe;

fn outcome(r: Result<Response, http::Error>) -> Value {
    match r {
        Ok(resp) => json!({
            "ok": true,
            "status": resp.status,
            "bytes": resp.body.len(),
            "location": resp.header("location"),
            "body": String::from_utf8_lossy(&resp.body[..resp.body.len().min(4096)]),
        }),
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    }
}

fn request(p: &Value, url: &str) -> Request {
    let mut req = Request::get(url);
    if let Some(m) = p["method"].as_str() {
        req.method = m.to_owned();
    }
    if let Some(b) = p["body"].as_str() {
        req.body = Some(b.as_bytes().to_vec());
    }
    if let Some(h) = p["headers"].as_object() {
        for (k, v) in h {
            req = req.header(k, v.as_str().unwrap_or_default());
        }
    }
    req
}

impl Guest for Probe {
    fn run(mission: Mission) -> Result<String, MissionError> {
        let p: Value = serde_json::from_str(&mission.payload).map_err(|e| MissionError::Permanent(e.to_string()))?;
        let url = p["url"].as_str().ok_or_else(|| MissionError::Permanent("`url` is required".into()))?.to_owned();
        if let Some(n) = p["parallel"].as_u64() {
            let started: Vec<_> = (0..n).map(|_| http::start(&request(&p, &url))).collect();
            let results: Vec<Value> = started
                .into_iter()
                .map(|s| match s {
                    Ok(pending) => outcome(pending.wait()),
                    Err(e) => json!({"ok": false, "error": e.to_string()}),
                })
                .collect();
            return Ok(json!({"results": results}).to_string());
        }
        let repeat = p["repeat"].as_u64().unwrap_or(1);
        let mut last = Value::Null;
        let mut sent = 0;
        for _ in 0..repeat {
            let mut target = url.clone();
            let mut hops = p["follow"].as_u64().unwrap_or(0);
            last = loop {
                sent += 1;
                let got = outcome(http::send(&request(&p, &target)));
                match got["location"].as_str() {
                    Some(next) if hops > 0 && got["status"].as_u64().is_some_and(|s| (300..400).contains(&s)) => {
                        hops -= 1;
                        target = next.to_owned();
                    }
                    _ => break got,
                }
            };
            if last["ok"] != json!(true) {
                break;
            }
        }
        last["sent"] = json!(sent);
        Ok(last.to_string())
    }

    fn describe() -> PluginInfo {
        PluginInfo::from_manifest(include_str!("../manifest.json"))
    }
}

export_plugin!(Probe);
