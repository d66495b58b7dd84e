//! Following a Redis pub/sub channel through disconnections. Messages are
//! hints: callers also re-check state on (re)subscribe and on a timer, since
//! a message published while disconnected is lost.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// What woke the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A message with this payload.
    Message(String),
    /// Just (re)subscribed: anything published before may have been missed.
    Subscribed,
    /// The re-check timer.
    Tick,
}

/// Calls `handle` for every message on `channel`, on every (re)subscription,
/// and every `recheck` (if given), until `stop`.
pub async fn follow<F, Fut>(
    client: redis::Client,
    channel: String,
    recheck: Option<Duration>,
    stop: CancellationToken,
    mut handle: F,
) where
    F: FnMut(Wake) -> Fut,
    Fut: Future<Output = ()>,
{
    let recheck = recheck.unwrap_or(Duration::MAX);
    while !stop.is_cancelled() {
        let mut pubsub = match client.get_async_pubsub().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%channel, error = %e, "cannot connect to follow a channel; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.cancelled() => return,
                }
            }
        };
        if let Err(e) = pubsub.subscribe(&channel).await {
            tracing::warn!(%channel, error = %e, "cannot subscribe; retrying");
            continue;
        }
        handle(Wake::Subscribed).await;
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(msg) => handle(Wake::Message(msg.get_payload().unwrap_or_default())).await,
                    None => break,
                },
                _ = tokio::time::sleep(recheck) => handle(Wake::Tick).await,
                _ = stop.cancelled() => return,
            }
        }
    }
}
