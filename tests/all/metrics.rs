//! `/metrics` is valid Prometheus text and counts what happened.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::json;

use crate::harness::TestEnv;

/// Parses the text format strictly: every sample belongs to a declared family,
/// names and labels are well-formed, values are numbers. Returns the samples
/// (`name{labels}` -> value).
fn parse(text: &str) -> HashMap<String, f64> {
    let name_ok = |n: &str| {
        let mut c = n.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    };
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(name_ok(name) && ["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_owned(), kind.to_owned()).is_none(), "family declared twice: {line}");
            continue;
        }
        // Blank lines are allowed between families (and ignored) by the format.
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let v: f64 =
            if value == "+Inf" { f64::INFINITY } else { value.parse().unwrap_or_else(|_| panic!("bad value: {line}")) };
        let name = series.split('{').next().unwrap();
        assert!(name_ok(name), "bad name: {line}");
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')).unwrap_or_else(|| panic!("{line}"));
            for pair in inner.split("\",").map(|p| p.trim_end_matches('"')) {
                let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line}"));
                assert!(name_ok(k) && !v.contains('"'), "{line}");
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            .unwrap_or(name);
        assert!(typed.contains_key(family), "sample of an undeclared family: {line}");
        samples.insert(series.to_owned(), v);
    }
    samples
}

#[tokio::test]
async fn metrics_parse_and_count_what_happened() {
    let env = TestEnv::start().await;
    let ok = env.api.submit(json!({ "type": "echo", "payload": 1 })).await;
    let bad = env.api.submit(json!({ "type": "chaos", "payload": { "do": "fail", "message": "no" } })).await;
    env.api.wait_status(&ok, "completed", Duration::from_secs(10)).await;
    env.api.wait_status(&bad, "failed", Duration::from_secs(10)).await;

    let resp = reqwest::get(format!("{}/metrics", env.host.url())).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let m = parse(&resp.text().await.unwrap());
    assert_eq!(m["mission_runner_missions{type=\"echo\",status=\"completed\"}"], 1.0);
    assert_eq!(m["mission_runner_missions{type=\"chaos\",status=\"failed\"}"], 1.0);
    assert_eq!(m["mission_runner_dead"], 1.0);
    assert_eq!(m["mission_runner_attempts_total{plugin=\"echo@1.0.0\",outcome=\"completed\"}"], 1.0);
    assert_eq!(m["mission_runner_attempts_total{plugin=\"chaos@1.0.0\",outcome=\"dead\"}"], 1.0);
    assert_eq!(m["mission_runner_run_seconds_count{plugin=\"echo@1.0.0\"}"], 1.0);
    assert_eq!(m["mission_runner_instantiate_seconds_count"], 2.0);
    assert!(m["mission_runner_claim_seconds_count"] >= 2.0);
    let families: HashSet<&str> = m.keys().map(|k| k.split('{').next().unwrap()).collect();
    for f in
        ["mission_runner_queue_depth", "mission_runner_redis_errors_total", "mission_runner_plugins_compiled_total"]
    {
        assert!(families.contains(f), "{f} missing");
    }
}
