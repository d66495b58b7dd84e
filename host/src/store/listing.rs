//! Listing a tenant's missions, newest first, filtered and paged
//! (`GET /api/missions`). A final status has an index per tenant; a waiting
//! mission (pending, retrying) is found in the tenant's `all`, by creation
//! time, and a running one among the leases (`active`), by its start.

use redis::AsyncCommands;

use super::{Keys, PIN, Queue, StoreError};
use crate::model::access::DEFAULT_TENANT;
use crate::model::mission::{Mission, Status};
use crate::model::views::MissionPage;

/// Filters of `GET /api/missions`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Whose missions (each tenant has its own indexes).
    pub tenant: String,
    /// Only missions with this status.
    pub status: Option<Status>,
    /// Only missions of this type.
    pub mission_type: Option<String>,
    /// Only missions whose name starts with this (case-sensitive; a mission
    /// without a name never matches).
    pub name_prefix: Option<String>,
    /// Only missions created at or after this time (ms since 1970).
    pub since_ms: Option<u64>,
    /// Only missions created at or before this time (ms since 1970).
    pub until_ms: Option<u64>,
    /// At most this many.
    pub limit: usize,
    /// Continue after this position (from a previous page's `next_cursor`).
    pub cursor: Option<Cursor>,
}

/// A position in a newest-first listing: the index score and id of the last
/// item a page returned. Opaque to clients (`<score>:<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    score: i64,
    id: String,
}

impl Cursor {
    /// Reads a cursor a page handed out.
    pub fn parse(s: &str) -> Option<Cursor> {
        let (score, id) = s.split_once(':')?;
        let id_ok = uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id);
        Some(Cursor { score: score.parse().ok()?, id: id.to_owned() }).filter(|_| id_ok)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.score, self.id)
    }
}

/// How many ids a filtered listing reads per round trip, and in all.
const SCAN_CHUNK: usize = 200;
const SCAN_MAX: usize = 10_000;

/// Where a listing reads ids from, newest first, each with its score.
enum Source {
    /// A sorted set, read backwards from a rank on.
    Index { key: String, offset: usize },
    /// Ids in order already (the running missions).
    Listed(std::vec::IntoIter<(String, i64)>),
}

impl Source {
    /// The next (up to) `n` ids.
    async fn next(&mut self, queue: &Queue, n: usize) -> Result<Vec<(String, i64)>, StoreError> {
        match self {
            Source::Index { key, offset } => {
                let entries: Vec<(String, f64)> =
                    queue.conn().zrevrange_withscores(&*key, *offset as isize, (*offset + n - 1) as isize).await?;
                *offset += entries.len();
                Ok(entries.into_iter().map(|(id, score)| (id, score as i64)).collect())
            }
            Source::Listed(ids) => Ok(ids.take(n).collect()),
        }
    }
}

impl Queue {
    /// Missions matching `q`, newest first.
    pub async fn list(&self, q: &ListQuery) -> Result<MissionPage, StoreError> {
        let indexed = q.status.is_some_and(Keys::is_indexed);
        let mut source = match q.status {
            Some(Status::Running) => Source::Listed(self.running(q).await?.into_iter()),
            Some(s) if indexed => {
                let key = self.keys.by_status(&q.tenant, s.as_str());
                Source::Index { offset: self.resume(&key, q, false).await?, key }
            }
            _ => {
                let key = self.keys.all(&q.tenant);
                Source::Index { offset: self.resume(&key, q, true).await?, key }
            }
        };
        let mut out: Vec<Mission> = Vec::new();
        let mut scanned = 0;
        let mut exhausted = false;
        let mut last_scanned: Option<(String, i64)> = None;
        let mut chunk_last: Option<String> = None;
        // Without a filter that skips entries every one matches: read no more
        // than a page. (A waiting status is a filter over `all`.)
        let filtered = q.mission_type.is_some() || q.name_prefix.is_some() || (q.status.is_some() && !indexed);
        let chunk = if filtered { SCAN_CHUNK } else { q.limit.min(SCAN_CHUNK) };
        while out.len() < q.limit && scanned < SCAN_MAX {
            let mut entries = source.next(self, chunk).await?;
            if entries.len() < chunk {
                exhausted = true;
            }
            scanned += entries.len();
            entries.retain(|(id, _)| id != PIN);
            let scores: std::collections::HashMap<String, i64> = entries.iter().cloned().collect();
            let ids: Vec<String> = entries.into_iter().map(|(id, _)| id).collect();
            chunk_last = ids.last().cloned();
            for m in self.get_many(&ids).await? {
                if out.len() == q.limit {
                    break;
                }
                let score = scores.get(&m.id).copied().unwrap_or_default();
                // Scores (creation, entering a status, a start) never precede
                // creation: past `since`, nothing older can match.
                if q.since_ms.is_some_and(|since| score < since as i64) {
                    exhausted = true;
                    chunk_last = Some(m.id.clone());
                    last_scanned = Some((m.id.clone(), score));
                    break;
                }
                last_scanned = Some((m.id.clone(), score));
                if q.matches(&m) {
                    out.push(m);
                }
            }
            if exhausted {
                break;
            }
        }
        // Continue after the last item read, unless the source ended there. A
        // page may be short (even empty) when a filter matched little of what
        // one request may read; its cursor still goes on.
        let next_cursor = match last_scanned {
            Some((id, score)) if !exhausted || chunk_last.as_ref() != Some(&id) => {
                Some(Cursor { score, id }.to_string())
            }
            _ => None,
        };
        Ok(MissionPage { missions: out, next_cursor })
    }

