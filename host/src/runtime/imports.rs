//! Which capabilities a component imports, and whether its manifest grants
//! them: an upload of a component that imports what its manifest does not
//! grant is refused, naming the grant to add. The operator sees the list on
//! upload (`capabilities` in the answer).
//!
//! One table, import prefix -> capability -> grant: a new capability is one row.

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::model::manifest::Grants;

/// A capability a component may import, granted by one part of the manifest.
#[derive(Debug)]
pub struct CapabilityRow {
    /// The start of the import names that use it (any version).
    pub prefix: &'static str,
    /// Its name, as the upload's answer lists it.
    pub capability: &'static str,
    /// The manifest entry that grants it.
    pub grant: &'static str,
    /// Whether `grants` grants it.
    pub granted: fn(&Grants) -> bool,
}

/// Every capability an import can ask for, beyond the bare sandbox.
pub const CAPABILITIES: &[CapabilityRow] = &[
    CapabilityRow {
        prefix: "mission-runner:plugin/config@",
        capability: "config",
        grant: "grants.config",
        granted: |g| !g.config.is_empty(),
    },
    CapabilityRow {
        prefix: "mission-runner:plugin/kv@",
        capability: "kv",
        grant: "grants.kv",
        granted: |g| g.kv.is_some(),
    },
    CapabilityRow { prefix: "wasi:http/", capability: "http", grant: "grants.http", granted: |g| g.http.is_some() },
];

/// The capabilities `component` imports, in table order; or, for the first
/// one `grants` does not grant, why the component is refused.
pub fn check(engine: &Engine, component: &Component, grants: &Grants) -> Result<Vec<&'static str>, String> {
    let names: Vec<String> = component.component_type().imports(engine).map(|(name, _)| name.to_owned()).collect();
    let mut used = Vec::new();
    for row in CAPABILITIES {
        let Some(import) = names.iter().find(|n| n.starts_with(row.prefix)) else { continue };
        if !(row.granted)(grants) {
            return Err(format!("imports {import} but the manifest has no `{}`", row.grant));
        }
        used.push(row.capability);
    }
    Ok(used)
}
