//! Lifecycle events: the envelope `{id, type, source, target, timestamp, payload, meta}`.
//!
//! Each event is one Redis Stream entry whose fields are the envelope's (less
//! `id`, which is the entry id, and plus `mission` for filtering). Scripts write
//! them in the same step as the change they report; see `EVENTS.md`.

use serde::Serialize;
use serde_json::value::RawValue;

/// One event as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// The stream entry id (`<ms>-<seq>`): unique, ordered, and the resume point
    /// for stream readers.
    pub id: String,
    /// For example `mission.completed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The host or worker that wrote it.
    pub source: String,
    /// Always `null` (broadcast), kept for the envelope's sake.
    pub target: Option<String>,
    /// Unix time in seconds, with milliseconds, from the Redis clock.
    pub timestamp: f64,
    /// Type-specific fields; always includes `mission_id`.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// `schema_version`, `producer`, `correlation_id`.
    #[schema(value_type = Object)]
    pub meta: Box<RawValue>,
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
    /// Builds an event from a stream entry; `None` if a field is missing or malformed.
    pub fn from_entry(id: String, fields: Vec<String>) -> Option<Event> {
        let mut it = fields.into_iter();
        let (mut ty, mut source, mut ts, mut payload, mut meta, mut mission) = (None, None, None, None, None, None);
        let mut tenant = None;
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match k.as_str() {
                "type" => ty = Some(v),
                "source" => source = Some(v),
                "timestamp" => ts = v.parse().ok(),
                "payload" => payload = RawValue::from_string(v).ok(),
                "meta" => meta = RawValue::from_string(v).ok(),
                "mission" if !v.is_empty() => mission = Some(v),
                "tenant" if !v.is_empty() => tenant = Some(v),
                _ => {}
            }
        }
        Some(Event {
            id,
            event_type: ty?,
            source: source?,
            target: None,
            timestamp: ts?,
            payload: payload?,
            meta: meta?,
            mission,
            tenant,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_envelope_from_stream_fields() {
        let f = |kv: &[&str]| kv.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let e = Event::from_entry(
            "1-0".into(),
            f(&[
                "type",
                "mission.created",
                "mission",
                "m1",
                "source",
                "h",
                "timestamp",
                "1.5",
                "payload",
                r#"{"mission_id":"m1"}"#,
                "meta",
                "{}",
            ]),
        )
        .unwrap();
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "mission.created");
        assert_eq!(json["target"], serde_json::Value::Null);
        assert_eq!(json["payload"]["mission_id"], "m1");
        assert_eq!(e.mission.as_deref(), Some("m1"));
        assert!(Event::from_entry("1-0".into(), f(&["type", "x"])).is_none());
    }
}
