//! `mission-runner plugin new | build | run`: the plugin author's local loop,
//! with no host and no Redis. Scaffold from the templates in
//! `plugins/templates/` (embedded in the binary), build one plugin whatever its
//! language, and run it once in the host's own sandbox.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};

use super::client::Failure;
use super::{plugin_build, plugin_new, plugin_run};

/// The author's commands (local: no host needed).
#[derive(Debug, Subcommand)]
pub enum AuthorCommand {
    /// Writes a new plugin directory from the template of a language.
    New {
        /// The plugin's name, which is also its mission type (a-z, 0-9, `-`, `_`).
        name: String,
        /// The plugin's language.
        #[arg(long, value_enum)]
        lang: Lang,
        /// Where to make the plugin's directory [default: the current directory].
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The plugin's first version.
        #[arg(long, default_value = "0.1.0")]
        version: String,
    },
    /// Builds one plugin, whatever its language, to DIR/dist/NAME.wasm (with
    /// its manifest beside it, as `serve --plugins-dir DIR/dist` reads it).
    Build {
        /// The plugin's directory (with its manifest.json).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Runs a built plugin once, locally, in the host's sandbox and limits
    /// (no Redis). Exit codes: 0 completed, 1 refused at load, 2 unreadable
    /// input, 4 the mission failed.
    Run {
        /// The plugin's directory (with manifest.json and dist/NAME.wasm).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The mission's payload, as JSON [default: DIR/payload.json, else `{}`].
        #[arg(long)]
        payload: Option<String>,
        /// The mission type [default: the manifest's first].
        #[arg(long = "type")]
        mission_type: Option<String>,
        /// The attempt's wall-clock limit (ms); the manifest's `timeout_ms` caps it.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
        /// A configuration value the plugin reads through `config` (repeat the flag):
        /// `NAME=VALUE`. The key-value store starts empty and lives for this run.
        #[arg(long = "config", value_name = "NAME=VALUE")]
        config: Vec<String>,
    },
}

/// The languages a plugin can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust, with the `mission-plugin-sdk` crate (plugins/sdk).
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
    /// Go (1.27.1 or later), with the bindings in plugins/sdk/go.
    Go,
}

impl Lang {
    /// The language of the plugin in `dir`, by the file its build starts from.
    pub fn detect(dir: &Path) -> Option<Lang> {
        [("Cargo.toml", Lang::Rust), ("app.py", Lang::Python), ("plugin.js", Lang::Js), ("go.mod", Lang::Go)]
            .into_iter()
            .find(|(file, _)| dir.join(file).is_file())
            .map(|(_, lang)| lang)
    }

    /// Its name in messages.
    pub fn label(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
            Lang::Go => "Go",
        }
    }
}

/// The checkout of mission-runner the binary was built from, where the WIT,
/// the Rust SDK and the shared JavaScript toolchain are; `MISSION_RUNNER_REPO`
/// names another (for a binary copied elsewhere).
pub fn repo_root() -> Result<PathBuf, Failure> {
    let root = std::env::var_os("MISSION_RUNNER_REPO")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."), PathBuf::from);
    let root = root.canonicalize().unwrap_or(root);
    if !root.join("wit/mission-plugin.wit").is_file() {
        return Err(Failure::input(format!(
            "{} is not a mission-runner checkout (no wit/mission-plugin.wit): set MISSION_RUNNER_REPO to one",
            root.display()
        )));
    }
    Ok(root)
}

/// Runs an author's command.
pub async fn run(cmd: AuthorCommand) -> Result<(), Failure> {
    match cmd {
        AuthorCommand::New { name, lang, dir, version } => plugin_new::run(&name, lang, &dir, &version),
        AuthorCommand::Build { dir } => plugin_build::run(&dir).await,
        AuthorCommand::Run { dir, payload, mission_type, timeout_ms, config } => {
            plugin_run::run(&dir, payload, mission_type, timeout_ms, &config).await
        }
    }
}
