//! `mission-runner token ...`: API tokens. `generate` and `hash` work offline
//! (for the configuration file); `create`, `list` and `revoke` ask a host.

use clap::{Args, Subcommand};
use serde_json::json;

use super::client::{Failure, Remote, s};
use crate::auth::{Scope, generate_token, hash_token};

/// Who a new token is for and what it may do.
#[derive(Debug, Args)]
pub struct NewToken {
    /// Who will hold it.
    #[arg(long)]
    name: String,
    /// Its tenant [default: `generate`: default; `create`: the caller's].
    #[arg(long)]
    tenant: Option<String>,
    /// A scope (repeat for several): missions:write, missions:read, plugins:admin, tenant:admin, admin.
    #[arg(long = "scope", required = true)]
    scopes: Vec<Scope>,
}

/// Token operations.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Prints a new token and its `[[auth.tokens]]` entry for the configuration file (offline).
    Generate(NewToken),
    /// Prints the SHA-256 of a token read from standard input (offline).
    Hash,
    /// Creates a token on the host (stored hashed in Redis) and prints it once.
    Create(NewToken),
    /// Lists the tokens created on the host (not their secrets).
    List,
    /// Revokes a token created on the host.
    Revoke {
        /// Its id (from `token list`).
        id: String,
    },
}

fn scope_list(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| format!("\"{}\"", s.as_str())).collect::<Vec<_>>().join(", ")
}

/// Runs a token command.
pub async fn run(remote: &Remote, cmd: TokenCommand) -> Result<(), Failure> {
    match cmd {
        TokenCommand::Generate(NewToken { name, tenant, scopes }) => {
            let tenant = tenant.unwrap_or_else(|| crate::auth::DEFAULT_TENANT.to_owned());
            if !crate::auth::valid_tenant(&tenant) {
                return Err(Failure::input(format!("`{tenant}` is not a tenant name (a-z, 0-9, `_`, `-`)")));
            }
            let token = generate_token();
            println!("token: {token}");
            println!(
                "\n[[auth.tokens]]\nname = {name:?}\ntenant = {tenant:?}\nscopes = [{}]\nsha256 = \"{}\"",
                scope_list(&scopes),
                hash_token(&token)
            );
        }
        TokenCommand::Hash => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| Failure::input(format!("reading the token: {e}")))?;
            let token = line.trim();
            if token.is_empty() {
                return Err(Failure::input("give the token on standard input"));
            }
            println!("{}", hash_token(token));
        }
        TokenCommand::Create(NewToken { name, tenant, scopes }) => {
            let http = remote.http()?;
            // Without --tenant the host uses the caller's (a tenant admin may use no other).
            let mut body = json!({ "name": name, "scopes": scopes });
            if let Some(t) = tenant {
                body["tenant"] = json!(t);
            }
            let made = remote.send(http.post(remote.url("/api/tokens")).json(&body)).await?;
            remote.print(&made, |m| {
                println!("token: {}", s(m, "token"));
                println!(
                    "id {}  name {}  tenant {}",
                    s(&m["record"], "id"),
                    s(&m["record"], "name"),
                    s(&m["record"], "tenant")
                );
            });
        }
        TokenCommand::List => {
            let http = remote.http()?;
            let page = remote.send(http.get(remote.url("/api/tokens?limit=1000"))).await?;
            remote.print(&page, |p| {
                for t in p["tokens"].as_array().into_iter().flatten() {
                    println!("{}  {:<20} {:<12} {}", s(t, "id"), s(t, "name"), s(t, "tenant"), t["scopes"]);
                }
            });
        }
        TokenCommand::Revoke { id } => {
            let http = remote.http()?;
            let resp = http
                .delete(remote.endpoint(&["api", "tokens", &id], &[])?)
                .send()
                .await
                .map_err(|e| Failure { code: 3, message: format!("cannot reach {}: {e}", remote.url) })?;
            if !resp.status().is_success() {
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                return Err(Failure { code: 1, message: format!("{status}: {}", s(&body["error"], "message")) });
            }
            if !remote.json {
                println!("revoked {id}");
            }
        }
    }
    Ok(())
}
