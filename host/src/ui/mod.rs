//! The operator's dashboard: a static single-page app served at `/ui`, its
//! files embedded in the binary (no CDN, no build step, nothing to install).
//!
//! The page holds no data: it is plain files that need no token, and every
//! figure it shows comes from the same `/api` routes as any other client, with
//! the bearer token the operator types in (kept in the tab's `sessionStorage`).
//! So these routes live outside the API's router and its OpenAPI document.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::Digest as _;

/// Only the dashboard's own files may run or style the page; it may talk to
/// this host only; no one may frame it (clickjacking of its buttons).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Its name under `/ui/assets/`.
    name: &'static str,
    /// Its content type.
    mime: &'static str,
    /// Its bytes.
    body: &'static str,
}

/// Shorthand for the list below.
macro_rules! asset {
    ($name:literal, $mime:expr) => {
        Asset { name: $name, mime: $mime, body: include_str!(concat!("assets/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the app. `index.html` is served at `/ui`.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("sse.js", JS),
    asset!("dom.js", JS),
    asset!("pages/signin.js", JS),
    asset!("pages/overview.js", JS),
    asset!("pages/missions.js", JS),
    asset!("pages/mission.js", JS),
    asset!("pages/dead.js", JS),
    asset!("pages/plugins.js", JS),
    asset!("pages/workers.js", JS),
];

/// The dashboard's routes: `/` and `/ui` (the page) and `/ui/assets/*`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .route("/ui", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route("/ui/", get(|| async { Redirect::to("/ui") }))
        .route(
            "/ui/assets/{*file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move { serve(&file, &headers) }),
        )
}

/// Answers with an embedded file: its type, the security headers, and an
/// entity tag (its digest) so a browser revalidates cheaply (`304`) and never
/// runs a file of an older binary. Unknown names are `404`.
fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let etag = etag(asset.body);
    let fresh = headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let status = if fresh { StatusCode::NOT_MODIFIED } else { StatusCode::OK };
    let body = if fresh { "" } else { asset.body };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// A strong entity tag: the first 16 bytes of the file's SHA-256, quoted.
fn etag(body: &str) -> String {
    let digest = sha2::Sha256::digest(body.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::{ASSETS, etag};

    #[test]
    fn every_script_the_page_imports_is_embedded() {
        // A module imported but not listed would 404 in the browser only.
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for line in a.body.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split(['"', '\'']).nth(1) else { continue };
                let dir = a.name.rsplit_once('/').map_or("", |(d, _)| d);
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for p in spec.split('/') {
                    match p {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        other => parts.push(other),
                    }
                }
                let path = parts.join("/");
                assert!(
                    ASSETS.iter().any(|x| x.name == path),
                    "{} imports {spec} ({path}), which is not embedded",
                    a.name
                );
            }
        }
    }

    #[test]
    fn entity_tags_follow_the_content() {
        assert_eq!(etag("a"), etag("a"));
        assert_ne!(etag("a"), etag("b"));
    }
}
