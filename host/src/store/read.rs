//! Reads: records, lists, logs, stats and events. Reads never change state.

use redis::AsyncCommands;

use super::{Queue, StoreError};
use crate::model::mission::Mission;
use crate::model::views::{QueueEntry, Stats};
use crate::model::worker_info::WorkerInfo;

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
