//! The lease keeper: renews leases, fences attempts it cannot renew, and runs
//! the reaper and retention on a timer. Any number of hosts may run it at once;
//! every step is one atomic script.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Worker;

/// Renews every `lease / 5`; fences an attempt unrenewed for `lease / 2`, so it
/// is stopped well before the lease can expire and be reaped by anyone.
pub(super) async fn lease_keeper(worker: Worker, stop: CancellationToken) {
    let tick = worker.lease / 5;
    let mut interval = tokio::time::interval(tick.max(Duration::from_millis(20)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep = Instant::now() - worker.lease;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.cancelled() => return,
        }
        let held = worker.inflight.leases();
        let sent = Instant::now();
        match worker.queue.heartbeat(&worker.describe(), &held, worker.lease.as_millis() as u64).await {
            Ok(lost) => {
                worker.inflight.renewed(&held, sent);
                for id in lost {
                    if worker.inflight.abort(&id) {
                        tracing::info!(mission_id = %id, "lease lost (cancelled or reclaimed); stopping the attempt");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
        for id in worker.inflight.fence(Instant::now() - worker.lease / 2) {
            tracing::warn!(mission_id = %id, "lease not renewed in time; stopping the attempt (another worker will retry it)");
        }
        if last_sweep.elapsed() >= worker.lease / 2 {
            last_sweep = Instant::now();
            reap(&worker).await;
        }
        // Every tick, so each sweep has little to do and Redis no long stall.
        expire(&worker).await;
        lapse(&worker).await;
    }
}

/// Missions one retention script call deletes at most.
const EXPIRE_BATCH: usize = 200;

/// Recovers expired leases.
async fn reap(worker: &Worker) {
    match worker.queue.reap(100).await {
        Ok(ids) if !ids.is_empty() => tracing::warn!(missions = ?ids, "recovered missions whose lease expired"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "reaper failed"),
    }
}

/// Deletes missions past their retention.
async fn expire(worker: &Worker) {
    // Batches of 200 (each one short script call) until the backlog is gone:
    // at thousands of missions a second one batch per sweep falls behind.
    for _ in 0..200 {
        match worker.queue.expire(EXPIRE_BATCH).await {
            Ok(n) if n < EXPIRE_BATCH as u64 => break,
            Ok(_) => tokio::task::yield_now().await,
            Err(e) => {
                tracing::warn!(error = %e, "retention sweep failed");
                break;
            }
        }
    }
}

/// Cancels waiting missions whose deadline passed (reason `expired`), so they
/// do not sit in the queue; a batch per tick, more while the backlog lasts.
async fn lapse(worker: &Worker) {
    for _ in 0..50 {
        match worker.queue.lapse(EXPIRE_BATCH).await {
            Ok(n) if n < EXPIRE_BATCH as u64 => break,
            Ok(_) => tokio::task::yield_now().await,
            Err(e) => {
                tracing::warn!(error = %e, "expiry sweep failed");
                break;
            }
        }
    }
}
