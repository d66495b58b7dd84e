//! What a component's imports ask of its manifest: a capability the manifest
//! does not grant is refused at upload, naming the grant (the guest would
//! otherwise fail at its first call).

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::model::manifest::Manifest;

/// The interface prefix of outbound HTTP (any 0.2.x version).
const WASI_HTTP: &str = "wasi:http/";

/// Why `component` may not load under `manifest` for lack of `grants.http`:
/// it imports `wasi:http/...` and the manifest grants no outbound HTTP.
pub(super) fn http_grant_missing(component: &Component, engine: &Engine, manifest: &Manifest) -> Option<String> {
    if manifest.grants.http.is_some() {
        return None;
    }
    let ty = component.component_type();
    let import = ty.imports(engine).map(|(name, _)| name).find(|name| name.starts_with(WASI_HTTP))?;
    Some(format!(
        "the component imports `{import}` (outbound HTTP), which needs `grants.http` in its manifest \
         (`\"grants\": {{\"http\": {{\"allowed_hosts\": [\"https://api.example.com\"]}}}}`)"
    ))
}
