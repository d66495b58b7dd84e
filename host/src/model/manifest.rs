//! A plugin's manifest: what the operator declares on upload, checked by the
//! host and against the plugin's own `describe()`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::http_grant::{HttpGrant, MAX_HTTP_PATTERNS};
use crate::model::http_limits::{HttpLimits, PluginHttpLimits};
use crate::model::submission::valid_type_name;

/// Largest memory cap a manifest may ask for (MiB); also the pool's slot size.
pub const MAX_MEMORY_MB: u32 = 1024;
/// Largest result cap a manifest may ask for.
pub const MAX_RESULT_BYTES: usize = 16 << 20;
/// Longest plugin name (and mission type name), in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest version, build metadata included: it is copied into every record
/// and event of every mission the version runs.
pub const MAX_VERSION_BYTES: usize = 128;
/// Most mission types one plugin serves.
pub const MAX_MISSION_TYPES: usize = 64;
/// Most environment variables a manifest grants.
pub const MAX_ENV_GRANTS: usize = 64;
/// Longest granted variable name.
pub const MAX_ENV_NAME_BYTES: usize = 256;
/// Longest granted variable value.
pub const MAX_ENV_VALUE_BYTES: usize = 4 << 10;
/// Most configuration names a manifest grants (`grants.config`).
pub const MAX_CONFIG_GRANTS: usize = 64;
/// Longest configuration name.
pub const MAX_CONFIG_NAME_BYTES: usize = 128;
/// Longest key-value key a guest may use (the host refuses longer ones as `invalid`).
pub const MAX_KV_KEY_BYTES: usize = 512;
/// Largest manifest, as JSON: it is stored with the version and listed by the API.
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;

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
    /// Log lines one attempt may send (the rest are dropped and counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_lines: Option<u32>,
    /// Longest log line (bytes); longer ones are cut, with a marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_line_bytes: Option<usize>,
    /// Progress updates one attempt stores; past it, only the last is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_progress_updates: Option<u32>,
    /// Longest progress note (bytes); longer ones are cut, with a marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_progress_message_bytes: Option<usize>,
    /// Longest error message (bytes); a longer one is cut, with a marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_bytes: Option<usize>,
    /// Key-value operations one attempt may make (`grants.kv`); past it each
    /// call fails with `quota-exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_operations: Option<u32>,
    /// Going over the log line or progress note budgets fails the attempt
    /// (permanently, the guest stopped at once) instead of dropping the excess.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_on_exceed: bool,
    /// Outbound HTTP (only with `grants.http`).
    #[serde(default, skip_serializing_if = "PluginHttpLimits::is_empty")]
    pub http: PluginHttpLimits,
}

/// Capabilities granted to a plugin. Nothing is granted by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Environment variables the plugin sees (configuration values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Outbound HTTP: where requests may go (`wasi:http/outgoing-handler`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpGrant>,
    /// Configuration names (variables and secrets the operator sets with
    /// `plugin config set`) the plugin may read through the `config` import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
    /// A key-value store of its own (per tenant), with these quotas; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv: Option<KvGrant>,
}

/// The quotas of a plugin's key-value store, per tenant namespace; each
/// within the host's maxima (`[limits.max]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KvGrant {
    /// Most keys held at once (default 1,000).
    #[serde(default = "KvGrant::default_keys")]
    pub max_keys: u64,
    /// Largest value (bytes, default 64 KiB).
    #[serde(default = "KvGrant::default_value_bytes")]
    pub max_value_bytes: u64,
    /// Most bytes held at once, keys and values (default 1 MiB).
    #[serde(default = "KvGrant::default_total_bytes")]
    pub max_total_bytes: u64,
}

impl KvGrant {
    fn default_keys() -> u64 {
        1_000
    }
    fn default_value_bytes() -> u64 {
        64 << 10
    }
    fn default_total_bytes() -> u64 {
        1 << 20
    }
}

impl Default for KvGrant {
    fn default() -> Self {
        KvGrant {
            max_keys: Self::default_keys(),
            max_value_bytes: Self::default_value_bytes(),
            max_total_bytes: Self::default_total_bytes(),
        }
    }
}

