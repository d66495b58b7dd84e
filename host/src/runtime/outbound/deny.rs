//! The operator's deny list (`[outbound_http] deny`): destinations no grant
//! can open. An entry is an address range (`169.254.0.0/16`, `fd00::/8`), an
//! address (`10.1.2.3`), a host name (`metadata.google.internal`) or every
//! name under a domain (`*.internal`, which also covers `internal` itself).
//! Names are compared with the request's host; ranges with the request's
//! literal address and with every address its name resolves to.

use std::net::IpAddr;

use ipnet::IpNet;

use super::address::canonical;

/// One deny-list entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DenyRule {
    text: String,
    kind: DenyKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DenyKind {
    Range(IpNet),
    Name(String),
    Domain(String),
}

impl TryFrom<String> for DenyRule {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        let kind = if let Ok(net) = t.parse::<IpNet>() {
            DenyKind::Range(net.trunc())
        } else if let Ok(ip) = t.parse::<IpAddr>() {
            DenyKind::Range(IpNet::from(canonical(ip)))
        } else if let Some(domain) = t.strip_prefix("*.") {
            valid_name(domain).then(|| DenyKind::Domain(domain.to_owned())).ok_or_else(|| bad(&text))?
        } else {
            valid_name(&t).then(|| DenyKind::Name(t.clone())).ok_or_else(|| bad(&text))?
        };
        Ok(DenyRule { text, kind })
    }
}

fn bad(text: &str) -> String {
    format!("`outbound_http.deny`: `{text}` is not an address, a range (10.0.0.0/8), a host name or `*.domain`")
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl From<DenyRule> for String {
    fn from(r: DenyRule) -> String {
        r.text
    }
}

impl DenyRule {
    /// The entry as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Every entry of the deny list.
#[derive(Debug, Clone, Default)]
pub struct DenyList(pub Vec<DenyRule>);

impl DenyList {
    /// The entry that refuses the host name `name`, if any.
    pub fn name(&self, name: &str) -> Option<&DenyRule> {
        self.0.iter().find(|r| match &r.kind {
            DenyKind::Name(n) => n == name,
            DenyKind::Domain(d) => name == d || name.strip_suffix(d.as_str()).is_some_and(|head| head.ends_with('.')),
            DenyKind::Range(_) => false,
        })
    }

    /// The entry that refuses the address `ip`, if any.
    pub fn address(&self, ip: IpAddr) -> Option<&DenyRule> {
        let ip = canonical(ip);
        self.0.iter().find(|r| matches!(&r.kind, DenyKind::Range(net) if net.contains(&ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> DenyList {
        DenyList(entries.iter().map(|e| DenyRule::try_from((*e).to_owned()).expect("valid")).collect())
    }

    #[test]
    fn ranges_addresses_names_and_domains() {
        let deny = list(&["169.254.0.0/16", "10.1.2.3", "fd00::/8", "*.internal", "metadata.example.com"]);
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(deny.address(ip("169.254.169.254")).map(DenyRule::as_str), Some("169.254.0.0/16"));
        assert!(deny.address(ip("::ffff:169.254.1.1")).is_some());
        assert!(deny.address(ip("10.1.2.3")).is_some() && deny.address(ip("10.1.2.4")).is_none());
        assert!(deny.address(ip("fd00::1")).is_some());
        assert!(deny.name("a.b.internal").is_some() && deny.name("internal").is_some());
        assert!(deny.name("notinternal").is_none());
        assert!(deny.name("metadata.example.com").is_some() && deny.name("example.com").is_none());
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in ["", "10.0.0.0/33", "*", "a..b", "http://x", "*.", "x/y"] {
            assert!(DenyRule::try_from(bad.to_owned()).is_err(), "{bad} accepted");
        }
    }
}
