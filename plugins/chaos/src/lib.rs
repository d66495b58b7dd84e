//! `chaos`: misbehaves on request, to prove the sandbox contains it.
//! Payload `{"do": ACTION, ...}`; see [`Action`]. Not for production use.

use std::time::{Duration, Instant};

use mission_plugin_sdk::{Guest, Mission, MissionError, PluginInfo, export_plugin, host, log_info};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
enum Action {
    /// Waits `ms` milliseconds (a blocking WASI sleep), reporting progress.
    Sleep { ms: u64 },
    /// Burns CPU for `ms` milliseconds, or forever when `ms` is absent.
    Spin { ms: Option<u64> },
    /// Fails permanently with `message`.
    Fail { message: String },
    /// Panics (a trap in the guest).
    Panic,
    /// Allocates memory without end.
    Oom,
    /// Recurses past the stack.
    Recurse,
    /// Returns a result of `bytes` bytes.
    BigResult { bytes: usize },
    /// Tries to read a file.
    OpenFile { path: String },
    /// Tries to open a TCP connection.
    Connect { addr: String },
    /// Tries to read an environment variable.
    Env { name: String },
    /// Writes to stdout and stderr.
    Print { text: String },
}

struct Chaos;

impl Guest for Chaos {
    fn run(mission: Mission) -> Result<String, MissionError> {
        let action: Action = serde_json::from_str(&mission.payload)
            .map_err(|e| MissionError::Permanent(format!("invalid payload: {e}")))?;
        match action {
            Action::Sleep { ms } => {
                let start = Instant::now();
                let total = Duration::from_millis(ms);
                while start.elapsed() < total {
                    let step = (total - start.elapsed()).min(Duration::from_millis(100));
                    std::thread::sleep(step);
                    let pct = (start.elapsed().as_millis() * 100 / total.as_millis().max(1)).min(100);
                    host::progress(pct as u8, "sleeping");
                }
                Ok(format!("{{\"slept_ms\":{ms}}}"))
            }
            Action::Spin { ms } => {
                let start = Instant::now();
                let mut x: u64 = 0;
                loop {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    if let Some(ms) = ms {
                        if start.elapsed() >= Duration::from_millis(ms) {
                            return Ok(format!("{{\"spun_ms\":{ms},\"x\":{}}}", x % 1000));
                        }
                    }
                }
            }
            Action::Fail { message } => Err(MissionError::Permanent(message)),
            Action::Panic => panic!("chaos plugin panicked on purpose"),
            Action::Oom => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    log_info(&format!("holding {} MiB", hoard.len()));
                }
            }
            Action::Recurse => Ok(format!("{{\"depth\":{}}}", recurse(0, &mut [0u8; 64]))),
            Action::BigResult { bytes } => Ok(format!("\"{}\"", "x".repeat(bytes))),
            Action::OpenFile { path } => match std::fs::read_to_string(&path) {
                Ok(text) => Ok(serde_json::json!({ "read": text.len() }).to_string()),
                Err(e) => Err(MissionError::Permanent(format!("cannot open {path}: {e}"))),
            },
            Action::Connect { addr } => match std::net::TcpStream::connect(&addr) {
                Ok(_) => Ok(serde_json::json!({ "connected": addr }).to_string()),
                Err(e) => Err(MissionError::Permanent(format!("cannot connect to {addr}: {e}"))),
            },
            Action::Env { name } => Ok(serde_json::json!({ "value": std::env::var(&name).ok() }).to_string()),
            Action::Print { text } => {
                println!("{text}");
                eprintln!("{text}");
                Ok("{}".to_owned())
            }
        }
    }

    fn describe() -> PluginInfo {
        PluginInfo::new("chaos", env!("CARGO_PKG_VERSION"), &["chaos"])
    }
}

/// Recursion the optimiser cannot turn into a loop; it never returns, on purpose.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64, pad: &mut [u8; 64]) -> u64 {
    pad[(depth % 64) as usize] = depth as u8;
    let mut next = [0u8; 64];
    next.copy_from_slice(pad);
    recurse(depth + 1, &mut next) + u64::from(next[0])
}

export_plugin!(Chaos);
