//! Missions as stored in Redis and as the API shows them.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Where a mission is in its life. `completed`, `failed` and `cancelled` are final
/// (a failed mission can still be retried from the dead-letter set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting in the queue (or for its `run_at`).
    Pending,
    /// Leased by a worker and running.
    Running,
    /// Failed an attempt; waiting for the next one.
    Retrying,
    /// Succeeded; `result` holds the plugin's answer.
    Completed,
    /// Failed for good; in the dead-letter set.
    Failed,
    /// Cancelled by a client or operator.
    Cancelled,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 6] =
        [Status::Pending, Status::Running, Status::Retrying, Status::Completed, Status::Failed, Status::Cancelled];

    /// The name used in Redis, the API and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Retrying => "retrying",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Whether the mission has stopped moving (only a retry moves it again).
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown status `{s}`; expected one of {}", names.join(", "))
        })
    }
}

/// Whether another attempt could help; chosen by the plugin through the WIT
/// `mission-error` variant. Traps, timeouts and lost leases are retryable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// Retried with backoff while attempts remain.
    Retryable,
    /// Fails the mission at once.
    Permanent,
}

impl ErrorKind {
    /// The name used in Redis and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::Permanent => "permanent",
        }
    }
}

/// The last error of a mission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MissionError {
    /// Retryable or permanent.
    pub kind: ErrorKind,
    /// What went wrong, as the plugin or the host said it.
    pub message: String,
}

/// The last progress report of a running mission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Progress {
    /// 0 to 100.
    pub percent: u8,
    /// The plugin's note.
    pub message: String,
}

/// Backoff between attempts: exponential from `base_ms`, capped at `cap_ms`, with jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Backoff {
    /// Delay before the second attempt (before jitter).
    pub base_ms: u64,
    /// Longest delay between two attempts (before jitter).
    pub cap_ms: u64,
}

/// Values a record leaves out: a field equal to its default here is not
/// stored, and a reader takes the default for a missing one (the Lua scripts
/// get the same table as `RECORD_DEFAULT`). Each left-out field is a scan and
/// two appends less for Redis when a mission is created, and about 15 bytes
/// less per queued mission. The values are the shipped mission defaults
/// (`MissionDefaults`); a deployment with other defaults stores its values.
/// They are part of the record format: changing one changes what records
/// already written mean. (A record of the default tenant leaves out its
/// `tenant` the same way.)
#[derive(Clone, Copy, Debug)]
pub struct RecordDefaults {
    pub priority: u8,
    pub max_attempts: u32,
    pub timeout_ms: u64,
    pub backoff: Backoff,
}

/// See [`RecordDefaults`].
pub const RECORD_DEFAULTS: RecordDefaults = RecordDefaults {
    priority: 50,
    max_attempts: 3,
    timeout_ms: 60_000,
    backoff: Backoff { base_ms: 1_000, cap_ms: 300_000 },
};

impl RecordDefaults {
    /// Field name and stored text of each default.
    pub fn fields(&self) -> [(&'static str, String); 5] {
        [
            ("priority", self.priority.to_string()),
            ("max_attempts", self.max_attempts.to_string()),
            ("timeout_ms", self.timeout_ms.to_string()),
            ("backoff_base_ms", self.backoff.base_ms.to_string()),
            ("backoff_cap_ms", self.backoff.cap_ms.to_string()),
        ]
    }
}

/// A mission record, read from its Redis hash.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Mission {
    /// Unique id (a UUIDv7, so ids sort by creation time).
    pub id: String,
    /// The mission type; it chooses the plugin.
    #[serde(rename = "type")]
    pub mission_type: String,
    /// The human name given on submission, if any.
    pub name: Option<String>,
    /// The description given on submission, if any.
    pub description: Option<String>,
    /// Lifecycle status.
    pub status: Status,
    /// 0 (lowest) to 100 (highest).
    pub priority: u8,
    /// The payload exactly as submitted.
    #[schema(value_type = serde_json::Value)]
    pub payload: Box<RawValue>,
    /// The plugin's result, once completed.
    #[schema(value_type = Option<serde_json::Value>)]
    pub result: Option<Box<RawValue>>,
    /// The last error, if the last attempt failed.
    pub error: Option<MissionError>,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Wall-clock limit of one attempt.
    pub timeout_ms: u64,
    /// Delay policy between attempts.
    pub backoff: Backoff,
    /// When the mission was submitted.
    pub created_at: DateTime<Utc>,
    /// When the current (or last) attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the mission reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
    /// When the record last changed status.
    pub updated_at: Option<DateTime<Utc>>,
    /// When a delayed mission becomes due.
    pub run_at: Option<DateTime<Utc>>,
    /// When a retrying mission's next attempt becomes due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Last progress report.
    pub progress: Option<Progress>,
    /// Correlates this mission's events with the caller's own records.
    pub correlation_id: String,
    /// The submission's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// The worker holding the lease while running (the last one, after).
    pub worker: Option<String>,
    /// `name@version` of the plugin the last attempt ran.
    pub plugin: Option<String>,
    /// Digest of the plugin the last attempt ran.
    pub plugin_digest: Option<String>,
    /// The tenant that owns it.
    pub tenant: String,
    /// The principal (token name) that submitted it.
    pub created_by: Option<String>,
    /// The principal that cancelled it.
    pub cancelled_by: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Log lines dropped past the per-mission cap.
    pub log_dropped: u64,
    /// When it is cancelled as `expired` unless started (cleared when it starts).
    pub expires_at: Option<DateTime<Utc>>,
    /// Why a due waiting mission does not start now (`paused`,
    /// `concurrency_limit`, `rate_limit`); derived from its type's state when
    /// the record is read alone (`GET /api/missions/{id}`), else null.
    pub waiting_reason: Option<crate::model::flow::WaitingReason>,
    /// The schedule whose tick created it (none: submitted by a client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The tick of that schedule it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_tick: Option<DateTime<Utc>>,
}

