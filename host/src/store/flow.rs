//! Flow control: pause and resume, global limits per mission type, fair
//! share between tenants, and expiry before start.
//!
//! # The structure that keeps a claim's cost independent of what waits
//!
//! Ready missions are not in one queue but in one ZSET per (tenant, type)
//! (`q:<tenant>:<type>`, scored by priority rank and sequence as before). Each
//! tenant has an index of its *claimable* types (`t:<tenant>:types`, scored by
//! the score of each type queue's head), and `ready` holds the tenants that have
//! claimable work, scored by their *pass*: stride scheduling (weighted fair
//! queuing), where each start advances a tenant's pass by `1 / weight`. The
//! claim takes the tenant of the lowest pass, its type of the best head, and
//! pops from that queue as many as the next tenant's pass and the next type's
//! head allow (a whole batch when one tenant waits alone). A tenant that
//! becomes active again starts at the later of its own pass and the virtual
//! clock (the pass of the latest turn), so idleness banks no credit.
//!
//! A type that is paused, at its concurrency limit or out of rate tokens is
//! *parked* when a claim meets it: removed from that tenant's index into the
//! type's `flow:blocked:<type>` set of tenants: one step per (tenant, type),
//! never one per waiting mission, and no later claim meets it again. It comes
//! back (one step per parked tenant) when it is resumed or its limits change
//! (`flow_set.lua`), when one of its running missions ends (`set_status`), or
//! when its rate bucket holds a token again (the `wakeups` ZSET of times,
//! checked at the start of every claim, like delayed missions).
//!
//! Limits are global: the running count per type is kept in the same script
//! steps that change a mission's status, so a reaped lease stops counting the
//! moment the reaper frees it; the rate bucket is refilled by the Redis clock.
//!
//! Expiry: a mission with a deadline (`expires_at`, `ttl_ms`, or its type's
//! `ttl_ms`) is in the `deadlines` ZSET until it starts. The claim checks the
//! deadline in the step that would start it; the maintenance sweep
//! ([`Queue::lapse`]) cancels the ones whose deadline passed while they waited.

use redis::AsyncCommands;

use super::{Queue, StoreError, transitions::unexpected};
use crate::model::flow::{Paused, TypeFlow, TypeLimits, WaitingReason};
use crate::model::mission::{Mission, Status};

/// A change of a type's (or the whole queue's) flow settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowChange {
    /// Stop starting missions.
    Pause,
    /// Start them again.
    Resume,
}

impl FlowChange {
    fn as_str(self) -> &'static str {
        match self {
            FlowChange::Pause => "pause",
            FlowChange::Resume => "resume",
        }
    }
}

/// The `flow:types` field of the global pause.
const ALL_TYPES: &str = "*";

/// What the claim script reads of a type's settings (absent fields: none).
#[derive(Debug, Default, serde::Deserialize)]
struct StoredFlow {
    #[serde(default)]
    paused: Option<Paused>,
    #[serde(flatten)]
    limits: TypeLimits,
}

fn stored(raw: Option<String>) -> Result<StoredFlow, StoreError> {
    match raw {
        None => Ok(StoredFlow::default()),
        Some(s) => serde_json::from_str(&s).map_err(|e| StoreError::Protocol(format!("flow settings: {e}"))),
    }
}

