//! `grants.http`: where a plugin may send HTTP requests, as patterns with the
//! meaning of Spin's `allowed_outbound_hosts`: scheme, host and port must all
//! match.
//!
//! Accepted forms (anything else is refused at upload, naming the field):
//! - `https://api.example.com`: that host, the scheme's default port (443; 80 for `http`);
//! - `https://api.example.com:8443`: that host and port;
//! - `https://*.example.com`: any subdomain (not `example.com` itself);
//! - `http://127.0.0.1:8081`, `http://[::1]:8081`: an address, written literally;
//! - `http://*:8081`: any host on that port; `https://api.example.com:*`: any port.
//!
//! Only `http` and `https`; no user info, path, query or fragment (a trailing
//! `/` is allowed). A bare `*` or `*://...` is refused: a grant names its scheme.
//! Hosts are normalised the WHATWG way (the `url` crate), so a request to
//! `http://2130706433/` is the request to `http://127.0.0.1/` it really is.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Most patterns in one grant.
pub const MAX_HTTP_PATTERNS: usize = 64;
/// Longest pattern, in bytes.
pub const MAX_HTTP_PATTERN_BYTES: usize = 512;

/// The manifest's `grants.http`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpGrant {
    /// Where requests may go: `https://api.example.com`, `https://*.example.com`,
    /// `https://api.example.com:8443`, `http://127.0.0.1:8081`, `http://*:8081`.
    #[schema(value_type = Vec<String>)]
    pub allowed_hosts: Vec<HostPattern>,
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpScheme {
    /// Plain text, default port 80.
    Http,
    /// TLS, default port 443.
    Https,
}

impl HttpScheme {
    /// The scheme's name, as in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpScheme::Http => "http",
            HttpScheme::Https => "https",
        }
    }

    /// Its default port.
    pub fn default_port(self) -> u16 {
        match self {
            HttpScheme::Http => 80,
            HttpScheme::Https => 443,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Some(HttpScheme::Http),
            "https" => Some(HttpScheme::Https),
            _ => None,
        }
    }
}

/// The host part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// `*`: any host.
    Any,
    /// `*.example.com`: any name ending in `.example.com` (stored without the `*.`).
    Subdomains(String),
    /// A name, lower case, IDNA (punycode) form.
    Name(String),
    /// An address written literally: the only way to reach a private address.
    Ip(IpAddr),
}

/// The port part of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortMatch {
    /// None written: the scheme's default port.
    Default,
    /// `:*`: any port.
    Any,
    /// That port.
    Port(u16),
}

/// One parsed `allowed_hosts` entry; it keeps the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    text: String,
    /// Scheme to match exactly.
    pub scheme: HttpScheme,
    /// Host to match.
    pub host: HostMatch,
    /// Port to match.
    pub port: PortMatch,
}

/// A request's destination, normalised: what patterns are matched against and
/// what the host connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The request's scheme.
    pub scheme: HttpScheme,
    /// Its host: a name (lower case, IDNA form) or an address.
    pub host: url::Host<String>,
    /// Its port (the scheme's default if none was written).
    pub port: u16,
}

impl Destination {
    /// Parses `scheme` and `authority` (`host[:port]`) as a browser would,
    /// so odd address notations (`0177.0.0.1`, `2130706433`) become the
    /// address they mean. `None` for an unsupported scheme or a bad authority.
    pub fn parse(scheme: &str, authority: &str) -> Option<Self> {
        let scheme = HttpScheme::parse(scheme)?;
        if authority.is_empty() || authority.contains(['@', '/', '?', '#', '\\']) {
            return None;
        }
        let url = url::Url::parse(&format!("{}://{authority}/", scheme.as_str())).ok()?;
        let host = url.host()?.to_owned();
        let port = url.port().unwrap_or(scheme.default_port());
        Some(Destination { scheme, host, port })
    }

