//! `submit --wait` and `get --wait`: wait for a mission to finish, so authors
//! and scripts need not sleep and poll; the exit code says how it ended.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::{Failure, Remote};

/// Exit code of a mission that failed.
pub const EXIT_FAILED: u8 = 4;
/// Exit code of a mission that was cancelled.
pub const EXIT_CANCELLED: u8 = 5;
/// Exit code when the mission had not finished when `--wait-timeout-s` ran out.
pub const EXIT_STILL_RUNNING: u8 = 6;

/// How often the mission is read while waiting.
const POLL: Duration = Duration::from_millis(200);

/// Reads mission `id` until it is completed, failed or cancelled, or `timeout`
/// passes; returns the last record, or the failure whose code says which.
pub async fn until_finished(
    remote: &Remote,
    http: &reqwest::Client,
    id: &str,
    timeout: Duration,
) -> Result<Value, Failure> {
    let deadline = Instant::now() + timeout;
    let url = remote.endpoint(&["api", "missions", id], &[])?;
    loop {
        let m = remote.send(http.get(url.clone())).await?;
        match m["status"].as_str() {
            Some("completed") => return Ok(m),
            Some("failed") => {
                let kind = m["error"]["kind"].as_str().unwrap_or("-");
                let msg = m["error"]["message"].as_str().unwrap_or("no message");
                return Err(Failure { code: EXIT_FAILED, message: format!("mission {id} failed ({kind}): {msg}") });
            }
            Some("cancelled") => {
                return Err(Failure { code: EXIT_CANCELLED, message: format!("mission {id} was cancelled") });
            }
            _ if Instant::now() >= deadline => {
                return Err(Failure {
                    code: EXIT_STILL_RUNNING,
                    message: format!(
                        "mission {id} is still {} after {} s",
                        m["status"].as_str().unwrap_or("unfinished"),
                        timeout.as_secs()
                    ),
                });
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// `--wait` and its limit.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct WaitArgs {
    /// Wait until the mission finishes and print it; exit 0 completed, 4 failed,
    /// 5 cancelled, 6 not finished within --wait-timeout-s.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: how long to wait, in seconds.
    #[arg(long, default_value_t = 300, requires = "wait")]
    pub wait_timeout_s: u64,
}
