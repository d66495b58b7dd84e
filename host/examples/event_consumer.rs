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
//! by the stream and the event id (ids are unique within one stream only).

use std::time::Duration;

use redis::AsyncCommands as _;

/// Events pending longer than this with a dead consumer are taken over.
const STALE: Duration = Duration::from_secs(60);

/// Entries as (id, fields); fields are `None` for an entry trimmed from the
/// stream while it was pending (there is nothing left to process: ack it).
type Entries = Vec<(String, Option<Vec<String>>)>;

/// What `XREADGROUP` answers: entries per stream.
type ByStream = Option<Vec<(String, Entries)>>;

fn process(stream: &str, id: &str, fields: &[String]) {
    let field = |name: &str| fields.chunks(2).find(|kv| kv[0] == name).map(|kv| kv[1].as_str()).unwrap_or("");
    // Idempotent by (stream, id): a redelivered event must not be applied twice.
    println!("{stream} {id} {} mission={} payload={}", field("type"), field("mission"), field("payload"));
}

/// Reads for `group`/`consumer` from every stream at `from` (`0`: its own
/// pending entries; `>`: new ones), blocking up to `block_ms` (0: not at all).
async fn read_group(
    conn: &mut redis::aio::MultiplexedConnection,
    group: &str,
    consumer: &str,
    streams: &[String],
    from: &str,
    block_ms: u64,
) -> redis::RedisResult<Vec<(String, Entries)>> {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP").arg(group).arg(consumer).arg("COUNT").arg(100);
    if block_ms > 0 {
        cmd.arg("BLOCK").arg(block_ms);
    }
    cmd.arg("STREAMS").arg(streams);
    for _ in streams {
        cmd.arg(from);
    }
    let reply: ByStream = cmd.query_async(conn).await?;
    Ok(reply.unwrap_or_default())
}

#[tokio::main]
async fn main() -> redis::RedisResult<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let group = args.next().unwrap_or_else(|| "example".into());
    let consumer = args.next().unwrap_or_else(|| "consumer-1".into());
    let tenants: Vec<String> = args.collect();
    let tenants = if tenants.is_empty() { vec!["default".to_owned()] } else { tenants };
    // `{<key prefix>}:t:<tenant>:events` for each tenant, and `{<key prefix>}:events`.
    let mut streams: Vec<String> = tenants.iter().map(|t| format!("{{mr}}:t:{t}:events")).collect();
    streams.push("{mr}:events".to_owned());
    // Reads block for up to 5 s: the connection must wait longer than that for answers.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(10)));
    let mut conn = redis::Client::open(url)?.get_multiplexed_async_connection_with_config(&config).await?;

    // Create the group on each stream at its start ("0"), or "$" for new events only.
    for stream in &streams {
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(&group)
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

    // 1. Our own pending events (delivered before a crash, never acked).
    // 2. Others' stale pending events.
    // 3. New events, blocking.
    let mut own_pending = true;
    loop {
        let batches: Vec<(String, Entries)> = if own_pending {
            let b = read_group(&mut conn, &group, &consumer, &streams, "0", 0).await?;
            own_pending = b.iter().any(|(_, e)| !e.is_empty());
            b
        } else {
            let mut claimed = Vec::new();
            for stream in &streams {
                let (_, entries, _): (String, Entries, Vec<String>) = redis::cmd("XAUTOCLAIM")
                    .arg(stream)
                    .arg(&group)
                    .arg(&consumer)
                    .arg(STALE.as_millis() as u64)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(100)
                    .query_async(&mut conn)
                    .await?;
                if !entries.is_empty() {
                    claimed.push((stream.clone(), entries));
                }
            }
            if claimed.is_empty() {
                read_group(&mut conn, &group, &consumer, &streams, ">", 5000).await?
            } else {
                claimed
            }
        };
        for (stream, entries) in &batches {
            for (id, fields) in entries {
                if let Some(fields) = fields {
                    process(stream, id, fields);
                }
                let _: u64 = conn.xack(stream, &group, &[id]).await?;
            }
        }
    }
}
