//! One attempt: run the plugin, stream its reports to Redis, record the outcome.

use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::Worker;
use crate::metrics::AttemptOutcome;
use crate::model::mission::ErrorKind;
use crate::runtime::{Batch, Report, ReportReceiver, RunInput, RunOutcome};
use crate::store::{Ack, Claimed, Completion, FailOutcome, Queue};

/// Runs one attempt of `claimed`, whose claim call spanned `claim` (start, end).
pub(super) async fn attempt(
    worker: Worker,
    claimed: Claimed,
    abort: CancellationToken,
    claim: (SystemTime, SystemTime),
) {
    let span = tracing::info_span!("mission", mission_id = %claimed.id, correlation_id = %claimed.correlation_id,
        attempt = claimed.attempt);
    // The trace's span, innermost: what runs inside is traced below it.
    let trace = crate::telemetry::attempt_span(&claimed.traceparent, &claimed.id, claimed.attempt, claim);
    async {
        let started = std::time::Instant::now();
        let (outcome, unsent) = run(&worker, &claimed, &abort, &trace).await;
        let took = started.elapsed();
        let recorded = match outcome {
            Some(outcome) => record(&worker, &claimed, outcome, unsent, &abort).await,
            None => {
                store_reports(&worker.queue, &claimed, &unsent).await;
                AttemptOutcome::Stopped
            }
        };
        worker.metrics.attempt(&claimed.plugin, took, recorded);
        worker.inflight.remove(&claimed.id);
    }
    .instrument(trace.clone())
    .instrument(span)
    .await
}

/// Runs the attempt; `None` if it was stopped (cancelled, or its lease lost).
/// Also returns the reports not yet stored.
async fn run(
    worker: &Worker,
    claimed: &Claimed,
    abort: &CancellationToken,
    trace: &tracing::Span,
) -> (Option<RunOutcome>, Vec<Report>) {
    if claimed.plugin.is_empty() {
        let message = format!("no plugin is active for mission type `{}`", claimed.mission_type);
        return (Some(RunOutcome::Failed { kind: ErrorKind::Retryable, message }), Vec::new());
    }
    let plugin = match worker.registry.resolve(&claimed.plugin, &claimed.plugin_digest).await {
        Ok(p) => p,
        Err(e) => {
            let message = format!("cannot load plugin {} on worker {}: {e:#}", claimed.plugin, worker.id);
            return (Some(RunOutcome::Failed { kind: ErrorKind::Retryable, message }), Vec::new());
        }
    };
    let input = RunInput {
        id: claimed.id.clone(),
        mission_type: claimed.mission_type.clone(),
        attempt: claimed.attempt,
        max_attempts: claimed.max_attempts,
        payload: claimed.payload.clone(),
        timeout: Duration::from_millis(claimed.timeout_ms),
        capabilities: super::capabilities::for_attempt(&worker.queue, plugin.manifest(), &claimed.tenant),
    };
    // Bounded: the guest's calls never wait, and what has no room is dropped
    // and counted (see runtime::reports).
    let (tx, rx) = worker.registry.runtime().report_channel(&plugin);
    let reporter = tokio::spawn(
        report(worker.queue.clone(), claimed.id.clone(), claimed.token.clone(), rx).instrument(trace.clone()),
    );
    let outcome = tokio::select! {
        o = worker.registry.runtime().run(&plugin, &input, tx) => Some(o),
        _ = abort.cancelled() => None,
    };
    // The sender went with the store: the reporter ends, handing back what it
    // has not sent, which is stored before (or with) the outcome.
    let unsent = reporter.await.unwrap_or_default();
    if outcome.is_none() {
        tracing::info!("attempt stopped");
    }
    (outcome, unsent)
}

/// How long a report waits for others to be sent with: an attempt that ends
/// meanwhile stores them with its outcome, in the same script call.
const REPORT_DELAY: Duration = Duration::from_millis(20);

/// Writes reports in batches, in order; returns those still waiting when the
/// attempt ended. Room in the report buffer is freed once a batch is written.
async fn report(queue: Queue, id: String, token: String, mut rx: ReportReceiver) -> Vec<Report> {
    loop {
        let batch = match rx.next_batch(REPORT_DELAY).await {
            Batch::Open(batch) => batch,
            Batch::Closed(rest) => return rest,
        };
        if let Err(e) = queue.report(&id, &token, "plugin", &batch).await {
            tracing::warn!(error = %e, reports = batch.len(), "could not store the plugin's reports");
        }
        rx.release(&batch);
    }
}

/// Stores reports on their own (the outcome does not carry them).
async fn store_reports(queue: &Queue, c: &Claimed, reports: &[Report]) {
    if reports.is_empty() {
        return;
    }
    if let Err(e) = queue.report(&c.id, &c.token, "plugin", reports).await {
        tracing::warn!(error = %e, reports = reports.len(), "could not store the plugin's reports");
    }
}

/// Records the outcome, retrying briefly if Redis hiccups. If it cannot be
/// recorded, the lease runs out and the reaper retries the mission.
async fn record(
    worker: &Worker,
    c: &Claimed,
    outcome: RunOutcome,
    unsent: Vec<Report>,
    abort: &CancellationToken,
) -> AttemptOutcome {
    let queue = &worker.queue;
    if matches!(outcome, RunOutcome::Failed { .. }) {
        store_reports(queue, c, &unsent).await;
    }
    for n in 0..5u32 {
        let result = match &outcome {
            RunOutcome::Completed(result) => {
                let attempt = Completion::new(c, result.clone(), unsent.clone());
                let ack = worker.acks.complete(attempt).instrument(crate::telemetry::script::span("complete")).await;
                ack.map(|ack| match ack {
                    Ack::Done => {
                        tracing::debug!("completed");
                        Ok(AttemptOutcome::Completed)
                    }
                    Ack::Stale(now) => Err(now),
                })
            }
            RunOutcome::Failed { kind, message } => {
                queue.fail(&c.id, &c.token, *kind, message).await.map(|o| match o {
                    FailOutcome::Retrying { next_attempt_ms } => {
                        tracing::info!(error = %message, next_attempt_ms, "failed; will retry");
                        Ok(AttemptOutcome::Retrying)
                    }
                    FailOutcome::Failed => {
                        tracing::info!(error = %message, "failed for good");
                        Ok(AttemptOutcome::Dead)
                    }
                    FailOutcome::Stale(now) => Err(now),
                })
            }
        };
        match result {
            Ok(Ok(recorded)) => return recorded,
            Ok(Err(now)) => {
                tracing::info!(status = ?now, "outcome refused: the lease was lost (cancelled or reclaimed)");
                return AttemptOutcome::Stopped;
            }
            Err(e) => {
                worker.metrics.redis_error();
                if abort.is_cancelled() {
                    tracing::warn!(error = %e, "could not record the outcome; the lease is gone anyway");
                    return AttemptOutcome::Stopped;
                }
                tracing::warn!(error = %e, try_no = n + 1, "could not record the outcome; retrying");
                tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(n))).await;
            }
        }
    }
    AttemptOutcome::Stopped
}
