//! Lifecycle events: the envelope `{id, type, source, target, timestamp, payload, meta}`.
//!
//! Each event is one lean Redis Stream entry, a single field `e` packing the
//! type, `mission`, `tenant`, `source` (the host), `cid` and `tp` (empty when
//! they would say nothing) and the payload (without `mission_id`), separated by
//! U+001F ([`event_entry`](super::event_entry)). Scripts write them in the same step as the change
//! they report; the rest of the envelope (the UUID `id`, the `timestamp` from
//! the entry id, `target`, all of `meta`, status changes) is derived when an
//! entry is read ([`Event::from_entry`]), so it costs Redis nothing: no JSON
//! of constants encoded, sent and kept per event. See `EVENTS.md`.
//!
//! A tenant's missions write to the tenant's own stream; plugin events, which
//! every tenant sees, to one shared stream. A reader of a tenant's events
//! therefore follows two streams, and its position is an [`EventPosition`]:
//! one [`StreamId`] in each.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::event_entry::unpack;
use super::event_id::{EventId, StreamRef};
use super::mission::Status;

/// The envelope's `source`: the service, the same on every host (the host or
/// worker that wrote an event is in `meta.host`).
pub const SOURCE: &str = "mission-runner";

/// The event types of schedules (`EVENTS.md`), written to the tenant's
/// stream: `schedule.fired` with the mission it created as its target, the
/// others with none.
pub const SCHEDULE_EVENTS: [&str; 7] = [
    "schedule.created",
    "schedule.updated",
    "schedule.deleted",
    "schedule.paused",
    "schedule.resumed",
    "schedule.fired",
    "schedule.skipped",
];

/// One event as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// A UUID (version 8) derived from the event's stream and entry id: unique,
    /// and a resume point (`Last-Event-ID`, `before`) like the entry id.
    #[schema(value_type = String, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", example = "019a0c8e-4d1a-8000-8003-5a1b9e2c7d40")]
    pub id: uuid::Uuid,
    /// For example `mission.completed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Always `mission-runner` ([`SOURCE`]).
    pub source: &'static str,
    /// `mission_<id>` for a mission's events; `null` for broadcasts (`plugin.*`).
    pub target: Option<String>,
    /// Unix time in seconds, with milliseconds, from the Redis clock.
    pub timestamp: f64,
    /// Type-specific fields; `mission.*` events include `mission_id`, and
    /// status changes `old_status` and `new_status`.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// `schema_version`, `producer`, `host` (the host or worker that wrote
    /// it), `correlation_id`, `tenant`.
    #[schema(value_type = Object)]
    pub meta: Box<RawValue>,
    /// Its entry id in its stream.
    #[serde(skip)]
    pub entry: StreamId,
    /// The mission it concerns (the entry's `mission` field; also in `payload`).
    #[serde(skip)]
    pub mission: Option<String>,
    /// The tenant of the mission (also in `meta`); `None` for plugin events,
    /// which every tenant may see.
    #[serde(skip)]
    pub tenant: Option<String>,
}

impl Event {
    /// Whether a caller of `tenant` may see this event.
    pub fn visible_to(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }
}

