//! Schedules in Redis: one hash per schedule, a set of names per tenant (its
//! budget), every schedule in `schedules:all`, and `schedules:due`, a ZSET by
//! when a host should look at each one next, so that a host's loop costs
//! O(due schedules), not O(schedules). Each change is one script with its event.

use std::collections::HashMap;

use redis::AsyncCommands as _;
use serde::Serialize;

use super::transitions::unexpected;
use super::{Queue, StoreError};
use crate::model::schedule::{ScheduleRecord, ScheduleSpec};
use crate::model::schedule_plan::{Plan, Seen};
use crate::model::submission::NewMission;

/// Create or replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// A new schedule; its name must be free.
    Create,
    /// A new spec for an existing schedule.
    Update,
}

/// What a create or update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulePutOutcome {
    /// Stored.
    Stored,
    /// Create: the tenant already has a schedule of that name.
    Exists,
    /// Update: no such schedule.
    Missing,
    /// Create: the tenant holds as many schedules as it may.
    OverBudget,
}

/// What a pause or resume did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseOutcome {
    /// Changed.
    Changed,
    /// It was already paused (or running).
    Unchanged,
    /// No such schedule.
    Missing,
}

/// What applying a step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FireOutcome {
    /// Applied: missions created, ticks skipped, and the enqueue's refusal (if
    /// the tenant's quota or the type refused the missions).
    Applied {
        /// Missions created (or found by their idempotency key).
        fired: u64,
        /// Ticks skipped.
        skipped: u64,
        /// Why the enqueue refused, if it did.
        refusal: Option<String>,
    },
    /// Another host applied a step first (or the mission finished meanwhile).
    Stale,
    /// The schedule was deleted.
    Gone,
    /// The schedule was paused.
    Paused,
}

/// The step as `schedule_fire.lua` reads it (its last ARGV).
#[derive(Serialize)]
struct Step<'a> {
    tenant: &'a str,
    name: &'a str,
    expect_next: i64,
    expect_last: &'a str,
    expect_buffered: i64,
    expect_running: bool,
    fire: Vec<i64>,
    skipped: Vec<(i64, &'static str)>,
    missed: Vec<i64>,
    buffered: i64,
    next: i64,
    due: i64,
}

impl Queue {
    /// Creates or updates a schedule, with `next` its first tick.
    #[allow(clippy::too_many_arguments)]
    pub async fn schedule_put(
        &self,
        mode: PutMode,
        tenant: &str,
        name: &str,
        spec: &ScheduleSpec,
        next: Option<i64>,
        paused: bool,
        max_per_tenant: u64,
        who: &str,
    ) -> Result<SchedulePutOutcome, StoreError> {
        let spec = serde_json::to_string(spec).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let reply: String = self
            .invocation(&self.scripts().schedule_put)
            .arg(if mode == PutMode::Create { "create" } else { "update" })
            .arg(tenant)
            .arg(name)
            .arg(spec)
            .arg(next.unwrap_or(0))
            .arg(if paused { "1" } else { "0" })
            .arg(max_per_tenant)
            .arg(who)
            .invoke_async(&mut self.conn())
            .await?;
        match reply.as_str() {
            "ok" => Ok(SchedulePutOutcome::Stored),
            "exists" => Ok(SchedulePutOutcome::Exists),
            "missing" => Ok(SchedulePutOutcome::Missing),
            "quota" => Ok(SchedulePutOutcome::OverBudget),
            other => Err(unexpected(other)),
        }
    }

    /// One schedule of `tenant`.
    pub async fn schedule_get(&self, tenant: &str, name: &str) -> Result<Option<ScheduleRecord>, StoreError> {
        let h: HashMap<String, String> = self.conn().hgetall(self.keys().schedule(tenant, name)).await?;
        ScheduleRecord::from_hash(h).map_err(|e| StoreError::Protocol(e.to_string()))
    }

    /// The schedules of `tenant`, or of every tenant (`None`), by name; at most `limit`.
    pub async fn schedule_list(&self, tenant: Option<&str>, limit: usize) -> Result<Vec<ScheduleRecord>, StoreError> {
        let mut conn = self.conn();
        let members: Vec<(String, String)> = match tenant {
            Some(t) => {
                let names: Vec<String> = conn.smembers(self.keys().tenant_schedules(t)).await?;
                names.into_iter().map(|n| (t.to_owned(), n)).collect()
            }
            None => {
                let all: Vec<String> = conn.zrange(self.keys().schedules_all(), 0, -1).await?;
                all.into_iter().filter_map(|m| m.split_once('/').map(|(t, n)| (t.to_owned(), n.to_owned()))).collect()
            }
        };
        let mut out = Vec::new();
        for (t, n) in members {
            if let Some(r) = self.schedule_get(&t, &n).await? {
                out.push(r);
            }
        }
        out.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
        out.truncate(limit);
        Ok(out)
    }

