//! Per-tenant quotas: what one tenant may hold or do at once, so that no
//! tenant exhausts what the others share (the queue, Redis memory, workers'
//! time, the hosts' connections).
//!
//! Defaults come from the host's `[quotas]`; an admin overrides them per
//! tenant (`PUT /api/tenants/{tenant}/quotas`), stored in Redis (`{mr}:quotas`)
//! and read by the scripts on every call, so every host applies a change at
//! once. Enforcement is in the scripts, atomically with the change it guards.

use redis::AsyncCommands as _;
use serde::{Deserialize, Serialize};

use super::{Queue, StoreError};

/// A tenant's effective quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantQuotas {
    /// Missions waiting to run (pending or retrying, ready or delayed).
    pub queued_missions: u64,
    /// Missions submitted per second, sustained.
    pub submissions_per_second: u64,
    /// Missions submitted at once after a quiet spell (a larger batch is refused whole).
    pub submission_burst: u64,
    /// Highest priority (0..=100) a mission may ask for.
    pub max_priority: u8,
    /// Longest attempt timeout (ms) a mission may ask for.
    pub max_timeout_ms: u64,
    /// Event streams (SSE) open at once, over every host.
    pub sse_streams: u64,
}

/// Upper bounds of each quota an admin may set (and of the `[quotas]` defaults).
const MAX_QUEUED: u64 = 100_000_000;
const MAX_RATE: u64 = 1_000_000;
const MAX_BURST: u64 = 10_000_000;
const MAX_TIMEOUT_MS: u64 = 31 * 24 * 3_600_000;
const MAX_STREAMS: u64 = 100_000;

impl TenantQuotas {
    /// These quotas with an admin's overrides applied.
    pub fn with(mut self, o: &QuotaOverrides) -> Self {
        let QuotaOverrides {
            queued_missions,
            submissions_per_second,
            submission_burst,
            max_priority,
            max_timeout_ms,
            sse_streams,
        } = *o;
        self.queued_missions = queued_missions.unwrap_or(self.queued_missions);
        self.submissions_per_second = submissions_per_second.unwrap_or(self.submissions_per_second);
        self.submission_burst = submission_burst.unwrap_or(self.submission_burst);
        self.max_priority = max_priority.unwrap_or(self.max_priority);
        self.max_timeout_ms = max_timeout_ms.unwrap_or(self.max_timeout_ms);
        self.sse_streams = sse_streams.unwrap_or(self.sse_streams);
        self
    }

    /// Checks each value; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let check = |field: &str, v: u64, min: u64, max: u64| {
            if (min..=max).contains(&v) { Ok(()) } else { Err(format!("`{field}` must be {min}..={max}, not {v}")) }
        };
        check("queued_missions", self.queued_missions, 0, MAX_QUEUED)?;
        check("submissions_per_second", self.submissions_per_second, 1, MAX_RATE)?;
        check("submission_burst", self.submission_burst, 1, MAX_BURST)?;
        check("max_priority", u64::from(self.max_priority), 0, u64::from(crate::model::submission::MAX_PRIORITY))?;
        check("max_timeout_ms", self.max_timeout_ms, 1, MAX_TIMEOUT_MS)?;
        check("sse_streams", self.sse_streams, 0, MAX_STREAMS)
    }
}

/// What an admin set for one tenant; an absent field takes the host's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverrides {
    /// 0..=100,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_missions: Option<u64>,
    /// 1..=1,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submissions_per_second: Option<u64>,
    /// 1..=10,000,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_burst: Option<u64>,
    /// 0..=100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_priority: Option<u8>,
    /// 1 ms to 31 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout_ms: Option<u64>,
    /// 0..=100,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_streams: Option<u64>,
}

/// A quota by name, as 429 answers name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// [`TenantQuotas::queued_missions`].
    QueuedMissions,
    /// [`TenantQuotas::submissions_per_second`].
    SubmissionsPerSecond,
    /// [`TenantQuotas::submission_burst`].
    SubmissionBurst,
    /// [`TenantQuotas::max_priority`].
    MaxPriority,
    /// [`TenantQuotas::max_timeout_ms`].
    MaxTimeoutMs,
    /// [`TenantQuotas::sse_streams`].
    SseStreams,
    /// `[quotas] host_sse_streams`: one host's streams, every tenant together.
    HostSseStreams,
}

impl Quota {
    /// Its name in the configuration, the API and error answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Quota::QueuedMissions => "queued_missions",
            Quota::SubmissionsPerSecond => "submissions_per_second",
            Quota::SubmissionBurst => "submission_burst",
            Quota::MaxPriority => "max_priority",
            Quota::MaxTimeoutMs => "max_timeout_ms",
            Quota::SseStreams => "sse_streams",
            Quota::HostSseStreams => "host_sse_streams",
        }
    }

    fn parse(s: &str) -> Option<Quota> {
        [
            Quota::QueuedMissions,
            Quota::SubmissionsPerSecond,
            Quota::SubmissionBurst,
            Quota::MaxPriority,
            Quota::MaxTimeoutMs,
            Quota::SseStreams,
            Quota::HostSseStreams,
        ]
        .into_iter()
        .find(|q| q.as_str() == s)
    }
}

/// A request refused by a quota; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quota `{}` exceeded: {message}", quota.as_str())]
pub struct QuotaExceeded {
    /// Which quota.
    pub quota: Quota,
    /// Its value for the tenant.
    pub limit: u64,
    /// When trying again may succeed (s).
    pub retry_after_s: u64,
    /// What was refused, for a person.
    pub message: String,
}

