//! The same world implemented in Python (componentize-py), JavaScript
//! (componentize-js) and Go (plugins/go-wordcount), run next to the Rust plugins.

use std::time::Duration;

use serde_json::json;

use crate::harness::TestEnv;

#[tokio::test]
async fn python_and_javascript_plugins_run_missions() {
    let env = TestEnv::start().await;

    let py = env.api.submit(json!({ "type": "py-greet", "payload": { "name": "Ada" } })).await;
    let js = env.api.submit(json!({ "type": "js-sum", "payload": { "numbers": [1, 2, 3.5] } })).await;
    let m = env.api.wait_status(&py, "completed", Duration::from_secs(30)).await;
    assert_eq!(m["result"], json!({ "greeting": "Hello, Ada!", "length": 11 }));
    assert_eq!(m["progress"]["percent"], 100);
    let m = env.api.wait_status(&js, "completed", Duration::from_secs(30)).await;
    assert_eq!(m["result"], json!({ "sum": 6.5, "count": 3 }));

    let (_, log) = env.api.get(&format!("/api/missions/{py}/log")).await;
    assert_eq!(log["lines"][0]["message"], "greeting Ada on attempt 1");
    let (_, log) = env.api.get(&format!("/api/missions/{js}/log")).await;
    assert_eq!(log["lines"][0]["message"], "summed 3 numbers");

    // Their errors cross the WIT variant like Rust's do.
    let bad_py = env.api.submit(json!({ "type": "py-greet", "payload": { "name": "" } })).await;
    let bad_js = env.api.submit(json!({ "type": "js-sum", "payload": { "numbers": ["x"] } })).await;
    for (id, says) in [(bad_py, "non-empty string"), (bad_js, "[number, ...]")] {
        let m = env.api.wait_status(&id, "failed", Duration::from_secs(30)).await;
        assert_eq!(m["error"]["kind"], "permanent", "{m}");
        assert!(m["error"]["message"].as_str().unwrap().contains(says), "{m}");
        assert_eq!(m["attempts"], 1);
    }
}

#[tokio::test]
async fn the_go_example_runs_missions_and_returns_both_error_kinds() {
    let env = TestEnv::start().await;
    let text = "The cat and the hat. The end!";
    let ok = env.api.submit(json!({ "type": "go-wordcount", "payload": { "text": text } })).await;
    let m = env.api.wait_status(&ok, "completed", Duration::from_secs(30)).await;
    assert_eq!(m["result"], json!({ "words": 7, "distinct": 5, "top": "the" }));
    assert_eq!(m["progress"]["percent"], 100);
    let (_, log) = env.api.get(&format!("/api/missions/{ok}/log")).await;
    assert_eq!(log["lines"][0]["message"], "counting 7 words");

    let bad = env.api.submit(json!({ "type": "go-wordcount", "payload": { "text": " " } })).await;
    let m = env.api.wait_status(&bad, "failed", Duration::from_secs(30)).await;
    assert_eq!(m["error"]["kind"], "permanent", "{m}");
    assert!(m["error"]["message"].as_str().unwrap().contains("non-empty string"), "{m}");
    let payload = json!({ "text": "a b", "retry": true });
    let backoff = json!({ "base_ms": 20, "cap_ms": 200 });
    let retried = env
        .api
        .submit(json!({ "type": "go-wordcount", "payload": payload, "max_attempts": 2, "backoff": backoff }))
        .await;
    let m = env.api.wait_status(&retried, "completed", Duration::from_secs(30)).await;
    assert_eq!(m["attempts"], 2, "{m}");
}
