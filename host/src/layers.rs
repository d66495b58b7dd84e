//! The layer order of the crate's modules, checked: a test reads every source
//! file under `src/`, maps each `crate::x` reference (in `use` lines and in
//! paths) to its top-level module `x`, and fails when a module refers to one
//! its layer may not import. A new top-level module must be placed here.
//!
//! Doc comments are not read: a doc link is documentation, not a dependency.

use std::path::{Path, PathBuf};

/// One layer: its modules and the layers it may import (its own modules may
/// not import each other: that is how cycles inside a layer stay out).
struct Layer {
    name: &'static str,
    modules: &'static [&'static str],
    imports: &'static [&'static str],
}

/// Lowest first. See the `# Layout` comment of `lib.rs`.
const LAYERS: &[Layer] = &[
    // Logs and traces: imports nothing of the crate, so every layer may use it.
    Layer { name: "telemetry", modules: &["telemetry"], imports: &[] },
    Layer { name: "model", modules: &["model"], imports: &[] },
    Layer { name: "runtime", modules: &["runtime"], imports: &["telemetry", "model"] },
    Layer { name: "store", modules: &["store", "pubsub", "embedded_redis"], imports: &["telemetry", "model"] },
    Layer {
        name: "services",
        modules: &["registry", "auth", "metrics"],
        imports: &["telemetry", "model", "runtime", "store"],
    },
    Layer { name: "worker", modules: &["worker"], imports: &["telemetry", "model", "runtime", "store", "services"] },
    Layer {
        name: "api",
        modules: &["api", "ui"],
        imports: &["telemetry", "model", "runtime", "store", "services", "worker"],
    },
    Layer { name: "config", modules: &["config"], imports: &["telemetry", "model", "runtime", "store", "services"] },
    Layer {
        name: "server",
        modules: &["server"],
        imports: &["telemetry", "model", "runtime", "store", "services", "worker", "api", "config"],
    },
    Layer {
        name: "cli",
        modules: &["cli"],
        imports: &["telemetry", "model", "runtime", "store", "services", "worker", "api", "config", "server"],
    },
];

/// Files that belong to no layer: the crate root and this check.
const UNLAYERED: &[&str] = &["lib", "main", "layers"];

fn layer_of(module: &str) -> Option<&'static Layer> {
    LAYERS.iter().find(|l| l.modules.contains(&module))
}

/// The top-level modules `text` refers to through `crate::`, with line numbers.
fn references(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let preceded = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            // `mission_runner::crate::` cannot occur, but `foo_crate::` could.
            if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::X, b};`: the first segment of each item.
                let end = group.find('}').unwrap_or(group.len());
                let mut depth = 0;
                let mut item_start = true;
                for (i, c) in group[..end].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && (c.is_alphanumeric() || c == '_') => {
                            out.push((n + 1, ident(&group[i..])));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                out.push((n + 1, ident(rest)));
            }
        }
    }
    out
}

fn ident(s: &str) -> String {
    s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The top-level module a file under `src/` belongs to.
fn module_of(relative: &Path) -> String {
    let first = relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
    first.unwrap_or_default().trim_end_matches(".rs").to_owned()
}

/// Every import that points where its layer may not, as messages.
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        let from = module_of(path);
        if UNLAYERED.contains(&from.as_str()) {
            continue;
        }
        let Some(layer) = layer_of(&from) else {
            out.push(format!("src/{}: module `{from}` is in no layer; add it to LAYERS", path.display()));
            continue;
        };
        for (line, to) in references(text) {
            if to == from || to.is_empty() {
                continue;
            }
            let ok = layer_of(&to).is_some_and(|target| layer.imports.contains(&target.name));
            if !ok {
                let target = layer_of(&to).map_or("no layer", |l| l.name);
                out.push(format!(
                    "src/{}:{line}: `{from}` (layer {}) imports `crate::{to}` (layer {target}), which it may not",
                    path.display(),
                    layer.name
                ));
            }
        }
    }
    out
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read src").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read source");
            out.push((path.strip_prefix(root).expect("under src").to_owned(), text));
        }
    }
}

mod tests {
    use super::*;

    #[test]
    fn every_module_imports_only_from_the_layers_below_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &root, &mut files);
        assert!(files.len() > 50, "read the sources ({} files)", files.len());
        let bad = violations(&files);
        assert!(bad.is_empty(), "imports that point up or sideways:\n{}", bad.join("\n"));
    }

    #[test]
    fn the_check_catches_an_upward_import_in_either_spelling() {
        let files = vec![
            (PathBuf::from("model/mission.rs"), "use crate::auth::DEFAULT_TENANT;\n".to_owned()),
            (
                PathBuf::from("runtime/mod.rs"),
                "use crate::{model::manifest::Manifest, metrics::Histogram};\n".to_owned(),
            ),
            (PathBuf::from("store/read.rs"), "    let t = crate::config::Config::default();\n".to_owned()),
            (PathBuf::from("store/keys.rs"), "/// See [`crate::auth::StoredToken`].\n".to_owned()),
            (PathBuf::from("registry/mod.rs"), "use crate::auth::Scope;\n".to_owned()),
            (PathBuf::from("newthing.rs"), String::new()),
        ];
        let bad = violations(&files);
        assert_eq!(bad.len(), 5, "{bad:#?}");
        assert!(
            bad[0].starts_with("src/model/mission.rs:1: `model` (layer model) imports `crate::auth`"),
            "{}",
            bad[0]
        );
        assert!(bad[1].contains("`crate::metrics`") && !bad.iter().any(|b| b.contains("crate::model`")));
        assert!(bad[2].contains("src/store/read.rs:1") && bad[2].contains("`crate::config` (layer config)"));
        assert!(bad[3].contains("`registry` (layer services) imports `crate::auth`"), "sideways: {}", bad[3]);
        assert!(bad[4].contains("`newthing` is in no layer"));
    }
}
