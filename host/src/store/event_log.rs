//! Reading events back: a tenant's view is its own stream merged with the
//! shared plugin stream, newest first, paged by an [`EventPosition`].
//!
//! Every read is bounded: by `limit`, by [`SCAN_MAX`] entries examined per
//! request, and by the cap of the tenant's own stream (a mission's events are
//! read from its creation on, in its tenant's stream only).

use std::collections::{BTreeMap, VecDeque};

use redis::Value;

use super::{Queue, StoreError};
use crate::model::event_entry::entry_mission;
use crate::model::event_id::StreamRef;
use crate::model::events::{Event, EventPosition, StreamId};
use crate::model::views::EventStats;

/// How many entries one read takes per round trip, and at most per request.
const SCAN_CHUNK: usize = 200;
const SCAN_MAX: usize = 10_000;

/// Filters of `GET /api/events`.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Whose events: the tenant's missions' and the plugin events.
    pub tenant: String,
    /// Only this mission's events (in order); the caller checked it is the tenant's.
    pub mission_id: Option<String>,
    /// Only events of this type.
    pub event_type: Option<String>,
    /// Only events at or after this Unix time (ms, 0 or more).
    pub since_ms: Option<u64>,
    /// Only events at or before this Unix time (ms).
    pub until_ms: Option<u64>,
    /// Only events older than this position (the previous page's `next`).
    pub before: Option<EventPosition>,
    /// At most this many (the newest that match, oldest first).
    pub limit: usize,
}

/// One page of events.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// Oldest first.
    pub events: Vec<Event>,
    /// Where the next (older) page starts; `None` when nothing older is left.
    pub next: Option<EventPosition>,
}

/// Stream entries as `XRANGE` answers them: (id, fields).
type Entries = Vec<(String, Vec<String>)>;

/// One stream read backwards in chunks.
struct Backwards {
    key: String,
    /// Which stream it is, for the events' ids.
    stream: StreamRef,
    /// Read entries older than this (`None`: from the newest).
    end: Option<StreamId>,
    /// Not older than this (`since`).
    start: String,
    buf: VecDeque<(StreamId, String, Vec<String>)>,
    exhausted: bool,
    /// The last entry taken from `buf` (in merged order).
    consumed: Option<StreamId>,
    /// The bound this page started from.
    incoming: StreamId,
}

impl Backwards {
    fn new(key: String, stream: StreamRef, bound: StreamId, start: &str, skip: bool) -> Self {
        let end = (bound != StreamId::MAX).then_some(bound);
        let exhausted = skip || bound == StreamId::ZERO;
        Backwards {
            key,
            stream,
            end,
            start: start.to_owned(),
            buf: VecDeque::new(),
            exhausted,
            consumed: None,
            incoming: bound,
        }
    }

    async fn fill(&mut self, queue: &Queue) -> Result<(), StoreError> {
        if !self.buf.is_empty() || self.exhausted {
            return Ok(());
        }
        let end = self.end.map_or_else(|| "+".to_owned(), |e| format!("({e}"));
        let entries: Entries = redis::cmd("XREVRANGE")
            .arg(&self.key)
            .arg(end)
            .arg(&self.start)
            .arg("COUNT")
            .arg(SCAN_CHUNK)
            .query_async(&mut queue.conn())
            .await?;
        self.exhausted = entries.len() < SCAN_CHUNK;
        for (sid, fields) in entries {
            let Ok(id) = sid.parse::<StreamId>() else { continue };
            self.end = Some(id);
            self.buf.push_back((id, sid, fields));
        }
        if self.buf.is_empty() {
            self.exhausted = true;
        }
        Ok(())
    }
}

