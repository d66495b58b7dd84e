//! Schedules: a mission template submitted on a cron expression (with seconds,
//! in an IANA time zone) or at a fixed interval, with overlap and catch-up
//! policies. This file holds what a client sends, its checks, the stored spec
//! and the API's view; the tick arithmetic is in [`super::schedule_plan`].

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::submission::{MissionDefaults, MissionRequest, valid_type_name};

/// `[schedules]`: the budgets of schedules and how hosts run them. Every host
/// sharing a Redis should have the same values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Schedules one tenant may hold (a create past it is refused with 429).
    pub max_per_tenant: u64,
    /// Shortest `interval_ms`, and shortest gap between two ticks of a cron
    /// expression (checked on its next ticks), in milliseconds.
    pub min_interval_ms: u64,
    /// Largest `catch_up_cap` a schedule may ask for.
    pub max_catch_up: u32,
    /// A tick this late (ms) or less is on time and fires whatever the
    /// catch-up policy; an older one was missed (all hosts were down) and the
    /// catch-up policy decides.
    pub misfire_grace_ms: u64,
    /// How often each host looks for due schedules (ms).
    pub poll_ms: u64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            max_per_tenant: 100,
            min_interval_ms: 1_000,
            max_catch_up: 100,
            misfire_grace_ms: 2_000,
            poll_ms: 200,
        }
    }
}

impl ScheduleConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_interval_ms == 0 {
            return Err("[schedules] `min_interval_ms` must be at least 1".into());
        }
        if self.poll_ms == 0 || self.poll_ms > 60_000 {
            return Err("[schedules] `poll_ms` must be 1..=60000".into());
        }
        Ok(())
    }
}

/// What happens to a tick while the previous tick's mission has not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// The tick is skipped (a `schedule.skipped` event, reason `overlap`).
    #[default]
    Skip,
    /// The tick's mission is created anyway; several may run at once.
    Allow,
    /// The tick waits, and its mission is created as soon as the previous one
    /// finishes; one tick waits at most (a later one replaces it, and the one
    /// replaced is skipped).
    BufferOne,
}

/// Which missed ticks (older than the misfire grace: every host was down)
/// are created when a host looks again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// None: missed ticks are skipped.
    #[default]
    None,
    /// The most recent missed tick only.
    Latest,
    /// Every missed tick, the most recent `catch_up_cap` of them.
    All,
}

/// The body of `POST /api/schedules` and `PUT /api/schedules/{name}`. Give
/// either `cron` (and optionally `timezone`) or `interval_ms`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// 1 to 64 characters of a-z, 0-9, `.`, `_`, `-`; unique in the tenant.
    /// Required to create; on `PUT` it may be left out (the path names it).
    #[serde(default)]
    #[schema(example = "nightly-report")]
    pub name: Option<String>,
    /// A cron expression of 5 fields, or 6 with seconds first; `L`, `W` and
    /// `#` are understood (the `croner` crate).
    #[serde(default)]
    #[schema(example = "0 30 2 * * *")]
    pub cron: Option<String>,
    /// IANA time zone of `cron` (default `UTC`).
    #[serde(default)]
    #[schema(example = "Europe/Berlin")]
    pub timezone: Option<String>,
    /// A tick every this many milliseconds, counted from `start_at` (or the
    /// time of the create or update).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub interval_ms: Option<i64>,
    /// The mission each tick submits, as `POST /api/missions` takes it
    /// (without `run_at` or `idempotency_key`: the schedule sets both).
    #[schema(value_type = MissionRequest)]
    pub mission: Box<RawValue>,
    /// While the previous tick's mission runs: `skip` (default), `allow` or `buffer_one`.
    #[serde(default)]
    pub overlap: Option<Overlap>,
    /// After every host was down: `none` (default), `latest` or `all`.
    #[serde(default)]
    pub catch_up: Option<CatchUp>,
    /// With `catch_up: all`, the most missed ticks created (default 10).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub catch_up_cap: Option<i64>,
    /// No tick before this time.
    #[serde(default)]
    pub start_at: Option<DateTime<Utc>>,
    /// No tick after this time.
    #[serde(default)]
    pub end_at: Option<DateTime<Utc>>,
    /// Created paused (default false).
    #[serde(default)]
    pub paused: Option<bool>,
}

