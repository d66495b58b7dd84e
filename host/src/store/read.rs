//! Reads: records, lists, logs, stats and events. Reads never change state.

use redis::AsyncCommands;

use super::{PIN, Queue, StoreError};
use crate::model::mission::{Mission, Status};
use crate::model::views::{MissionPage, QueueEntry, Stats};
use crate::model::worker_info::WorkerInfo;

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

impl Queue {
    /// One mission, or `None`.
    pub async fn get(&self, id: &str) -> Result<Option<Mission>, StoreError> {
        let h: std::collections::HashMap<String, String> = self.conn().hgetall(self.keys.mission(id)).await?;
        Ok(Mission::from_hash(id, h)?)
    }

    /// Several missions in one round trip, in the order of `ids` (missing ones skipped).
    pub async fn get_many(&self, ids: &[String]) -> Result<Vec<Mission>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(self.keys.mission(id));
        }
        let hashes: Vec<std::collections::HashMap<String, String>> = pipe.query_async(&mut self.conn()).await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, h) in ids.iter().zip(hashes) {
            if let Some(m) = Mission::from_hash(id, h)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Missions matching `q`, newest first.
    pub async fn list(&self, q: &ListQuery) -> Result<MissionPage, StoreError> {
        // Walk the status index, or all; filter by type and name while reading.
        let index = match &q.status {
            Some(s) => self.keys.by_status(&q.tenant, s.as_str()),
            None => self.keys.all(&q.tenant),
        };
        // Resume just after the cursor's item, found by rank so that missions
        // added since (at the top) shift nothing; if it left the index, after
        // everything newer than its score.
        let mut start = match &q.cursor {
            None => 0,
            Some(c) => match self.conn().zrevrank::<_, _, Option<usize>>(&index, &c.id).await? {
                Some(rank) => rank + 1,
                None => self.conn().zcount::<_, _, _, usize>(&index, format!("({}", c.score), "+inf").await?,
            },
        };
        // The `all` index is scored by creation time: what is newer than
        // `until` is skipped by count, not read. (A status index is scored by
        // when the mission entered that status, which is never before its
        // creation: there `until` filters while reading.)
        if let (Some(until), None) = (q.until_ms, &q.status) {
            start = start.max(self.conn().zcount::<_, _, _, usize>(&index, format!("({until}"), "+inf").await?);
        }
        let mut out: Vec<(Mission, i64)> = Vec::new();
        let mut offset = start;
        let mut exhausted = false;
        let mut last_scanned: Option<(String, i64)> = None;
        let mut chunk_last: Option<String> = None;
        // Without a type or name filter every entry matches: read no more than a page.
        let filtered = q.mission_type.is_some() || q.name_prefix.is_some();
        let chunk = if filtered { SCAN_CHUNK } else { q.limit.min(SCAN_CHUNK) };
        while out.len() < q.limit && offset < start + SCAN_MAX {
            let mut entries: Vec<(String, f64)> =
                self.conn().zrevrange_withscores(&index, offset as isize, (offset + chunk - 1) as isize).await?;
            if entries.len() < chunk {
                exhausted = true;
            }
            offset += entries.len();
            // The running index's pin (keys::PIN) is no mission.
            entries.retain(|(id, _)| id != PIN);
            let scores: std::collections::HashMap<String, i64> =
                entries.iter().map(|(id, s)| (id.clone(), *s as i64)).collect();
            let ids: Vec<String> = entries.into_iter().map(|(id, _)| id).collect();
            chunk_last = ids.last().cloned();
            for m in self.get_many(&ids).await? {
                if out.len() == q.limit {
                    break;
                }
                let score = scores.get(&m.id).copied().unwrap_or_default();
                // Index scores never precede creation: past `since`, nothing older can match.
                if q.since_ms.is_some_and(|since| score < since as i64) {
                    exhausted = true;
                    chunk_last = Some(m.id.clone());
                    last_scanned = Some((m.id.clone(), score));
                    break;
                }
                last_scanned = Some((m.id.clone(), score));
                let created = m.created_at.timestamp_millis();
                let status_ok = q.status.is_none_or(|s| s == m.status);
                let type_ok = q.mission_type.as_ref().is_none_or(|t| *t == m.mission_type);
                let name_ok =
                    q.name_prefix.as_ref().is_none_or(|p| m.name.as_ref().is_some_and(|n| n.starts_with(p.as_str())));
                let time_ok =
                    q.since_ms.is_none_or(|t| created >= t as i64) && q.until_ms.is_none_or(|t| created <= t as i64);
                if status_ok && type_ok && name_ok && time_ok {
                    out.push((m, score));
                }
            }
            if exhausted {
                break;
            }
        }
        // Continue after the last item read, unless the index ended there. A
        // page may be short (even empty) when a filter matched little of what
        // one request may read; its cursor still goes on.
        let next_cursor = match last_scanned {
            Some((id, score)) if !exhausted || chunk_last.as_ref() != Some(&id) => {
                Some(Cursor { score, id }.to_string())
            }
            _ => None,
        };
        Ok(MissionPage { missions: out.into_iter().map(|(m, _)| m).collect(), next_cursor })
    }

    /// A mission's log lines (JSON objects), oldest first.
    /// Up to `limit` lines from line `from` on (the log only grows, so a line's
    /// position never changes), and whether more follow.
    pub async fn log(&self, id: &str, from: usize, limit: usize) -> Result<(Vec<serde_json::Value>, bool), StoreError> {
        // One line more than asked tells whether another page follows.
        let lines: Vec<String> = self.conn().lrange(self.keys.log(id), from as isize, (from + limit) as isize).await?;
        let more = lines.len() > limit;
        // A line that is not JSON (written by something else) is shown as text.
        let parsed =
            lines.into_iter().take(limit).map(|l| serde_json::from_str(&l).unwrap_or(serde_json::Value::String(l)));
        Ok((parsed.collect(), more))
    }

    /// Counters per status and type of one tenant (`None`: of all), and the
    /// sizes of the queue structures.
    pub async fn stats(&self, tenant: Option<&str>) -> Result<Stats, StoreError> {
        let (counters, delayed, active, dead): (Vec<(String, i64)>, u64, u64, u64) = redis::pipe()
            .hgetall(self.keys.stats())
            .zcard(self.keys.delayed())
            // Every lease, not the pin (keys::PIN, at +inf).
            .zcount(self.keys.active(), "-inf", "(+inf")
            .zcard(self.keys.dead())
            .query_async(&mut self.conn())
            .await?;
        // Ready missions are spread over one queue per tenant and type: those
        // waiting (pending or retrying, of every tenant) less the delayed ones.
        let waiting: i64 =
            counters.iter().filter(|(f, _)| f.ends_with("|pending") || f.ends_with("|retrying")).map(|(_, n)| *n).sum();
        let ready = u64::try_from(waiting).unwrap_or_default().saturating_sub(delayed);
        let mut stats = Stats { queue_depth: ready, delayed, running: active, dead, ..Stats::default() };
        for (field, n) in counters {
            let Some((owner, rest)) = field.split_once('|') else { continue };
            let Some((mission_type, status)) = rest.rsplit_once('|') else { continue };
            if n == 0 || tenant.is_some_and(|t| t != owner) {
                continue;
            }
            let t = stats.by_type.entry(mission_type.to_owned()).or_default();
            *t.by_status.entry(status.to_owned()).or_default() += n;
            t.total += n;
            *stats.totals.by_status.entry(status.to_owned()).or_default() += n;
            stats.totals.total += n;
        }
        Ok(stats)
    }

    /// The next `n` ready missions after queue score `after` (a page's last),
    /// in score order (priority, then submission) across every tenant and
    /// type queue, and the last one's score. Within a tenant this is its claim
    /// order; between tenants the fair share interleaves them.
    pub async fn peek(&self, n: usize, after: Option<u64>) -> Result<(Vec<QueueEntry>, Option<u64>), StoreError> {
        let counters: Vec<(String, i64)> = self.conn().hgetall(self.keys.stats()).await?;
        let mut queues: Vec<String> = counters
            .into_iter()
            .filter(|(f, n)| *n > 0 && (f.ends_with("|pending") || f.ends_with("|retrying")))
            .filter_map(|(f, _)| {
                let (tenant, rest) = f.split_once('|')?;
                let (mission_type, _) = rest.rsplit_once('|')?;
                Some(self.keys.type_queue(tenant, mission_type))
            })
            .collect();
        queues.sort();
        queues.dedup();
        let min = after.map_or_else(|| "-inf".to_owned(), |s| format!("({s}"));
        let upto = after.map_or_else(|| "-inf".to_owned(), |s| s.to_string());
        if queues.is_empty() {
            return Ok((Vec::new(), None));
        }
        let mut pipe = redis::pipe();
        for q in &queues {
            pipe.zrangebyscore_limit_withscores(q, &min, "+inf", 0, n as isize).zcount(q, "-inf", &upto);
        }
        let replies: Vec<redis::Value> = pipe.query_async(&mut self.conn()).await?;
        let (mut before, mut entries) = (0usize, Vec::<(String, f64)>::new());
        let mut replies = replies.into_iter();
        while let (Some(page), Some(count)) = (replies.next(), replies.next()) {
            entries.extend(redis::from_redis_value::<Vec<(String, f64)>>(page)?);
            before += redis::from_redis_value::<usize>(count)?;
        }
        entries.sort_by(|a, b| a.1.total_cmp(&b.1));
        entries.truncate(n);
        let last = entries.last().map(|(_, s)| *s as u64);
        let ids: Vec<String> = entries.into_iter().map(|(id, _)| id).collect();
        let missions = self.get_many(&ids).await?;
        let page = missions
            .into_iter()
            .enumerate()
            .map(|(i, m)| QueueEntry {
                position: before + i + 1,
                id: m.id,
                mission_type: m.mission_type,
                priority: m.priority,
                tenant: m.tenant,
            })
            .collect();
        Ok((page, last))
    }
}

impl Queue {
    /// The tenant owning mission `id`, or `None` if there is no such mission.
    pub async fn owner(&self, id: &str) -> Result<Option<String>, StoreError> {
        let (exists, tenant): (bool, Option<String>) = redis::pipe()
            .exists(self.keys.mission(id))
            .hget(self.keys.mission(id), "tenant")
            .query_async(&mut self.conn())
            .await?;
        Ok(exists.then(|| tenant.unwrap_or_else(|| crate::model::access::DEFAULT_TENANT.to_owned())))
    }

    /// Registered workers (JSON as their heartbeats wrote it), each with
    /// `alive`: whether it renewed within its lease length.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, StoreError> {
        let (all, time): (Vec<(String, String)>, (i64, i64)) =
            redis::pipe().hgetall(self.keys.workers()).cmd("TIME").query_async(&mut self.conn()).await?;
        let now = time.0 as f64 + time.1 as f64 / 1e6;
        let mut out: Vec<WorkerInfo> = all
            .into_iter()
            .filter_map(|(_, json)| serde_json::from_str::<WorkerInfo>(&json).ok())
            .map(|w| WorkerInfo { alive: now - w.last_heartbeat <= w.lease_ms as f64 / 1000.0, ..w })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
