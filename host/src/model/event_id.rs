//! Event ids as UUIDs (version 8) that are stream positions in another spelling.
//!
//! An event is a Redis Stream entry: its entry id (`<ms>-<seq>`) is unique
//! within its stream and is where a reader resumes. The envelope's consumers
//! (Charter v1.0) want a UUID. Storing one more field per event would cost
//! memory and a write per event, so the UUID is *derived* when the event is
//! read, from what identifies the entry: its stream and its entry id. It
//! decodes back to both, so a UUID is as good a resume point or page bound as
//! the entry id itself, and the same entry always gets the same UUID.
//!
//! Bit layout (bit 0 is the most significant; `EVENTS.md` has the table):
//!
//! | bits    | width | holds |
//! |---------|-------|-------|
//! | 0-47    | 48    | the entry id's milliseconds (as UUIDv7's `unix_ts_ms`) |
//! | 48-51   | 4     | version, `1000` (8) |
//! | 52-63   | 12    | the entry id's sequence, bits 31-20 |
//! | 64-65   | 2     | variant, `10` |
//! | 66-85   | 20    | the entry id's sequence, bits 19-0 |
//! | 86      | 1     | `1`: the shared plugin stream; `0`: a tenant's stream |
//! | 87-127  | 41    | the first 41 bits of SHA-256 of the stream's Redis key |
//!
//! Time and sequence come first, so the UUIDs of one stream sort (as numbers
//! or as lower-case text) exactly like its entry ids. The key's hash tells a
//! tenant's stream from another's: entry ids repeat across streams, their
//! UUIDs do not (but for a 2^-41 chance per pair of streams). Ids outside
//! 48 bits of milliseconds (past the year 10889) or 32 bits of sequence
//! within one millisecond have no UUID; Redis never makes such ids with `*`.

use sha2::Digest as _;
use uuid::Uuid;

use super::events::{EventPosition, StreamId};

/// Which kind of stream an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// A tenant's own stream: its missions' events.
    Tenant,
    /// The shared stream of the events of no tenant (`plugin.*`).
    Plugins,
}

/// One event stream, as far as event ids need to know it: its kind and a
/// hash of its key. Computed once per stream a reader follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamRef {
    /// Tenant or plugin stream.
    pub kind: StreamKind,
    /// The first 41 bits of SHA-256 of the stream's Redis key.
    pub key_hash: u64,
}

const HASH_BITS: u32 = 41;
const SEQ_BITS: u32 = 32;
const MS_BITS: u32 = 48;

impl StreamRef {
    /// The tenant stream whose Redis key is `key` (such as `{mr}:t:default:events`).
    pub fn tenant(key: &str) -> Self {
        StreamRef { kind: StreamKind::Tenant, key_hash: key_hash(key) }
    }

    /// The shared plugin stream whose Redis key is `key` (such as `{mr}:events`).
    pub fn plugins(key: &str) -> Self {
        StreamRef { kind: StreamKind::Plugins, key_hash: key_hash(key) }
    }
}

fn key_hash(key: &str) -> u64 {
    let d = sha2::Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first) >> (64 - HASH_BITS)
}

/// An event's identity: its stream and its entry id. Written as the UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId {
    /// The stream it is in.
    pub stream: StreamRef,
    /// Its entry id there.
    pub entry: StreamId,
}

impl EventId {
    /// The UUID, or `None` for an entry id out of the layout's range.
    pub fn to_uuid(self) -> Option<Uuid> {
        let StreamId { ms, seq } = self.entry;
        if ms >> MS_BITS != 0 || seq >> SEQ_BITS != 0 {
            return None;
        }
        let (ms, seq) = (u128::from(ms), u128::from(seq));
        let plugins = u128::from(self.stream.kind == StreamKind::Plugins);
        let v = ms << 80
            | 0x8 << 76
            | (seq >> 20) << 64
            | 0b10 << 62
            | (seq & 0xF_FFFF) << 42
            | plugins << HASH_BITS
            | u128::from(self.stream.key_hash & ((1 << HASH_BITS) - 1));
        Some(Uuid::from_u128(v))
    }

