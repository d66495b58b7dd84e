//! Live events over SSE: filters, and resuming after a disconnect with
//! `Last-Event-ID` without losing or repeating an event.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::harness::TestEnv;

/// An open SSE response, read event by event.
struct Sse {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl Sse {
    async fn open(url: &str, last_event_id: Option<&str>) -> Sse {
        let mut req = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.expect("stream opens");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Sse { body: Box::pin(resp.bytes_stream()), buf: String::new() }
    }

    /// The next event's (id, type, data), skipping keep-alive comments.
    async fn next(&mut self) -> (String, String, Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    block.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim_start().to_owned()))
                };
                if let (Some(id), Some(ty), Some(data)) = (field("id"), field("event"), field("data")) {
                    return (id, ty, serde_json::from_str(&data).expect("data is JSON"));
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(15), self.body.next())
                .await
                .expect("an event within 15 s")
                .expect("stream still open")
                .expect("chunk");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn the_stream_filters_and_resumes_after_a_disconnect() {
    let env = TestEnv::start().await;
    let url = format!("{}/api/events/stream?type=mission.completed", env.host.url());
    let mut sse = Sse::open(&url, None).await;
    let first = env.api.submit(json!({ "type": "echo", "payload": 1 })).await;
    let (seen, ty, data) = sse.next().await;
    assert_eq!(ty, "mission.completed");
    assert_eq!(data["payload"]["mission_id"], first.as_str());
    // The SSE id is the position in the tenant's stream and the plugin stream;
    // the event's id (a UUID) decodes to its entry in the first.
    let event: mission_runner::model::event_id::EventId = data["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(seen.split('_').next(), Some(event.entry.to_string().as_str()));
    drop(sse);

    // While disconnected, two more complete; the resumed stream brings exactly those.
    let mut missed = Vec::new();
    for i in 0..2 {
        let id = env.api.submit(json!({ "type": "echo", "payload": i })).await;
        env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
        missed.push(id);
    }
    let mut sse = Sse::open(&url, Some(&seen)).await;
    for id in &missed {
        let (_, ty, data) = sse.next().await;
        assert_eq!((ty.as_str(), data["payload"]["mission_id"].as_str()), ("mission.completed", Some(id.as_str())));
    }

    // Filtered by mission: only that mission's events, in order.
    let third = env.api.submit(json!({ "type": "flaky", "payload": { "fail_times": 0 } })).await;
    let by_mission = format!("{}/api/events/stream?mission_id={third}", env.host.url());
    let mut sse = Sse::open(&by_mission, Some("0-0")).await;
    let mut types = Vec::new();
    while types.last().map(String::as_str) != Some("mission.completed") {
        let (_, ty, data) = sse.next().await;
        assert_eq!(data["payload"]["mission_id"], third.as_str());
        types.push(ty);
    }
    assert_eq!(types, ["mission.created", "mission.started", "mission.log_appended", "mission.completed"]);

    let (status, body) = env.api.get("/api/events/stream?last_event_id=yesterday").await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_query")));
}