/// A schedule as stored (the checked request): JSON in the record's `spec` field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// Cron expression, if a cron schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Its IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Interval (ms), if an interval schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// Where interval ticks count from (Unix ms).
    #[serde(default)]
    pub anchor_ms: i64,
    /// The mission template, as given.
    pub mission: Box<RawValue>,
    /// Overlap policy.
    pub overlap: Overlap,
    /// Catch-up policy.
    pub catch_up: CatchUp,
    /// Most missed ticks `all` creates.
    pub catch_up_cap: u32,
    /// No tick before (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    /// No tick after (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
}

/// Why a schedule was refused. `field` names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct InvalidSchedule {
    /// The JSON field at fault (`mission.<field>` inside the template).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> InvalidSchedule {
    InvalidSchedule { field: field.to_owned(), message: message.into() }
}

/// Whether `name` is a well-formed schedule name (the rule of type names).
pub fn valid_schedule_name(name: &str) -> bool {
    valid_type_name(name)
}

/// A checked request: the name (if given), the spec and whether it starts paused.
#[derive(Debug, Clone)]
pub struct CheckedSchedule {
    /// The name the body gave.
    pub name: Option<String>,
    /// What is stored.
    pub spec: ScheduleSpec,
    /// Start paused.
    pub paused: bool,
}

impl ScheduleRequest {
    /// Checks every field against `limits` and the mission `defaults`; `now`
    /// anchors interval ticks when no `start_at` is given.
    pub fn validate(
        self,
        limits: &ScheduleConfig,
        defaults: &MissionDefaults,
        now: DateTime<Utc>,
    ) -> Result<CheckedSchedule, InvalidSchedule> {
        if let Some(name) = &self.name
            && !valid_schedule_name(name)
        {
            return Err(invalid(
                "name",
                "must be 1 to 64 characters of a-z, 0-9, `.`, `_` or `-`, starting with a letter or digit",
            ));
        }
        let start_ms = self.start_at.map(|t| t.timestamp_millis());
        let end_ms = self.end_at.map(|t| t.timestamp_millis());
        if let (Some(s), Some(e)) = (start_ms, end_ms)
            && e <= s
        {
            return Err(invalid("end_at", "must be after `start_at`"));
        }
        if let Some(e) = end_ms
            && e <= now.timestamp_millis()
        {
            return Err(invalid("end_at", "is in the past"));
        }
        let interval_ms = match (&self.cron, self.interval_ms) {
            (Some(_), Some(_)) => return Err(invalid("interval_ms", "give either `cron` or `interval_ms`, not both")),
            (None, None) => return Err(invalid("cron", "give either `cron` or `interval_ms`")),
            (None, Some(ms)) if ms < 0 => return Err(invalid("interval_ms", "must not be negative")),
            (None, Some(ms)) if (ms as u64) < limits.min_interval_ms => {
                return Err(invalid("interval_ms", format!("must be at least {} (ms)", limits.min_interval_ms)));
            }
            (None, Some(ms)) => Some(ms as u64),
            (Some(_), None) => None,
        };
        if self.timezone.is_some() && self.cron.is_none() {
            return Err(invalid("timezone", "only a `cron` schedule has a time zone"));
        }
        let timezone = match &self.cron {
            Some(_) => Some(self.timezone.clone().unwrap_or_else(|| "UTC".to_owned())),
            None => None,
        };
        let catch_up = self.catch_up.unwrap_or_default();
        let catch_up_cap = match self.catch_up_cap {
            None => 10.min(limits.max_catch_up.max(1)),
            Some(n) if n < 1 => return Err(invalid("catch_up_cap", "must be at least 1")),
            Some(n) if n > i64::from(limits.max_catch_up) => {
                return Err(invalid("catch_up_cap", format!("must be at most {}", limits.max_catch_up)));
            }
            Some(n) => n as u32,
        };
        check_template(&self.mission, defaults, now)?;
        let spec = ScheduleSpec {
            cron: self.cron,
            timezone,
            interval_ms,
            anchor_ms: start_ms.unwrap_or_else(|| now.timestamp_millis()),
            mission: self.mission,
            overlap: self.overlap.unwrap_or_default(),
            catch_up,
            catch_up_cap,
            start_ms,
            end_ms,
        };
        // Parses the expression and zone, and checks the gap between ticks.
        let timing = super::schedule_plan::Timing::of(&spec)?;
        if spec.cron.is_some() {
            timing.check_min_gap(now.timestamp_millis(), limits.min_interval_ms)?;
        }
        Ok(CheckedSchedule { name: self.name, spec, paused: self.paused.unwrap_or(false) })
    }
}