impl Queue {
    /// Pauses or resumes one mission type (`Some`) or every type (`None`), by
    /// `who`, with its `queue.paused` / `queue.resumed` event. Returns false when
    /// it already was so (nothing written).
    pub async fn set_paused(
        &self,
        mission_type: Option<&str>,
        change: FlowChange,
        who: &str,
    ) -> Result<bool, StoreError> {
        let reply: String = self
            .invocation(&self.scripts().flow_set)
            .arg(mission_type.unwrap_or(ALL_TYPES))
            .arg(change.as_str())
            .arg(who)
            .arg("")
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reply != "unchanged")
    }

    /// Sets a type's limits (replacing the previous ones; the pause stays),
    /// with a `queue.limits_changed` event. The caller has validated them.
    pub async fn set_limits(&self, mission_type: &str, limits: &TypeLimits, who: &str) -> Result<(), StoreError> {
        let json = serde_json::to_string(limits).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let _: String = self
            .invocation(&self.scripts().flow_set)
            .arg(mission_type)
            .arg("limits")
            .arg(who)
            .arg(json)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// A type's settings and state now.
    pub async fn type_flow(&self, mission_type: &str) -> Result<TypeFlow, StoreError> {
        let (own, all, running): (Option<String>, Option<String>, Option<i64>) = redis::pipe()
            .hget(self.keys().flow(), mission_type)
            .hget(self.keys().flow(), ALL_TYPES)
            .hget(self.keys().running(), mission_type)
            .query_async(&mut self.conn())
            .await?;
        let own = stored(own)?;
        Ok(TypeFlow {
            mission_type: mission_type.to_owned(),
            paused: own.paused,
            queue_paused: stored(all)?.paused,
            limits: own.limits,
            running: running.unwrap_or_default(),
        })
    }

    /// Every type with settings, and the global pause (`None`: not paused).
    pub async fn flows(&self) -> Result<(Vec<TypeFlow>, Option<Paused>), StoreError> {
        let (all, running): (Vec<(String, String)>, std::collections::HashMap<String, i64>) = redis::pipe()
            .hgetall(self.keys().flow())
            .hgetall(self.keys().running())
            .query_async(&mut self.conn())
            .await?;
        let mut out = Vec::new();
        let mut queue_paused = None;
        for (t, raw) in all {
            let s = stored(Some(raw))?;
            if t == ALL_TYPES {
                queue_paused = s.paused;
                continue;
            }
            out.push(TypeFlow {
                running: running.get(&t).copied().unwrap_or_default(),
                mission_type: t,
                paused: s.paused,
                queue_paused: None,
                limits: s.limits,
            });
        }
        out.sort_by(|a, b| a.mission_type.cmp(&b.mission_type));
        for f in &mut out {
            f.queue_paused = queue_paused.clone();
        }
        Ok((out, queue_paused))
    }

    /// Why `m` waits, if it is due and held back by its type's state now.
    pub async fn waiting_reason(&self, m: &Mission) -> Result<Option<WaitingReason>, StoreError> {
        if !matches!(m.status, Status::Pending | Status::Retrying) {
            return Ok(None);
        }
        let t = &m.mission_type;
        let flow = self.type_flow(t).await?;
        let (tokens, ts, time): (Option<f64>, Option<i64>, (i64, i64)) = redis::pipe()
            .hget(self.keys().rates(), format!("{t}|tokens"))
            .hget(self.keys().rates(), format!("{t}|ts"))
            .cmd("TIME")
            .query_async(&mut self.conn())
            .await?;
        let now_ms = time.0 * 1000 + time.1 / 1000;
        let due = |at: Option<chrono::DateTime<chrono::Utc>>| at.is_none_or(|a| a.timestamp_millis() <= now_ms);
        if !due(m.run_at) || !due(m.next_attempt_at) {
            return Ok(None);
        }
        if flow.paused.is_some() || flow.queue_paused.is_some() {
            return Ok(Some(WaitingReason::Paused));
        }
        if flow.limits.concurrency.is_some_and(|c| flow.running >= i64::from(c)) {
            return Ok(Some(WaitingReason::ConcurrencyLimit));
        }
        if let Some(r) = flow.limits.rate {
            let burst = f64::from(r.burst.unwrap_or(r.limit));
            let since = (now_ms - ts.unwrap_or(now_ms)).max(0) as f64;
            let tokens = (tokens.unwrap_or(burst) + since * f64::from(r.limit) / r.window_ms as f64).min(burst);
            if tokens < 1.0 {
                return Ok(Some(WaitingReason::RateLimit));
            }
        }
        Ok(None)
    }

    /// A tenant's fair-share weight (1 unless an admin set another).
    pub async fn weight(&self, tenant: &str) -> Result<u32, StoreError> {
        let w: Option<u32> = self.conn().hget(self.keys().weights(), tenant).await?;
        Ok(w.unwrap_or(1))
    }

    /// Sets a tenant's fair-share weight (1: the default, stored as none).
    /// The next claim on every host uses it.
    pub async fn set_weight(&self, tenant: &str, weight: u32) -> Result<(), StoreError> {
        let mut conn = self.conn();
        match weight {
            1 => conn.hdel::<_, _, ()>(self.keys().weights(), tenant).await?,
            w => conn.hset::<_, _, _, ()>(self.keys().weights(), tenant, w).await?,
        }
        Ok(())
    }

    /// Moves the ready missions a version before flow control left in its one
    /// ready set into the per-(tenant, type) queues, in order; returns how many.
    /// Run at start-up; one cheap call when there are none.
    pub async fn migrate_ready(&self) -> Result<u64, StoreError> {
        let mut moved = 0;
        loop {
            let n: i64 = self.invocation(&self.scripts().migrate).arg(1000).invoke_async(&mut self.conn()).await?;
            match u64::try_from(n) {
                Ok(0) => return Ok(moved),
                Ok(n) => moved += n,
                Err(_) => return Err(unexpected(&n.to_string())),
            }
        }
    }

    /// Cancels up to `limit` missions whose deadline passed before they
    /// started (reason `expired`); returns how many deadlines were handled.
    pub async fn lapse(&self, limit: usize) -> Result<u64, StoreError> {
        let n: i64 = self
            .invocation(&self.scripts().lapse)
            .arg(limit)
            .arg(self.settings().retention_completed_ms)
            .invoke_async(&mut self.conn())
            .await?;
        u64::try_from(n).map_err(|_| unexpected(&n.to_string()))
    }
}
