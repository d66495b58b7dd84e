//! `mission-runner plugin run DIR --payload JSON`: one attempt of a built
//! plugin, here and now, through the host's own runtime: the same load checks
//! as an upload (world, `describe()` against the manifest, the manifest's
//! limits), the same sandbox and the same default limits as `serve`. No Redis:
//! the log and progress go to stderr as they come, the result to stdout.
//! Configuration comes from `--config NAME=VALUE` flags and the key-value
//! store is in memory, for this run only, with the manifest's quotas.

use std::path::Path;
use std::time::Duration;

use super::client::Failure;
use super::plugin_build::read_manifest;
use crate::runtime::{Batch, Limits, Report, RunInput, RunOutcome, Runtime, RuntimeConfig};

/// Exit code of a mission that failed (its kind is printed).
pub const EXIT_FAILED: u8 = 4;

/// Runs the plugin in `dir` once.
pub async fn run(
    dir: &Path,
    payload: Option<String>,
    mission_type: Option<String>,
    timeout_ms: u64,
    config: &[String],
) -> Result<(), Failure> {
    let manifest = read_manifest(dir)?;
    let mut values = std::collections::BTreeMap::new();
    for pair in config {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(Failure::input(format!("--config {pair}: write NAME=VALUE")));
        };
        values.insert(k.to_owned(), v.to_owned());
    }
    let capabilities = crate::runtime::Capabilities::in_memory(values, manifest.grants.kv);
    let name = manifest.name.clone();
    let wasm_path = dir.join("dist").join(format!("{name}.wasm"));
    let wasm = std::fs::read(&wasm_path).map_err(|e| {
        Failure::input(format!(
            "plugin {name}: cannot read {} ({e}): build it first with `mission-runner plugin build {}`",
            wasm_path.display(),
            dir.display()
        ))
    })?;
    let payload = match payload {
        Some(p) => p,
        None => std::fs::read_to_string(dir.join("payload.json")).unwrap_or_else(|_| "{}".to_owned()),
    };
    if let Err(e) = serde_json::from_str::<&serde_json::value::RawValue>(&payload) {
        return Err(Failure::input(format!("plugin {name}: the payload is not JSON: {e}")));
    }
    let mission_type = match mission_type.or_else(|| manifest.mission_types.first().cloned()) {
        Some(t) => t,
        None => return Err(Failure::input(format!("plugin {name}: the manifest lists no mission type"))),
    };
    // Compiled once per build: the cache is keyed by the component's digest.
    let cache_dir = Some(dir.join("dist/.cache"));
    // The host's limits, but for the compile budget: that one keeps a host's
    // API answering under many uploads; here the author waits for one compile
    // (a 12-18 MB Python or JavaScript component takes tens of seconds on a
    // loaded machine).
    let limits = Limits { compile_timeout_ms: 600_000, ..Limits::default() };
    let runtime = Runtime::new(&RuntimeConfig {
        max_instances: 2,
        pooling: false,
        limits,
        cache_dir,
        outbound_http: Default::default(),
        tuning: Default::default(),
    })
    .map_err(|e| Failure { code: 1, message: format!("plugin {name}: cannot start the runtime: {e:#}") })?;
    let plugin = runtime.prepare(&wasm, Some(manifest)).await.map_err(|e| Failure {
        code: 1,
        message: format!("plugin {name}: refused, as a host would refuse its upload: {e}"),
    })?;
    let input = RunInput {
        id: "local-run".to_owned(),
        mission_type,
        attempt: 1,
        max_attempts: 1,
        payload: payload.trim().to_owned(),
        timeout: Duration::from_millis(timeout_ms),
        capabilities,
    };
    let (sender, mut receiver) = runtime.report_channel(&plugin);
    let printer = tokio::spawn(async move {
        loop {
            let (batch, closed) = match receiver.next_batch(Duration::from_millis(10)).await {
                Batch::Open(b) => (b, false),
                Batch::Closed(b) => (b, true),
            };
            for report in &batch {
                match report {
                    Report::Log { level, message } => eprintln!("log {level:<5} {message}"),
                    Report::Progress { percent, message } => eprintln!("progress {percent:>3}% {message}"),
                }
            }
            receiver.release(&batch);
            if closed {
                break;
            }
        }
    });
    let outcome = runtime.run(&plugin, &input, sender).await;
    // The sender is gone with the attempt: the printer ends with the last batch.
    let _ = printer.await;
    match outcome {
        RunOutcome::Completed(result) => {
            println!("{result}");
            Ok(())
        }
        RunOutcome::Failed { kind, message } => {
            Err(Failure { code: EXIT_FAILED, message: format!("plugin {name}: failed ({}): {message}", kind.as_str()) })
        }
    }
}
