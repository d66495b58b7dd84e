//! The plugins measured: the built components in `plugins/dist`, each with its
//! manifest (when it has one, as the host publishes it) and a payload it
//! completes.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mission_runner::model::manifest::Manifest;

/// One plugin to measure.
#[derive(Debug)]
pub struct Subject {
    /// Its file stem in `plugins/dist`, and its name.
    pub name: &'static str,
    /// What its guest is written in (for the table).
    pub language: &'static str,
    /// A payload it completes.
    pub payload: String,
    /// The component's bytes.
    pub wasm: Vec<u8>,
    /// `<name>.manifest.json`, if the plugin has one.
    pub manifest: Option<Manifest>,
}

/// The plugins of the instantiation table: the two minimal Rust ones, then one
/// per other language, each with a payload its `run` completes.
const INSTANTIATED: [(&str, &str, &str); 5] = [
    ("noop", "Rust", "{}"),
    ("echo", "Rust", "{}"),
    ("go-wordcount", "Go", r#"{"text": "the quick brown fox jumps over the lazy dog"}"#),
    ("js-sum", "JavaScript", r#"{"numbers": [1, 2, 3]}"#),
    ("py-greet", "Python", r#"{"name": "Ada"}"#),
];

/// `plugins/dist`, where `scripts/build-plugins.sh` writes the components.
pub fn dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist")
}

/// Reads `name` (and its manifest) from `plugins/dist`.
pub fn read(name: &'static str, language: &'static str, payload: String) -> anyhow::Result<Subject> {
    let dir = dist();
    let path = dir.join(format!("{name}.wasm"));
    let wasm = std::fs::read(&path).with_context(|| format!("{} (run scripts/build-plugins.sh)", path.display()))?;
    Ok(Subject { name, language, payload, wasm, manifest: manifest(&dir, name)? })
}

/// The plugins of the instantiation table.
pub fn instantiated() -> anyhow::Result<Vec<Subject>> {
    INSTANTIATED.iter().map(|(name, language, payload)| read(name, language, (*payload).to_owned())).collect()
}

fn manifest(dir: &Path, name: &str) -> anyhow::Result<Option<Manifest>> {
    let path = dir.join(format!("{name}.manifest.json"));
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(Some(serde_json::from_str(&text).with_context(|| path.display().to_string())?))
}
