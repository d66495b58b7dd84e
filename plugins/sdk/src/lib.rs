//! Bindings for writing mission-runner plugins in Rust.
//!
//! Generated once, here, from the repository's `wit/` folder (the contract,
//! `mission-runner:plugin@1.1.0`: [`config`] and [`kv`] are new in 1.1.0 and
//! need their manifest grants; a plugin that calls neither imports neither);
//! plugins depend on this crate instead of copying the WIT. A plugin implements
//! [`Guest`] and calls [`export_plugin!`]:
//!
//! ```ignore
//! struct Echo;
//! impl mission_plugin_sdk::Guest for Echo { /* run, describe */ }
//! mission_plugin_sdk::export_plugin!(Echo);
//! ```

/// The generated bindings; the items plugins need are re-exported below.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "mission-plugin",
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "mission_plugin_sdk::bindings",
    });
}

pub use bindings::mission_runner::plugin::host;
pub mod config;
pub mod kv;
pub use bindings::mission_runner::plugin::types::LogLevel;
pub use bindings::{Guest, Mission, MissionError, PluginInfo, export_plugin};

impl PluginInfo {
    /// A plugin description whose version is the calling crate's.
    pub fn new(name: &str, version: &str, mission_types: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            mission_types: mission_types.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    /// The name, version and mission types of a manifest (JSON text), so that
    /// `manifest.json` is the one place they are written:
    /// `PluginInfo::from_manifest(include_str!("../manifest.json"))`.
    ///
    /// `describe()` cannot return an error: a manifest without these fields
    /// panics, and the host refuses the upload with this message (`mission-runner
    /// plugin build` checks the manifest before building, so it is not reached).
    pub fn from_manifest(json: &str) -> Self {
        let value: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("manifest.json: {e}"));
        let text = |field: &str| match value[field].as_str() {
            Some(s) => s.to_owned(),
            None => panic!("manifest.json: `{field}` must be a string"),
        };
        let mission_types = match value["mission_types"].as_array() {
            Some(types) => types.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
            None => panic!("manifest.json: `mission_types` must be a list of strings"),
        };
        Self { name: text("name"), version: text("version"), mission_types }
    }
}

/// Shorthand for `host::log(LogLevel::Info, message)`.
pub fn log_info(message: &str) {
    host::log(LogLevel::Info, message);
}

#[cfg(feature = "http")]
pub mod http;
