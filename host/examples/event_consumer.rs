//! An external consumer of the event streams with a consumer group: at-least-once
//! processing that survives its own crashes.
//!
//! ```sh
//! cargo run --example event_consumer -- redis://127.0.0.1:6379 billing consumer-1 team-a
//! ```
//!
//! Each tenant's mission events are in its own stream, `{mr}:t:<tenant>:events`;
//! plugin events, which concern every tenant, in `{mr}:events`. This consumer
//! follows one tenant's stream and the shared one (give several tenants to
//! follow each). Each group sees every event of a stream once among its
//! consumers; each consumer acks what it processed. A consumer that dies
//! leaves its unacknowledged events pending; on start it first re-reads its
//! own pending ones, then claims others' that have been pending for a while
//! (`XAUTOCLAIM`). Processing must therefore be idempotent: key side effects
//! by the event's `id` (a UUID, unique across streams).
//!
//! A stream entry holds only part of the envelope the API shows; the rest
//! (the UUID `id`, `source`, `target`, `meta.host`, a status change's
//! `old_status` and `new_status`) is derived when it is read. The library's
//! [`Event::from_entry`] does that, so this consumer sees exactly the
//! envelope of `GET /api/events` and of the SSE stream.

use std::time::Duration;

use mission_runner::model::event_id::StreamRef;
use mission_runner::model::events::Event;
use redis::AsyncCommands as _;

/// Events pending longer than this with a dead consumer are taken over.
const STALE: Duration = Duration::from_secs(60);

/// Entries as (id, fields); fields are `None` for an entry trimmed from the
/// stream while it was pending (there is nothing left to process: ack it).
type Entries = Vec<(String, Option<Vec<String>>)>;

/// What `XREADGROUP` answers: entries per stream.
type ByStream = Option<Vec<(String, Entries)>>;

/// The streams to follow for `tenants` under key prefix `prefix` (such as
/// `mr`): each tenant's, then the shared plugin stream, each with what its
/// events' ids say of it.
pub fn streams(prefix: &str, tenants: &[String]) -> Vec<(String, StreamRef)> {
    let mut out: Vec<(String, StreamRef)> = tenants
        .iter()
        .map(|t| {
            let key = format!("{{{prefix}}}:t:{t}:events");
            let r = StreamRef::tenant(&key);
            (key, r)
        })
        .collect();
    let shared = format!("{{{prefix}}}:events");
    out.push((shared.clone(), StreamRef::plugins(&shared)));
    out
}

/// One event handed to the consumer: ack it once processed.
#[derive(Debug)]
pub struct Delivery {
    /// The stream's key.
    pub stream: String,
    /// The entry id, which `XACK` wants.
    pub entry_id: String,
    /// The envelope; `None` for an entry trimmed while pending (or one this
    /// version cannot read): nothing to process, but still to ack.
    pub event: Option<Event>,
}

/// One consumer of one group over several streams.
#[derive(Debug)]
pub struct Consumer {
    conn: redis::aio::MultiplexedConnection,
    group: String,
    name: String,
    keys: Vec<String>,
    refs: Vec<StreamRef>,
    /// Whether our own pending entries may remain to be re-read.
    own_pending: bool,
}

impl Consumer {
    /// Joins `group` as `name` on every stream of `streams`, creating the
    /// group at the streams' start where it does not exist yet.
    pub async fn join(
        url: &str,
        group: &str,
        name: &str,
        streams: Vec<(String, StreamRef)>,
    ) -> redis::RedisResult<Consumer> {
        // Reads block for up to 5 s: the connection must wait longer than that for answers.
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(10)));
        let mut conn = redis::Client::open(url)?.get_multiplexed_async_connection_with_config(&config).await?;
        // Create the group on each stream at its start ("0"), or "$" for new events only.
        for (stream, _) in &streams {
            let created: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(stream)
                .arg(group)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await;
            if let Err(e) = created
                && e.code() != Some("BUSYGROUP")
            {
                return Err(e);
            }
        }
        let (keys, refs) = streams.into_iter().unzip();
        Ok(Consumer { conn, group: group.to_owned(), name: name.to_owned(), keys, refs, own_pending: true })
    }

    /// The next events: 1. our own pending ones (delivered before a crash,
    /// never acked); 2. others' stale pending ones; 3. new ones, waiting up
    /// to `block_ms` for them. Empty when none came within `block_ms`.
    pub async fn next_batch(&mut self, block_ms: u64) -> redis::RedisResult<Vec<Delivery>> {
        let batches: Vec<(String, Entries)> = if self.own_pending {
            let b = self.read_group("0", 0).await?;
            self.own_pending = b.iter().any(|(_, e)| !e.is_empty());
            b
        } else {
            let mut claimed = Vec::new();
            for stream in &self.keys {
                let (_, entries, _): (String, Entries, Vec<String>) = redis::cmd("XAUTOCLAIM")
                    .arg(stream)
                    .arg(&self.group)
                    .arg(&self.name)
                    .arg(STALE.as_millis() as u64)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(100)
                    .query_async(&mut self.conn)
                    .await?;
                if !entries.is_empty() {
                    claimed.push((stream.clone(), entries));
                }
            }
            if claimed.is_empty() { self.read_group(">", block_ms).await? } else { claimed }
        };
        let mut out = Vec::new();
        for (stream, entries) in batches {
            let Some(at) = self.keys.iter().position(|k| *k == stream) else { continue };
            for (id, fields) in entries {
                let event = fields.and_then(|f| Event::from_entry(self.refs[at], &id, f));
                out.push(Delivery { stream: stream.clone(), entry_id: id, event });
            }
        }
        Ok(out)
    }

    /// Acknowledges a delivery: the group will not hand it out again.
    pub async fn ack(&mut self, d: &Delivery) -> redis::RedisResult<()> {
        let _: u64 = self.conn.xack(&d.stream, &self.group, &[&d.entry_id]).await?;
        Ok(())
    }

    /// Reads from every stream at `from` (`0`: own pending entries; `>`: new
    /// ones), blocking up to `block_ms` (0: not at all).
    async fn read_group(&mut self, from: &str, block_ms: u64) -> redis::RedisResult<Vec<(String, Entries)>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(&self.group).arg(&self.name).arg("COUNT").arg(100);
        if block_ms > 0 {
            cmd.arg("BLOCK").arg(block_ms);
        }
        cmd.arg("STREAMS").arg(&self.keys);
        for _ in &self.keys {
            cmd.arg(from);
        }
        let reply: ByStream = cmd.query_async(&mut self.conn).await?;
        Ok(reply.unwrap_or_default())
    }
}

/// What this example does with an event: prints its envelope. A real consumer
/// keys its side effects by `event.id`, so a redelivery applies nothing twice.
fn process(event: &Event) {
    match serde_json::to_string(event) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("event {}: {e}", event.id),
    }
}

#[tokio::main]
async fn main() -> redis::RedisResult<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let group = args.next().unwrap_or_else(|| "example".into());
    let name = args.next().unwrap_or_else(|| "consumer-1".into());
    let tenants: Vec<String> = args.collect();
    let tenants = if tenants.is_empty() { vec!["default".to_owned()] } else { tenants };
    let mut consumer = Consumer::join(&url, &group, &name, streams("mr", &tenants)).await?;
    loop {
        for d in consumer.next_batch(5000).await? {
            if let Some(e) = &d.event {
                process(e);
            }
            consumer.ack(&d).await?;
        }
    }
}