impl Event {
    /// Builds the envelope of entry `id` of `stream` from its fields; `None`
    /// if a field is missing or malformed (or the id has no UUID). An entry
    /// holds only `e`: the type, `mission`, `tenant`, `source`, `cid`, `tp`
    /// and the payload (EVENTS.md, "Stream entries"); the
    /// rest is derived here, at no cost in Redis: the UUID, the `timestamp`
    /// (the entry id's milliseconds), the `target`, the whole `meta`
    /// ([`Meta`]), the payload's `mission_id`, a status change's `old_status`
    /// and `new_status` ([`status_change`]), and `mission.created`'s
    /// `status`, `name` and `description`. Entries of the earlier layouts (a
    /// field each, with or without `timestamp` and `meta`) read as they did.
    pub fn from_entry(stream: StreamRef, id: &str, fields: Vec<String>) -> Option<Event> {
        let entry: StreamId = id.parse().ok()?;
        let uuid = EventId { stream, entry }.to_uuid()?;
        let mut it = fields.into_iter();
        let (mut ty, mut host, mut ts, mut payload, mut meta, mut mission) = (None, None, None, None, None, None);
        let (mut tenant, mut cid, mut tp) = (None, None, None);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match k.as_str() {
                "e" => {
                    let [t, m, te, h, c, p, rest] = unpack(&v)?;
                    let given = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                    (ty, mission, tenant, host) = (Some(t.to_owned()), given(m), given(te), Some(h.to_owned()));
                    (cid, tp, payload) = (given(c), given(p), Some(rest.to_owned()));
                }
                "type" => ty = Some(v),
                "source" => host = Some(v),
                "payload" => payload = Some(v),
                "mission" if !v.is_empty() => mission = Some(v),
                "tenant" if !v.is_empty() => tenant = Some(v),
                "cid" => cid = Some(v),
                "tp" => tp = Some(v),
                // The earlier layout.
                "timestamp" => ts = Some(v.parse().ok()?),
                "meta" => meta = Some(v),
                _ => {}
            }
        }
        let event_type: String = ty?;
        let host: String = host?;
        let payload = payload?;
        let legacy = meta.is_some();
        let meta = match meta {
            Some(old) => {
                let mut m = object(&old)?;
                m.entry("host").or_insert(Value::String(host));
                serde_json::value::to_raw_value(&m).ok()?
            }
            None => serde_json::value::to_raw_value(&Meta {
                schema_version: SCHEMA_VERSION,
                producer: SOURCE,
                host: &host,
                correlation_id: cid.as_deref().or(mission.as_deref()).unwrap_or_default(),
                tenant: mission.as_ref().and(tenant.as_deref()),
                traceparent: tp.as_deref(),
            })
            .ok()?,
        };
        // Written without it since the lean layout: added back here.
        let mission_id = mission.as_deref().filter(|_| !legacy);
        let payload = match derived_payload(&event_type) {
            false => RawValue::from_string(match mission_id {
                Some(m) => with_mission_id(payload, m)?,
                None => payload,
            })
            .ok()?,
            true => {
                let mut p = object(&payload)?;
                if let Some(m) = mission_id {
                    p.entry("mission_id").or_insert_with(|| Value::String(m.to_owned()));
                }
                complete_payload(&event_type, &mut p, entry.ms);
                serde_json::value::to_raw_value(&p).ok()?
            }
        };
        Some(Event {
            id: uuid,
            target: mission.as_ref().map(|m| format!("mission_{m}")),
            event_type,
            source: SOURCE,
            timestamp: ts.unwrap_or(entry.ms as f64 / 1000.0),
            payload,
            meta,
            entry,
            mission,
            tenant,
        })
    }
}

/// The envelope's `schema_version` (in `meta`).
pub const SCHEMA_VERSION: &str = "1";

/// The envelope's `meta`, built on read: the constants and what the entry says.
#[derive(Serialize)]
struct Meta<'a> {
    schema_version: &'static str,
    producer: &'static str,
    /// The host or worker that wrote the entry.
    host: &'a str,
    /// Given on submission, else the mission id; empty for events of no mission.
    correlation_id: &'a str,
    /// Only on a mission's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
}

/// `payload` (a JSON object as text) with `mission_id` added first; `None` if
/// it is not an object.
fn with_mission_id(payload: String, mission: &str) -> Option<String> {
    let rest = payload.trim_start().strip_prefix('{')?.trim_start();
    let id = serde_json::to_string(mission).ok()?;
    Some(match rest.starts_with('}') {
        true => format!("{{\"mission_id\":{id}{rest}"),
        false => format!("{{\"mission_id\":{id},{rest}"),
    })
}

