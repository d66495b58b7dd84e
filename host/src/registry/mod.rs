//! The plugin registry: versions stored in Redis by digest (shared by every
//! host), the active version of each mission type, and this host's compiled
//! plugins.
//!
//! A claim returns the version (`name@version`) active for the mission's type
//! at that instant and the worker runs exactly that version
//! ([`PluginRegistry::resolve`]), so a swap takes effect for every claim after
//! it on every host, whatever the timing of the notification; the notification
//! only preloads the new version. Versions, not digests, are the identity: two
//! versions may share bytes and differ in their manifest's limits and grants.

mod sync;

// The manifest types belong to the model and plugin storage to the store; the
// registry re-exports them because its callers (the API) use them together.
pub use crate::model::manifest::{
    Grants, MAX_ENV_GRANTS, MAX_ENV_NAME_BYTES, MAX_ENV_VALUE_BYTES, MAX_MANIFEST_BYTES, MAX_MEMORY_MB,
    MAX_MISSION_TYPES, MAX_NAME_BYTES, MAX_RESULT_BYTES, MAX_VERSION_BYTES, Manifest, ManifestError, PluginLimits,
};
pub use crate::store::{ActivateOutcome, ActivePlugin, DeleteOutcome, PluginStore, PutOutcome, VersionRecord};
pub use sync::{follow_activations, watch_dir};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};

use crate::model::plugin_ref::PluginRef;
use crate::runtime::{LoadError, Plugin, Runtime};
use crate::store::StoreError;

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Not a usable plugin, or a manifest that does not fit it (400).
    #[error(transparent)]
    Invalid(#[from] LoadError),
    /// The version exists with other bytes; versions are immutable (409).
    #[error("{name} {version} already exists with digest {existing}; versions are immutable, upload a new version")]
    Conflict {
        /// Plugin name.
        name: String,
        /// Version.
        version: String,
        /// Digest of the stored bytes.
        existing: String,
    },
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// When publishing a file, whether to make it active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Only for mission types that have no active plugin (host start).
    IfUnset,
    /// Always (the local development loop: a rebuilt plugin takes over).
    Always,
}

/// The registry as one host sees it.
pub struct PluginRegistry {
    runtime: Arc<Runtime>,
    store: PluginStore,
    /// Plugins prepared on this host, by `name@version`.
    loaded: RwLock<HashMap<String, Arc<Plugin>>>,
    /// The active plugin of each type, as last read from Redis.
    active: RwLock<BTreeMap<String, ActivePlugin>>,
    /// Held while loading, so concurrent claims compile a digest once.
    loading: tokio::sync::Mutex<()>,
    /// Versions that failed to load here, by `name@version`, with the digest,
    /// when and why: claims of them fail at once with that reason for a while
    /// instead of paying the load (a `describe()` deadline) again each time.
    failed: RwLock<HashMap<String, (String, Instant, String)>>,
}

