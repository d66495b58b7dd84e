//! Batched acknowledgements: the successes of attempts that finish while one
//! `complete` call is in flight go together in the next call, so a busy
//! worker pays the script's fixed cost (its keys and common arguments, the
//! prelude, the round trip) once per batch instead of once per mission.
//!
//! There is no timer: a lone completion is sent at once, and batches form
//! only when completions arrive faster than Redis answers. Each attempt is
//! still checked against its own lease token in the script, and each gets
//! its own answer ([`Ack`]), exactly as a call of its own would give it.

use tokio::sync::{mpsc, oneshot};

use crate::store::{Ack, Completion, Queue, StoreError};

/// Most attempts one call acknowledges.
const MAX_BATCH: usize = 64;
/// A batch stops growing past this many bytes of arguments (results and
/// reports), so one script call stays small next to Redis' other clients.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// One completion waiting for its batch, and where its answer goes.
struct Pending {
    attempt: Completion,
    reply: oneshot::Sender<Result<Ack, StoreError>>,
}

/// The sending side; the task that makes the calls ends when every clone is
/// dropped (with the worker).
#[derive(Debug, Clone)]
pub(crate) struct Acks {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Acks {
    /// Starts the task that acknowledges through `queue`. At most one
    /// completion per running attempt waits, so the channel is bounded by the
    /// worker's concurrency.
    pub(crate) fn start(queue: Queue) -> Acks {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(queue, rx));
        Acks { tx }
    }

    /// Records the success of `attempt`, with whatever else is finishing.
    pub(crate) async fn complete(&self, attempt: Completion) -> Result<Ack, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { attempt, reply })
            .map_err(|_| StoreError::Protocol("the acknowledgement task has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Protocol("the acknowledgement task dropped a completion".into()))?
    }
}

async fn run(queue: Queue, mut rx: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let batch = gather(first, &mut rx);
        let attempts: Vec<&Completion> = batch.iter().map(|p| &p.attempt).collect();
        match queue.complete_many(&attempts).await {
            Ok(acks) => {
                for (p, ack) in batch.into_iter().zip(acks) {
                    let _ = p.reply.send(Ok(ack));
                }
            }
            Err(e) => {
                // Each caller retries on its own (and the script refuses a
                // second success of an attempt already recorded).
                let message = e.to_string();
                for p in batch {
                    let _ = p.reply.send(Err(StoreError::Protocol(message.clone())));
                }
            }
        }
    }
}

/// `first` and whatever else already waits, up to [`MAX_BATCH`] attempts
/// and about [`MAX_BATCH_BYTES`] (the attempt that passes it goes too; one
/// attempt alone may be larger).
fn gather(first: Pending, rx: &mut mpsc::UnboundedReceiver<Pending>) -> Vec<Pending> {
    let mut bytes = first.attempt.size();
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
        match rx.try_recv() {
            Ok(p) => {
                bytes += p.attempt.size();
                batch.push(p);
            }
            Err(_) => break,
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Claimed;

    fn pending(result_bytes: usize) -> Pending {
        let (reply, _) = oneshot::channel();
        let claimed = Claimed {
            id: "m".into(),
            token: "t".into(),
            mission_type: "echo".into(),
            attempt: 1,
            max_attempts: 3,
            payload: "{}".into(),
            timeout_ms: 1000,
            correlation_id: "m".into(),
            plugin: String::new(),
            plugin_digest: String::new(),
            traceparent: String::new(),
            tenant: "default".into(),
            started_ms: 0,
        };
        Pending { attempt: Completion::new(&claimed, "x".repeat(result_bytes), Vec::new()), reply }
    }

    /// The sizes of the batches the waiting attempts make, in order.
    fn sizes(rx: &mut mpsc::UnboundedReceiver<Pending>) -> Vec<usize> {
        let mut out = Vec::new();
        while let Ok(first) = rx.try_recv() {
            out.push(gather(first, rx).len());
        }
        out
    }

    #[test]
    fn a_batch_holds_at_most_64_attempts_and_about_a_mebibyte() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for _ in 0..150 {
            let _ = tx.send(pending(10));
        }
        assert_eq!(sizes(&mut rx), [64, 64, 22]);
        // 400 kB results: the third takes a batch past the cap, so it is the last.
        for _ in 0..5 {
            let _ = tx.send(pending(400_000));
        }
        assert_eq!(sizes(&mut rx), [3, 2]);
        // One alone may be larger than the cap: it still goes.
        let _ = tx.send(pending(3 << 20));
        let _ = tx.send(pending(10));
        assert_eq!(sizes(&mut rx), [1, 1]);
    }
}
