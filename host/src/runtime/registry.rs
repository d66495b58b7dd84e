//! Loaded plugins and which one serves each mission type.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::{Context as _, bail};

use super::Runtime;
use super::bindings::MissionPluginPre;
use super::state::MissionState;

/// A compiled, pre-instantiated plugin.
pub struct Plugin {
    name: String,
    version: String,
    mission_types: Vec<String>,
    digest: String,
    pre: MissionPluginPre<MissionState>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub(super) fn new(
        name: String,
        version: String,
        mission_types: Vec<String>,
        digest: String,
        pre: MissionPluginPre<MissionState>,
    ) -> Self {
        Plugin { name, version, mission_types, digest, pre }
    }
    /// Name from `describe()`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Version from `describe()`.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// Mission types it serves.
    pub fn mission_types(&self) -> &[String] {
        &self.mission_types
    }
    /// `sha256:<hex>` of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }
    pub(super) fn pre(&self) -> &MissionPluginPre<MissionState> {
        &self.pre
    }
}

/// `sha256:<hex>` of a component.
pub fn digest(wasm: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(wasm);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The plugin serving each mission type.
#[derive(Debug, Default)]
pub struct PluginRegistry {
    by_type: RwLock<HashMap<String, Arc<Plugin>>>,
}

impl PluginRegistry {
    /// The plugin serving `mission_type`.
    pub fn get(&self, mission_type: &str) -> Option<Arc<Plugin>> {
        self.by_type.read().unwrap_or_else(|p| p.into_inner()).get(mission_type).cloned()
    }

    /// Every loaded plugin, once each, by name.
    pub fn plugins(&self) -> Vec<Arc<Plugin>> {
        let map = self.by_type.read().unwrap_or_else(|p| p.into_inner());
        let mut seen: Vec<Arc<Plugin>> = Vec::new();
        for p in map.values() {
            if !seen.iter().any(|s| Arc::ptr_eq(s, p)) {
                seen.push(p.clone());
            }
        }
        seen.sort_by(|a, b| a.name.cmp(&b.name));
        seen
    }

    /// Makes `plugin` serve every type it declares.
    pub fn insert(&self, plugin: Arc<Plugin>) {
        let mut map = self.by_type.write().unwrap_or_else(|p| p.into_inner());
        for t in &plugin.mission_types {
            map.insert(t.clone(), plugin.clone());
        }
    }

    /// Loads every `*.wasm` in `dir`. Two plugins claiming one type is an error.
    pub async fn load_dir(&self, runtime: &Runtime, dir: &Path) -> anyhow::Result<()> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading plugins directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        files.sort();
        let mut owner: HashMap<String, String> = HashMap::new();
        for path in files {
            let wasm = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let plugin = runtime.load(&wasm).await.with_context(|| format!("loading plugin {}", path.display()))?;
            for t in plugin.mission_types() {
                if let Some(other) = owner.insert(t.clone(), path.display().to_string()) {
                    bail!("mission type `{t}` is served by both {other} and {}", path.display());
                }
            }
            tracing::info!(plugin = plugin.name(), version = plugin.version(), types = ?plugin.mission_types(),
                digest = plugin.digest(), "loaded plugin");
            self.insert(Arc::new(plugin));
        }
        Ok(())
    }
}
