//! `flood`: pushes as much as it can through the host on request, to prove the
//! host's budgets. Payload `{"do": ACTION, ...}`; see [`Action`]. A test fixture.

use std::io::Write as _;

use mission_plugin_sdk::{Guest, LogLevel, Mission, MissionError, PluginInfo, export_plugin, host};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
enum Action {
    /// Logs `lines` lines of `bytes` bytes each.
    Log { lines: u64, bytes: usize },
    /// Reports progress `calls` times, each with a note of `bytes` bytes.
    Progress { calls: u64, bytes: usize },
    /// Fails (permanently) with a message of `bytes` bytes.
    Error { bytes: usize },
    /// Returns a JSON string of `bytes` bytes.
    Result { bytes: usize },
    /// Writes `bytes` bytes to stdout and to stderr, in `chunk`-byte writes.
    Print { bytes: usize, chunk: usize },
}

struct Flood;

impl Guest for Flood {
    fn run(mission: Mission) -> Result<String, MissionError> {
        let action: Action = serde_json::from_str(&mission.payload)
            .map_err(|e| MissionError::Permanent(format!("invalid payload: {e}")))?;
        match action {
            Action::Log { lines, bytes } => {
                let line = "l".repeat(bytes);
                for _ in 0..lines {
                    host::log(LogLevel::Info, &line);
                }
                Ok(format!("{{\"logged\":{lines}}}"))
            }
            Action::Progress { calls, bytes } => {
                let note = "p".repeat(bytes);
                for i in 0..calls {
                    host::progress((i * 100 / calls.max(1)) as u8, &note);
                }
                host::progress(100, "done");
                Ok(format!("{{\"progressed\":{calls}}}"))
            }
            Action::Error { bytes } => Err(MissionError::Permanent("e".repeat(bytes))),
            Action::Result { bytes } => Ok(format!("\"{}\"", "r".repeat(bytes))),
            Action::Print { bytes, chunk } => {
                let block = vec![b'o'; chunk.max(1)];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(block.len());
                    let _ = std::io::stdout().write_all(&block[..n]);
                    let _ = std::io::stderr().write_all(&block[..n]);
                    left -= n;
                }
                Ok("{}".to_owned())
            }
        }
    }

    fn describe() -> PluginInfo {
        PluginInfo::new("flood", env!("CARGO_PKG_VERSION"), &["flood"])
    }
}

export_plugin!(Flood);
