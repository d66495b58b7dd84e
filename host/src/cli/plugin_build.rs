//! `mission-runner plugin build [DIR]`: one plugin, whatever its language, to
//! `DIR/dist/NAME.wasm`, with its manifest beside it as `NAME.manifest.json`
//! (what `serve --plugins-dir` reads).
//!
//! Every message names the plugin. A failed build shows the language's own
//! error first, in a few lines (the Python traceback's last frame, the
//! JavaScript exception, rustc's first errors), and keeps the whole output in
//! `DIR/dist/build.log`. A missing toolchain is named with the command that
//! installs it. JavaScript plugins share one toolchain, `plugins/.js-toolchain`
//! (one `node_modules`, pinned by its lock file), installed on first use.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use tokio::process::Command;

use super::client::Failure;
use super::plugin_author::{Lang, repo_root};
use crate::registry::Manifest;

/// Lines of the language's error shown; the rest is in `dist/build.log`.
pub(super) const EXCERPT_LINES: usize = 12;

/// Reads and checks `dir/manifest.json` against the host's default maxima.
pub fn read_manifest(dir: &Path) -> Result<Manifest, Failure> {
    let who = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let who = who.file_name().map_or_else(|| who.display().to_string(), |n| n.to_string_lossy().into_owned());
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::input(format!(
            "plugin {who}: cannot read {}: {e} (`mission-runner plugin new` writes one)",
            path.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| Failure::input(format!("plugin {who}: {} is not a valid manifest: {e}", path.display())))?;
    manifest
        .validate(&crate::runtime::Limits::default().max)
        .map_err(|e| Failure::input(format!("plugin {who}: {}: {e}", path.display())))?;
    Ok(manifest)
}

/// Builds the plugin in `dir`.
pub async fn run(dir: &Path) -> Result<(), Failure> {
    let manifest = read_manifest(dir)?;
    let name = manifest.name.clone();
    let dir = dir.canonicalize().map_err(|e| Failure::input(format!("plugin {name}: {}: {e}", dir.display())))?;
    let Some(lang) = Lang::detect(&dir) else {
        return Err(Failure::input(format!(
            "plugin {name}: {} has none of Cargo.toml (Rust), app.py (Python), plugin.js (JavaScript) or go.mod (Go)",
            dir.display()
        )));
    };
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist)
        .map_err(|e| Failure::input(format!("plugin {name}: cannot create {}: {e}", dist.display())))?;
    let wasm = dist.join(format!("{name}.wasm"));
    let partial = dist.join(format!(".{name}.wasm.partial"));
    eprintln!("plugin {name}: building ({})", lang.label());
    let started = Instant::now();
    let wit = repo_root()?.join("wit");
    // Python and JavaScript components keep every import of the world: build
    // them against a world that imports only what the manifest grants.
    if matches!(lang, Lang::Python | Lang::Js) {
        let missing = super::plugin_world::left_out(&manifest.grants);
        if !missing.is_empty() {
            eprintln!(
                "plugin {name}: the world it is built against leaves out what the manifest does not grant ({})",
                missing.join(", ")
            );
        }
    }
    let wit = match lang {
        Lang::Rust | Lang::Go => wit,
        Lang::Python | Lang::Js => super::plugin_world::write_shaped(&wit, &manifest.grants, &dist.join(".wit"))
            .map_err(|e| Failure::input(format!("plugin {name}: cannot write {}: {e}", dist.join(".wit").display())))?,
    };
    match lang {
        Lang::Rust => build_rust(&name, &dir, &partial).await?,
        Lang::Python => {
            // Python components import every interface of their world: the
            // world gains wasi:http only when the manifest grants it.
            let wit = if manifest.grants.http.is_some() { super::plugin_wit::with_http(&wit, &dist)? } else { wit };
            let world = if manifest.grants.http.is_some() { super::plugin_wit::HTTP_WORLD } else { "mission-plugin" };
            build_python(&name, &dir, &wit, world, &partial).await?
        }
        Lang::Js => build_js(&name, &dir, &wit, &partial).await?,
        Lang::Go => super::plugin_build_go::build_go(&name, &dir, &wit, &partial).await?,
    }
    std::fs::rename(&partial, &wasm)
        .map_err(|e| Failure::input(format!("plugin {name}: cannot write {}: {e}", wasm.display())))?;
    let sidecar = dist.join(format!("{name}.manifest.json"));
    std::fs::copy(dir.join("manifest.json"), &sidecar)
        .map_err(|e| Failure::input(format!("plugin {name}: cannot write {}: {e}", sidecar.display())))?;
    let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "plugin {name}: built {} ({:.1} MB in {:.0} s)",
        wasm.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    println!("{}", wasm.display());
    Ok(())
}

