//! One method per queue transition, each a single Lua script call.

use std::str::FromStr;

use redis::Value;

use super::{Queue, StoreError};
use crate::model::mission::{ErrorKind, Status};
use crate::model::report::Report;
use crate::model::submission::NewMission;

/// The outcome of enqueueing one mission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The mission's id (the earlier mission's, for a repeated idempotency key).
    pub id: String,
    /// False when the idempotency key returned an existing mission.
    pub created: bool,
}

/// One mission leased to a worker.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Mission id.
    pub id: String,
    /// Lease token; required to complete, fail or renew this attempt.
    pub token: String,
    /// Mission type (chooses the plugin).
    pub mission_type: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Payload JSON text.
    pub payload: String,
    /// Wall-clock limit of the attempt.
    pub timeout_ms: u64,
    /// For logs.
    pub correlation_id: String,
    /// The plugin version to run (`name@version`): the one active for the type
    /// when the claim was made; empty if none was.
    pub plugin: String,
    /// That version's digest.
    pub plugin_digest: String,
    /// The submission's W3C trace context (empty: none), parent of the attempt's spans.
    pub traceparent: String,
    /// The mission's tenant: its plugin reads this tenant's configuration
    /// overrides and key-value namespace.
    pub tenant: String,
    /// When the attempt started (Unix ms, by the Redis clock).
    pub started_ms: i64,
}

/// What one claim call returned.
#[derive(Debug, Clone, Default)]
pub struct ClaimBatch {
    /// Missions now leased to the caller.
    pub missions: Vec<Claimed>,
    /// How long until the earliest delayed mission is due (by the Redis clock), if any.
    pub next_due_in: Option<std::time::Duration>,
}

/// Whether a completion was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// Recorded.
    Done,
    /// Refused: the token no longer holds the lease; the status the mission
    /// has now (`None`: it no longer exists).
    Stale(Option<Status>),
}

/// What a failure led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailOutcome {
    /// Another attempt is scheduled at this Unix time (ms).
    Retrying { next_attempt_ms: i64 },
    /// No attempts left, or a permanent error: the mission is `failed` (and
    /// in the dead-letter set).
    Failed,
    /// Refused: the token no longer holds the lease; the status the mission
    /// has now (`None`: it no longer exists).
    Stale(Option<Status>),
}

/// What a cancellation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled; the status it had before.
    Cancelled { previous: Status },
    /// Nothing changed: the mission had already finished with this status.
    AlreadyFinished(Status),
    /// No such mission.
    NotFound,
}

/// What a retry of a failed mission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Back in the queue with fresh attempts.
    Requeued,
    /// Nothing changed: only failed missions can be retried.
    NotFailed(Status),
    /// No such mission.
    NotFound,
}

/// Adds reports as the scripts take them: triples of kind, level or percent, message.
/// One successful attempt to record: [`Queue::complete_many`].
#[derive(Debug, Clone)]
pub struct Completion {
    id: String,
    token: String,
    /// The parts of the record that never change, as the claim returned them
    /// (the token ties them to this lease): the script reads only the status
    /// and token from Redis (complete.lua).
    mission_type: String,
    tenant: String,
    correlation_id: String,
    traceparent: String,
    attempt: u32,
    started_ms: i64,
    result: String,
    reports: Vec<Report>,
}

impl Completion {
    /// The success of `claimed` with `result` (JSON text) and its last
    /// `reports`, not yet stored.
    pub fn new(claimed: &Claimed, result: String, reports: Vec<Report>) -> Completion {
        Completion {
            id: claimed.id.clone(),
            token: claimed.token.clone(),
            mission_type: claimed.mission_type.clone(),
            tenant: claimed.tenant.clone(),
            correlation_id: claimed.correlation_id.clone(),
            traceparent: claimed.traceparent.clone(),
            attempt: claimed.attempt,
            started_ms: claimed.started_ms,
            result,
            reports,
        }
    }

    /// About how many bytes it adds to a script call.
    pub fn size(&self) -> usize {
        let reports: usize = self.reports.iter().map(|r| r.bytes() + 16).sum();
        let claimed = self.id.len() + self.token.len() + self.mission_type.len() + self.tenant.len();
        let context = self.correlation_id.len() + self.traceparent.len() + 32;
        // The result, and its summary for the event.
        claimed + context + self.result.len() + self.result.len().min(SUMMARY_BYTES + 4) + reports
    }
}

/// The `mission.completed` event carries at most this much of the result.
const SUMMARY_BYTES: usize = 200;

/// The result, cut at [`SUMMARY_BYTES`] (on a character boundary) with `…`.
fn summary(result: &str) -> String {
    if result.len() > SUMMARY_BYTES {
        let mut end = SUMMARY_BYTES;
        while !result.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &result[..end])
    } else {
        result.to_owned()
    }
}

