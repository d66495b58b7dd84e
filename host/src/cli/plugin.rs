//! `mission-runner plugin ...`: the operator's client of `/api/plugins`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

/// Where the host is.
#[derive(Debug, Args)]
pub struct Remote {
    /// The host's base URL.
    #[arg(long, global = true, env = "MISSION_RUNNER_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Print the API's JSON instead of a summary.
    #[arg(long, global = true)]
    json: bool,
}

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
}

/// Exit codes: 0 done, 1 the host refused (its message is printed), 2 bad
/// usage or unreadable input, 3 the host could not be reached.
pub async fn run(remote: Remote, cmd: PluginCommand) -> ExitCode {
    let http = reqwest::Client::new();
    let base = remote.url.trim_end_matches('/');
    let request = match &cmd {
        PluginCommand::Push { file, manifest, activate } => {
            let (wasm, manifest) = match (std::fs::read(file), std::fs::read_to_string(manifest)) {
                (Ok(w), Ok(m)) => (w, m),
                (Err(e), _) => return fail(2, &format!("cannot read {}: {e}", file.display())),
                (_, Err(e)) => return fail(2, &format!("cannot read {}: {e}", manifest.display())),
            };
            let form = reqwest::multipart::Form::new()
                .part("wasm", reqwest::multipart::Part::bytes(wasm).file_name("plugin.wasm"))
                .text("manifest", manifest);
            http.post(format!("{base}/api/plugins?activate={activate}")).multipart(form)
        }
        PluginCommand::List => http.get(format!("{base}/api/plugins")),
        PluginCommand::Activate { name, version } => {
            http.post(format!("{base}/api/plugins/{name}/activate")).json(&serde_json::json!({ "version": version }))
        }
    };
    let resp = match request.send().await {
        Ok(r) => r,
        Err(e) => return fail(3, &format!("cannot reach {base}: {e}")),
    };
    let status = resp.status();
    let body: Value = match resp.json().await {
        Ok(b) => b,
        Err(e) => return fail(1, &format!("{status}: unreadable answer: {e}")),
    };
    if !status.is_success() {
        let msg = body["error"]["message"].as_str().unwrap_or("no message");
        return fail(1, &format!("{status}: {msg}"));
    }
    if remote.json {
        println!("{body:#}");
        return ExitCode::SUCCESS;
    }
    match cmd {
        PluginCommand::Push { .. } | PluginCommand::Activate { .. } => {
            let p = &body["plugin"];
            println!("{} {} {}", p["name"].as_str().unwrap_or("?"), p["version"].as_str().unwrap_or("?"), p["digest"].as_str().unwrap_or("?"));
            let types: Vec<&str> = body["activated_for"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if !types.is_empty() {
                println!("active for: {}", types.join(", "));
            }
        }
        PluginCommand::List => print_list(&body),
    }
    ExitCode::SUCCESS
}

fn print_list(body: &Value) {
    println!("{:<14} {:<22} {:<20} {:<10} ACTIVE FOR", "PLUGIN", "VERSION", "DIGEST", "SIZE");
    for p in body["plugins"].as_array().into_iter().flatten() {
        for v in p["versions"].as_array().into_iter().flatten() {
            let digest = v["digest"].as_str().unwrap_or("");
            let active: Vec<&str> = v["active_for"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
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

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}
