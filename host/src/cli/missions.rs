//! `mission-runner submit | get | list | cancel | retry | log | events | stats`:
//! the client of a running host's mission API.

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{Failure, Remote, s};

/// Mission commands.
#[derive(Debug, Subcommand)]
pub enum MissionCommand {
    /// Submits a mission; prints its id.
    Submit {
        /// The mission type.
        mission_type: String,
        /// The payload as JSON (`-` reads it from standard input).
        #[arg(default_value = "{}")]
        payload: String,
        /// 0..=100, or low, normal, high, critical.
        #[arg(long)]
        priority: Option<String>,
        /// Attempts allowed in all.
        #[arg(long)]
        max_attempts: Option<u32>,
        /// Wall-clock limit of one attempt (ms).
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Do not start before this time (RFC 3339).
        #[arg(long)]
        run_at: Option<String>,
        /// The same key within the idempotency window returns the first mission.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// A human name (up to 200 characters), shown by `get` and `list`.
        #[arg(long)]
        name: Option<String>,
        /// What the mission is for (up to 2,000 characters).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        wait: super::wait::WaitArgs,
    },
    /// Shows a mission.
    Get {
        /// Mission id.
        id: String,
        #[command(flatten)]
        wait: super::wait::WaitArgs,
    },
    /// Lists missions, newest first.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        mission_type: Option<String>,
        /// Only missions whose name starts with this.
        #[arg(long)]
        name: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Cancels a mission that has not finished.
    Cancel {
        /// Mission id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Retries a failed mission (same id, fresh attempts).
    Retry {
        /// Mission id.
        id: String,
    },
    /// Shows a mission's log.
    Log {
        /// Mission id.
        id: String,
    },
    /// Shows events; with --follow, streams new ones until interrupted.
    Events {
        /// Only this mission's (the API's `mission_id`; `--mission` still works).
        #[arg(long = "mission-id", alias = "mission")]
        mission: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Keep streaming new events.
        #[arg(long)]
        follow: bool,
        /// With --follow: start after this event (its `id`, a UUID, or an
        /// SSE id; `0` replays what the stream holds), e.g. to resume where an
        /// earlier run stopped.
        #[arg(long, requires = "follow")]
        after: Option<String>,
        /// Without --follow: only events older than this one (its `id`, a
        /// UUID, or a page's `next_cursor`).
        #[arg(long, conflicts_with = "follow")]
        before: Option<String>,
    },
    /// Shows totals per status and type and the queue's sizes.
    Stats,
}

fn mission_line(m: &Value) {
    let err = m["error"]["message"].as_str().map(|e| format!("  error: {e}")).unwrap_or_default();
    let name = m["name"].as_str().map(|n| format!("  {n:?}")).unwrap_or_default();
    println!(
        "{}  {:<10} {:<12} prio {:<3} attempts {}/{}{name}{err}",
        s(m, "id"),
        s(m, "status"),
        s(m, "type"),
        m["priority"],
        m["attempts"],
        m["max_attempts"]
    );
}

fn event_line(e: &Value) {
    let mut payload = e["payload"].clone();
    let mission = payload.as_object_mut().and_then(|p| p.remove("mission_id"));
    let mission = mission.as_ref().and_then(Value::as_str).unwrap_or("-");
    println!("{}  {:<22} {mission}  {}", s(e, "id"), s(e, "type"), payload);
}

/// A mission's summary, times and result.
fn show_mission(m: &Value) {
    mission_line(m);
    if let Some(d) = m["description"].as_str() {
        println!("description: {d}");
    }
    println!("created {}  started {}  finished {}", s(m, "created_at"), s(m, "started_at"), s(m, "finished_at"));
    if !m["result"].is_null() {
        println!("result {}", m["result"]);
    }
}

fn wait_for(wait: super::wait::WaitArgs) -> std::time::Duration {
    std::time::Duration::from_secs(wait.wait_timeout_s)
}

/// Runs a mission command against `remote`.
pub async fn run(remote: &Remote, cmd: MissionCommand) -> Result<(), Failure> {
    let http = remote.http()?;
    match cmd {
        MissionCommand::Submit {
            mission_type,
            payload,
            priority,
            max_attempts,
            timeout_ms,
            run_at,
            idempotency_key,
            name,
            description,
            wait,
        } => {
            let text = if payload == "-" {
                std::io::read_to_string(std::io::stdin()).map_err(|e| Failure::input(format!("reading stdin: {e}")))?
            } else {
                payload
            };
            let payload: Value =
                serde_json::from_str(&text).map_err(|e| Failure::input(format!("the payload is not JSON: {e}")))?;
            let mut body = json!({ "type": mission_type, "payload": payload });
            let priority = priority.map(|p| p.parse::<i64>().map_or(json!(p), |n| json!(n)));
            for (k, v) in [
                ("priority", priority),
                ("max_attempts", max_attempts.map(|v| json!(v))),
                ("timeout_ms", timeout_ms.map(|v| json!(v))),
                ("run_at", run_at.map(|v| json!(v))),
                ("idempotency_key", idempotency_key.map(|v| json!(v))),
                ("name", name.map(|v| json!(v))),
                ("description", description.map(|v| json!(v))),
            ] {
                if let Some(v) = v {
                    body[k] = v;
                }
            }
            let m = remote.send(http.post(remote.url("/api/missions")).json(&body)).await?;
            if wait.wait {
                // The id first, so that a script can follow up when the wait runs out.
                eprintln!("{}", s(&m, "id"));
                let m = super::wait::until_finished(remote, &http, s(&m, "id"), wait_for(wait)).await?;
                remote.print(&m, show_mission);
            } else {
                remote.print(&m, |m| println!("{}", s(m, "id")));
            }
        }
        MissionCommand::Get { id, wait } => {
            let m = match wait.wait {
                true => super::wait::until_finished(remote, &http, &id, wait_for(wait)).await?,
                false => remote.send(http.get(remote.endpoint(&["api", "missions", &id], &[])?)).await?,
            };
            remote.print(&m, show_mission);
        }
        MissionCommand::List { status, mission_type, name, limit } => {
            let q = [("status", status), ("type", mission_type), ("name", name), ("limit", Some(limit.to_string()))];
            let body = remote.send(http.get(remote.endpoint(&["api", "missions"], &q)?)).await?;
            remote.print(&body, |b| b["missions"].as_array().into_iter().flatten().for_each(mission_line));
        }
        MissionCommand::Cancel { id, reason } => {
            let url = remote.endpoint(&["api", "missions", &id, "cancel"], &[])?;
            let m = remote.send(http.post(url).json(&json!({ "reason": reason }))).await?;
            remote.print(&m, mission_line);
        }
        MissionCommand::Retry { id } => {
            let m = remote.send(http.post(remote.endpoint(&["api", "missions", &id, "retry"], &[])?)).await?;
            remote.print(&m, mission_line);
        }
        MissionCommand::Log { id } => {
            let body = remote.send(http.get(remote.endpoint(&["api", "missions", &id, "log"], &[])?)).await?;
            remote.print(&body, |b| {
                for l in b["lines"].as_array().into_iter().flatten() {
                    println!("{} {:<5} {:<6} {}", l["ts"], s(l, "level"), s(l, "source"), s(l, "message"));
                }
            });
        }
        MissionCommand::Events { mission, event_type, follow, after, before } => {
            let q = [("mission_id", mission), ("type", event_type)];
            if follow {
                let url = remote.endpoint(&["api", "events", "stream"], &q)?;
                let json = remote.json;
                return super::follow::follow(remote, &http, url, after, |e| match json {
                    true => println!("{e}"),
                    false => event_line(e),
                })
                .await;
            }
            let [mission, event_type] = q;
            let q = [mission, event_type, ("before", before)];
            let body = remote.send(http.get(remote.endpoint(&["api", "events"], &q)?)).await?;
            remote.print(&body, |b| b["events"].as_array().into_iter().flatten().for_each(event_line));
        }
        MissionCommand::Stats => {
            let st = remote.send(http.get(remote.url("/api/stats"))).await?;
            remote.print(&st, |st| {
                println!(
                    "queue depth {}  delayed {}  running {}  dead {}",
                    st["queue_depth"], st["delayed"], st["running"], st["dead"]
                );
                for (t, ts) in st["by_type"].as_object().into_iter().flatten() {
                    println!("{t:<14} {}", ts["by_status"]);
                }
            });
        }
    }
    Ok(())
}