    /// Decodes a UUID made by [`EventId::to_uuid`]; `None` for any other
    /// (a different version or variant).
    pub fn from_uuid(u: Uuid) -> Option<EventId> {
        let v = u.as_u128();
        if (v >> 76) & 0xF != 0x8 || (v >> 62) & 0b11 != 0b10 {
            return None;
        }
        let ms = (v >> 80) as u64;
        let seq = ((((v >> 64) & 0xFFF) << 20) | ((v >> 42) & 0xF_FFFF)) as u64;
        let kind = if (v >> HASH_BITS) & 1 == 1 { StreamKind::Plugins } else { StreamKind::Tenant };
        let key_hash = (v & ((1 << HASH_BITS) - 1)) as u64;
        Some(EventId { stream: StreamRef { kind, key_hash }, entry: StreamId { ms, seq } })
    }

    /// Whether this event is in `tenant`'s stream (`Some(true)`), in the
    /// plugin stream (`Some(false)`), or in neither (`None`: another tenant's).
    fn in_view(self, tenant: StreamRef, plugins: StreamRef) -> Option<bool> {
        match self.stream {
            s if s == tenant => Some(true),
            s if s == plugins => Some(false),
            _ => None,
        }
    }

    /// The reader position just after this event in the merged view of
    /// `tenant`'s stream and the plugin stream (ordered by entry id, the
    /// tenant's first on a tie): exact, unlike a bare entry id, which does
    /// not say which stream it is from. `None` if the event is in neither.
    pub fn after(self, tenant: StreamRef, plugins: StreamRef) -> Option<EventPosition> {
        let at = self.entry;
        Some(match self.in_view(tenant, plugins)? {
            // Plugin entries with the same id come after it.
            true => EventPosition { tenant: at, plugins: at.predecessor() },
            false => EventPosition::both(at),
        })
    }

    /// The page bound (`before`) that takes exactly the events older than
    /// this one in the merged view. `None` if the event is in neither stream.
    pub fn before(self, tenant: StreamRef, plugins: StreamRef) -> Option<EventPosition> {
        let at = self.entry;
        Some(match self.in_view(tenant, plugins)? {
            true => EventPosition::both(at),
            // A tenant entry with the same id comes before it.
            false => EventPosition { tenant: at.successor(), plugins: at },
        })
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_uuid() {
            Some(u) => u.hyphenated().fmt(f),
            None => write!(f, "{}", self.entry),
        }
    }
}

impl std::str::FromStr for EventId {
    type Err = ();
    /// The hyphenated UUID (36 characters, either case).
    fn from_str(s: &str) -> Result<Self, ()> {
        if s.len() != 36 {
            return Err(());
        }
        Uuid::parse_str(s).ok().and_then(EventId::from_uuid).ok_or(())
    }
}

/// A reader's position or page bound as a client gives it: a position
/// (`<tenant id>_<plugin id>`, or one entry id for both) or an event's UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCursor {
    /// As the API hands out in `next_cursor` and SSE `id:`.
    Position(EventPosition),
    /// An event's `id`.
    Event(EventId),
}

impl EventCursor {
    /// Where to resume after it, in `tenant`'s view; `None` for another tenant's event.
    pub fn after(self, tenant: StreamRef, plugins: StreamRef) -> Option<EventPosition> {
        match self {
            EventCursor::Position(p) => Some(p),
            EventCursor::Event(e) => e.after(tenant, plugins),
        }
    }

    /// The page bound before it, in `tenant`'s view; `None` for another tenant's event.
    pub fn before(self, tenant: StreamRef, plugins: StreamRef) -> Option<EventPosition> {
        match self {
            EventCursor::Position(p) => Some(p),
            EventCursor::Event(e) => e.before(tenant, plugins),
        }
    }
}

impl std::str::FromStr for EventCursor {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.parse::<EventPosition>() {
            Ok(p) => Ok(EventCursor::Position(p)),
            Err(()) => s.parse().map(EventCursor::Event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: StreamKind, key: &str, ms: u64, seq: u64) -> EventId {
        EventId { stream: StreamRef { kind, key_hash: key_hash(key) }, entry: StreamId { ms, seq } }
    }

