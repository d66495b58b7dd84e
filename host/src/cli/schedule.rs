//! `mission-runner schedule create | list | get | delete | pause | resume`:
//! the client of a running host's `/api/schedules`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{Failure, Remote, s};

/// Schedule commands.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Creates a schedule (or, with --replace, replaces the one of that name).
    Create(Box<CreateArgs>),
    /// Lists schedules.
    List,
    /// Shows a schedule.
    Get {
        /// Its name.
        name: String,
    },
    /// Deletes a schedule (its missions stay).
    Delete {
        /// Its name.
        name: String,
    },
    /// Pauses a schedule.
    Pause {
        /// Its name.
        name: String,
    },
    /// Resumes a paused schedule from its next tick.
    Resume {
        /// Its name.
        name: String,
    },
}

/// `schedule create`'s arguments.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Its name (a-z, 0-9, `.`, `_`, `-`).
    name: String,
    /// The mission type each tick submits.
    #[arg(long = "type")]
    mission_type: String,
    /// The payload as JSON.
    #[arg(long, default_value = "{}")]
    payload: String,
    /// A cron expression, 5 fields or 6 with seconds first (e.g. "0 30 2 * * *").
    #[arg(long, conflicts_with = "interval_ms", required_unless_present = "interval_ms")]
    cron: Option<String>,
    /// IANA time zone of --cron [default: UTC].
    #[arg(long, requires = "cron")]
    timezone: Option<String>,
    /// A tick every this many milliseconds instead of --cron.
    #[arg(long)]
    interval_ms: Option<i64>,
    /// skip (default), allow or buffer_one: what a tick does while the previous mission runs.
    #[arg(long)]
    overlap: Option<String>,
    /// none (default), latest or all: which missed ticks run after every host was down.
    #[arg(long)]
    catch_up: Option<String>,
    /// With --catch-up all, the most missed ticks run [default: 10].
    #[arg(long)]
    catch_up_cap: Option<i64>,
    /// 0..=100, or low, normal, high, critical.
    #[arg(long)]
    priority: Option<String>,
    /// No tick before this time (RFC 3339).
    #[arg(long)]
    start_at: Option<String>,
    /// No tick after this time (RFC 3339).
    #[arg(long)]
    end_at: Option<String>,
    /// Create it paused.
    #[arg(long)]
    paused: bool,
    /// Replace the schedule of that name (PUT) instead of creating one.
    #[arg(long)]
    replace: bool,
}

fn line(v: &Value) {
    let when = match v["cron"].as_str() {
        Some(c) => format!("cron \"{c}\" {}", s(v, "timezone")),
        None => format!("every {} ms", v["interval_ms"]),
    };
    let state = if v["paused"].as_bool() == Some(true) { "paused" } else { "active" };
    println!(
        "{:<24} {:<8} {:<30} next {}  fired {}  skipped {}",
        s(v, "name"),
        state,
        when,
        s(v, "next_tick_at"),
        v["fired"],
        v["skipped"]
    );
}

/// Runs one schedule command against `remote`.
pub async fn run(remote: &Remote, cmd: ScheduleCommand) -> Result<(), Failure> {
    let http = remote.http()?;
    match cmd {
        ScheduleCommand::Create(args) => {
            let CreateArgs {
                name,
                mission_type,
                payload,
                cron,
                timezone,
                interval_ms,
                overlap,
                catch_up,
                catch_up_cap,
                priority,
                start_at,
                end_at,
                paused,
                replace,
            } = *args;
            let payload: Value =
                serde_json::from_str(&payload).map_err(|e| Failure::input(format!("the payload is not JSON: {e}")))?;
            let mut mission = json!({ "type": mission_type, "payload": payload });
            if let Some(p) = priority {
                mission["priority"] = p.parse::<i64>().map_or(json!(p), |n| json!(n));
            }
            let mut body = json!({ "name": name, "mission": mission });
            for (k, v) in [
                ("cron", cron.map(|v| json!(v))),
                ("timezone", timezone.map(|v| json!(v))),
                ("interval_ms", interval_ms.map(|v| json!(v))),
                ("overlap", overlap.map(|v| json!(v))),
                ("catch_up", catch_up.map(|v| json!(v))),
                ("catch_up_cap", catch_up_cap.map(|v| json!(v))),
                ("start_at", start_at.map(|v| json!(v))),
                ("end_at", end_at.map(|v| json!(v))),
                ("paused", paused.then_some(json!(true))),
            ] {
                if let Some(v) = v {
                    body[k] = v;
                }
            }
            let req = match replace {
                true => http.put(remote.endpoint(&["api", "schedules", &name], &[])?),
                false => http.post(remote.endpoint(&["api", "schedules"], &[])?),
            };
            let v = remote.send(req.json(&body)).await?;
            remote.print(&v, line);
        }
        ScheduleCommand::List => {
            let body = remote.send(http.get(remote.endpoint(&["api", "schedules"], &[])?)).await?;
            remote.print(&body, |b| b["schedules"].as_array().into_iter().flatten().for_each(line));
        }
        ScheduleCommand::Get { name } => {
            let v = remote.send(http.get(remote.endpoint(&["api", "schedules", &name], &[])?)).await?;
            remote.print(&v, |v| println!("{v:#}"));
        }
        ScheduleCommand::Delete { name } => {
            let url = remote.endpoint(&["api", "schedules", &name], &[])?;
            let resp = http
                .delete(url)
                .send()
                .await
                .map_err(|e| Failure { code: 3, message: format!("cannot reach {}: {e}", remote.url("")) })?;
            let status = resp.status();
            if !status.is_success() {
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                let msg = body["error"]["message"].as_str().unwrap_or("no message");
                return Err(Failure { code: 1, message: format!("{status}: {msg}") });
            }
            remote.print(&json!({ "deleted": name }), |_| println!("deleted {name}"));
        }
        ScheduleCommand::Pause { name } => {
            let v = remote.send(http.post(remote.endpoint(&["api", "schedules", &name, "pause"], &[])?)).await?;
            remote.print(&v, line);
        }
        ScheduleCommand::Resume { name } => {
            let v = remote.send(http.post(remote.endpoint(&["api", "schedules", &name, "resume"], &[])?)).await?;
            remote.print(&v, line);
        }
    }
    Ok(())
}