/// A mission hash that cannot be read back (written by something else).
#[derive(Debug, thiserror::Error)]
#[error("mission record is corrupt: field `{field}`: {problem}")]
pub struct CorruptRecord {
    field: &'static str,
    problem: String,
}

impl Mission {
    /// Reads mission `id` from the fields of its hash (`HGETALL`); `None` if
    /// empty. The id is the key's (the hash does not repeat it), and a missing
    /// correlation id is the mission's id.
    pub fn from_hash(id: &str, mut h: HashMap<String, String>) -> Result<Option<Self>, CorruptRecord> {
        if h.is_empty() {
            return Ok(None);
        }
        let mut take = |f: &'static str| h.remove(f).filter(|v| !v.is_empty());
        let text = |f: &'static str, v: Option<String>| v.ok_or(CorruptRecord { field: f, problem: "missing".into() });
        fn num<T: FromStr>(f: &'static str, v: Option<String>) -> Result<Option<T>, CorruptRecord>
        where
            T::Err: fmt::Display,
        {
            v.map(|s| s.parse::<T>().map_err(|e| CorruptRecord { field: f, problem: e.to_string() })).transpose()
        }
        fn time(f: &'static str, v: Option<String>) -> Result<Option<DateTime<Utc>>, CorruptRecord> {
            Ok(num::<i64>(f, v)?.and_then(|ms| Utc.timestamp_millis_opt(ms).single()))
        }
        fn json(f: &'static str, v: Option<String>) -> Result<Option<Box<RawValue>>, CorruptRecord> {
            v.map(|s| RawValue::from_string(s).map_err(|e| CorruptRecord { field: f, problem: e.to_string() }))
                .transpose()
        }
        let error = match (take("error_kind"), take("error")) {
            (Some(kind), Some(message)) => Some(MissionError {
                kind: if kind == "permanent" { ErrorKind::Permanent } else { ErrorKind::Retryable },
                message,
            }),
            _ => None,
        };
        let progress = match (num::<u8>("progress", take("progress"))?, take("progress_message")) {
            (Some(percent), message) => Some(Progress { percent, message: message.unwrap_or_default() }),
            _ => None,
        };
        let created_at = time("created_ms", take("created_ms"))?
            .ok_or(CorruptRecord { field: "created_ms", problem: "missing".into() })?;
        let started_at = time("started_ms", take("started_ms"))?;
        let finished_at = time("finished_ms", take("finished_ms"))?;
        Ok(Some(Mission {
            id: id.to_owned(),
            mission_type: text("type", take("type"))?,
            name: take("name"),
            description: take("description"),
            status: text("status", take("status"))?
                .parse()
                .map_err(|problem| CorruptRecord { field: "status", problem })?,
            priority: num("priority", take("priority"))?.unwrap_or(RECORD_DEFAULTS.priority),
            payload: json("payload", take("payload"))?
                .ok_or(CorruptRecord { field: "payload", problem: "missing".into() })?,
            result: json("result", take("result"))?,
            error,
            attempts: num("attempts", take("attempts"))?.unwrap_or_default(),
            max_attempts: num("max_attempts", take("max_attempts"))?.unwrap_or(RECORD_DEFAULTS.max_attempts),
            timeout_ms: num("timeout_ms", take("timeout_ms"))?.unwrap_or(RECORD_DEFAULTS.timeout_ms),
            backoff: Backoff {
                base_ms: num("backoff_base_ms", take("backoff_base_ms"))?.unwrap_or(RECORD_DEFAULTS.backoff.base_ms),
                cap_ms: num("backoff_cap_ms", take("backoff_cap_ms"))?.unwrap_or(RECORD_DEFAULTS.backoff.cap_ms),
            },
            created_at,
            started_at,
            finished_at,
            // A mission not yet moved keeps no `updated_ms` (less memory per
            // queued mission): it was last updated when it was created. A
            // start writes only `started_ms`, an end only `finished_ms` (one
            // field less per step).
            updated_at: time("updated_ms", take("updated_ms"))?.max(started_at).max(finished_at).or(Some(created_at)),
            run_at: time("run_at_ms", take("run_at_ms"))?,
            next_attempt_at: time("next_attempt_ms", take("next_attempt_ms"))?,
            progress,
            correlation_id: take("correlation_id").unwrap_or_else(|| id.to_owned()),
            idempotency_key: take("idempotency_key"),
            worker: take("worker"),
            plugin: take("plugin"),
            plugin_digest: take("plugin_digest").map(|d| if d.contains(':') { d } else { format!("sha256:{d}") }),
            tenant: take("tenant").unwrap_or_else(|| crate::model::access::DEFAULT_TENANT.to_owned()),
            created_by: take("created_by"),
            cancelled_by: take("cancelled_by"),
            cancel_reason: take("cancel_reason"),
            log_dropped: num("log_dropped", take("log_dropped"))?.unwrap_or_default(),
            expires_at: time("expires_ms", take("expires_ms"))?,
            waiting_reason: None,
            schedule: take("schedule"),
            schedule_tick: time("schedule_tick", take("schedule_tick"))?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert!("done".parse::<Status>().unwrap_err().contains("expected one of pending"));
    }

    #[test]
    fn reads_a_hash_and_rejects_a_corrupt_one() {
        let mut h: HashMap<String, String> = [
            ("id", "m1"),
            ("type", "echo"),
            ("status", "completed"),
            ("priority", "70"),
            ("payload", r#"{"a":1}"#),
            ("result", r#"{"a":1}"#),
            ("attempts", "1"),
            ("max_attempts", "3"),
            ("created_ms", "1700000000000"),
            ("progress", "50"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let m = Mission::from_hash("m1", h.clone()).unwrap().unwrap();
        assert_eq!((m.id.as_str(), m.correlation_id.as_str()), ("m1", "m1"));
        assert_eq!((m.status, m.priority, m.attempts), (Status::Completed, 70, 1));
        assert_eq!(m.result.unwrap().get(), r#"{"a":1}"#);
        assert_eq!(m.progress.unwrap().percent, 50);
        assert_eq!(m.created_at.timestamp_millis(), 1_700_000_000_000);
        // Updated: when created, until a later step; a start writes only its `started_ms`.
        let updated = |h: &HashMap<String, String>| {
            Mission::from_hash("m1", h.clone()).unwrap().unwrap().updated_at.unwrap().timestamp_millis()
        };
        assert_eq!(updated(&h), 1_700_000_000_000);
        h.insert("updated_ms".into(), "1700000000500".into());
        h.insert("started_ms".into(), "1700000000900".into());
        assert_eq!(updated(&h), 1_700_000_000_900, "started after the last other step");
        h.insert("updated_ms".into(), "1700000001200".into());
        assert_eq!(updated(&h), 1_700_000_001_200, "a step after the start");
        h.insert("finished_ms".into(), "1700000001500".into());
        assert_eq!(updated(&h), 1_700_000_001_500, "the end, which writes no updated_ms");
        h.insert("status".into(), "exploded".into());
        assert!(Mission::from_hash("m1", h).unwrap_err().to_string().contains("`status`"));
        assert!(Mission::from_hash("m1", HashMap::new()).unwrap().is_none());
    }

    #[test]
    fn a_missing_policy_field_is_its_record_default() {
        let h: HashMap<String, String> =
            [("type", "echo"), ("status", "pending"), ("payload", "1"), ("created_ms", "1")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let m = Mission::from_hash("m1", h).unwrap().unwrap();
        let d = RECORD_DEFAULTS;
        assert_eq!(
            (m.priority, m.max_attempts, m.timeout_ms, m.backoff),
            (d.priority, d.max_attempts, d.timeout_ms, d.backoff)
        );
        assert_eq!((m.priority, m.max_attempts, m.timeout_ms), (50, 3, 60_000));
    }
}
