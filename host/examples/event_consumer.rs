//! An external consumer of the event stream with a consumer group: at-least-once
//! processing that survives its own crashes.
//!
//! ```sh
//! cargo run --example event_consumer -- redis://127.0.0.1:6379 billing consumer-1
//! ```
//!
//! Each group sees every event once among its consumers; each consumer acks
//! what it processed. A consumer that dies leaves its unacknowledged events
//! pending; on start it first re-reads its own pending ones, then claims
//! others' that have been pending for a while (`XAUTOCLAIM`). Processing must
//! therefore be idempotent: key side effects by the event id.

use std::time::Duration;

use redis::AsyncCommands as _;

/// Events pending longer than this with a dead consumer are taken over.
const STALE: Duration = Duration::from_secs(60);

/// Entries as (id, fields); fields are `None` for an entry trimmed from the
/// stream while it was pending (there is nothing left to process: ack it).
type Entries = Vec<(String, Option<Vec<String>>)>;

fn process(id: &str, fields: &[String]) {
    let field = |name: &str| fields.chunks(2).find(|kv| kv[0] == name).map(|kv| kv[1].as_str()).unwrap_or("");
    // Idempotent by `id`: a redelivered event must not be applied twice.
    println!("{id} {} mission={} payload={}", field("type"), field("mission"), field("payload"));
}

#[tokio::main]
async fn main() -> redis::RedisResult<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let group = args.next().unwrap_or_else(|| "example".into());
    let consumer = args.next().unwrap_or_else(|| "consumer-1".into());
    let stream = "{mr}:events"; // `{<key prefix>}:events`
    let mut conn = redis::Client::open(url)?.get_multiplexed_async_connection().await?;

    // Create the group at the stream's start ("0"), or "$" for new events only.
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(&group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await;
    if let Err(e) = created {
        if e.code() != Some("BUSYGROUP") {
            return Err(e);
        }
    }

    // 1. Our own pending events (delivered before a crash, never acked).
    // 2. Others' stale pending events.
    // 3. New events, blocking.
    let mut own_pending = true;
    loop {
        let entries: Entries = if own_pending {
            let reply: Option<Vec<(String, Entries)>> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&group)
                .arg(&consumer)
                .arg("COUNT")
                .arg(100)
                .arg("STREAMS")
                .arg(stream)
                .arg("0")
                .query_async(&mut conn)
                .await?;
            let e: Entries = reply.unwrap_or_default().into_iter().flat_map(|(_, e)| e).collect();
            own_pending = !e.is_empty();
            e
        } else {
            let (_, claimed, _): (String, Entries, Vec<String>) = redis::cmd("XAUTOCLAIM")
                .arg(stream)
                .arg(&group)
                .arg(&consumer)
                .arg(STALE.as_millis() as u64)
                .arg("0-0")
                .arg("COUNT")
                .arg(100)
                .query_async(&mut conn)
                .await?;
            if claimed.is_empty() {
                let reply: Option<Vec<(String, Entries)>> = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(&group)
                    .arg(&consumer)
                    .arg("COUNT")
                    .arg(100)
                    .arg("BLOCK")
                    .arg(5000)
                    .arg("STREAMS")
                    .arg(stream)
                    .arg(">")
                    .query_async(&mut conn)
                    .await?;
                reply.unwrap_or_default().into_iter().flat_map(|(_, e)| e).collect()
            } else {
                claimed
            }
        };
        for (id, fields) in &entries {
            if let Some(fields) = fields {
                process(id, fields);
            }
            let _: u64 = conn.xack(stream, &group, &[id]).await?;
        }
    }
}
