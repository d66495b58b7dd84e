//! A compiled, pre-instantiated plugin with its manifest.

use super::bindings::MissionPluginPre;
use super::state::MissionState;
use crate::model::manifest::Manifest;

/// A plugin ready to instantiate: fresh instances cost microseconds.
pub struct Plugin {
    pub(super) manifest: Manifest,
    pub(super) digest: String,
    pub(super) pre: MissionPluginPre<MissionState>,
    /// Whether its engine counts fuel (it has a fuel limit, or every plugin is metered).
    pub(super) metered: bool,
    /// The capabilities its component imports (granted by its manifest).
    pub(super) capabilities: Vec<&'static str>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Its manifest (checked against `describe()`).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// Name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }
    /// Version.
    pub fn version(&self) -> &str {
        &self.manifest.version
    }
    /// Mission types it serves.
    pub fn mission_types(&self) -> &[String] {
        &self.manifest.mission_types
    }
    /// The capabilities its component imports, such as `kv` (see `runtime::imports`).
    pub fn capabilities(&self) -> &[&'static str] {
        &self.capabilities
    }
    /// `sha256:<hex>` of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

/// `sha256:<hex>` of a component.
pub fn digest(wasm: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(wasm);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
