//! `events --follow`: the host's event stream (Server-Sent Events), parsed by
//! `eventsource-stream` over reqwest's byte stream, and followed through
//! disconnections.
//!
//! The parser keeps bytes of a character split across chunks until the rest
//! arrives, joins multi-line `data:` fields and skips comments (keep-alives).
//! When the connection drops, the follower reconnects with `Last-Event-ID`
//! set to exactly the last `id:` it received (a position of both event
//! streams, `<tenant id>_<plugin id>`), so the host resumes after it: nothing
//! is lost or repeated while the streams still hold it (if they no longer do,
//! the host says so with an `events.lost` event, which is printed too).

use std::time::Duration;

use eventsource_stream::Eventsource as _;
use futures::{Stream, StreamExt as _};
use reqwest::StatusCode;
use serde_json::Value;

use super::client::{Failure, Remote};

/// First wait before reconnecting (the host may override it with `retry:`).
const RECONNECT: Duration = Duration::from_millis(500);
/// Longest wait between reconnection attempts.
const MAX_RECONNECT: Duration = Duration::from_secs(10);

/// How one connection ended.
enum Ended {
    /// The host closed the stream or the connection broke: reconnect.
    Dropped(String),
    /// The host refused for good (bad query, token revoked, ...).
    Refused(Failure),
}

/// Follows the stream at `url` (with its query) until interrupted, or until
/// the host refuses; `after` is where to start (`None`: from now). Each event
/// is handed to `print`.
pub async fn follow(
    remote: &Remote,
    http: &reqwest::Client,
    url: url::Url,
    after: Option<String>,
    mut print: impl FnMut(&Value),
) -> Result<(), Failure> {
    let mut last_id = after;
    let mut wait = RECONNECT;
    let mut connected_once = false;
    loop {
        let mut req = http.get(url.clone()).header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = &last_id {
            req = req.header("last-event-id", id.as_str());
        }
        let why = match req.send().await {
            Err(e) if !connected_once => {
                return Err(Failure { code: 3, message: format!("cannot reach {}: {e}", remote.url) });
            }
            Err(e) => format!("cannot reach {}: {e}", remote.url),
            Ok(resp) if resp.status().is_success() => {
                connected_once = true;
                wait = RECONNECT;
                match read(resp.bytes_stream(), &mut last_id, &mut wait, &mut print).await {
                    Ended::Dropped(why) => why,
                    Ended::Refused(f) => return Err(f),
                }
            }
            Ok(resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body: Value = resp.json().await.unwrap_or_default();
                let message = body["error"]["message"].as_str().unwrap_or("no message");
                // Busy (429) or unavailable (5xx) may pass; anything else will not.
                if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                    return Err(Failure { code: 1, message: format!("{status}: {message}") });
                }
                wait = wait.max(retry_after.unwrap_or_default());
                format!("{status}: {message}")
            }
        };
        eprintln!("event stream interrupted ({why}); reconnecting in {} ms", wait.as_millis());
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RECONNECT);
    }
}

/// Reads one connection's events until it ends, keeping `last_id` at the last
/// `id:` received and `wait` at the host's `retry:`.
async fn read<S, B, E>(
    body: S,
    last_id: &mut Option<String>,
    wait: &mut Duration,
    print: &mut impl FnMut(&Value),
) -> Ended
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let mut events = body.eventsource();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => return Ended::Dropped(format!("stream broke: {e}")),
        };
        if let Some(retry) = event.retry {
            *wait = retry;
        }
        if !event.id.is_empty() {
            *last_id = Some(event.id.clone());
        }
        let Ok(data) = serde_json::from_str::<Value>(&event.data) else { continue };
        if event.event == "stream.closed" {
            let reason = data["reason"].as_str().unwrap_or("closed").to_owned();
            return Ended::Refused(Failure { code: 1, message: format!("the host closed the stream: {reason}") });
        }
        print(&data);
    }
    Ended::Dropped("the host closed the connection".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` to the reader; returns the events printed and the last id.
    async fn parse(chunks: Vec<Vec<u8>>) -> (Vec<Value>, Option<String>) {
        let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        let (mut seen, mut last, mut wait) = (Vec::new(), None, RECONNECT);
        let ended = read(body, &mut last, &mut wait, &mut |v: &Value| seen.push(v.clone())).await;
        assert!(matches!(ended, Ended::Dropped(_)));
        (seen, last)
    }

    #[tokio::test]
    async fn a_character_split_across_chunks_arrives_whole() {
        let text =
            "id: 1-0_0-0\nevent: mission.log_appended\ndata: {\"message\": \"caf\u{e9} \u{2713} \u{1f680}\"}\n\n";
        let bytes = text.as_bytes();
        // Cut inside each multi-byte character: é (2 bytes), ✓ (3), 🚀 (4).
        let cuts: Vec<usize> = ["é", "✓", "🚀"].iter().map(|c| text.find(c).unwrap() + 1).collect();
        let mut chunks = Vec::new();
        let mut from = 0;
        for cut in cuts {
            chunks.push(bytes[from..cut].to_vec());
            from = cut;
        }
        chunks.push(bytes[from..].to_vec());
        let (seen, last) = parse(chunks).await;
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["message"], "caf\u{e9} \u{2713} \u{1f680}");
        assert_eq!(last.as_deref(), Some("1-0_0-0"));
    }

    #[tokio::test]
    async fn multi_line_data_comments_and_ids_follow_the_format() {
        let (seen, last) = parse(vec![
            b": keep-alive\n\n".to_vec(),
            b"id: 5-0_7-0\ndata: {\"a\":\ndata: 1}\n\n".to_vec(),
            b"event: events.lost\ndata: {\"stream\": \"tenant\"}\n\n".to_vec(),
        ])
        .await;
        assert_eq!(seen, vec![serde_json::json!({"a": 1}), serde_json::json!({"stream": "tenant"})]);
        assert_eq!(last.as_deref(), Some("5-0_7-0"), "an event without id keeps the last one");
    }
}