fn object(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(text).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Whether events of this type get fields added on read (only these pay for
/// parsing their payload).
fn derived_payload(event_type: &str) -> bool {
    event_type == "mission.created" || status_change_type(event_type)
}

fn status_change_type(event_type: &str) -> bool {
    matches!(
        event_type,
        "mission.started" | "mission.completed" | "mission.failed" | "mission.retrying" | "mission.cancelled"
    )
}

fn complete_payload(event_type: &str, p: &mut Map<String, Value>, entry_ms: u64) {
    // A success stores when its attempt started; it ended when the entry was
    // added (Redis' clock, both): no number formatted in the script.
    if event_type == "mission.completed"
        && let Some(started) = p.remove("started_ms").and_then(|v| v.as_u64())
    {
        p.entry("duration_ms").or_insert_with(|| Value::from(entry_ms.saturating_sub(started)));
    }
    if event_type == "mission.created" {
        for field in ["name", "description"] {
            p.entry(field).or_insert_with(|| Value::String(String::new()));
        }
        // Every mission is created pending.
        p.entry("status").or_insert_with(|| Value::String(Status::Pending.as_str().to_owned()));
    }
    if let Some((old, new)) = status_change(event_type, p) {
        p.entry("old_status").or_insert_with(|| Value::String(old.as_str().to_owned()));
        p.entry("new_status").or_insert_with(|| Value::String(new.as_str().to_owned()));
    }
}

/// The status change an event reports, `(old, new)`; `None` for an event that
/// changes no status. Each change of a mission's status is reported by
/// exactly one event, written in the same step:
///
/// - `mission.started`: `old_status` is in the payload (pending or retrying:
///   which one the claim script alone knows, so it writes it); an entry
///   written before it did is taken as `retrying` past the first attempt;
/// - `mission.completed`: running to completed;
/// - `mission.failed`: running to failed if `will_retry` is false; with
///   `will_retry` true the mission goes to retrying, which the
///   `mission.retrying` written with it reports;
/// - `mission.retrying`: running to retrying, or, with `redriven_by` (an
///   operator's re-drive of a dead mission), failed to pending;
/// - `mission.cancelled`: from its `previous_status` to cancelled.
pub fn status_change(event_type: &str, payload: &Map<String, Value>) -> Option<(Status, Status)> {
    let status = |field: &str| payload.get(field).and_then(Value::as_str).and_then(|s| s.parse::<Status>().ok());
    match event_type {
        "mission.started" => {
            let guess = match payload.get("attempt").and_then(Value::as_u64) {
                Some(n) if n > 1 => Status::Retrying,
                _ => Status::Pending,
            };
            Some((status("old_status").unwrap_or(guess), Status::Running))
        }
        "mission.completed" => Some((Status::Running, Status::Completed)),
        "mission.failed" => match payload.get("will_retry").and_then(Value::as_bool) {
            Some(false) => Some((Status::Running, Status::Failed)),
            _ => None,
        },
        "mission.retrying" if payload.contains_key("redriven_by") => Some((Status::Failed, Status::Pending)),
        "mission.retrying" => Some((Status::Running, Status::Retrying)),
        "mission.cancelled" => Some((status("previous_status")?, Status::Cancelled)),
        _ => None,
    }
}

/// A stream entry id, `<ms>-<seq>`, as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Redis time (ms) when the entry was added.
    pub ms: u64,
    /// Order within that millisecond.
    pub seq: u64,
}

impl StreamId {
    /// Before every entry.
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    /// After every entry.
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    /// The smallest id after this one.
    pub fn successor(self) -> StreamId {
        match self.seq.checked_add(1) {
            Some(seq) => StreamId { ms: self.ms, seq },
            None => StreamId { ms: self.ms.saturating_add(1), seq: 0 },
        }
    }

    /// The largest id before this one (`0-0` for `0-0`).
    pub fn predecessor(self) -> StreamId {
        match (self.seq.checked_sub(1), self.ms.checked_sub(1)) {
            (Some(seq), _) => StreamId { ms: self.ms, seq },
            (None, Some(ms)) => StreamId { ms, seq: u64::MAX },
            (None, None) => StreamId::ZERO,
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl std::str::FromStr for StreamId {
    type Err = ();
    /// `<ms>` or `<ms>-<seq>`, each a decimal that fits in 64 bits (what Redis accepts).
    fn from_str(s: &str) -> Result<Self, ()> {
        let digits = |p: &str| -> Result<u64, ()> {
            if p.is_empty() || p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            p.parse().map_err(|_| ())
        };
        match s.split_once('-') {
            Some((ms, seq)) => Ok(StreamId { ms: digits(ms)?, seq: digits(seq)? }),
            None => Ok(StreamId { ms: digits(s)?, seq: 0 }),
        }
    }
}

/// Where a reader of one tenant's events stands: an id in the tenant's stream
/// and one in the shared plugin stream. Written `<tenant id>_<plugin id>`; a
/// single id stands for the same id in both (exact for the tenant's stream;
/// for plugin events written in that very millisecond it may repeat or skip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPosition {
    /// In the tenant's stream.
    pub tenant: StreamId,
    /// In the shared plugin stream.
    pub plugins: StreamId,
}

impl EventPosition {
    /// The same id in both streams.
    pub fn both(id: StreamId) -> Self {
        EventPosition { tenant: id, plugins: id }
    }
}

impl std::fmt::Display for EventPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.tenant, self.plugins)
    }
}

