//! `mission-runner plugin ...`: the operator's client of `/api/plugins`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::Value;

use super::client::{Failure, Remote, s};

/// Plugin operations.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Uploads a plugin component with its manifest (validated by the host).
    Push {
        /// The component (`.wasm`).
        file: PathBuf,
        /// The manifest (JSON: name, version, mission_types, limits, grants).
        #[arg(long)]
        manifest: PathBuf,
        /// Activate it for its mission types once stored.
        #[arg(long)]
        activate: bool,
    },
    /// Lists plugins, their versions and what is active.
    List,
    /// Activates a stored version (also how to roll back).
    Activate {
        /// Plugin name.
        name: String,
        /// Version to activate.
        version: String,
    },
    /// A plugin's variables and secrets (set, list, unset).
    #[command(subcommand)]
    Config(super::plugin_config::ConfigCommand),
    /// The author's local commands: new, build, run.
    #[command(flatten)]
    Author(super::plugin_author::AuthorCommand),
}

/// Runs a plugin command against `remote`.
pub async fn run(remote: &Remote, cmd: PluginCommand) -> Result<(), Failure> {
    let cmd = match cmd {
        PluginCommand::Author(cmd) => return super::plugin_author::run(cmd).await,
        PluginCommand::Config(cmd) => return super::plugin_config::run(remote, cmd).await,
        cmd => cmd,
    };
    let http = remote.http()?;
    let request = match &cmd {
        PluginCommand::Push { file, manifest, activate } => {
            let wasm =
                std::fs::read(file).map_err(|e| Failure::input(format!("cannot read {}: {e}", file.display())))?;
            let manifest = std::fs::read_to_string(manifest)
                .map_err(|e| Failure::input(format!("cannot read {}: {e}", manifest.display())))?;
            // A 12-18 MB Python or JavaScript component takes seconds to send
            // and to compile: say what is happening rather than nothing.
            eprintln!(
                "uploading {} ({:.1} MB); the host compiles and checks it before it answers...",
                file.display(),
                wasm.len() as f64 / 1e6
            );
            let form = reqwest::multipart::Form::new()
                .part("wasm", reqwest::multipart::Part::bytes(wasm).file_name("plugin.wasm"))
                .text("manifest", manifest);
            http.post(remote.url(&format!("/api/plugins?activate={activate}"))).multipart(form)
        }
        PluginCommand::List => http.get(remote.url("/api/plugins")),
        PluginCommand::Activate { name, version } => http
            .post(remote.endpoint(&["api", "plugins", name, "activate"], &[])?)
            .json(&serde_json::json!({ "version": version })),
        PluginCommand::Author(_) | PluginCommand::Config(_) => return Ok(()),
    };
    let body = remote.send(request).await?;
    remote.print(&body, |body| match cmd {
        PluginCommand::Push { .. } | PluginCommand::Activate { .. } => {
            let p = &body["plugin"];
            println!("{} {} {}", s(p, "name"), s(p, "version"), s(p, "digest"));
            let types: Vec<&str> =
                body["activated_for"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if !types.is_empty() {
                println!("active for: {}", types.join(", "));
            }
        }
        PluginCommand::List => print_list(body),
        PluginCommand::Author(_) | PluginCommand::Config(_) => {}
    });
    Ok(())
}

fn print_list(body: &Value) {
    println!("{:<14} {:<22} {:<20} {:<10} ACTIVE FOR", "PLUGIN", "VERSION", "DIGEST", "SIZE");
    for p in body["plugins"].as_array().into_iter().flatten() {
        for v in p["versions"].as_array().into_iter().flatten() {
            let digest = v["digest"].as_str().unwrap_or("");
            let active: Vec<&str> =
                v["active_for"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            println!(
                "{:<14} {:<22} {:<20} {:<10} {}",
                p["name"].as_str().unwrap_or("?"),
                v["version"].as_str().unwrap_or("?"),
                &digest[..digest.len().min(19)],
                v["size"].as_u64().unwrap_or(0),
                if active.is_empty() { "-".to_owned() } else { active.join(", ") }
            );
        }
    }
}