/// A build failure: the plugin, what failed, the excerpt, where the rest is.
pub(super) fn failed(name: &str, dir: &Path, what: &str, excerpt: &str, output: &Output) -> Failure {
    let log = dir.join("dist/build.log");
    let full = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let kept = std::fs::write(&log, full).is_ok();
    let mut message = format!("plugin {name}: {what}:\n{}", indent(excerpt.trim_end()));
    if kept {
        message.push_str(&format!("\n(the whole output: {})", log.display()));
    }
    Failure { code: 1, message }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// Runs `cmd`; a missing program becomes `missing` (what to install).
pub(super) async fn output(name: &str, cmd: &mut Command, missing: &str) -> Result<Output, Failure> {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    cmd.env("RUST_BACKTRACE", "0").env("RUST_LIB_BACKTRACE", "0").kill_on_drop(true);
    cmd.output().await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Failure { code: 1, message: format!("plugin {name}: {program} is not installed: {missing}") }
        }
        _ => Failure { code: 1, message: format!("plugin {name}: cannot run {program}: {e}") },
    })
}

async fn build_rust(name: &str, dir: &Path, out: &Path) -> Result<(), Failure> {
    const INSTALL: &str = "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`";
    let manifest_path = dir.join("Cargo.toml");
    let meta = output(
        name,
        Command::new("cargo")
            .args(["metadata", "--no-deps", "--format-version", "1", "--manifest-path"])
            .arg(&manifest_path),
        INSTALL,
    )
    .await?;
    if !meta.status.success() {
        let stderr = String::from_utf8_lossy(&meta.stderr);
        let what = if stderr.contains("believes it's in a workspace when it's not") {
            "the crate is inside a Cargo workspace that does not list it: add its directory to `members` in that \
             workspace's Cargo.toml (plugins/Cargo.toml for the repository's plugins), or give its Cargo.toml a \
             `[workspace]` table of its own, as `plugin new` does"
        } else {
            "cargo cannot read Cargo.toml"
        };
        return Err(failed(name, dir, what, &rust_excerpt(&stderr), &meta));
    }
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout)
        .map_err(|e| Failure { code: 1, message: format!("plugin {name}: unreadable `cargo metadata`: {e}") })?;
    let target_dir = PathBuf::from(meta["target_directory"].as_str().unwrap_or("target"));
    let krate = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest_path.as_path()))
        .and_then(|p| p["name"].as_str())
        .unwrap_or(name)
        .replace('-', "_");
    if let Ok(installed) = std::process::Command::new("rustup").args(["target", "list", "--installed"]).output()
        && installed.status.success()
        && !String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == "wasm32-wasip2")
    {
        return Err(Failure {
            code: 1,
            message: format!(
                "plugin {name}: Rust's wasm32-wasip2 target is not installed: run `rustup target add wasm32-wasip2` \
                 (where rustup cannot download it, scripts/build-plugins.sh builds with Debian's Rust instead)"
            ),
        });
    }
    let build = output(
        name,
        Command::new("cargo")
            .args(["build", "--release", "--target", "wasm32-wasip2", "--color", "never", "--manifest-path"])
            .arg(&manifest_path),
        INSTALL,
    )
    .await?;
    if !build.status.success() {
        let stderr = String::from_utf8_lossy(&build.stderr);
        return Err(failed(name, dir, "cargo build failed", &rust_excerpt(&stderr), &build));
    }
    let artifact = target_dir.join(format!("wasm32-wasip2/release/{krate}.wasm"));
    std::fs::copy(&artifact, out).map_err(|e| Failure {
        code: 1,
        message: format!(
            "plugin {name}: cargo built, but {} cannot be copied ({e}): is the crate a `cdylib` \
             (`[lib] crate-type = [\"cdylib\"]`)?",
            artifact.display()
        ),
    })?;
    Ok(())
}

async fn build_python(name: &str, dir: &Path, wit: &Path, world: &str, out: &Path) -> Result<(), Failure> {
    let build = output(
        name,
        Command::new("componentize-py")
            .arg("-d")
            .arg(wit)
            .args(["-w", world, "componentize", "app", "-p"])
            .arg(dir)
            .arg("-o")
            .arg(out),
        "run `python3 -m pip install componentize-py==0.25.1` (scripts/setup.sh does it)",
    )
    .await?;
    if !build.status.success() {
        let stderr = String::from_utf8_lossy(&build.stderr);
        return Err(failed(name, dir, "componentize-py failed", &python_excerpt(&stderr), &build));
    }
    Ok(())
}

