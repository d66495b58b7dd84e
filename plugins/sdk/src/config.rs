//! The operator's variables and secrets for this plugin (contract 1.1.0):
//! readable for the names the manifest lists in `grants.config`.

use crate::bindings::mission_runner::plugin::config as wit;

pub use wit::Error;

/// The value of `name` for this mission's tenant (its override, else the
/// plugin-wide value); `None` when the operator has not set it.
///
/// A name missing from `grants.config` is `Err(Error::NotGranted(..))`.
pub fn get(name: &str) -> Result<Option<String>, Error> {
    wit::get(name)
}

/// The value of `name`, or an error message fit for a mission error when it
/// is unset or unreadable.
pub fn require(name: &str) -> Result<String, String> {
    match get(name) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(format!("the configuration value `{name}` is not set (mission-runner plugin config set)")),
        Err(e) => Err(describe(&e)),
    }
}

/// A one-line description of `e`.
pub fn describe(e: &Error) -> String {
    match e {
        Error::NotGranted(m) => format!("not granted: {m}"),
        Error::Unavailable(m) => format!("unavailable: {m}"),
    }
}