/// How long a failed load is remembered before it is tried again.
const FAILED_LOAD_TTL: Duration = Duration::from_secs(30);

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRegistry").field("loaded", &self.loaded_versions()).finish_non_exhaustive()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl PluginRegistry {
    /// A registry over `store`, compiling with `runtime`.
    pub fn new(runtime: Arc<Runtime>, store: PluginStore) -> Self {
        PluginRegistry {
            runtime,
            store,
            loaded: RwLock::default(),
            active: RwLock::default(),
            loading: tokio::sync::Mutex::new(()),
            failed: RwLock::default(),
        }
    }

    /// The runtime plugins run on.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The Redis storage.
    pub fn store(&self) -> &PluginStore {
        &self.store
    }

    /// The versions (`name@version`) prepared on this host.
    pub fn loaded_versions(&self) -> Vec<String> {
        let mut v: Vec<String> = read(&self.loaded).keys().cloned().collect();
        v.sort();
        v
    }

    /// The active plugin of each type, as last read.
    pub fn active(&self) -> BTreeMap<String, ActivePlugin> {
        read(&self.active).clone()
    }

    /// The capabilities the loaded `name@version` imports, such as `kv`
    /// (empty when it imports none, or is not loaded on this host).
    pub fn capabilities_of(&self, name: &str, version: &str) -> Vec<&'static str> {
        let key = PluginRef::new(name, version).to_string();
        read(&self.loaded).get(&key).map(|p| p.capabilities().to_vec()).unwrap_or_default()
    }

    /// The loaded plugin active for `mission_type`, if any.
    pub fn active_plugin(&self, mission_type: &str) -> Option<Arc<Plugin>> {
        let key = read(&self.active).get(mission_type).map(|a| PluginRef::new(&a.name, &a.version).to_string())?;
        read(&self.loaded).get(&key).cloned()
    }

    /// The plugin version `name@version` (whose bytes hash to `digest`),
    /// prepared on first use from Redis (compiled, or from the compile cache).
    pub async fn resolve(&self, plugin: &str, digest: &str) -> anyhow::Result<Arc<Plugin>> {
        if let Some(p) = read(&self.loaded).get(plugin) {
            return Ok(p.clone());
        }
        let _one_at_a_time = self.loading.lock().await;
        if let Some(p) = read(&self.loaded).get(plugin) {
            return Ok(p.clone());
        }
        if let Some((_, at, why)) =
            read(&self.failed).get(plugin).filter(|(d, at, _)| d == digest && at.elapsed() < FAILED_LOAD_TTL)
        {
            return Err(anyhow!(
                "{why} (failed {} s ago; tried again after {} s)",
                at.elapsed().as_secs(),
                FAILED_LOAD_TTL.as_secs()
            ));
        }
        let PluginRef { name, version } = plugin.parse::<PluginRef>()?;
        let record = self.store.version(&name, &version).await?.ok_or_else(|| anyhow!("{plugin} is not stored"))?;
        let wasm =
            self.store.blob(&record.digest).await?.ok_or_else(|| anyhow!("the bytes of {plugin} are not in Redis"))?;
        let prepared = match self.runtime.prepare(&wasm, Some(record.manifest)).await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                tracing::warn!(plugin, digest, error = %e, "cannot load plugin");
                write(&self.failed).insert(plugin.to_owned(), (digest.to_owned(), Instant::now(), e.to_string()));
                return Err(e.into());
            }
        };
        if prepared.digest() != digest {
            return Err(anyhow!("{plugin} hashes to {}, expected {digest}", prepared.digest()));
        }
        tracing::info!(plugin, digest, "loaded plugin");
        write(&self.loaded).insert(plugin.to_owned(), prepared.clone());
        Ok(prepared)
    }

    /// Re-reads the active versions and loads them; forgets loaded plugins that
    /// are no longer active (attempts running on them keep their own handle).
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let active = self.store.active().await?;
        let keep: std::collections::HashSet<String> =
            active.values().map(|a| PluginRef::new(&a.name, &a.version).to_string()).collect();
        for a in active.values() {
            if let Err(e) = self.resolve(&PluginRef::new(&a.name, &a.version).to_string(), &a.digest).await {
                tracing::warn!(plugin = %a.name, version = %a.version, error = %format!("{e:#}"), "cannot load an active plugin");
            }
        }
        write(&self.loaded).retain(|k, _| keep.contains(k));
        *write(&self.active) = active;
        Ok(())
    }

    /// Validates a component against its manifest (or its own description) and
    /// stores it. Returns its record and whether it was new.
    pub async fn upload(
        &self,
        wasm: &[u8],
        manifest: Option<Manifest>,
        by: &str,
    ) -> Result<(VersionRecord, PutOutcome), UploadError> {
        let plugin = self.runtime.prepare(wasm, manifest).await?;
        let record = VersionRecord {
            name: plugin.name().to_owned(),
            version: plugin.version().to_owned(),
            digest: plugin.digest().to_owned(),
            size: wasm.len(),
            manifest: plugin.manifest().clone(),
            uploaded_at: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
            uploaded_by: by.to_owned(),
        };
        match self.store.put(&record, wasm).await? {
            PutOutcome::Conflict(existing) => {
                Err(UploadError::Conflict { name: record.name, version: record.version, existing })
            }
            outcome => {
                write(&self.loaded).insert(PluginRef::new(&record.name, &record.version).to_string(), Arc::new(plugin));
                Ok((record, outcome))
            }
        }
    }

    /// Publishes a component file (with `<stem>.manifest.json` beside it, if
    /// present) and activates it as `activation` says. A rebuilt file whose
    /// version already exists with other bytes gets `+<digest prefix>` appended
    /// to its version, so the development loop never needs version bumps.
    pub async fn publish_file(&self, path: &Path, activation: Activation) -> anyhow::Result<VersionRecord> {
        let wasm = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let sidecar = path.with_extension("manifest.json");
        let mut manifest = if sidecar.is_file() {
            let text = std::fs::read_to_string(&sidecar)?;
            if text.len() > MAX_MANIFEST_BYTES {
                anyhow::bail!(
                    "{}: {} bytes, a manifest is at most {MAX_MANIFEST_BYTES}",
                    sidecar.display(),
                    text.len()
                );
            }
            Some(serde_json::from_str::<Manifest>(&text).with_context(|| format!("parsing {}", sidecar.display()))?)
        } else {
            None
        };
        let by = format!("plugins-dir:{}", path.display());
        let record = match self.upload(&wasm, manifest.clone(), &by).await {
            Err(UploadError::Conflict { .. }) => {
                let plugin = self.runtime.prepare(&wasm, manifest.take()).await?;
                let mut m = plugin.manifest().clone();
                let hex = plugin.digest().trim_start_matches("sha256:");
                m.version = format!("{}+{}", m.version.split('+').next().unwrap_or(&m.version), &hex[..12]);
                self.upload(&wasm, Some(m), &by).await?.0
            }
            other => other?.0,
        };
        self.store.activate(&record.name, &record.version, &by, activation == Activation::IfUnset).await?;
        Ok(record)
    }

    /// Publishes every `*.wasm` in `dir` (see [`publish_file`](Self::publish_file)).
    /// A plugin that cannot be published (it stalls in `describe()`, does not
    /// compile, ...) is logged with the reason and skipped: the others are
    /// published, and the host serves them. Fails only if `dir` is unreadable.
    /// Returns the files refused, with why.
    pub async fn publish_dir(&self, dir: &Path, activation: Activation) -> anyhow::Result<Vec<(PathBuf, String)>> {
        let mut refused = Vec::new();
        for path in sync::wasm_files(dir).with_context(|| format!("reading the plugins directory {}", dir.display()))? {
            match self.publish_file(&path, activation).await {
                Ok(r) => {
                    tracing::info!(plugin = %r.name, version = %r.version, digest = %r.digest, "published plugin from directory")
                }
                Err(e) => {
                    let why = format!("{e:#}");
                    tracing::error!(path = %path.display(), error = %why, "plugin refused; the host serves the others");
                    refused.push((path, why));
                }
            }
        }
        Ok(refused)
    }
}
