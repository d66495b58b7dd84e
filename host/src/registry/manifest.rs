//! A plugin's manifest: what the operator declares on upload, checked by the
//! host and against the plugin's own `describe()`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::submission::valid_type_name;

/// Largest memory cap a manifest may ask for (MiB); also the pool's slot size.
pub const MAX_MEMORY_MB: u32 = 1024;
/// Largest result cap a manifest may ask for.
pub const MAX_RESULT_BYTES: usize = 16 << 20;

/// The operator's declaration of a plugin version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Must equal `describe().name`.
    pub name: String,
    /// Semver; must equal `describe().version` (build metadata aside).
    pub version: String,
    /// Must equal `describe().mission-types` (as a set).
    pub mission_types: Vec<String>,
    /// Limits of this plugin's instances; absent ones take the host's defaults.
    #[serde(default)]
    pub limits: PluginLimits,
    /// What the plugin may see beyond the bare sandbox.
    #[serde(default)]
    pub grants: Grants,
}

/// Per-plugin limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginLimits {
    /// Longest an attempt may run (ms); caps each mission's own timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Largest linear memory (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    /// Largest result (bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_result_bytes: Option<usize>,
    /// Fuel (roughly, wasm instructions) one attempt may burn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
}

/// Capabilities granted to a plugin. Nothing is granted by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Environment variables the plugin sees (configuration values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// What is wrong with a manifest, or where it disagrees with the plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ManifestError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ManifestError> {
    Err(ManifestError(msg.into()))
}

/// `1.2.3` and `1.2.3+build` compare equal; pre-releases do not.
fn without_build(version: &str) -> &str {
    version.split('+').next().unwrap_or(version)
}

impl Manifest {
    /// A manifest from what the plugin says of itself, with default limits
    /// (for plugins loaded from a directory without a manifest file).
    pub fn from_describe(name: &str, version: &str, mission_types: &[String]) -> Self {
        Manifest {
            name: name.to_owned(),
            version: version.to_owned(),
            mission_types: mission_types.to_vec(),
            limits: PluginLimits::default(),
            grants: Grants::default(),
        }
    }

    /// Checks the manifest on its own.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !valid_type_name(&self.name) {
            return err(format!("`name`: `{}` is not a valid plugin name (a-z, 0-9, `.`, `_`, `-`)", self.name));
        }
        if semver::Version::parse(&self.version).is_err() {
            return err(format!("`version`: `{}` is not a semantic version such as 1.2.0", self.version));
        }
        if self.mission_types.is_empty() {
            return err("`mission_types`: a plugin serves at least one mission type");
        }
        let mut seen = BTreeSet::new();
        for t in &self.mission_types {
            if !valid_type_name(t) {
                return err(format!("`mission_types`: `{t}` is not a valid mission type name"));
            }
            if !seen.insert(t) {
                return err(format!("`mission_types`: `{t}` is listed twice"));
            }
        }
        let l = &self.limits;
        if l.timeout_ms.is_some_and(|t| t == 0 || t > 24 * 3_600_000) {
            return err("`limits.timeout_ms`: must be 1 ms to 24 h");
        }
        if l.memory_mb.is_some_and(|m| m == 0 || m > MAX_MEMORY_MB) {
            return err(format!("`limits.memory_mb`: must be 1..={MAX_MEMORY_MB}"));
        }
        if l.max_result_bytes.is_some_and(|r| r == 0 || r > MAX_RESULT_BYTES) {
            return err(format!("`limits.max_result_bytes`: must be 1..={MAX_RESULT_BYTES}"));
        }
        if l.fuel == Some(0) {
            return err("`limits.fuel`: must be positive");
        }
        for k in self.grants.env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return err(format!("`grants.env`: `{k}` is not a valid variable name"));
            }
        }
        Ok(())
    }

    /// Checks that the plugin's `describe()` agrees with this manifest.
    pub fn check_describe(&self, name: &str, version: &str, mission_types: &[String]) -> Result<(), ManifestError> {
        if name != self.name {
            return err(format!("the plugin calls itself `{name}`, the manifest `{}`", self.name));
        }
        if without_build(version) != without_build(&self.version) {
            return err(format!("the plugin says version {version}, the manifest {}", self.version));
        }
        let ours: BTreeSet<&String> = self.mission_types.iter().collect();
        let theirs: BTreeSet<&String> = mission_types.iter().collect();
        if ours != theirs {
            return err(format!("the plugin serves mission types {:?}, the manifest declares {:?}", theirs, ours));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: &str) -> Manifest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validates_fields_and_agreement_with_describe() {
        let m = manifest(r#"{"name":"echo","version":"1.0.0","mission_types":["echo"],"limits":{"memory_mb":64}}"#);
        assert_eq!(m.validate(), Ok(()));
        let types = vec!["echo".to_owned()];
        assert_eq!(m.check_describe("echo", "1.0.0+abc", &types), Ok(()));
        assert!(m.check_describe("echo", "1.1.0", &types).unwrap_err().0.contains("version"));
        assert!(m.check_describe("ekko", "1.0.0", &types).unwrap_err().0.contains("ekko"));
        assert!(m.check_describe("echo", "1.0.0", &["other".to_owned()]).unwrap_err().0.contains("other"));

        let bad = manifest(r#"{"name":"echo","version":"one","mission_types":["echo"]}"#);
        assert!(bad.validate().unwrap_err().0.contains("version"));
        let bad = manifest(r#"{"name":"echo","version":"1.0.0","mission_types":[]}"#);
        assert!(bad.validate().unwrap_err().0.contains("mission_types"));
        let bad = manifest(r#"{"name":"echo","version":"1.0.0","mission_types":["e"],"limits":{"memory_mb":99999}}"#);
        assert!(bad.validate().unwrap_err().0.contains("memory_mb"));
        assert!(
            serde_json::from_str::<Manifest>(
                r#"{"name":"e","version":"1.0.0","mission_types":["e"],"grants":{"net":true}}"#
            )
            .is_err()
        );
    }
}
