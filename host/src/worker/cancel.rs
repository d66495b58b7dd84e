//! Listens on the cancel channel and stops cancelled attempts at once. The
//! heartbeat catches any message missed while disconnected.

use tokio_util::sync::CancellationToken;

use super::Worker;
use crate::pubsub::{Wake, follow};

pub(super) async fn listen(worker: Worker, client: redis::Client, stop: CancellationToken) {
    let channel = worker.queue.keys().cancel_channel();
    follow(client, channel, None, stop, |wake| {
        if let Wake::Message(id) = wake
            && worker.inflight.abort(&id)
        {
            tracing::info!(mission_id = %id, "cancelled; stopping the attempt");
        }
        std::future::ready(())
    })
    .await
}