/// Checks a mission template: what `POST /api/missions` accepts, without the
/// fields a schedule sets itself.
fn check_template(mission: &RawValue, defaults: &MissionDefaults, now: DateTime<Utc>) -> Result<(), InvalidSchedule> {
    let req: MissionRequest =
        serde_json::from_str(mission.get()).map_err(|e| invalid("mission", format!("is not a mission: {e}")))?;
    if req.run_at.is_some() {
        return Err(invalid("mission.run_at", "a schedule sets the time of its missions"));
    }
    if req.idempotency_key.is_some() {
        return Err(invalid("mission.idempotency_key", "a schedule sets it (`schedule:<name>:<tick>`)"));
    }
    req.validate(defaults, now).map_err(|e| invalid(&format!("mission.{}", e.field), e.message))?;
    Ok(())
}

/// A schedule as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    /// Its name, unique in its tenant.
    pub name: String,
    /// The tenant that owns it; its missions belong to that tenant.
    pub tenant: String,
    /// Cron expression (cron schedules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone (cron schedules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Interval in ms (interval schedules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// The mission template.
    #[schema(value_type = Object)]
    pub mission: Box<RawValue>,
    /// Overlap policy.
    pub overlap: Overlap,
    /// Catch-up policy.
    pub catch_up: CatchUp,
    /// Most missed ticks `all` creates.
    pub catch_up_cap: u32,
    /// No tick before.
    pub start_at: Option<DateTime<Utc>>,
    /// No tick after.
    pub end_at: Option<DateTime<Utc>>,
    /// Paused: no tick fires.
    pub paused: bool,
    /// The next tick (none: past `end_at`).
    pub next_tick_at: Option<DateTime<Utc>>,
    /// The last tick that created a mission.
    pub last_tick_at: Option<DateTime<Utc>>,
    /// The mission that tick created.
    pub last_mission_id: Option<String>,
    /// A tick waiting for the previous mission (`buffer_one`).
    pub buffered_tick_at: Option<DateTime<Utc>>,
    /// Missions created.
    pub fired: u64,
    /// Ticks skipped (overlap, catch-up, refused by a quota).
    pub skipped: u64,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last change by a client.
    pub updated_at: DateTime<Utc>,
}

/// A time from Unix milliseconds.
pub fn ms_time(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// A schedule record that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("schedule record is corrupt: {0}")]
pub struct CorruptSchedule(pub String);

/// The state part of a stored record (what the fire script changes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleState {
    /// Next tick (Unix ms); `None`: no more ticks.
    pub next_ms: Option<i64>,
    /// The last tick's mission.
    pub last_mission: Option<String>,
    /// The last tick that created a mission.
    pub last_tick_ms: Option<i64>,
    /// A tick waiting for the previous mission.
    pub buffered_ms: Option<i64>,
    /// Paused.
    pub paused: bool,
}

/// A whole record: spec, state and bookkeeping.
#[derive(Debug, Clone)]
pub struct ScheduleRecord {
    /// Name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// What it does.
    pub spec: ScheduleSpec,
    /// Where it is.
    pub state: ScheduleState,
    /// Counters and authorship.
    pub fired: u64,
    /// Ticks skipped.
    pub skipped: u64,
    /// Creator.
    pub created_by: String,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms.
    pub updated_ms: i64,
}

impl ScheduleRecord {
    /// Reads a record from the fields of its hash; `None` if empty.
    pub fn from_hash(mut h: std::collections::HashMap<String, String>) -> Result<Option<Self>, CorruptSchedule> {
        if h.is_empty() {
            return Ok(None);
        }
        let mut take = |f: &str| h.remove(f).filter(|v| !v.is_empty());
        let num = |f: &str, v: Option<String>| -> Result<Option<i64>, CorruptSchedule> {
            v.map(|s| s.parse::<i64>().map_err(|e| CorruptSchedule(format!("`{f}`: {e}")))).transpose()
        };
        let spec_text = take("spec").ok_or_else(|| CorruptSchedule("`spec` missing".into()))?;
        let spec: ScheduleSpec =
            serde_json::from_str(&spec_text).map_err(|e| CorruptSchedule(format!("`spec`: {e}")))?;
        let next = num("next_ms", take("next_ms"))?.filter(|&n| n > 0);
        let state = ScheduleState {
            next_ms: next,
            last_mission: take("last_mission"),
            last_tick_ms: num("last_tick_ms", take("last_tick_ms"))?,
            buffered_ms: num("buffered_ms", take("buffered_ms"))?.filter(|&n| n > 0),
            paused: take("paused").as_deref() == Some("1"),
        };
        Ok(Some(ScheduleRecord {
            name: take("name").ok_or_else(|| CorruptSchedule("`name` missing".into()))?,
            tenant: take("tenant").ok_or_else(|| CorruptSchedule("`tenant` missing".into()))?,
            spec,
            state,
            fired: num("fired", take("fired"))?.unwrap_or_default().max(0) as u64,
            skipped: num("skipped", take("skipped"))?.unwrap_or_default().max(0) as u64,
            created_by: take("created_by").unwrap_or_default(),
            created_ms: num("created_ms", take("created_ms"))?.unwrap_or_default(),
            updated_ms: num("updated_ms", take("updated_ms"))?.unwrap_or_default(),
        }))
    }

