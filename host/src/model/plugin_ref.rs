//! `name@version`: how a claim, the registry and the metrics name one plugin
//! version. Built and parsed only here.

use std::fmt;
use std::str::FromStr;

/// One version of one plugin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginRef {
    /// Plugin name (no `@`).
    pub name: String,
    /// Version.
    pub version: String,
}

impl PluginRef {
    /// `name` at `version`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        PluginRef { name: name.into(), version: version.into() }
    }
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// Why a text is not `name@version`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not name@version")]
pub struct NotAPluginRef(pub String);

impl FromStr for PluginRef {
    type Err = NotAPluginRef;
    fn from_str(s: &str) -> Result<Self, NotAPluginRef> {
        match s.split_once('@') {
            Some((name, version)) if !name.is_empty() && !version.is_empty() => Ok(PluginRef::new(name, version)),
            _ => Err(NotAPluginRef(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ref_reads_back_what_it_writes_and_refuses_the_rest() {
        let r = PluginRef::new("echo", "1.2.0");
        assert_eq!(r.to_string(), "echo@1.2.0");
        assert_eq!("echo@1.2.0".parse::<PluginRef>(), Ok(r));
        for bad in ["echo", "@1.0", "echo@", ""] {
            assert!(bad.parse::<PluginRef>().is_err(), "{bad}");
        }
    }
}