    /// The rank in `index` (newest first) to read from: just after the
    /// cursor's item, found by rank so that missions added since (at the top)
    /// shift nothing; if it left the index, after everything newer than its
    /// score. In `all` (`by_creation`), what is newer than `until` is skipped
    /// by count, not read (elsewhere `until` filters while reading).
    async fn resume(&self, index: &str, q: &ListQuery, by_creation: bool) -> Result<usize, StoreError> {
        let mut start = match &q.cursor {
            None => 0,
            Some(c) => match self.conn().zrevrank::<_, _, Option<usize>>(index, &c.id).await? {
                Some(rank) => rank + 1,
                None => self.conn().zcount::<_, _, _, usize>(index, format!("({}", c.score), "+inf").await?,
            },
        };
        if let (Some(until), true) = (q.until_ms, by_creation) {
            start = start.max(self.conn().zcount::<_, _, _, usize>(index, format!("({until}"), "+inf").await?);
        }
        Ok(start)
    }

    /// The tenant's running missions by start, newest first, after `q`'s
    /// cursor. Every lease is read (`active`, as many as the slots of every
    /// worker), with its record's tenant and start: no index per tenant
    /// costs each mission two more moves.
    async fn running(&self, q: &ListQuery) -> Result<Vec<(String, i64)>, StoreError> {
        let ids: Vec<String> = self.conn().zrange(self.keys.active(), 0, -1).await?;
        let ids: Vec<String> = ids.into_iter().filter(|id| id != PIN).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET").arg(self.keys.mission(id)).arg("tenant").arg("started_ms");
        }
        let rows: Vec<(Option<String>, Option<i64>)> = pipe.query_async(&mut self.conn()).await?;
        let mut mine: Vec<(String, i64)> = ids
            .into_iter()
            .zip(rows)
            .filter(|(_, (tenant, _))| tenant.as_deref().unwrap_or(DEFAULT_TENANT) == q.tenant)
            .map(|(id, (_, started))| (id, started.unwrap_or_default()))
            .collect();
        // As a sorted set reads backwards: by score, then id, both descending.
        mine.sort_unstable_by(|a, b| (b.1, &b.0).cmp(&(a.1, &a.0)));
        if let Some(c) = &q.cursor {
            mine.retain(|(id, score)| (*score, id.as_str()) < (c.score, c.id.as_str()));
        }
        Ok(mine)
    }
}

impl ListQuery {
    /// Whether `m` passes every filter.
    fn matches(&self, m: &Mission) -> bool {
        let created = m.created_at.timestamp_millis();
        self.status.is_none_or(|s| s == m.status)
            && self.mission_type.as_ref().is_none_or(|t| *t == m.mission_type)
            && self.name_prefix.as_ref().is_none_or(|p| m.name.as_ref().is_some_and(|n| n.starts_with(p.as_str())))
            && self.since_ms.is_none_or(|t| created >= t as i64)
            && self.until_ms.is_none_or(|t| created <= t as i64)
    }
}