    /// The address, if the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match &self.host {
            url::Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            url::Host::Ipv6(a) => Some(IpAddr::V6(*a)),
            url::Host::Domain(_) => None,
        }
    }

    /// The name, if the host is one.
    pub fn name(&self) -> Option<&str> {
        match &self.host {
            url::Host::Domain(d) => Some(d),
            _ => None,
        }
    }
}

/// `scheme://host[:port]`, the port only when it is not the scheme's default.
impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl HostPattern {
    /// Parses one pattern; the error says what is wrong with it (the caller
    /// names the field).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_HTTP_PATTERN_BYTES {
            return Err(format!("a pattern is at most {MAX_HTTP_PATTERN_BYTES} bytes"));
        }
        let bad = |why: &str| Err(format!("`{text}` is not a host pattern such as `https://api.example.com`: {why}"));
        let Some((scheme, rest)) = text.split_once("://") else { return bad("it has no `scheme://`") };
        let Some(scheme) = HttpScheme::parse(scheme) else { return bad("the scheme must be `http` or `https`") };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return bad("it has no host");
        }
        if authority.contains(['/', '?', '#', '@', '\\']) || authority.chars().any(char::is_whitespace) {
            return bad("only `scheme://host[:port]` is allowed (no path, query, user or spaces)");
        }
        // The port is after the last `:` outside an IPv6 literal's brackets.
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
            _ => (authority, None),
        };
        let port = match port {
            None => PortMatch::Default,
            Some("*") => PortMatch::Any,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => PortMatch::Port(n),
                _ => return bad("the port must be 1..=65535 or `*`"),
            },
        };
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            match normalise_host(scheme, suffix) {
                Some(url::Host::Domain(d)) if !d.contains('*') => HostMatch::Subdomains(d),
                _ => return bad("`*.` must be followed by a domain name"),
            }
        } else if host.contains('*') {
            return bad("`*` is allowed only as the whole host or as its first label (`*.example.com`)");
        } else {
            match normalise_host(scheme, host) {
                Some(url::Host::Domain(d)) => HostMatch::Name(d),
                Some(url::Host::Ipv4(a)) => HostMatch::Ip(IpAddr::V4(a)),
                Some(url::Host::Ipv6(a)) => HostMatch::Ip(IpAddr::V6(a)),
                None => return bad("the host is not a valid name or address"),
            }
        };
        Ok(HostPattern { text: text.to_owned(), scheme, host, port })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a request to `dest` is allowed by this pattern.
    pub fn matches(&self, dest: &Destination) -> bool {
        if self.scheme != dest.scheme {
            return false;
        }
        let port_ok = match self.port {
            PortMatch::Default => dest.port == dest.scheme.default_port(),
            PortMatch::Any => true,
            PortMatch::Port(p) => dest.port == p,
        };
        port_ok
            && match (&self.host, &dest.host) {
                (HostMatch::Any, _) => true,
                (HostMatch::Name(n), url::Host::Domain(d)) => n == d,
                (HostMatch::Subdomains(s), url::Host::Domain(d)) => {
                    d.len() > s.len() + 1 && d.ends_with(s.as_str()) && d.as_bytes()[d.len() - s.len() - 1] == b'.'
                }
                (HostMatch::Ip(ip), _) => dest.ip() == Some(*ip),
                _ => false,
            }
    }
}

/// A host as a URL parser reads it (lower case, IDNA, odd IPv4 forms resolved).
fn normalise_host(scheme: HttpScheme, host: &str) -> Option<url::Host<String>> {
    let url = url::Url::parse(&format!("{}://{host}/", scheme.as_str())).ok()?;
    url.host().map(|h| h.to_owned())
}

impl HttpGrant {
    /// The first pattern that allows `dest`, if any.
    pub fn allowing(&self, dest: &Destination) -> Option<&HostPattern> {
        self.allowed_hosts.iter().find(|p| p.matches(dest))
    }

