//! Keeping hosts in step: following activations, and the plugins-directory
//! watcher of the local development loop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::{Activation, PluginRegistry};
use crate::pubsub::follow;

/// A fallback re-read, for notifications missed while disconnected.
const RESYNC: Duration = Duration::from_secs(5);
/// How often the plugins directory is looked at.
///
/// Polling, not `notify` (inotify), on purpose: this directory is the local
/// development loop's, and is often where file events do not arrive or do not
/// last: a bind mount from a VM or a container host (Docker Desktop), a
/// network filesystem, or a directory that a build script deletes and makes
/// anew (an inotify watch dies with the old directory). Looking at a handful
/// of files' size and time twice a second costs nothing measurable, sees every
/// change however it was made (in place, or written aside and renamed over,
/// as editors and `cargo` do), and the stability check below (the same stamp
/// on two looks) is the debounce a watcher would need anyway.
const DIR_POLL: Duration = Duration::from_millis(500);

/// Reloads the active plugins whenever an activation is announced, on every
/// (re)subscription, and every few seconds regardless, until `stop`.
pub async fn follow_activations(registry: Arc<PluginRegistry>, client: redis::Client, stop: CancellationToken) {
    let channel = registry.store().queue().keys().plugins_channel();
    follow(client, channel, Some(RESYNC), stop, |_| refresh(&registry)).await
}

async fn refresh(registry: &PluginRegistry) {
    if let Err(e) = registry.refresh().await {
        tracing::warn!(error = %format!("{e:#}"), "cannot refresh the active plugins");
    }
}

/// The `*.wasm` files directly in `dir`, sorted.
pub(super) fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Publishes and activates plugins that appear or change in `dir`, until
/// `stop`: build a plugin into the directory and the host runs it.
pub async fn watch_dir(registry: Arc<PluginRegistry>, dir: PathBuf, stop: CancellationToken) {
    let mut seen: HashMap<PathBuf, (SystemTime, u64)> = HashMap::new();
    for path in wasm_files(&dir).unwrap_or_default() {
        if let Some(s) = stamp(&path) {
            seen.insert(path, s);
        }
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(DIR_POLL) => {}
            _ = stop.cancelled() => return,
        }
        for path in wasm_files(&dir).unwrap_or_default() {
            let Some(now) = stamp(&path) else { continue };
            if seen.get(&path) == Some(&now) {
                continue;
            }
            // Wait for the writer to finish: the file must be stable for one poll.
            tokio::time::sleep(DIR_POLL / 2).await;
            if stamp(&path) != Some(now) {
                continue;
            }
            seen.insert(path.clone(), now);
            match registry.publish_file(&path, Activation::Always).await {
                Ok(r) => {
                    tracing::info!(plugin = %r.name, version = %r.version, digest = %r.digest, "hot-loaded changed plugin")
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "changed plugin refused"),
            }
        }
    }
}
