//! The schedule loop: every host runs one. Each turn it reads the due
//! schedules (the `schedules:due` ZSET, so a turn costs O(due)), computes each
//! one's step in Rust (model::schedule_plan, croner for cron ticks) and has
//! the fire script apply it if the schedule is still as it saw it. Hosts race
//! for each tick; the compare-and-set lets exactly one win, so a tick creates
//! one mission whichever hosts start, stop or crash around it, and a tick no
//! host fired in time is a missed tick for the catch-up policy.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::Worker;
use crate::model::schedule::{ScheduleConfig, ScheduleRecord};
use crate::model::schedule_plan::{Plan, Seen, SkipReason, Timing, due_at, plan};
use crate::model::submission::{MissionDefaults, MissionRequest, NewMission};
use crate::store::{FireOutcome, StoreError};

/// Most due schedules one turn handles (the rest wait for the next turn).
const BATCH: usize = 100;
/// Most missed ticks counted one by one for the `schedule.skipped` event.
const MAX_COUNTED: u64 = 100_000;

/// What the loop needs beside the worker.
#[derive(Debug, Clone)]
pub struct ScheduleRunner {
    /// Budgets and timing.
    pub config: ScheduleConfig,
    /// Defaults for the fields a template leaves out (as for submissions).
    pub defaults: Arc<MissionDefaults>,
}

/// Runs turns every `poll_ms` until `stop`.
pub(super) async fn schedule_loop(worker: Worker, runner: Arc<ScheduleRunner>, stop: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_millis(runner.config.poll_ms.max(1)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = turn(&worker, &runner).await {
            tracing::warn!(error = %e, "schedule turn failed");
        }
    }
}

/// One look at every due schedule.
async fn turn(worker: &Worker, runner: &ScheduleRunner) -> Result<(), StoreError> {
    let (now, due) = worker.queue.schedules_due(BATCH).await?;
    for (tenant, name) in due {
        if let Err(e) = step(worker, runner, now, &tenant, &name).await {
            tracing::warn!(error = %e, %tenant, schedule = %name, "schedule step failed");
        }
    }
    Ok(())
}

/// Computes and applies one schedule's step.
async fn step(worker: &Worker, runner: &ScheduleRunner, now: i64, tenant: &str, name: &str) -> Result<(), StoreError> {
    let q = &worker.queue;
    let Some(rec) = q.schedule_get(tenant, name).await? else { return Ok(()) };
    if rec.state.paused {
        return Ok(());
    }
    let timing = match Timing::of(&rec.spec) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, %tenant, schedule = %name, "a stored schedule no longer parses");
            return Ok(());
        }
    };
    let last_running = match &rec.state.last_mission {
        Some(id) => q.mission_unfinished(id).await?,
        None => false,
    };
    let seen = Seen { next_ms: rec.state.next_ms, buffered_ms: rec.state.buffered_ms, last_running };
    let p = plan(&timing, &rec.spec, &seen, now, runner.config.misfire_grace_ms as i64);
    let missions = match p.fire.iter().map(|&tick| tick_mission(&rec, &runner.defaults, tick)).collect() {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, %tenant, schedule = %name, "the template no longer validates; its ticks are skipped");
            Vec::new()
        }
    };
    let p = match missions.len() == p.fire.len() {
        true => p,
        false => {
            let mut skipped: Vec<_> = p.fire.iter().map(|&t| (t, SkipReason::Invalid)).collect();
            skipped.extend(p.skipped);
            Plan { fire: Vec::new(), skipped, ..p }
        }
    };
    let missed = p.missed.map_or(0, |(first, last)| count_ticks(&timing, first, last));
    let due = due_at(&p, now, (runner.config.poll_ms as i64 * 2).max(200));
    match q.schedule_fire(&rec, &seen, &p, &missions, missed, due).await? {
        FireOutcome::Applied { fired, skipped, refusal } => {
            worker.metrics.schedule_ticks("fired", fired);
            worker.metrics.schedule_ticks("skipped", skipped);
            if let Some(r) = refusal {
                tracing::warn!(%tenant, schedule = %name, refusal = %r, "a tick's mission was refused; skipped");
            }
        }
        FireOutcome::Stale | FireOutcome::Gone | FireOutcome::Paused => {}
    }
    Ok(())
}

/// The mission of one tick: the template, checked as a submission, owned by
/// the schedule's tenant and creator, with the idempotency key
/// `schedule:<name>:<tick>` as a backstop against a second creation.
fn tick_mission(rec: &ScheduleRecord, defaults: &MissionDefaults, tick: i64) -> anyhow::Result<NewMission> {
    let req: MissionRequest = serde_json::from_str(rec.spec.mission.get())?;
    let mut m = req.validate(defaults, Utc::now())?;
    m.tenant.clone_from(&rec.tenant);
    m.created_by.clone_from(&rec.created_by);
    m.idempotency_key = format!("schedule:{}:{tick}", rec.name);
    Ok(m)
}

/// Ticks in `[first, last]` (counted up to [`MAX_COUNTED`]).
fn count_ticks(timing: &Timing, first: i64, last: i64) -> u64 {
    if let Timing::Interval { every_ms, .. } = timing {
        return ((last - first) / every_ms + 1).max(0) as u64;
    }
    let (mut n, mut at) = (1u64, first);
    while n < MAX_COUNTED {
        match timing.next_after(at) {
            Some(t) if t <= last => {
                n += 1;
                at = t;
            }
            _ => break,
        }
    }
    n
}
