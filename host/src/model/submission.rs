//! What a client submits, and the checks it must pass before anything is stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::model::mission::Backoff;

/// Highest priority; missions of higher priority are claimed first.
pub const MAX_PRIORITY: u8 = 100;
/// Most attempts a mission may ask for.
pub const MAX_ATTEMPTS: u32 = 100;
/// Farthest in the future a `run_at` may be.
pub const MAX_DELAY_DAYS: i64 = 366;
/// Longest mission `name`, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest mission `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// The body of `POST /api/missions` (and one item of a batch).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MissionRequest {
    /// The mission type: lower-case letters, digits, `.`, `_` and `-`.
    #[serde(rename = "type")]
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$", example = "echo")]
    pub mission_type: String,
    /// Any JSON value; handed to the plugin as text, unchanged.
    #[schema(value_type = serde_json::Value, example = json!({"hello": "world"}))]
    pub payload: Box<RawValue>,
    /// 0..=100 or one of `low` (25), `normal` (50), `high` (75), `critical` (100).
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Attempts allowed in all (1..=100).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub max_attempts: Option<u32>,
    /// Wall-clock limit of one attempt, in milliseconds (1 to the host's maximum, a day by default).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub timeout_ms: Option<u64>,
    /// Do not start before this time (RFC 3339).
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// Delay between attempts.
    #[serde(default)]
    pub backoff: Option<Backoff>,
    /// The same key within the idempotency window returns the first mission.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub idempotency_key: Option<String>,
    /// Carried in every event's `meta`; generated when absent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub correlation_id: Option<String>,
    /// A human name, such as `Deploy Application v2.0` (1 to 200 characters, no
    /// control characters); the mission list filters by its prefix.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, example = "Deploy Application v2.0")]
    pub name: Option<String>,
    /// What the mission is for (up to 2,000 characters; line breaks and tabs
    /// are the only control characters allowed).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Cancel it (reason `expired`) if it has not started by this time (RFC 3339,
    /// in the future). Not with `ttl_ms`.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Cancel it (reason `expired`) if it has not started within this many
    /// milliseconds of its submission (1 to 366 days). Not with `expires_at`.
    /// Neither given: the type's `ttl_ms`, if it has one.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub ttl_ms: Option<u64>,
}

/// A priority given as a number or a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Priority {
    /// 0..=100.
    #[schema(value_type = Percent)]
    Number(i64),
    /// `low`, `normal`, `high` or `critical`.
    Named(NamedPriority),
}

/// A number from 0 to 100 (the schema of a numeric priority).
#[derive(utoipa::ToSchema)]
#[schema(minimum = 0, maximum = 100)]
#[allow(dead_code)]
struct Percent(u8);

/// The priority names users of the earlier system relied on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NamedPriority {
    /// 25.
    Low,
    /// 50, the default.
    Normal,
    /// 75.
    High,
    /// 100.
    Critical,
}

/// A submission that passed every check, ready for the enqueue script
/// (`Queue::enqueue`, which passes its fields as the script's arguments).
#[derive(Debug, Clone)]
pub struct NewMission {
    /// The new mission's id.
    pub id: String,
    /// The mission type.
    pub mission_type: String,
    /// 0..=100.
    pub priority: u8,
    /// JSON text.
    pub payload: String,
    /// 1..=100.
    pub max_attempts: u32,
    /// Milliseconds.
    pub timeout_ms: u64,
    /// Unix milliseconds; 0 means now.
    pub run_at_ms: i64,
    /// Backoff base (ms).
    pub backoff_base_ms: u64,
    /// Backoff cap (ms).
    pub backoff_cap_ms: u64,
    /// Never empty.
    pub correlation_id: String,
    /// Empty when none was given.
    pub idempotency_key: String,
    /// The owning tenant.
    pub tenant: String,
    /// The submitting principal.
    pub created_by: String,
    /// W3C trace context of the submission (empty: none); stored with the
    /// mission, the parent of its attempts' spans and in its events' `meta`.
    pub traceparent: String,
    /// Left out when not given: the record stores it only then.
    pub name: Option<String>,
    /// Left out when not given or empty: the record stores it only then.
    pub description: Option<String>,
    /// Unix milliseconds after which it is cancelled as `expired` unless
    /// started; left out: its type's `ttl_ms`, if any.
    pub expires_at_ms: Option<i64>,
}

/// Why a submission was refused. `field` names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct Invalid {
    /// The JSON field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid { field, message: message.into() }
}