impl QuotaExceeded {
    /// Reads the detail of a script's `QUOTA <quota> <limit> <retry after> <message>` error.
    pub(crate) fn from_script(detail: &str) -> Option<QuotaExceeded> {
        let mut parts = detail.splitn(4, ' ');
        let quota = Quota::parse(parts.next()?)?;
        let limit = parts.next()?.parse().ok()?;
        let retry_after_s = parts.next()?.parse().ok()?;
        Some(QuotaExceeded { quota, limit, retry_after_s, message: parts.next().unwrap_or_default().to_owned() })
    }
}

/// A tenant's quotas as the admin API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuotaView {
    /// The tenant.
    pub tenant: String,
    /// What applies now: the host's defaults with the overrides.
    pub effective: TenantQuotas,
    /// What an admin set (absent fields take the defaults).
    pub overrides: QuotaOverrides,
    /// What the tenant uses now.
    pub usage: QuotaUsage,
}

/// What a tenant uses of its quotas now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuotaUsage {
    /// Missions waiting (pending or retrying).
    pub queued_missions: u64,
    /// Event streams open over every host (a host that died holds its slots
    /// until their lease lapses).
    pub sse_streams: u64,
}

/// How long a stream's slot lasts unless its host renews it.
pub const STREAM_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

impl Queue {
    /// The host's default quotas.
    pub fn default_quotas(&self) -> TenantQuotas {
        self.settings.quotas
    }

    /// A tenant's quotas, overrides and usage.
    pub async fn quotas(&self, tenant: &str) -> Result<QuotaView, StoreError> {
        let (set, waiting, streams): (Option<String>, Option<i64>, u64) = redis::pipe()
            .hget(self.keys.quotas(), tenant)
            .hget(self.keys.waiting(), tenant)
            .zcount(self.keys.open_streams(tenant), chrono::Utc::now().timestamp_millis(), "+inf")
            .query_async(&mut self.conn())
            .await?;
        let overrides: QuotaOverrides = match set {
            Some(json) => serde_json::from_str(&json).map_err(|e| StoreError::Protocol(e.to_string()))?,
            None => QuotaOverrides::default(),
        };
        Ok(QuotaView {
            tenant: tenant.to_owned(),
            effective: self.default_quotas().with(&overrides),
            overrides,
            // While hosts of an earlier version run beside this one the count may
            // drift, even below zero, until a start sets it again (migrate.lua):
            // no negative usage is shown.
            usage: QuotaUsage { queued_missions: waiting.unwrap_or(0).max(0) as u64, sse_streams: streams },
        })
    }

    /// Replaces what an admin set for `tenant` (empty: the defaults again).
    pub async fn set_quotas(&self, tenant: &str, overrides: &QuotaOverrides) -> Result<(), StoreError> {
        if *overrides == QuotaOverrides::default() {
            let _: u64 = self.conn().hdel(self.keys.quotas(), tenant).await?;
        } else {
            let json = serde_json::to_string(overrides).map_err(|e| StoreError::Protocol(e.to_string()))?;
            let _: u64 = self.conn().hset(self.keys.quotas(), tenant, json).await?;
        }
        Ok(())
    }

    /// Takes (`open`), renews or releases (`close`) the slot of event stream
    /// `id` of `tenant`; opening past the tenant's `sse_streams` is refused.
    pub async fn stream_slot(&self, op: SlotOp, tenant: &str, id: &str) -> Result<(), StoreError> {
        let (held, open, limit): (u8, u64, u64) = self
            .invocation(&self.scripts.streams)
            .arg(op.as_str())
            .arg(tenant)
            .arg(id)
            .arg(STREAM_LEASE.as_millis() as u64)
            .arg(self.settings.quotas.sse_streams)
            .invoke_async(&mut self.conn())
            .await?;
        if held == 1 {
            return Ok(());
        }
        Err(StoreError::Quota(QuotaExceeded {
            quota: Quota::SseStreams,
            limit,
            retry_after_s: 5,
            message: format!("tenant {tenant} has {open} event streams open, its limit"),
        }))
    }
}

/// What [`Queue::stream_slot`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotOp {
    /// Take a slot, within the quota.
    Open,
    /// Extend the lease of a held slot.
    Renew,
    /// Give it back.
    Close,
}

impl SlotOp {
    fn as_str(self) -> &'static str {
        match self {
            SlotOp::Open => "open",
            SlotOp::Renew => "renew",
            SlotOp::Close => "close",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name_and_values_are_bounded() {
        let d = TenantQuotas {
            queued_missions: 100_000,
            submissions_per_second: 1_000,
            submission_burst: 10_000,
            max_priority: 100,
            max_timeout_ms: 3_600_000,
            sse_streams: 16,
        };
        assert!(d.validate().is_ok());
        let o = QuotaOverrides { max_priority: Some(50), ..Default::default() };
        let q = d.with(&o);
        assert_eq!((q.max_priority, q.queued_missions), (50, d.queued_missions));
        let bad = d.with(&QuotaOverrides { submissions_per_second: Some(0), ..Default::default() });
        assert!(bad.validate().is_err_and(|e| e.contains("submissions_per_second")));
        assert_eq!(serde_json::to_string(&o).expect("JSON"), r#"{"max_priority":50}"#);
        assert!(serde_json::from_str::<QuotaOverrides>(r#"{"max_prio":1}"#).is_err());
    }

    #[test]
    fn script_errors_name_the_quota() {
        let e = QuotaExceeded::from_script("queued_missions 10 1 tenant a has 10 missions waiting").expect("read");
        assert_eq!((e.quota, e.limit, e.retry_after_s), (Quota::QueuedMissions, 10, 1));
        assert_eq!(e.message, "tenant a has 10 missions waiting");
        assert!(QuotaExceeded::from_script("nonsense 1 1 x").is_none());
    }
}