fn report_args(inv: &mut redis::ScriptInvocation<'_>, reports: &[Report]) {
    for r in reports {
        match r {
            Report::Log { level, message } => inv.arg("log").arg(level.as_str()).arg(message),
            Report::Progress { percent, message } => inv.arg("progress").arg((*percent).min(100)).arg(message),
        };
    }
}

/// Reads the errors scripts raise on purpose (nothing written); any other is Redis'.
fn script_error(e: redis::RedisError) -> StoreError {
    match e.code() {
        Some("UNKNOWN_TYPE") => StoreError::UnknownType(e.detail().unwrap_or_default().to_owned()),
        Some("QUOTA") => match super::QuotaExceeded::from_script(e.detail().unwrap_or_default()) {
            Some(q) => StoreError::Quota(q),
            None => StoreError::Protocol(format!("unreadable quota error: {e}")),
        },
        _ => StoreError::Redis(e),
    }
}

fn status(s: &str) -> Result<Status, StoreError> {
    Status::from_str(s).map_err(StoreError::Protocol)
}

/// The status in a `stale:<status>` reply (`stale:missing`: no mission).
fn stale(reply: &str) -> Result<Option<Status>, StoreError> {
    match reply.strip_prefix("stale:") {
        Some("missing") => Ok(None),
        Some(now) => status(now).map(Some),
        None => Err(unexpected(reply)),
    }
}

/// Values per mission in a claim's reply (claim.lua).
const CLAIMED_FIELDS: usize = 11;

/// A script reply that is none of the shapes its script documents.
pub(crate) fn unexpected(reply: &str) -> StoreError {
    StoreError::Protocol(format!("unexpected script reply `{reply}`"))
}

impl Queue {
    /// Creates missions of one tenant atomically (all or none), honouring
    /// idempotency keys and the tenant's quotas ([`StoreError::Quota`]: nothing
    /// was written).
    pub async fn enqueue(&self, missions: &[NewMission]) -> Result<Vec<Enqueued>, StoreError> {
        if missions.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = self.invocation(&self.scripts.enqueue);
        self.enqueue_args(&mut inv, missions)?;
        // Only the repeats of an idempotency key come back: (position, first mission).
        let repeats: Vec<(usize, String)> = inv.invoke_async(&mut self.conn()).await.map_err(script_error)?;
        let mut out: Vec<Enqueued> = missions.iter().map(|m| Enqueued { id: m.id.clone(), created: true }).collect();
        for (position, id) in repeats {
            let slot = position.checked_sub(1).and_then(|i| out.get_mut(i));
            *slot.ok_or_else(|| unexpected(&format!("a repeat at position {position}")))? =
                Enqueued { id, created: false };
        }
        Ok(out)
    }

    /// The enqueue script's own ARGV (from ARGV[4]): the idempotency window,
    /// the default quotas, then 18 arguments per mission, in
    /// enqueue.lua's order ('' for one not given). The schedule fire script
    /// runs enqueue.lua's body and takes the same, so both build them here.
    /// (Not a JSON object per mission: decoding one was a twentieth of the
    /// queue scripts' work, and numbers that arrive as text are stored and put
    /// in events with no formatting.)
    pub(crate) fn enqueue_args(
        &self,
        inv: &mut crate::telemetry::script::Invocation<'_>,
        missions: &[NewMission],
    ) -> Result<(), StoreError> {
        let protocol = |e: serde_json::Error| StoreError::Protocol(e.to_string());
        inv.arg(self.settings.idempotency_window_ms);
        inv.arg(serde_json::to_string(&self.settings.quotas).map_err(protocol)?);
        for m in missions {
            inv.arg(&m.id)
                .arg(&m.mission_type)
                .arg(m.priority)
                .arg(&m.payload)
                .arg(m.max_attempts)
                .arg(m.timeout_ms)
                .arg(m.run_at_ms)
                .arg(m.backoff_base_ms)
                .arg(m.backoff_cap_ms)
                .arg(&m.correlation_id)
                .arg(&m.idempotency_key)
                .arg(&m.tenant)
                .arg(&m.created_by)
                .arg(&m.traceparent)
                .arg(m.name.as_deref().unwrap_or_default())
                .arg(m.description.as_deref().unwrap_or_default())
                .arg(m.expires_at_ms.map(|t| t.to_string()).unwrap_or_default())
                .arg(m.stored_options());
        }
        Ok(())
    }