async fn build_js(name: &str, dir: &Path, wit: &Path, out: &Path) -> Result<(), Failure> {
    let toolchain = repo_root()?.join("plugins/.js-toolchain");
    const NODE: &str = "install Node.js 20 or later with npm (`apt-get install nodejs npm`)";
    if !toolchain.join("node_modules/@bytecodealliance/componentize-js").is_dir() {
        eprintln!("plugin {name}: installing the shared JavaScript toolchain in {} (once)", toolchain.display());
        // `npm ci` refuses lock files that omit other platforms' optional
        // packages; `install --no-save` follows the lock file without rewriting it.
        let install = output(
            name,
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error"])
                .current_dir(&toolchain),
            NODE,
        )
        .await?;
        if !install.status.success() {
            let stderr = String::from_utf8_lossy(&install.stderr);
            return Err(failed(name, dir, "npm could not install the JavaScript toolchain", &tail(&stderr), &install));
        }
    }
    let build =
        output(name, Command::new("node").arg(toolchain.join("build.mjs")).arg(dir).arg(wit).arg(out), NODE).await?;
    if !build.status.success() {
        let stderr = String::from_utf8_lossy(&build.stderr);
        return Err(failed(name, dir, "componentize-js failed", &js_excerpt(&stderr), &build));
    }
    Ok(())
}

/// The last lines of `text`.
pub(super) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(EXCERPT_LINES)..].join("\n")
}

/// componentize-py wraps Python's error in its own (an `AssertionError` from
/// its launcher, then `Caused by:` and the Rust frames): keep Python's.
pub fn python_excerpt(stderr: &str) -> String {
    let end =
        ["\nCaused by:", "\nStack backtrace:"].iter().filter_map(|m| stderr.find(m)).min().unwrap_or(stderr.len());
    let text = &stderr[..end];
    let text = match text.find("AssertionError: ") {
        Some(at) => &text[at + "AssertionError: ".len()..],
        None => text,
    };
    // The component's view of the plugin's directory is `/0/` (the first `-p`).
    tail(&text.replace("\"/0/", "\""))
}

/// Node's report of componentize-js' error: drop Node's own frames and the
/// wrapper line, keep the JavaScript exception.
pub fn js_excerpt(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("Error") || l.contains("Error: ")).unwrap_or(0);
    let kept: Vec<&str> = lines[start..]
        .iter()
        .filter(|l| !l.trim_start().starts_with("at ") && !l.starts_with("Node.js v") && !l.trim().is_empty())
        .filter(|l| !l.starts_with("Error: Failed to initialize component"))
        .copied()
        .collect();
    kept[..kept.len().min(EXCERPT_LINES)].join("\n")
}

/// rustc's first errors, without cargo's progress lines.
pub fn rust_excerpt(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("Compiling ")
                || t.starts_with("Updating ")
                || t.starts_with("Locking ")
                || t.starts_with("Downloaded ")
                || t.starts_with("Downloading ")
                || t.starts_with("Adding "))
        })
        .collect();
    let start = lines.iter().position(|l| l.starts_with("error")).unwrap_or(0);
    lines[start..][..lines.len().saturating_sub(start).min(EXCERPT_LINES)].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_syntax_error_is_shown_without_the_rust_frames() {
        let stderr = "Traceback (most recent call last):\n  File \"/bin/componentize-py\", line 8, in <module>\n    \
                      sys.exit(script())\nAssertionError:   File \"/0/app.py\", line 9\n    class W(x)\n              ^\n\
                      SyntaxError: expected ':'\n\n\nCaused by:\n    SyntaxError\n\nStack backtrace:\n   0: anyhow\n";
        let excerpt = python_excerpt(stderr);
        assert!(excerpt.contains("SyntaxError: expected ':'"), "{excerpt}");
        assert!(excerpt.contains("\"app.py\", line 9"), "{excerpt}");
        assert!(!excerpt.contains("anyhow") && !excerpt.contains("Caused by"), "{excerpt}");
    }

    #[test]
    fn a_javascript_error_is_shown_without_nodes_frames() {
        let stderr = "file:///x/componentize.js:365\n    throw new Error(err);\n          ^\n\nError: Failed to \
                      initialize component (wizer):\nException while evaluating top-level script\nplugin.js:3:1 \
                      ReferenceError: foo is not defined\n    at componentize (file:///x)\n\nNode.js v20.20.2\n";
        let excerpt = js_excerpt(stderr);
        assert_eq!(
            excerpt,
            "Exception while evaluating top-level script\nplugin.js:3:1 ReferenceError: foo is not defined"
        );
    }
}
