//! Lifecycle events: the envelope `{id, type, source, target, timestamp, payload, meta}`.
//!
//! Each event is one Redis Stream entry whose fields are the envelope's (less
//! `id`, which is the entry id, and plus `mission` for filtering). Scripts write
//! them in the same step as the change they report; see `EVENTS.md`.
//!
//! A tenant's missions write to the tenant's own stream; plugin events, which
//! every tenant sees, to one shared stream. A reader of a tenant's events
//! therefore follows two streams, and its position is an [`EventPosition`]:
//! one [`StreamId`] in each.

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
