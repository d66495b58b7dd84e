//! The open mode's guard. With no token configured every caller is an admin,
//! which the host allows only on a loopback address; but a browser on the same
//! machine is a caller too. A page of any site can make it send requests to
//! loopback: a cross-origin form POST (multipart needs no preflight) could
//! upload and activate a plugin, and a DNS-rebinding name pointing at
//! 127.0.0.1 makes even reads same-origin. So an open API answers only
//! requests addressed to a loopback name (`Host`) and sent from no origin or
//! a loopback one (`Origin`). With tokens this guard is off: a browser does
//! not attach bearer tokens by itself.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::error::ApiError;
use crate::api::ErrorCode;

/// Refuses a request to an open API from a foreign `Host` (421) or `Origin` (403).
pub async fn loopback_only(req: Request, next: Next) -> Response {
    match check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn check(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(host) = headers.get(header::HOST) {
        let ok = host.to_str().ok().and_then(host_name).is_some_and(is_loopback_name);
        if !ok {
            return Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                ErrorCode::HostNotLoopback,
                "this API has no tokens, so it answers only requests addressed to localhost, 127.0.0.1 or [::1] \
                 (the `Host` header)",
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = origin.to_str().ok().and_then(origin_host).and_then(host_name).is_some_and(is_loopback_name);
        if !ok {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::OriginNotLoopback,
                "this API has no tokens, so it refuses requests sent by a web page of another origin (the `Origin` \
                 header); only http(s)://localhost, 127.0.0.1 or [::1] pages may call it",
            ));
        }
    }
    Ok(())
}

/// The `host[:port]` of an origin `http(s)://host[:port]`; `None` for `null`
/// and any other scheme.
fn origin_host(origin: &str) -> Option<&str> {
    let rest = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"))?;
    Some(rest.strip_suffix('/').unwrap_or(rest))
}

/// The name of `host[:port]` (IPv6 literals in brackets, kept with them).
fn host_name(authority: &str) -> Option<&str> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let port = &authority[end + 1..];
        return (port.is_empty() || valid_port(port.strip_prefix(':')?)).then(|| &authority[..=end]);
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if valid_port(port) => Some(name),
        Some(_) => None,
        None => Some(authority),
    }
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// `localhost` (any case, with or without the final dot), an IPv4 address of
/// 127.0.0.0/8 or `[::1]`.
fn is_loopback_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let ip = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
    ip.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) && (name.starts_with('[') || !ip.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(host: Option<&'static str>, origin: Option<&'static str>) -> Option<u16> {
        let mut h = HeaderMap::new();
        if let Some(v) = host {
            h.insert(header::HOST, v.parse().unwrap());
        }
        if let Some(v) = origin {
            h.insert(header::ORIGIN, v.parse().unwrap());
        }
        check(&h).err().map(|e| e.status.as_u16())
    }

    #[test]
    fn loopback_hosts_and_origins_pass() {
        for host in ["localhost", "localhost:8080", "LOCALHOST.:1", "127.0.0.1:8080", "127.1.2.3", "[::1]:80", "[::1]"]
        {
            assert_eq!(verdict(Some(host), None), None, "{host}");
        }
        for origin in ["http://localhost:3000", "https://127.0.0.1", "http://[::1]:8080", "http://localhost/"] {
            assert_eq!(verdict(Some("127.0.0.1:8080"), Some(origin)), None, "{origin}");
        }
        assert_eq!(verdict(None, None), None, "HTTP/1.0 without a Host");
    }

    #[test]
    fn foreign_hosts_and_origins_are_refused() {
        for host in ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil", "10.0.0.1:80"] {
            assert_eq!(verdict(Some(host), None), Some(421), "{host}");
        }
        for host in ["[::2]:80", "::1", "localhost:80:80", "localhost:http", "[::1]x"] {
            assert_eq!(verdict(Some(host), None), Some(421), "{host}");
        }
        for origin in
            ["https://evil.example", "null", "http://localhost.evil.example", "file://", "http://127.0.0.1.nip.io"]
        {
            assert_eq!(verdict(Some("localhost:8080"), Some(origin)), Some(403), "{origin}");
        }
    }
}