    #[test]
    fn a_uuid_is_a_version_8_uuid_that_decodes_to_its_stream_and_entry() {
        for e in [
            id(StreamKind::Tenant, "{mr}:t:default:events", 1_795_424_984_602, 0),
            id(StreamKind::Plugins, "{mr}:events", 1_795_424_984_602, 7),
            id(StreamKind::Tenant, "{mr}:t:acme:events", (1 << 48) - 1, (1 << 32) - 1),
            id(StreamKind::Tenant, "{mr}:t:acme:events", 0, 0),
        ] {
            let u = e.to_uuid().expect("in range");
            assert_eq!(u.get_version_num(), 8, "{u}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{u}");
            assert_eq!(EventId::from_uuid(u), Some(e));
            assert_eq!(e.to_string().parse::<EventId>(), Ok(e));
            assert_eq!(e.to_string().to_uppercase().parse::<EventId>(), Ok(e));
        }
        // The time is readable as in a UUIDv7.
        let u = id(StreamKind::Tenant, "k", 0x0123_4567_89ab, 1).to_uuid().unwrap();
        assert!(u.to_string().starts_with("01234567-89ab-8"), "{u}");
        assert!(id(StreamKind::Tenant, "k", 1 << 48, 0).to_uuid().is_none());
        assert!(id(StreamKind::Tenant, "k", 1, 1 << 32).to_uuid().is_none());
        assert!("01234567-89ab-7def-8123-456789abcdef".parse::<EventId>().is_err(), "a v7 is not an event id");
        assert!(uuid::Uuid::new_v4().to_string().parse::<EventId>().is_err());
    }

    #[test]
    fn the_same_entry_id_in_two_streams_has_two_uuids_and_one_stream_sorts_like_its_ids() {
        let a = id(StreamKind::Tenant, "{mr}:t:a:events", 5, 1).to_uuid();
        let b = id(StreamKind::Tenant, "{mr}:t:b:events", 5, 1).to_uuid();
        let p = id(StreamKind::Plugins, "{mr}:events", 5, 1).to_uuid();
        assert!(a != b && a != p && b != p);
        let ids = [(5, 0), (5, 1), (5, 2), (5, 1 << 20), (5, 1 << 21), (6, 0), (1 << 40, 3)];
        let texts: Vec<String> =
            ids.iter().map(|&(ms, seq)| id(StreamKind::Tenant, "{mr}:t:a:events", ms, seq).to_string()).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
    }

    #[test]
    fn a_uuid_resumes_and_bounds_exactly_in_the_merged_view() {
        let (t, p) = (StreamRef::tenant("{mr}:t:a:events"), StreamRef::plugins("{mr}:events"));
        let other = StreamRef::tenant("{mr}:t:b:events");
        let at = StreamId { ms: 10, seq: 0 };
        let own = EventId { stream: t, entry: at };
        let shared = EventId { stream: p, entry: at };
        // After tenant event 10-0: a plugin event 10-0 (after it on the tie) is still to come.
        assert_eq!(own.after(t, p), Some(EventPosition { tenant: at, plugins: StreamId { ms: 9, seq: u64::MAX } }));
        assert_eq!(shared.after(t, p), Some(EventPosition::both(at)));
        assert_eq!(own.before(t, p), Some(EventPosition::both(at)));
        assert_eq!(shared.before(t, p), Some(EventPosition { tenant: StreamId { ms: 10, seq: 1 }, plugins: at }));
        assert_eq!(EventId { stream: other, entry: at }.after(t, p), None);
        let c: EventCursor = own.to_string().parse().unwrap();
        assert_eq!(c, EventCursor::Event(own));
        assert_eq!("3-1_2-0".parse::<EventCursor>().unwrap().after(t, p).unwrap().to_string(), "3-1_2-0");
        assert!("nonsense".parse::<EventCursor>().is_err());
    }
}
