//! The CLI's HTTP client of a running host, and what its exit codes mean.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

/// Where the host is, and how to print.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The host's base URL.
    #[arg(long, global = true, env = "MISSION_RUNNER_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Print the API's JSON instead of a summary (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// API token [default: the embedded default's admin token in
    /// $MISSION_RUNNER_DATA_DIR/admin-token (.data/admin-token), if present].
    #[arg(long, global = true, env = "MISSION_RUNNER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// A failed command: exit code 1 when the host refused (its message), 2 for
/// bad usage or unreadable input, 3 when the host could not be reached.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Self {
        Failure { code: 2, message: message.into() }
    }

    pub fn exit(self) -> ExitCode {
        eprintln!("error: {}", self.message);
        ExitCode::from(self.code)
    }
}

impl Remote {
    /// The token to send: given, or the local embedded default's.
    fn token(&self) -> Option<String> {
        if let Some(t) = &self.token {
            return Some(t.clone());
        }
        let dir = std::env::var_os("MISSION_RUNNER_DATA_DIR").map_or_else(|| ".data".into(), std::path::PathBuf::from);
        std::fs::read_to_string(dir.join("admin-token")).ok().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
    }

    /// An HTTP client that sends the token with every request.
    pub fn http(&self) -> Result<reqwest::Client, Failure> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = self.token() {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| Failure::input("the token contains characters a header cannot carry"))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .map_err(|e| Failure::input(format!("cannot build the HTTP client: {e}")))
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }

    /// The base URL with `segments` appended to its path, each encoded as one
    /// segment (a `/` or `?` in an id stays in it), and the `query` pairs that
    /// have a value, encoded.
    pub fn endpoint(&self, segments: &[&str], query: &[(&str, Option<String>)]) -> Result<url::Url, Failure> {
        let bad = |why: &str| Failure::input(format!("--url {}: {why}", self.url));
        let mut url = url::Url::parse(&self.url).map_err(|e| bad(&e.to_string()))?;
        url.path_segments_mut().map_err(|()| bad("not a base URL"))?.pop_if_empty().extend(segments);
        let pairs: Vec<(&str, &str)> = query.iter().filter_map(|(k, v)| Some((*k, v.as_deref()?))).collect();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        Ok(url)
    }

    /// Sends `req` and returns the answer's JSON, or the failure.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let resp =
            req.send().await.map_err(|e| Failure { code: 3, message: format!("cannot reach {}: {e}", self.url) })?;
        let status = resp.status();
        let body: Value =
            resp.json().await.map_err(|e| Failure { code: 1, message: format!("{status}: unreadable answer: {e}") })?;
        if !status.is_success() {
            let msg = body["error"]["message"].as_str().unwrap_or("no message");
            return Err(Failure { code: 1, message: format!("{status}: {msg}") });
        }
        Ok(body)
    }

    /// Prints `body` as JSON when `--json` was given, else calls `summary`.
    pub fn print(&self, body: &Value, summary: impl FnOnce(&Value)) {
        if self.json {
            println!("{body:#}");
        } else {
            summary(body);
        }
    }
}

/// A string field of `v`, or `-`.
pub fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("-")
}