    /// Promotes due missions and leases up to `count` ready ones to `worker`.
    /// (claim.lua replies with CLAIMED_FIELDS values per mission.)
    pub async fn claim(&self, worker: &str, count: usize, lease_ms: u64) -> Result<ClaimBatch, StoreError> {
        // One token for the leases of this call (claim.lua).
        let token = uuid::Uuid::new_v4().simple().to_string();
        let reply: Vec<Value> = self
            .invocation(&self.scripts.claim)
            .arg(count)
            .arg(worker)
            .arg(lease_ms)
            .arg(&token)
            .arg(1000)
            .arg(self.settings.retention_completed_ms)
            .invoke_async(&mut self.conn())
            .await?;
        let mut it = reply.into_iter();
        let due_in: i64 = redis::from_redis_value(it.next().ok_or_else(|| unexpected("an empty claim reply"))?)?;
        let started_ms: i64 =
            redis::from_redis_value(it.next().ok_or_else(|| unexpected("a claim reply without its time"))?)?;
        let next_due_in = u64::try_from(due_in).ok().map(std::time::Duration::from_millis);
        let mut batch = ClaimBatch { missions: Vec::new(), next_due_in };
        // Flat, CLAIMED_FIELDS per mission: a table per mission cost Redis
        // more to reply than its fields.
        if !it.len().is_multiple_of(CLAIMED_FIELDS) {
            return Err(unexpected(&format!("{} claim fields, not whole missions", it.len())));
        }
        while it.len() > 0 {
            let (
                id,
                mission_type,
                attempt,
                max_attempts,
                payload,
                timeout_ms,
                correlation_id,
                plugin,
                plugin_digest,
                traceparent,
                tenant,
            ) = redis::from_redis_value(Value::Array(it.by_ref().take(CLAIMED_FIELDS).collect()))?;
            batch.missions.push(Claimed {
                id,
                token: token.clone(),
                mission_type,
                attempt,
                max_attempts,
                payload,
                timeout_ms,
                correlation_id,
                plugin,
                plugin_digest,
                traceparent,
                tenant,
                started_ms,
            });
        }
        Ok(batch)
    }

    /// Records success of the attempt `claimed`, storing its last `reports`
    /// (not yet written) first, in the same step.
    pub async fn complete(&self, claimed: &Claimed, result: &str, reports: &[Report]) -> Result<Ack, StoreError> {
        let c = Completion::new(claimed, result.to_owned(), reports.to_vec());
        let mut acks = self.complete_many(&[&c]).await?;
        acks.pop().ok_or_else(|| unexpected("no reply"))
    }

    /// Records the success of several attempts in one step (one script call),
    /// each as [`Queue::complete`] would; one [`Ack`] per attempt, in order.
    pub async fn complete_many(&self, attempts: &[&Completion]) -> Result<Vec<Ack>, StoreError> {
        let mut inv = self.invocation(&self.scripts.complete);
        inv.arg(self.settings.retention_completed_ms).arg(self.settings.max_log_lines);
        for c in attempts {
            inv.arg(&c.id).arg(&c.token).arg(&c.mission_type).arg(&c.tenant).arg(&c.correlation_id);
            inv.arg(&c.traceparent).arg(c.attempt).arg(c.started_ms);
            // As a JSON string: the script puts it in the event's payload as it is.
            let summary = serde_json::Value::from(summary(&c.result)).to_string();
            inv.arg(&c.result).arg(summary).arg(c.reports.len());
            report_args(&mut inv, &c.reports);
        }
        let replies: Vec<String> = inv.invoke_async(&mut self.conn()).await?;
        if replies.len() != attempts.len() {
            return Err(unexpected(&format!("{} replies for {} attempts", replies.len(), attempts.len())));
        }
        replies
            .iter()
            .map(|r| match r.as_str() {
                "ok" => Ok(Ack::Done),
                other => stale(other).map(Ack::Stale),
            })
            .collect()
    }

    /// Records failure of the attempt holding `token`; the script decides retry or dead.
    pub async fn fail(&self, id: &str, token: &str, kind: ErrorKind, message: &str) -> Result<FailOutcome, StoreError> {
        let (what, next): (String, i64) = self
            .invocation(&self.scripts.fail)
            .arg(id)
            .arg(token)
            .arg(kind.as_str())
            .arg(message)
            .arg(rand::random::<f64>())
            .arg(self.settings.retention_failed_ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(match what.as_str() {
            "retrying" => FailOutcome::Retrying { next_attempt_ms: next },
            "failed" => FailOutcome::Failed,
            other => FailOutcome::Stale(stale(other)?),
        })
    }

    /// Renews the leases in `held` (id, token) and registers the worker
    /// described by `worker` (JSON); returns the ids whose lease is lost.
    pub async fn heartbeat(
        &self,
        worker: &str,
        held: &[(String, String)],
        lease_ms: u64,
    ) -> Result<Vec<String>, StoreError> {
        let mut inv = self.invocation(&self.scripts.heartbeat);
        inv.arg(lease_ms).arg(worker);
        for (id, token) in held {
            inv.arg(id).arg(token);
        }
        Ok(inv.invoke_async(&mut self.conn()).await?)
    }

    /// Gives back the leases `held` (id, token) of interrupted attempts: the
    /// missions go back to the queue at once, the attempts uncharged.
    pub async fn release(&self, held: &[(String, String)], why: &str) -> Result<Vec<String>, StoreError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = self.invocation(&self.scripts.release);
        inv.arg(why);
        for (id, token) in held {
            inv.arg(id).arg(token);
        }
        Ok(inv.invoke_async(&mut self.conn()).await?)
    }