    /// Deletes a schedule; false if there was none.
    pub async fn schedule_delete(&self, tenant: &str, name: &str, who: &str) -> Result<bool, StoreError> {
        let n: i64 = self
            .invocation(&self.scripts().schedule_delete)
            .arg(tenant)
            .arg(name)
            .arg(who)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(n == 1)
    }

    /// Pauses, or resumes with `next` as the next tick.
    pub async fn schedule_pause(
        &self,
        tenant: &str,
        name: &str,
        pause: bool,
        next: Option<i64>,
        who: &str,
    ) -> Result<PauseOutcome, StoreError> {
        let reply: String = self
            .invocation(&self.scripts().schedule_pause)
            .arg(tenant)
            .arg(name)
            .arg(if pause { "pause" } else { "resume" })
            .arg(next.unwrap_or(0))
            .arg(who)
            .invoke_async(&mut self.conn())
            .await?;
        match reply.as_str() {
            "ok" => Ok(PauseOutcome::Changed),
            "same" => Ok(PauseOutcome::Unchanged),
            "missing" => Ok(PauseOutcome::Missing),
            other => Err(unexpected(other)),
        }
    }

    /// The Redis clock (Unix ms) and up to `limit` due schedules as (tenant, name).
    pub async fn schedules_due(&self, limit: usize) -> Result<(i64, Vec<(String, String)>), StoreError> {
        let reply: Vec<String> =
            self.invocation(&self.scripts().schedule_due).arg(limit).invoke_async(&mut self.conn()).await?;
        let mut it = reply.into_iter();
        let now = it.next().and_then(|s| s.parse::<i64>().ok()).ok_or_else(|| unexpected("no time"))?;
        let due = it.filter_map(|m| m.split_once('/').map(|(t, n)| (t.to_owned(), n.to_owned()))).collect();
        Ok((now, due))
    }

    /// Whether mission `id` exists and has not finished.
    pub async fn mission_unfinished(&self, id: &str) -> Result<bool, StoreError> {
        let status: Option<String> = self.conn().hget(self.keys().mission(id), "status").await?;
        Ok(status.and_then(|s| s.parse::<crate::model::mission::Status>().ok()).is_some_and(|s| !s.is_finished()))
    }

    /// Applies `plan`, computed from `seen`, to schedule `rec`, creating
    /// `missions` (one per `plan.fire` tick, in order) with the same ARGV as
    /// [`Queue::enqueue`] (built by `enqueue_args`). `missed` counts the ticks in `plan.missed`; `due`
    /// is when to look at the schedule again.
    pub async fn schedule_fire(
        &self,
        rec: &ScheduleRecord,
        seen: &Seen,
        plan: &Plan,
        missions: &[NewMission],
        missed: u64,
        due: Option<i64>,
    ) -> Result<FireOutcome, StoreError> {
        if missions.len() != plan.fire.len() {
            return Err(StoreError::Protocol("one mission per fired tick".into()));
        }
        let protocol = |e: serde_json::Error| StoreError::Protocol(e.to_string());
        let step = Step {
            tenant: &rec.tenant,
            name: &rec.name,
            expect_next: seen.next_ms.unwrap_or(0),
            expect_last: rec.state.last_mission.as_deref().unwrap_or(""),
            expect_buffered: seen.buffered_ms.unwrap_or(0),
            expect_running: seen.last_running,
            fire: plan.fire.clone(),
            skipped: plan.skipped.iter().map(|(t, r)| (*t, r.as_str())).collect(),
            missed: plan.missed.map(|(a, b)| vec![a, b, missed as i64]).unwrap_or_default(),
            buffered: plan.buffered.unwrap_or(0),
            next: plan.next_ms.unwrap_or(0),
            due: due.unwrap_or(0),
        };
        let mut inv = self.invocation(&self.scripts().schedule_fire);
        self.enqueue_args(&mut inv, missions)?;
        inv.arg(serde_json::to_string(&step).map_err(protocol)?);
        let reply: Vec<redis::Value> = inv.invoke_async(&mut self.conn()).await?;
        let mut it = reply.into_iter();
        let head: String = redis::from_redis_value(it.next().ok_or_else(|| unexpected("an empty fire reply"))?)?;
        match head.as_str() {
            "ok" => {
                let (fired, skipped, refusal): (u64, u64, String) = match (it.next(), it.next(), it.next()) {
                    (Some(a), Some(b), Some(c)) => {
                        (redis::from_redis_value(a)?, redis::from_redis_value(b)?, redis::from_redis_value(c)?)
                    }
                    _ => return Err(unexpected("a short fire reply")),
                };
                Ok(FireOutcome::Applied { fired, skipped, refusal: Some(refusal).filter(|r| !r.is_empty()) })
            }
            "stale" => Ok(FireOutcome::Stale),
            "gone" => Ok(FireOutcome::Gone),
            "paused" => Ok(FireOutcome::Paused),
            other => Err(unexpected(other)),
        }
    }
}