    /// Whether `ip` is written literally in a pattern that allows `dest`:
    /// only then may a request reach a private or otherwise internal address.
    pub fn names_literally(&self, dest: &Destination, ip: IpAddr) -> bool {
        dest.ip() == Some(ip) && self.allowed_hosts.iter().any(|p| p.host == HostMatch::Ip(ip) && p.matches(dest))
    }

    /// The patterns, as written, for messages.
    pub fn describe(&self) -> String {
        let all: Vec<&str> = self.allowed_hosts.iter().map(HostPattern::as_str).collect();
        format!("[{}]", all.join(", "))
    }
}

impl Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        HostPattern::parse(&text).map_err(|e| serde::de::Error::custom(format!("`grants.http.allowed_hosts`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn d(url: &str) -> Destination {
        let (scheme, rest) = url.split_once("://").expect("scheme");
        Destination::parse(scheme, rest).expect("destination")
    }

    #[test]
    fn scheme_host_and_port_must_all_match() {
        let api = p("https://api.example.com");
        assert!(api.matches(&d("https://api.example.com")));
        assert!(api.matches(&d("https://API.Example.com:443")));
        assert!(!api.matches(&d("http://api.example.com")));
        assert!(!api.matches(&d("https://api.example.com:8443")));
        assert!(!api.matches(&d("https://other.example.com")));
        let port = p("https://api.example.com:8443/");
        assert!(port.matches(&d("https://api.example.com:8443")) && !port.matches(&d("https://api.example.com")));
        let any_port = p("https://api.example.com:*");
        assert!(any_port.matches(&d("https://api.example.com:1")));
    }

    #[test]
    fn wildcards_cover_subdomains_or_any_host() {
        let sub = p("https://*.example.com");
        assert!(sub.matches(&d("https://a.example.com")) && sub.matches(&d("https://a.b.example.com")));
        assert!(!sub.matches(&d("https://example.com")) && !sub.matches(&d("https://badexample.com")));
        let any = p("http://*:8081");
        assert!(any.matches(&d("http://localhost:8081")) && any.matches(&d("http://10.0.0.1:8081")));
        assert!(!any.matches(&d("http://localhost:8082")));
    }

    #[test]
    fn addresses_are_compared_after_normalisation() {
        let lo = p("http://127.0.0.1:8081");
        assert!(lo.matches(&d("http://2130706433:8081")));
        assert!(lo.matches(&d("http://0177.0.0.1:8081")));
        assert!(lo.matches(&d("http://0x7f.1:8081")));
        assert!(!lo.matches(&d("http://localhost:8081")));
        assert_eq!(p("http://[::1]:80").host, HostMatch::Ip("::1".parse().expect("ip")));
        let grant = HttpGrant { allowed_hosts: vec![lo, p("http://*:8081")] };
        let ip = "127.0.0.1".parse().expect("ip");
        assert!(grant.names_literally(&d("http://0177.0.0.1:8081"), ip));
        assert!(!grant.names_literally(&d("http://localhost:8081"), ip));
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_reason() {
        for bad in [
            "api.example.com",
            "ftp://api.example.com",
            "*://api.example.com",
            "https://",
            "https://api.example.com/path",
            "https://api.example.com?q=1",
            "https://user@api.example.com",
            "https://api.*.com",
            "https://*example.com",
            "https://api.example.com:0",
            "https://api.example.com:99999",
            "https://api.example.com:+80",
            "https://exa mple.com",
            "https://[::1",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad} was accepted");
        }
        let e = serde_json::from_str::<HttpGrant>(r#"{"allowed_hosts":["ftp://x"]}"#).expect_err("refused");
        assert!(e.to_string().contains("grants.http.allowed_hosts"), "{e}");
    }

    #[test]
    fn destinations_print_without_default_ports() {
        assert_eq!(d("https://API.example.com:443").to_string(), "https://api.example.com");
        assert_eq!(d("http://[::1]:8080").to_string(), "http://[::1]:8080");
        assert!(Destination::parse("http", "user@host").is_none());
        assert!(Destination::parse("gopher", "host").is_none());
    }
}