impl Queue {
    /// Events matching `q`: the newest `limit`, oldest first.
    pub async fn events(&self, q: &EventQuery) -> Result<EventPage, StoreError> {
        let in_time = |e: &Event| {
            let ms = (e.timestamp * 1000.0).round() as u64;
            q.since_ms.is_none_or(|s| ms >= s) && q.until_ms.is_none_or(|u| ms <= u)
        };
        let type_ok = |e: &Event| q.event_type.as_ref().is_none_or(|t| *t == e.event_type);
        if let Some(id) = &q.mission_id {
            let before = q.before.map_or(StreamId::MAX, |b| b.tenant);
            let matches = |e: &Event| type_ok(e) && in_time(e) && e.entry < before;
            let events = self.mission_events(&q.tenant, id, q.limit, &matches).await?;
            let next = (events.len() == q.limit)
                .then(|| events.first().map(|e| EventPosition { tenant: e.entry, plugins: StreamId::ZERO }))
                .flatten();
            return Ok(EventPage { events, next });
        }
        // Stream ids start with the Redis time in ms, so a time range is an id range.
        let mut before = q.before.unwrap_or(EventPosition::both(StreamId::MAX));
        if let Some(u) = q.until_ms {
            let until = StreamId { ms: u.saturating_add(1), seq: 0 };
            before = EventPosition { tenant: before.tenant.min(until), plugins: before.plugins.min(until) };
        }
        let start = q.since_ms.map_or_else(|| "-".to_owned(), |s| format!("{s}-0"));
        // A type filter names its family: no need to read the other stream.
        let kind = q.event_type.as_deref().map(|t| t.split('.').next().unwrap_or_default());
        let (own, shared) = self.event_streams(&q.tenant);
        let mut sources = [
            Backwards::new(self.keys.tenant_events(&q.tenant), own, before.tenant, &start, kind == Some("plugin")),
            Backwards::new(self.keys.events(), shared, before.plugins, &start, kind == Some("mission")),
        ];
        let mut out = Vec::new();
        let mut scanned = 0;
        let mut last: Option<(usize, StreamId)> = None;
        while out.len() < q.limit && scanned < SCAN_MAX {
            for s in sources.iter_mut() {
                s.fill(self).await?;
            }
            // Newest first; on a tie the tenant's stream (index 0) goes first.
            let pick = sources
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.buf.front().map(|(id, ..)| (i, *id)))
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
            let Some((i, _)) = pick else { break };
            let Some((id, sid, fields)) = sources[i].buf.pop_front() else { break };
            sources[i].consumed = Some(id);
            last = Some((i, id));
            scanned += 1;
            if let Some(e) = Event::from_entry(sources[i].stream, &sid, fields)
                .filter(|e| type_ok(e) && in_time(e) && e.visible_to(&q.tenant))
            {
                out.push(e);
            }
        }
        let more = sources.iter().any(|s| !s.buf.is_empty() || !s.exhausted);
        let next = more.then(|| {
            let bound = |i: usize| match (sources[i].consumed, last) {
                (Some(c), _) => c,
                // Nothing of this stream on the page: all of it is older than
                // the last event taken (or tied with it and after it).
                (None, Some((j, l))) => sources[i].incoming.min(if j < i { l.successor() } else { l }),
                (None, None) => sources[i].incoming,
            };
            EventPosition { tenant: bound(0), plugins: bound(1) }
        });
        out.reverse();
        Ok(EventPage { events: out, next })
    }

    /// The newest `limit` events of one mission that pass `matches`, oldest
    /// first. There is no index per mission (it would cost memory and a write
    /// per event): its tenant's stream is read forward from the mission's
    /// creation, which its id (a UUIDv7) tells, so the read is bounded by the
    /// cap of that one tenant's stream.
    async fn mission_events(
        &self,
        tenant: &str,
        id: &str,
        limit: usize,
        matches: &(dyn Fn(&Event) -> bool + Sync),
    ) -> Result<Vec<Event>, StoreError> {
        let created_ms = uuid::Uuid::parse_str(id).ok().and_then(|u| u.get_timestamp()).map_or(0, |t| {
            let (s, n) = t.to_unix();
            s * 1000 + u64::from(n) / 1_000_000
        });
        let stream = self.keys.tenant_events(tenant);
        let own = StreamRef::tenant(&stream);
        let mut start = format!("{created_ms}-0");
        let mut out: VecDeque<Event> = VecDeque::new();
        loop {
            let entries: Entries = redis::cmd("XRANGE")
                .arg(&stream)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(SCAN_CHUNK * 5)
                .query_async(&mut self.conn())
                .await?;
            let Some((last, _)) = entries.last() else { break };
            start = format!("({last}");
            let full = entries.len() == SCAN_CHUNK * 5;
            for (sid, f) in entries {
                let mine = entry_mission(&f) == Some(id);
                if let Some(e) = mine.then(|| Event::from_entry(own, &sid, f)).flatten().filter(|e| matches(e)) {
                    out.push_back(e);
                    if out.len() > limit {
                        out.pop_front();
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(out.into())
    }

    /// `tenant`'s event stream and the shared plugin stream, as event ids name them.
    pub fn event_streams(&self, tenant: &str) -> (StreamRef, StreamRef) {
        (StreamRef::tenant(&self.keys.tenant_events(tenant)), StreamRef::plugins(&self.keys.events()))
    }

    /// Event counts per type that `tenant` may see, and its streams' lengths.
    pub async fn event_stats(&self, tenant: &str) -> Result<EventStats, StoreError> {
        let (counts, own, shared): (Vec<(String, u64)>, u64, u64) = redis::pipe()
            .hgetall(self.keys.event_counts())
            .xlen(self.keys.tenant_events(tenant))
            .xlen(self.keys.events())
            .query_async(&mut self.conn())
            .await?;
        let mut by_type = BTreeMap::new();
        for (field, n) in counts {
            let Some((owner, event_type)) = field.split_once('|') else { continue };
            if owner.is_empty() || owner == tenant {
                *by_type.entry(event_type.to_owned()).or_default() += n;
            }
        }
        Ok(EventStats { by_type, stream_length: own + shared, tenant_stream_length: own, plugin_stream_length: shared })
    }

    /// The newest entry of `tenant`'s stream and of the plugin stream (0-0
    /// for an empty one): where a reader that wants only new events starts.
    pub async fn newest_position(&self, tenant: &str) -> Result<EventPosition, StoreError> {
        let newest = |key: String| {
            let mut c = redis::cmd("XREVRANGE");
            c.arg(key).arg("+").arg("-").arg("COUNT").arg(1);
            c
        };
        let (own, shared): (Entries, Entries) = redis::pipe()
            .add_command(newest(self.keys.tenant_events(tenant)))
            .add_command(newest(self.keys.events()))
            .query_async(&mut self.conn())
            .await?;
        let id = |v: Entries| v.first().and_then(|(id, _)| id.parse().ok()).unwrap_or_default();
        Ok(EventPosition { tenant: id(own), plugins: id(shared) })
    }

    /// The oldest entry stream `key` still holds, if it ever trimmed any
    /// (`None`: nothing was ever trimmed, or no such stream). A reader whose
    /// position is older than it may have missed events. Streams are only
    /// trimmed from their old end (`MAXLEN`), never in the middle.
    pub async fn trimmed_before(&self, key: &str) -> Result<Option<StreamId>, StoreError> {
        let reply: redis::RedisResult<Value> =
            redis::cmd("XINFO").arg("STREAM").arg(key).query_async(&mut self.conn()).await;
        let info = match reply {
            Ok(v) => v,
            Err(e) if e.code() == Some("ERR") && e.detail().is_some_and(|d| d.contains("no such key")) => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let pairs: Vec<(String, Value)> = match info {
            Value::Map(m) => {
                m.into_iter().filter_map(|(k, v)| Some((redis::from_redis_value::<String>(k).ok()?, v))).collect()
            }
            Value::Array(a) => a
                .chunks(2)
                .filter_map(|kv| Some((redis::from_redis_value_ref::<String>(&kv[0]).ok()?, kv.get(1)?.clone())))
                .collect(),
            other => return Err(StoreError::Protocol(format!("XINFO STREAM answered {other:?}"))),
        };
        let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let int = |name: &str| field(name).and_then(|v| redis::from_redis_value_ref::<u64>(v).ok()).unwrap_or(0);
        if int("entries-added") <= int("length") {
            return Ok(None);
        }
        let first = match field("first-entry") {
            Some(Value::Array(entry)) => entry.first().and_then(|id| redis::from_redis_value_ref::<String>(id).ok()),
            _ => None,
        };
        let oldest = match first.and_then(|id| id.parse().ok()) {
            Some(id) => id,
            // Empty after trimming: whatever comes next is after the last id given.
            None => field("last-generated-id")
                .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
                .and_then(|id| id.parse::<StreamId>().ok())
                .unwrap_or_default()
                .successor(),
        };
        Ok(Some(oldest))
    }
}