impl std::str::FromStr for EventPosition {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.split_once('_') {
            Some((t, p)) => Ok(EventPosition { tenant: t.parse()?, plugins: p.parse()? }),
            None => Ok(EventPosition::both(s.parse()?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event_entry::PACKED_SEPARATOR;

    #[test]
    fn stream_ids_and_positions_read_only_what_redis_accepts() {
        assert_eq!("17-3".parse(), Ok(StreamId { ms: 17, seq: 3 }));
        assert_eq!("17".parse(), Ok(StreamId { ms: 17, seq: 0 }));
        for bad in ["", "-", "1-", "-1", "a-1", "99999999999999999999999", "1-2-3", "1 ", "+1"] {
            assert!(bad.parse::<StreamId>().is_err(), "{bad}");
        }
        assert_eq!(StreamId { ms: 1, seq: u64::MAX }.successor(), StreamId { ms: 2, seq: 0 });
        let p: EventPosition = "5-1_4-0".parse().expect("a position");
        assert_eq!((p.tenant, p.plugins), (StreamId { ms: 5, seq: 1 }, StreamId { ms: 4, seq: 0 }));
        assert_eq!(p.to_string(), "5-1_4-0");
        assert_eq!("9-9".parse(), Ok(EventPosition::both(StreamId { ms: 9, seq: 9 })));
        assert!("5-1_".parse::<EventPosition>().is_err() && "x_1".parse::<EventPosition>().is_err());
    }

    fn entry(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn builds_the_envelope_from_stream_fields() {
        let stream = StreamRef::tenant("{mr}:t:default:events");
        let e = Event::from_entry(
            stream,
            "1-0",
            entry(&[
                "type",
                "mission.created",
                "mission",
                "m1",
                "source",
                "host-7",
                "timestamp",
                "1.5",
                "payload",
                r#"{"mission_id":"m1","status":"pending"}"#,
                "meta",
                r#"{"producer":"mission-runner"}"#,
            ]),
        )
        .unwrap();
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "mission.created");
        assert_eq!(json["id"], EventId { stream, entry: StreamId { ms: 1, seq: 0 } }.to_string());
        assert_eq!((json["source"].as_str(), json["meta"]["host"].as_str()), (Some(SOURCE), Some("host-7")));
        assert_eq!(json["target"], "mission_m1");
        assert_eq!(json["payload"]["mission_id"], "m1");
        assert_eq!((json["payload"]["name"].as_str(), json["payload"]["description"].as_str()), (Some(""), Some("")));
        assert_eq!(e.mission.as_deref(), Some("m1"));
        assert!(Event::from_entry(stream, "1-0", entry(&["type", "x"])).is_none());
        let plugin = Event::from_entry(
            StreamRef::plugins("{mr}:events"),
            "2-0",
            entry(&[
                "type",
                "plugin.activated",
                "mission",
                "",
                "source",
                "h",
                "timestamp",
                "2",
                "payload",
                "{}",
                "meta",
                "{}",
            ]),
        )
        .unwrap();
        assert_eq!(serde_json::to_value(&plugin).unwrap()["target"], serde_json::Value::Null);
    }

    #[test]
    fn builds_the_whole_envelope_from_a_lean_entry() {
        let stream = StreamRef::tenant("{mr}:t:acme:events");
        let lean = |extra: &[&str]| {
            let mut f = entry(&["type", "mission.progress", "mission", "m1", "tenant", "acme", "source", "h1"]);
            f.extend(entry(&["payload", r#"{"percent":5}"#]));
            f.extend(entry(extra));
            Event::from_entry(stream, "1795443891486-3", f).unwrap()
        };
        let json = serde_json::to_value(lean(&[])).unwrap();
        assert_eq!(json["timestamp"].as_f64(), Some(1_795_443_891.486));
        assert_eq!(json["payload"], serde_json::json!({ "mission_id": "m1", "percent": 5 }));
        assert_eq!(
            json["meta"],
            serde_json::json!({ "schema_version": "1", "producer": "mission-runner", "host": "h1",
                "correlation_id": "m1", "tenant": "acme" })
        );
        let json = serde_json::to_value(lean(&["cid", "order-7", "tp", "00-ab-cd-01"])).unwrap();
        assert_eq!(
            (json["meta"]["correlation_id"].as_str(), json["meta"]["traceparent"].as_str()),
            (Some("order-7"), Some("00-ab-cd-01"))
        );
        // A created mission's status and a status change's are filled in; an empty payload gets its mission_id.
        let created = Event::from_entry(
            stream,
            "1-0",
            entry(&["type", "mission.created", "mission", "m2", "tenant", "acme", "source", "h", "payload", "{}"]),
        )
        .unwrap();
        let p: serde_json::Value = serde_json::from_str(created.payload.get()).unwrap();
        assert_eq!((p["mission_id"].as_str(), p["status"].as_str()), (Some("m2"), Some("pending")));
        let log = Event::from_entry(
            stream,
            "1-1",
            entry(&["type", "mission.log_appended", "mission", "m2", "tenant", "acme", "source", "h", "payload", "{}"]),
        )
        .unwrap();
        assert_eq!(log.payload.get(), r#"{"mission_id":"m2"}"#);
        // A plugin event: no tenant, an empty correlation id, no mission_id.
        let plugin = Event::from_entry(
            StreamRef::plugins("{mr}:events"),
            "2-0",
            entry(&[
                "type",
                "plugin.activated",
                "mission",
                "",
                "tenant",
                "",
                "source",
                "h",
                "payload",
                r#"{"name":"x"}"#,
            ]),
        )
        .unwrap();
        let json = serde_json::to_value(&plugin).unwrap();
        assert_eq!(json["payload"], serde_json::json!({ "name": "x" }));
        assert_eq!(json["meta"]["correlation_id"], "");
        assert!(json["meta"].get("tenant").is_none() && json["target"].is_null());
    }

    #[test]
    fn a_packed_entry_reads_as_the_same_event_in_fields_would() {
        let stream = StreamRef::tenant("{mr}:t:acme:events");
        let packed = |parts: &[&str]| {
            let e = parts.join(&PACKED_SEPARATOR.to_string());
            Event::from_entry(stream, "1795443891486-3", entry(&["e", &e]))
        };
        let fields = |f: &[&str]| Event::from_entry(stream, "1795443891486-3", entry(f)).unwrap();
        let json = |e: Event| serde_json::to_value(e).unwrap();
        // The same progress event, with a correlation id and a traceparent, in both layouts.
        let a =
            packed(&["mission.progress", "m1", "acme", "h1", "order-7", "00-ab-cd-01", r#"{"percent":5}"#]).unwrap();
        let b = fields(&[
            "type",
            "mission.progress",
            "mission",
            "m1",
            "tenant",
            "acme",
            "source",
            "h1",
            "payload",
            r#"{"percent":5}"#,
            "cid",
            "order-7",
            "tp",
            "00-ab-cd-01",
        ]);
        assert_eq!((a.mission.as_deref(), a.tenant.as_deref()), (Some("m1"), Some("acme")));
        assert_eq!(json(a), json(b));
        // Empty parts say nothing: the correlation id is the mission's, no traceparent, no tenant.
        let done = r#"{"started_ms":1795443891480,"result_summary":"ok"}"#;
        let plain = json(packed(&["mission.completed", "m2", "acme", "h", "", "", done]).unwrap());
        assert_eq!(plain["meta"]["correlation_id"], "m2");
        // A success's duration: from its start to the entry's time (1795443891486).
        assert_eq!((plain["payload"]["duration_ms"].as_u64(), plain["payload"].get("started_ms")), (Some(6), None));
        assert!(plain["meta"].get("traceparent").is_none());
        assert_eq!(plain["payload"]["new_status"], "completed");
        let plugin = packed(&["plugin.activated", "", "", "h", "", "", "{}"]).unwrap();
        assert!(plugin.tenant.is_none() && plugin.mission.is_none());
        // An entry with a part missing is no event.
        assert!(packed(&["mission.progress", "m1", "acme", "h1", "", r#"{"percent":5}"#]).is_none());
    }

    #[test]
    fn status_changes_are_derived_from_the_type_and_what_the_payload_says() {
        let change = |ty: &str, p: serde_json::Value| {
            let serde_json::Value::Object(p) = p else { unreachable!() };
            status_change(ty, &p).map(|(a, b)| (a.as_str(), b.as_str()))
        };
        use serde_json::json;
        assert_eq!(change("mission.created", json!({})), None);
        assert_eq!(
            change("mission.started", json!({"old_status": "retrying", "attempt": 1})),
            Some(("retrying", "running"))
        );
        assert_eq!(change("mission.started", json!({"attempt": 1})), Some(("pending", "running")));
        assert_eq!(change("mission.started", json!({"attempt": 2})), Some(("retrying", "running")));
        assert_eq!(change("mission.completed", json!({})), Some(("running", "completed")));
        assert_eq!(change("mission.failed", json!({"will_retry": false})), Some(("running", "failed")));
        assert_eq!(change("mission.failed", json!({"will_retry": true})), None);
        assert_eq!(change("mission.retrying", json!({"attempt": 1})), Some(("running", "retrying")));
        assert_eq!(change("mission.retrying", json!({"redriven_by": "ops"})), Some(("failed", "pending")));
        assert_eq!(change("mission.cancelled", json!({"previous_status": "running"})), Some(("running", "cancelled")));
        assert_eq!(change("mission.log_appended", json!({})), None);
        assert_eq!(StreamId { ms: 5, seq: 0 }.predecessor(), StreamId { ms: 4, seq: u64::MAX });
        assert_eq!(StreamId::ZERO.predecessor(), StreamId::ZERO);
    }
}