/// Whether `name` is a well-formed mission type (or plugin) name.
pub fn valid_type_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// How deeply arrays and objects nest in the JSON text `json` (a scalar: 0).
/// A linear scan: the payload is kept as text (`RawValue`), which serde skips
/// over without any depth limit, so nothing else bounds it.
pub fn json_depth(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn check_token(field: &'static str, value: Option<String>) -> Result<Option<String>, Invalid> {
    match value {
        Some(v) if v.is_empty() || v.len() > 200 => Err(invalid(field, "must be 1 to 200 characters")),
        Some(v) if v.chars().any(char::is_control) => Err(invalid(field, "must not contain control characters")),
        other => Ok(other),
    }
}

/// A mission's name: 1 to [`MAX_NAME_CHARS`] characters, none a control character.
pub fn check_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS {
        return Err(format!("must be 1 to {MAX_NAME_CHARS} characters (it has {n})"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// A mission's description: up to [`MAX_DESCRIPTION_CHARS`] characters; empty is none.
fn check_description(description: Option<String>) -> Result<Option<String>, Invalid> {
    let Some(d) = description.filter(|d| !d.is_empty()) else { return Ok(None) };
    let n = d.chars().count();
    if n > MAX_DESCRIPTION_CHARS {
        return Err(invalid("description", format!("must be at most {MAX_DESCRIPTION_CHARS} characters (it has {n})")));
    }
    if d.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(invalid("description", "must not contain control characters other than line breaks and tabs"));
    }
    Ok(Some(d))
}

impl MissionRequest {
    /// Checks the request and fills in defaults; `now` bounds `run_at`. The
    /// mission is owned by the default tenant until [`NewMission::owned_by`].
    pub fn validate(self, defaults: &MissionDefaults, now: DateTime<Utc>) -> Result<NewMission, Invalid> {
        if !valid_type_name(&self.mission_type) {
            return Err(invalid(
                "type",
                "must be 1 to 64 characters of a-z, 0-9, `.`, `_` or `-`, starting with a letter or digit",
            ));
        }
        let priority = match self.priority {
            None => 50,
            Some(Priority::Number(n)) if (0..=i64::from(MAX_PRIORITY)).contains(&n) => n as u8,
            Some(Priority::Number(n)) => {
                return Err(invalid("priority", format!("{n} is out of range 0..={MAX_PRIORITY}")));
            }
            Some(Priority::Named(p)) => match p {
                NamedPriority::Low => 25,
                NamedPriority::Normal => 50,
                NamedPriority::High => 75,
                NamedPriority::Critical => 100,
            },
        };
        let by_type = defaults.per_type.get(&self.mission_type);
        let max_attempts = self.max_attempts.or(by_type.and_then(|t| t.max_attempts)).unwrap_or(defaults.max_attempts);
        if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(invalid("max_attempts", format!("must be 1..={MAX_ATTEMPTS}")));
        }
        let timeout_ms = self.timeout_ms.or(by_type.and_then(|t| t.timeout_ms)).unwrap_or(defaults.timeout_ms);
        if !(1..=defaults.max_timeout_ms).contains(&timeout_ms) {
            return Err(invalid("timeout_ms", format!("must be 1..={}", defaults.max_timeout_ms)));
        }
        let backoff = self.backoff.or(by_type.and_then(|t| t.backoff)).unwrap_or(defaults.backoff);
        if backoff.base_ms == 0 || backoff.cap_ms < backoff.base_ms || backoff.cap_ms > 7 * 24 * 3_600_000 {
            return Err(invalid("backoff", "needs 0 < base_ms <= cap_ms <= 7 days"));
        }
        let run_at_ms = match self.run_at {
            Some(t) if t > now + chrono::Duration::days(MAX_DELAY_DAYS) => {
                return Err(invalid("run_at", format!("is more than {MAX_DELAY_DAYS} days ahead")));
            }
            Some(t) if t > now => t.timestamp_millis(),
            _ => 0,
        };
        let depth = json_depth(self.payload.get());
        if depth > defaults.max_payload_depth {
            return Err(invalid(
                "payload",
                format!("nests arrays and objects {depth} deep; at most {} allowed", defaults.max_payload_depth),
            ));
        }
        let idempotency_key = check_token("idempotency_key", self.idempotency_key)?.unwrap_or_default();
        let correlation_id = check_token("correlation_id", self.correlation_id)?;
        if let Some(name) = &self.name {
            check_name(name).map_err(|m| invalid("name", m))?;
        }
        let description = check_description(self.description)?;
        let expires_at_ms = match (self.expires_at, self.ttl_ms) {
            (Some(_), Some(_)) => return Err(invalid("ttl_ms", "give `expires_at` or `ttl_ms`, not both")),
            (Some(t), None) if t <= now => return Err(invalid("expires_at", "is not in the future")),
            (Some(t), None) if t > now + chrono::Duration::days(MAX_DELAY_DAYS) => {
                return Err(invalid("expires_at", format!("is more than {MAX_DELAY_DAYS} days ahead")));
            }
            (Some(t), None) => Some(t.timestamp_millis()),
            (None, Some(ttl)) if !(1..=crate::model::flow::MAX_TTL_MS).contains(&ttl) => {
                return Err(invalid("ttl_ms", format!("must be 1..={}", crate::model::flow::MAX_TTL_MS)));
            }
            (None, Some(ttl)) => Some(now.timestamp_millis() + ttl as i64),
            (None, None) => None,
        };
        if let (Some(e), Some(r)) = (expires_at_ms, self.run_at)
            && e <= r.timestamp_millis()
        {
            return Err(invalid("expires_at", "is not after `run_at`: the mission could never start"));
        }
        let id = uuid::Uuid::now_v7().to_string();
        Ok(NewMission {
            correlation_id: correlation_id.unwrap_or_else(|| id.clone()),
            id,
            mission_type: self.mission_type,
            priority,
            payload: self.payload.get().to_owned(),
            max_attempts,
            timeout_ms,
            run_at_ms,
            backoff_base_ms: backoff.base_ms,
            backoff_cap_ms: backoff.cap_ms,
            idempotency_key,
            tenant: crate::model::access::DEFAULT_TENANT.to_owned(),
            created_by: String::new(),
            traceparent: String::new(),
            name: self.name,
            description,
            expires_at_ms,
        })
    }
}

/// A field a record stores only when its mission gives it, and not equal to
/// its record default. enqueue.lua takes the ones a mission's record stores
/// as a string of their letters ([`NewMission::stored_options`]); the Lua
/// prelude's `OPTIONAL` is generated from this list (`store::keys`).
#[derive(Debug, Clone, Copy)]
pub struct OptionalField {
    /// Its letter in enqueue's argument.
    pub letter: char,
    /// Its name in the record.
    pub field: &'static str,
    /// The offset of its value among a mission's enqueue arguments
    /// (`store::Queue::enqueue_args`: 0 is the id).
    pub arg: usize,
    /// Whether a mission's record stores it: given, and not its record
    /// default ([`RECORD_DEFAULTS`](crate::model::mission::RECORD_DEFAULTS)).
    pub stored: fn(&NewMission) -> bool,
}

/// The values a record leaves out.
const DEFAULTS: crate::model::mission::RecordDefaults = crate::model::mission::RECORD_DEFAULTS;

/// Every optional field, in the order a record stores them.
pub const OPTIONAL_FIELDS: [OptionalField; 9] = [
    OptionalField { letter: 'a', field: "max_attempts", arg: 4, stored: |m| m.max_attempts != DEFAULTS.max_attempts },
    OptionalField { letter: 't', field: "timeout_ms", arg: 5, stored: |m| m.timeout_ms != DEFAULTS.timeout_ms },
    OptionalField { letter: 'p', field: "priority", arg: 2, stored: |m| m.priority != DEFAULTS.priority },
    OptionalField {
        letter: 'b',
        field: "backoff_base_ms",
        arg: 7,
        stored: |m| m.backoff_base_ms != DEFAULTS.backoff.base_ms,
    },
    OptionalField {
        letter: 'c',
        field: "backoff_cap_ms",
        arg: 8,
        stored: |m| m.backoff_cap_ms != DEFAULTS.backoff.cap_ms,
    },
    OptionalField { letter: 'i', field: "idempotency_key", arg: 10, stored: |m| !m.idempotency_key.is_empty() },
    OptionalField { letter: 'x', field: "traceparent", arg: 13, stored: |m| !m.traceparent.is_empty() },
    OptionalField { letter: 'n', field: "name", arg: 14, stored: |m| given(&m.name) },
    OptionalField { letter: 'd', field: "description", arg: 15, stored: |m| given(&m.description) },
];

/// An optional text given and not empty.
fn given(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

impl NewMission {
    /// The same mission, owned by `principal`'s tenant and recorded as created by it.
    pub fn owned_by(self, principal: &crate::model::access::Principal) -> Self {
        NewMission { tenant: principal.tenant.clone(), created_by: principal.name.clone(), ..self }
    }

    /// The optional fields its record stores, as their letters in
    /// [`OPTIONAL_FIELDS`] order: each one given and not its record default
    /// ([`OptionalField::stored`]). enqueue.lua stores exactly these: most
    /// missions store none or one, and a check of all nine per mission was a
    /// tenth of its work.
    pub fn stored_options(&self) -> String {
        OPTIONAL_FIELDS.iter().filter(|f| (f.stored)(self)).map(|f| f.letter).collect()
    }
}

/// Defaults and bounds for missions.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MissionDefaults {
    /// Attempts when a submission gives none.
    pub max_attempts: u32,
    /// Attempt timeout when a submission gives none (ms).
    pub timeout_ms: u64,
    /// Largest timeout a submission may ask for (ms).
    pub max_timeout_ms: u64,
    /// Backoff when a submission gives none.
    pub backoff: Backoff,
    /// Deepest nesting of arrays and objects a payload may have (400 past it):
    /// plugins and clients parse payloads recursively.
    pub max_payload_depth: usize,
    /// Overrides per mission type (a submission's own values win over these).
    pub per_type: std::collections::HashMap<String, TypeDefaults>,
}

/// Defaults of one mission type; absent fields fall back to the global ones.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeDefaults {
    /// Attempts of this type's missions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Attempt timeout (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Backoff between attempts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

impl MissionDefaults {
    /// Reads defaults from a JSON file such as
    /// `{"max_attempts": 5, "per_type": {"flaky": {"backoff": {"base_ms": 100, "cap_ms": 2000}}}}`.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing mission defaults in {}", path.display()))
    }
}

impl Default for MissionDefaults {
    fn default() -> Self {
        MissionDefaults {
            max_attempts: 3,
            timeout_ms: 60_000,
            max_timeout_ms: 24 * 3_600_000,
            backoff: Backoff { base_ms: 1_000, cap_ms: 300_000 },
            max_payload_depth: 64,
            per_type: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> Result<NewMission, Invalid> {
        let r: MissionRequest = serde_json::from_str(json).expect("parses");
        r.validate(&MissionDefaults::default(), Utc::now())
    }

    #[test]
    fn fills_defaults_and_keeps_the_payload_text() {
        let m = req(r#"{"type":"echo","payload":{"b": [1, 2]}}"#).unwrap();
        assert_eq!(m.payload, r#"{"b": [1, 2]}"#);
        assert_eq!((m.priority, m.max_attempts, m.run_at_ms), (50, 3, 0));
        assert_eq!(m.correlation_id, m.id);
    }

    #[test]
    fn the_shipped_defaults_are_what_a_record_leaves_out() {
        // So a mission with every default stores none of them (RECORD_DEFAULTS).
        let m = req(r#"{"type":"echo","payload":1}"#).unwrap();
        let d = crate::model::mission::RECORD_DEFAULTS;
        assert_eq!(
            (m.priority, m.max_attempts, m.timeout_ms, m.backoff_base_ms, m.backoff_cap_ms),
            (d.priority, d.max_attempts, d.timeout_ms, d.backoff.base_ms, d.backoff.cap_ms)
        );
    }

    #[test]
    fn a_mission_stores_an_option_only_when_it_is_given_and_not_its_default() {
        assert_eq!(req(r#"{"type":"echo","payload":1}"#).unwrap().stored_options(), "");
        // The defaults given explicitly are still the defaults.
        let same = r#"{"type":"echo","payload":1,"priority":50,"max_attempts":3,"timeout_ms":60000,
            "backoff":{"base_ms":1000,"cap_ms":300000},"description":""}"#;
        assert_eq!(req(same).unwrap().stored_options(), "");
        for (extra, letters) in [
            (r#""priority":51"#, "p"),
            (r#""max_attempts":4"#, "a"),
            (r#""timeout_ms":1000"#, "t"),
            (r#""backoff":{"base_ms":10,"cap_ms":300000}"#, "b"),
            (r#""backoff":{"base_ms":1000,"cap_ms":2000}"#, "c"),
            (r#""idempotency_key":"k""#, "i"),
            (r#""name":"n""#, "n"),
            (r#""description":"d""#, "d"),
            (r#""priority":0,"description":"d","max_attempts":5"#, "apd"),
        ] {
            let m = req(&format!(r#"{{"type":"echo","payload":1,{extra}}}"#)).unwrap();
            assert_eq!(m.stored_options(), letters, "{extra}");
        }
        let traced = NewMission {
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            ..req(r#"{"type":"echo","payload":1}"#).unwrap()
        };
        assert_eq!(traced.stored_options(), "x");
        // Each letter names one field.
        let letters: std::collections::HashSet<char> = OPTIONAL_FIELDS.iter().map(|f| f.letter).collect();
        assert_eq!(letters.len(), OPTIONAL_FIELDS.len());
    }

    #[test]
    fn names_the_field_at_fault() {
        assert_eq!(req(r#"{"type":"Echo!","payload":1}"#).unwrap_err().field, "type");
        assert_eq!(req(r#"{"type":"e","payload":1,"priority":101}"#).unwrap_err().field, "priority");
        assert_eq!(req(r#"{"type":"e","payload":1,"max_attempts":0}"#).unwrap_err().field, "max_attempts");
        assert_eq!(req(r#"{"type":"e","payload":1,"timeout_ms":0}"#).unwrap_err().field, "timeout_ms");
        assert_eq!(req(r#"{"type":"e","payload":1,"run_at":"2999-01-01T00:00:00Z"}"#).unwrap_err().field, "run_at");
        assert_eq!(
            req(r#"{"type":"e","payload":1,"backoff":{"base_ms":10,"cap_ms":5}}"#).unwrap_err().field,
            "backoff"
        );
        assert_eq!(req(r#"{"type":"e","payload":1,"idempotency_key":""}"#).unwrap_err().field, "idempotency_key");
    }

    #[test]
    fn name_and_description_are_bounded_in_characters() {
        let with = |name: &str, description: &str| {
            req(&serde_json::json!({ "type": "e", "payload": 1, "name": name, "description": description }).to_string())
        };
        let m = with("Deploy Application v2.0", "Deploy new version\nto production").unwrap();
        assert_eq!(m.name.as_deref(), Some("Deploy Application v2.0"));
        assert_eq!(m.description.as_deref(), Some("Deploy new version\nto production"));
        // Characters, not bytes: 200 three-byte characters fit.
        assert!(with(&"é".repeat(MAX_NAME_CHARS), &"ü".repeat(MAX_DESCRIPTION_CHARS)).is_ok());
        assert_eq!(with(&"a".repeat(MAX_NAME_CHARS + 1), "").unwrap_err().field, "name");
        assert_eq!(with("", "").unwrap_err().field, "name");
        assert_eq!(with("tab\there", "").unwrap_err().field, "name");
        assert_eq!(with("n", &"d".repeat(MAX_DESCRIPTION_CHARS + 1)).unwrap_err().field, "description");
        assert_eq!(with("n", "bell\u{7}").unwrap_err().field, "description");
        assert_eq!(with("n", "").unwrap().description, None, "an empty description is none");
        let plain = req(r#"{"type":"e","payload":1}"#).unwrap();
        assert!(plain.name.is_none() && plain.description.is_none());
    }

    #[test]
    fn payload_depth_is_bounded_and_strings_do_not_count() {
        assert_eq!(json_depth(r#"1"#), 0);
        assert_eq!(json_depth(r#"{"a": [1, {"b": []}]}"#), 4);
        assert_eq!(json_depth(r#"["[[[[\"]]]", "{{"]"#), 1, "brackets and escaped quotes in strings");
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let at = |n: usize| req(&format!(r#"{{"type":"e","payload":{}}}"#, deep(n)));
        assert!(at(64).is_ok());
        assert_eq!(at(65).unwrap_err().field, "payload");
        assert_eq!(at(200_000).unwrap_err().field, "payload");
    }

    #[test]
    fn a_type_default_sits_between_the_submission_and_the_global_default() {
        let mut d = MissionDefaults::default();
        d.per_type.insert("flaky".into(), TypeDefaults { max_attempts: Some(7), ..Default::default() });
        let check = |json: &str| {
            let r: MissionRequest = serde_json::from_str(json).unwrap();
            r.validate(&d, Utc::now()).unwrap().max_attempts
        };
        assert_eq!(check(r#"{"type":"flaky","payload":1}"#), 7);
        assert_eq!(check(r#"{"type":"flaky","payload":1,"max_attempts":2}"#), 2);
        assert_eq!(check(r#"{"type":"echo","payload":1}"#), 3);
    }

    #[test]
    fn accepts_priority_names_and_refuses_unknown_fields() {
        assert_eq!(req(r#"{"type":"e","payload":1,"priority":"critical"}"#).unwrap().priority, 100);
        assert!(serde_json::from_str::<MissionRequest>(r#"{"type":"e","payload":1,"priorty":1}"#).is_err());
        assert!(serde_json::from_str::<MissionRequest>(r#"{"type":"e"}"#).is_err());
    }
}
