//! `mission-runner plugin config ...`: a plugin's variables and secrets,
//! through `/api/plugins/{name}/config`.

use std::io::Read as _;

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{Failure, Remote, s};

/// Configuration operations.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Sets a variable or secret; missions read it from their next attempt on.
    Set {
        /// Plugin name.
        name: String,
        /// Configuration name (as listed in the manifest's `grants.config`).
        key: String,
        /// The value [default: read from stdin, so a secret stays out of the shell's history].
        value: Option<String>,
        /// A secret: sealed at rest, never shown again.
        #[arg(long)]
        secret: bool,
        /// Set it for this tenant's missions only.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Lists names, whether each is a secret, when and by whom it was set
    /// (and the values of variables).
    List {
        /// Plugin name.
        name: String,
    },
    /// Removes a variable or secret.
    Unset {
        /// Plugin name.
        name: String,
        /// Configuration name.
        key: String,
        /// Remove this tenant's override (absent: the plugin-wide value).
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Runs a configuration command against `remote`.
pub async fn run(remote: &Remote, cmd: ConfigCommand) -> Result<(), Failure> {
    let http = remote.http()?;
    match cmd {
        ConfigCommand::Set { name, key, value, secret, tenant } => {
            let value = match value {
                Some(v) => v,
                None => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .map_err(|e| Failure::input(format!("reading the value from stdin: {e}")))?;
                    // One trailing newline is the terminal's, not the value's.
                    text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_owned()
                }
            };
            let req = http
                .put(remote.endpoint(&["api", "plugins", &name, "config", &key], &[])?)
                .json(&json!({ "value": value, "secret": secret, "tenant": tenant }));
            let body = remote.send(req).await?;
            remote.print(&body, |e| {
                let kind = if e["secret"].as_bool() == Some(true) { "secret" } else { "variable" };
                let scope = e["tenant"].as_str().map_or("all tenants".to_owned(), |t| format!("tenant {t}"));
                println!("set {kind} {} of {name} for {scope}", s(e, "key"));
            });
        }
        ConfigCommand::List { name } => {
            let body = remote.send(http.get(remote.endpoint(&["api", "plugins", &name, "config"], &[])?)).await?;
            remote.print(&body, print_list);
        }
        ConfigCommand::Unset { name, key, tenant } => {
            let url = remote.endpoint(&["api", "plugins", &name, "config", &key], &[("tenant", tenant)])?;
            let resp = http
                .delete(url)
                .send()
                .await
                .map_err(|e| Failure { code: 3, message: format!("cannot reach the host: {e}") })?;
            let status = resp.status();
            if !status.is_success() {
                let body: Value = resp.json().await.unwrap_or_default();
                let msg = body["error"]["message"].as_str().unwrap_or("no message");
                return Err(Failure { code: 1, message: format!("{status}: {msg}") });
            }
            eprintln!("removed {key} of {name}");
        }
    }
    Ok(())
}

fn print_list(body: &Value) {
    println!("{:<24} {:<16} {:<8} {:<20} VALUE", "NAME", "TENANT", "SECRET", "SET BY");
    for e in body["entries"].as_array().into_iter().flatten() {
        let secret = e["secret"].as_bool() == Some(true);
        println!(
            "{:<24} {:<16} {:<8} {:<20} {}",
            s(e, "key"),
            e["tenant"].as_str().unwrap_or("*"),
            if secret { "yes" } else { "no" },
            s(e, "set_by"),
            if secret { "(hidden)" } else { s(e, "value") }
        );
    }
}