    /// Recovers up to `limit` missions whose lease expired; returns their ids.
    pub async fn reap(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        Ok(self
            .invocation(&self.scripts.reap)
            .arg(limit)
            .arg(rand::random::<f64>())
            .arg(self.settings.retention_failed_ms)
            .invoke_async(&mut self.conn())
            .await?)
    }

    /// Deletes up to `limit` finished missions past their retention.
    pub async fn expire(&self, limit: usize) -> Result<u64, StoreError> {
        Ok(self.invocation(&self.scripts.expire).arg(limit).invoke_async(&mut self.conn()).await?)
    }

    /// Cancels a mission that has not finished.
    pub async fn cancel(&self, id: &str, by: &str, reason: &str) -> Result<CancelOutcome, StoreError> {
        let (what, st): (String, String) = self
            .invocation(&self.scripts.cancel)
            .arg(id)
            .arg(by)
            .arg(reason)
            .arg(self.settings.retention_completed_ms)
            .arg(self.keys.cancel_channel())
            .invoke_async(&mut self.conn())
            .await?;
        Ok(match what.as_str() {
            "cancelled" => CancelOutcome::Cancelled { previous: status(&st)? },
            "finished" => CancelOutcome::AlreadyFinished(status(&st)?),
            "missing" => CancelOutcome::NotFound,
            other => return Err(unexpected(other)),
        })
    }

    /// Sends a failed mission back to the queue with `max_attempts` fresh
    /// attempts (`None`: as many as it had), within its tenant's
    /// `queued_missions` quota ([`StoreError::Quota`]: nothing changed).
    pub async fn retry(&self, id: &str, by: &str, max_attempts: Option<u32>) -> Result<RetryOutcome, StoreError> {
        let (what, st): (String, String) = self
            .invocation(&self.scripts.retry)
            .arg(id)
            .arg(by)
            .arg(max_attempts.unwrap_or(0))
            .arg(self.settings.quotas.queued_missions)
            .invoke_async(&mut self.conn())
            .await
            .map_err(script_error)?;
        Ok(match what.as_str() {
            "requeued" => RetryOutcome::Requeued,
            "not_failed" => RetryOutcome::NotFailed(status(&st)?),
            "missing" => RetryOutcome::NotFound,
            other => return Err(unexpected(other)),
        })
    }

    /// Stores reports of a mission in order, in one call: log lines from
    /// `origin` (`plugin` or `client`), and progress while `token` holds the
    /// lease. `None` if the mission does not exist, else how many were stored.
    pub async fn report(
        &self,
        id: &str,
        token: &str,
        origin: &str,
        reports: &[Report],
    ) -> Result<Option<u32>, StoreError> {
        let mut inv = self.invocation(&self.scripts.report);
        inv.arg(id).arg(token).arg(self.settings.max_log_lines).arg(origin);
        report_args(&mut inv, reports);
        let stored: i64 = inv.invoke_async(&mut self.conn()).await?;
        match stored {
            -1 => Ok(None),
            n => u32::try_from(n).map(Some).map_err(|_| unexpected(&n.to_string())),
        }
    }
}

impl Queue {
    /// Removes a worker's registration (on a clean stop).
    pub async fn deregister(&self, worker_id: &str) -> Result<(), StoreError> {
        redis::pipe()
            .hdel(self.keys.workers(), worker_id)
            .zrem(self.keys.workers_seen(), worker_id)
            .query_async::<()>(&mut self.conn())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_of_no_documented_shape_is_a_protocol_error() {
        assert_eq!(stale("stale:missing").ok(), Some(None));
        assert_eq!(stale("stale:retrying").ok(), Some(Some(Status::Retrying)));
        for bad in ["stale:bogus", "ok?", "", "dead"] {
            assert!(matches!(stale(bad), Err(StoreError::Protocol(_))), "{bad}");
        }
    }
}
