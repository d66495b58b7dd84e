//! Listens on the cancel channel and stops cancelled attempts at once. The
//! heartbeat catches any message missed while disconnected.

use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::Worker;

pub(super) async fn listen(worker: Worker, client: redis::Client, stop: CancellationToken) {
    let channel = worker.queue.keys().cancel_channel();
    while !stop.is_cancelled() {
        let mut pubsub = match client.get_async_pubsub().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cancel listener cannot connect; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.cancelled() => return,
                }
            }
        };
        if let Err(e) = pubsub.subscribe(&channel).await {
            tracing::warn!(error = %e, "cancel listener cannot subscribe; retrying");
            continue;
        }
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(msg) => {
                        let id: String = msg.get_payload().unwrap_or_default();
                        if worker.inflight.abort(&id) {
                            tracing::info!(mission_id = %id, "cancelled; stopping the attempt");
                        }
                    }
                    None => break,
                },
                _ = stop.cancelled() => return,
            }
        }
    }
}