    /// The API's view.
    pub fn view(&self) -> Schedule {
        let s = &self.spec;
        Schedule {
            name: self.name.clone(),
            tenant: self.tenant.clone(),
            cron: s.cron.clone(),
            timezone: s.timezone.clone(),
            interval_ms: s.interval_ms,
            mission: s.mission.clone(),
            overlap: s.overlap,
            catch_up: s.catch_up,
            catch_up_cap: s.catch_up_cap,
            start_at: s.start_ms.and_then(ms_time),
            end_at: s.end_ms.and_then(ms_time),
            paused: self.state.paused,
            next_tick_at: self.state.next_ms.and_then(ms_time),
            last_tick_at: self.state.last_tick_ms.and_then(ms_time),
            last_mission_id: self.state.last_mission.clone(),
            buffered_tick_at: self.state.buffered_ms.and_then(ms_time),
            fired: self.fired,
            skipped: self.skipped,
            created_by: self.created_by.clone(),
            created_at: ms_time(self.created_ms).unwrap_or_default(),
            updated_at: ms_time(self.updated_ms).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: serde_json::Value) -> Result<CheckedSchedule, InvalidSchedule> {
        let r: ScheduleRequest = serde_json::from_value(json).expect("parses");
        r.validate(&ScheduleConfig::default(), &MissionDefaults::default(), Utc::now())
    }

    #[test]
    fn names_the_field_at_fault() {
        use serde_json::json;
        let m = json!({"type": "echo", "payload": {}});
        let field = |j: serde_json::Value| check(j).unwrap_err().field;
        assert_eq!(field(json!({"name": "a", "cron": "nope", "mission": m})), "cron");
        assert_eq!(
            field(json!({"name": "a", "cron": "* * * * * *", "timezone": "Mars/Base", "mission": m})),
            "timezone"
        );
        assert_eq!(field(json!({"name": "a", "interval_ms": 999, "mission": m})), "interval_ms");
        assert_eq!(field(json!({"name": "a", "interval_ms": -5, "mission": m})), "interval_ms");
        assert_eq!(field(json!({"name": "a", "mission": m})), "cron");
        assert_eq!(field(json!({"name": "A!", "interval_ms": 1000, "mission": m})), "name");
        assert_eq!(field(json!({"name": "a", "interval_ms": 1000, "catch_up_cap": -1, "mission": m})), "catch_up_cap");
        assert_eq!(field(json!({"name": "a", "interval_ms": 1000, "catch_up_cap": 101, "mission": m})), "catch_up_cap");
        assert_eq!(
            field(json!({"name": "a", "interval_ms": 1000, "start_at": "2990-01-02T00:00:00Z",
                "end_at": "2990-01-01T00:00:00Z", "mission": m})),
            "end_at"
        );
        assert_eq!(
            field(
                json!({"name": "a", "interval_ms": 1000, "mission": {"type": "echo", "payload": 1, "priority": 500}})
            ),
            "mission.priority"
        );
        assert_eq!(
            field(
                json!({"name": "a", "interval_ms": 1000, "mission": {"type": "echo", "payload": 1, "run_at": "2990-01-01T00:00:00Z"}})
            ),
            "mission.run_at"
        );
        // Every second is the minimum gap; a cron every second passes it, not below.
        assert!(check(json!({"name": "a", "cron": "* * * * * *", "mission": m})).is_ok());
        let strict = ScheduleConfig { min_interval_ms: 60_000, ..Default::default() };
        let r: ScheduleRequest =
            serde_json::from_value(json!({"name": "a", "cron": "*/30 * * * * *", "mission": m})).unwrap();
        assert_eq!(r.validate(&strict, &MissionDefaults::default(), Utc::now()).unwrap_err().field, "cron");
        assert!(
            serde_json::from_value::<ScheduleRequest>(json!({"name": "a", "interval_ms": 1000, "mission": m, "x": 1}))
                .is_err()
        );
    }
}