/// Whether `name` may be a configuration name: 1 to [`MAX_CONFIG_NAME_BYTES`]
/// of ASCII letters, digits, `_`, `-` and `.`.
pub fn valid_config_name(name: &str) -> bool {
    (1..=MAX_CONFIG_NAME_BYTES).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
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

    /// Checks the manifest on its own, and its limits against the host's maxima.
    pub fn validate(&self, max: &LimitMaxima) -> Result<(), ManifestError> {
        if self.name.len() > MAX_NAME_BYTES {
            return err(format!("`name`: {} bytes long, at most {MAX_NAME_BYTES}", self.name.len()));
        }
        if self.version.len() > MAX_VERSION_BYTES {
            return err(format!(
                "`version`: {} bytes long, at most {MAX_VERSION_BYTES} (build metadata included)",
                self.version.len()
            ));
        }
        if self.mission_types.len() > MAX_MISSION_TYPES {
            return err(format!("`mission_types`: {} types, at most {MAX_MISSION_TYPES}", self.mission_types.len()));
        }
        if self.grants.env.len() > MAX_ENV_GRANTS {
            return err(format!("`grants.env`: {} variables, at most {MAX_ENV_GRANTS}", self.grants.env.len()));
        }
        for (k, v) in &self.grants.env {
            if k.len() > MAX_ENV_NAME_BYTES || v.len() > MAX_ENV_VALUE_BYTES {
                return err(format!(
                    "`grants.env`: names are at most {MAX_ENV_NAME_BYTES} bytes and values {MAX_ENV_VALUE_BYTES}"
                ));
            }
        }
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
        let ranges: [(&str, Option<u64>, u64); 5] = [
            ("max_log_lines", l.max_log_lines.map(u64::from), u64::from(max.max_log_lines)),
            ("max_log_line_bytes", l.max_log_line_bytes.map(|v| v as u64), max.max_log_line_bytes as u64),
            ("max_progress_updates", l.max_progress_updates.map(u64::from), u64::from(max.max_progress_updates)),
            (
                "max_progress_message_bytes",
                l.max_progress_message_bytes.map(|v| v as u64),
                max.max_progress_message_bytes as u64,
            ),
            ("max_error_bytes", l.max_error_bytes.map(|v| v as u64), max.max_error_bytes as u64),
        ];
        for (field, value, most) in ranges {
            if value.is_some_and(|v| v == 0 || v > most) {
                return err(format!("`limits.{field}`: must be 1..={most} (this host's maximum)"));
            }
        }
        self.limits.http.validate(&max.http).map_err(ManifestError)?;
        if let Some(http) = &self.grants.http
            && (http.allowed_hosts.is_empty() || http.allowed_hosts.len() > MAX_HTTP_PATTERNS)
        {
            return err(format!("`grants.http.allowed_hosts`: 1 to {MAX_HTTP_PATTERNS} patterns"));
        }
        if self.grants.config.len() > MAX_CONFIG_GRANTS {
            return err(format!("`grants.config`: {} names, at most {MAX_CONFIG_GRANTS}", self.grants.config.len()));
        }
        let mut names = BTreeSet::new();
        for n in &self.grants.config {
            if !valid_config_name(n) {
                return err(format!(
                    "`grants.config`: `{}` is not a valid name (1 to {MAX_CONFIG_NAME_BYTES} bytes of letters, \
                     digits, `_`, `-`, `.`)",
                    n.chars().take(64).collect::<String>()
                ));
            }
            if !names.insert(n) {
                return err(format!("`grants.config`: `{n}` is listed twice"));
            }
        }
        if let Some(kv) = &self.grants.kv {
            let quotas = [
                ("max_keys", kv.max_keys, max.kv_max_keys),
                ("max_value_bytes", kv.max_value_bytes, max.kv_max_value_bytes),
                ("max_total_bytes", kv.max_total_bytes, max.kv_max_total_bytes),
            ];
            for (field, value, most) in quotas {
                if value == 0 || value > most {
                    return err(format!("`grants.kv.{field}`: must be 1..={most} (this host's maximum)"));
                }
            }
        }
        if l.kv_operations.is_some_and(|v| v == 0 || v > max.kv_operations) {
            return err(format!("`limits.kv_operations`: must be 1..={} (this host's maximum)", max.kv_operations));
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

/// The most a manifest's `limits` may ask for (config `[limits.max]`); an
/// upload over one is refused, and a host whose maxima are lower clamps a
/// stored plugin's budget to its own.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitMaxima {
    /// Most log lines per attempt.
    pub max_log_lines: u32,
    /// Longest log line.
    pub max_log_line_bytes: usize,
    /// Most stored progress updates per attempt.
    pub max_progress_updates: u32,
    /// Longest progress note.
    pub max_progress_message_bytes: usize,
    /// Longest error message.
    pub max_error_bytes: usize,
    /// `[limits.max.http]`: the most a manifest's `limits.http` may ask for.
    #[serde(default = "crate::model::http_limits::default_maxima")]
    pub http: HttpLimits,
    /// Most keys a `grants.kv` may allow.
    pub kv_max_keys: u64,
    /// Largest value a `grants.kv` may allow (bytes).
    pub kv_max_value_bytes: u64,
    /// Most bytes a `grants.kv` may allow per namespace.
    pub kv_max_total_bytes: u64,
    /// Most key-value operations `limits.kv_operations` may allow per attempt.
    pub kv_operations: u32,
}

impl Default for LimitMaxima {
    fn default() -> Self {
        LimitMaxima {
            max_log_lines: 100_000,
            max_log_line_bytes: 1 << 20,
            max_progress_updates: 100_000,
            max_progress_message_bytes: 64 << 10,
            max_error_bytes: 1 << 20,
            http: HttpLimits::default_maxima(),
            kv_max_keys: 100_000,
            kv_max_value_bytes: 1 << 20,
            kv_max_total_bytes: 64 << 20,
            kv_operations: 100_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: &str) -> Manifest {
        serde_json::from_str(json).expect("parses")
    }

    #[test]
    fn validates_fields_and_agreement_with_describe() {
        let m = manifest(r#"{"name":"echo","version":"1.0.0","mission_types":["echo"],"limits":{"memory_mb":64}}"#);
        assert_eq!(m.validate(&LimitMaxima::default()), Ok(()));
        let types = vec!["echo".to_owned()];
        assert_eq!(m.check_describe("echo", "1.0.0+abc", &types), Ok(()));
        assert!(m.check_describe("echo", "1.1.0", &types).expect_err("refused").0.contains("version"));
        assert!(m.check_describe("ekko", "1.0.0", &types).expect_err("refused").0.contains("ekko"));
        assert!(m.check_describe("echo", "1.0.0", &["other".to_owned()]).expect_err("refused").0.contains("other"));

        let bad = manifest(r#"{"name":"echo","version":"one","mission_types":["echo"]}"#);
        assert!(bad.validate(&LimitMaxima::default()).expect_err("refused").0.contains("version"));
        let bad = manifest(r#"{"name":"echo","version":"1.0.0","mission_types":[]}"#);
        assert!(bad.validate(&LimitMaxima::default()).expect_err("refused").0.contains("mission_types"));
        let bad = manifest(r#"{"name":"echo","version":"1.0.0","mission_types":["e"],"limits":{"memory_mb":99999}}"#);
        assert!(bad.validate(&LimitMaxima::default()).expect_err("refused").0.contains("memory_mb"));
        let long = format!(r#"{{"name":"echo","version":"1.0.0+{}","mission_types":["echo"]}}"#, "b".repeat(60_000));
        assert!(manifest(&long).validate(&LimitMaxima::default()).expect_err("refused").0.starts_with("`version`"));
        let bad = manifest(r#"{"name":"e","version":"1.0.0","mission_types":["e"],"limits":{"max_log_lines":0}}"#);
        assert!(bad.validate(&LimitMaxima::default()).expect_err("refused").0.contains("limits.max_log_lines"));
        let over = r#"{"name":"e","version":"1.0.0","mission_types":["e"],"limits":{"max_error_bytes":1073741824}}"#;
        assert!(
            manifest(over).validate(&LimitMaxima::default()).expect_err("refused").0.contains("limits.max_error_bytes")
        );
        assert!(
            serde_json::from_str::<Manifest>(
                r#"{"name":"e","version":"1.0.0","mission_types":["e"],"grants":{"net":true}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn config_and_kv_grants_are_bounded() {
        let max = LimitMaxima::default();
        let m =
            manifest(r#"{"name":"e","version":"1.0.0","mission_types":["e"],"grants":{"config":["api_key"],"kv":{}}}"#);
        assert_eq!(m.validate(&max), Ok(()));
        assert_eq!(m.grants.kv, Some(KvGrant::default()));
        let names: Vec<String> = (0..=MAX_CONFIG_GRANTS).map(|i| format!("n{i}")).collect();
        let many = format!(
            r#"{{"name":"e","version":"1.0.0","mission_types":["e"],"grants":{{"config":{}}}}}"#,
            serde_json::to_string(&names).unwrap()
        );
        assert!(manifest(&many).validate(&max).expect_err("refused").0.starts_with("`grants.config`"));
        let long = format!(
            r#"{{"name":"e","version":"1.0.0","mission_types":["e"],"grants":{{"config":["{}"]}}}}"#,
            "n".repeat(MAX_CONFIG_NAME_BYTES + 1)
        );
        assert!(manifest(&long).validate(&max).expect_err("refused").0.starts_with("`grants.config`"));
        let over = r#"{"name":"e","version":"1.0.0","mission_types":["e"],"grants":{"kv":{"max_keys":100000000}}}"#;
        assert!(manifest(over).validate(&max).expect_err("refused").0.contains("grants.kv.max_keys"));
        let ops = r#"{"name":"e","version":"1.0.0","mission_types":["e"],"limits":{"kv_operations":0}}"#;
        assert!(manifest(ops).validate(&max).expect_err("refused").0.contains("limits.kv_operations"));
    }
}
