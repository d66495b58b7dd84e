//! `mission-runner pause | resume | limits | weight`: flow control on a
//! running host (admin), through `/api/queue/pause`, `/api/types/{type}/...`
//! and `/api/tenants/{tenant}/weight`.

use clap::Args;
use serde_json::{Value, json};

use super::client::{Failure, Remote, s};

/// Which part of the queue to pause or resume.
#[derive(Debug, Args)]
pub struct Scope {
    /// Only this mission type [default: every type].
    #[arg(long = "type")]
    mission_type: Option<String>,
}

/// A type's limits (`limits TYPE`): each flag given replaces what was set;
/// none given shows them; `--clear` removes them all.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// The mission type.
    mission_type: String,
    /// At most this many running at once across every host.
    #[arg(long)]
    concurrency: Option<u32>,
    /// At most this many starts per `--window-ms`.
    #[arg(long)]
    rate: Option<u32>,
    /// The rate's window in milliseconds.
    #[arg(long, default_value_t = 1000)]
    window_ms: u64,
    /// Most starts at once after an idle spell [default: the rate].
    #[arg(long)]
    burst: Option<u32>,
    /// Default time to live before start of its missions (ms).
    #[arg(long)]
    ttl_ms: Option<u64>,
    /// Remove every limit of the type.
    #[arg(long, conflicts_with_all = ["concurrency", "rate", "ttl_ms"])]
    clear: bool,
}

/// A tenant's fair-share weight: shown, or set with `--set`.
#[derive(Debug, Args)]
pub struct WeightArgs {
    /// The tenant.
    tenant: String,
    /// The new weight (1 to 1,000).
    #[arg(long)]
    set: Option<u32>,
}

fn pause_path(scope: &Scope) -> Vec<&str> {
    match &scope.mission_type {
        Some(t) => vec!["api", "types", t, "pause"],
        None => vec!["api", "queue", "pause"],
    }
}

fn show_flow(f: &Value) {
    let paused = if f["paused"].is_object() { "paused" } else { "running" };
    println!("{}: {paused}, {} running, limits {}", s(f, "type"), f["running"], f["limits"]);
}

/// Pauses (`pause == true`) or resumes the queue or one type.
pub async fn pause(remote: &Remote, scope: Scope, pause: bool) -> Result<(), Failure> {
    let http = remote.http()?;
    let url = remote.endpoint(&pause_path(&scope), &[])?;
    let req = if pause { http.put(url) } else { http.delete(url) };
    let body = remote.send(req).await?;
    let what = scope.mission_type.as_deref().unwrap_or("the queue");
    remote.print(&body, |_| println!("{what}: {}", if pause { "paused" } else { "resumed" }));
    Ok(())
}

/// Shows or sets a type's limits.
pub async fn limits(remote: &Remote, a: LimitArgs) -> Result<(), Failure> {
    let http = remote.http()?;
    let url = remote.endpoint(&["api", "types", &a.mission_type, "limits"], &[])?;
    let changes = a.clear || a.concurrency.is_some() || a.rate.is_some() || a.ttl_ms.is_some();
    let body = if changes {
        let now = remote.send(http.get(url.clone())).await?;
        let mut limits = if a.clear { json!({}) } else { now["limits"].clone() };
        if let Some(c) = a.concurrency {
            limits["concurrency"] = json!(c);
        }
        if let Some(r) = a.rate {
            limits["rate"] = json!({ "limit": r, "window_ms": a.window_ms });
            if let Some(b) = a.burst {
                limits["rate"]["burst"] = json!(b);
            }
        }
        if let Some(t) = a.ttl_ms {
            limits["ttl_ms"] = json!(t);
        }
        remote.send(http.put(url).json(&limits)).await?
    } else {
        remote.send(http.get(url)).await?
    };
    remote.print(&body, show_flow);
    Ok(())
}

/// Shows or sets a tenant's weight.
pub async fn weight(remote: &Remote, a: WeightArgs) -> Result<(), Failure> {
    let http = remote.http()?;
    let url = remote.endpoint(&["api", "tenants", &a.tenant, "weight"], &[])?;
    let body = match a.set {
        Some(w) => remote.send(http.put(url).json(&json!({ "weight": w }))).await?,
        None => remote.send(http.get(url)).await?,
    };
    remote.print(&body, |b| println!("{}: weight {}", a.tenant, b["weight"]));
    Ok(())
}
