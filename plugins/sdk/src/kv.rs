//! The plugin's key-value store (contract 1.1.0), private to the plugin and
//! the mission's tenant, granted by the manifest's `grants.kv`. Typed helpers
//! for strings and JSON over the raw byte operations.

use std::time::Duration;

use crate::bindings::mission_runner::plugin::kv as wit;

pub use wit::{Error, compare_and_swap, delete, get, increment, set};

fn ms(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64)
}

/// The value of `key` as UTF-8 text (`Error::Invalid` if it is not).
pub fn get_string(key: &str) -> Result<Option<String>, Error> {
    match get(key)? {
        None => Ok(None),
        Some(bytes) => {
            String::from_utf8(bytes).map(Some).map_err(|_| Error::Invalid(format!("the value at `{key}` is not UTF-8")))
        }
    }
}

/// Sets `key` to `value`, expiring after `ttl` when given.
pub fn set_string(key: &str, value: &str, ttl: Option<Duration>) -> Result<(), Error> {
    set(key, value.as_bytes(), ms(ttl))
}

/// The value of `key` as JSON (`Error::Invalid` if it is not).
pub fn get_json(key: &str) -> Result<Option<serde_json::Value>, Error> {
    match get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("the value at `{key}` is not JSON: {e}"))),
    }
}

/// Sets `key` to `value` as JSON text, expiring after `ttl` when given.
pub fn set_json(key: &str, value: &serde_json::Value, ttl: Option<Duration>) -> Result<(), Error> {
    set(key, value.to_string().as_bytes(), ms(ttl))
}

/// A one-line description of `e`.
pub fn describe(e: &Error) -> String {
    match e {
        Error::NotGranted(m) => format!("not granted: {m}"),
        Error::QuotaExceeded(m) => format!("quota exceeded: {m}"),
        Error::Invalid(m) => format!("invalid: {m}"),
        Error::Unavailable(m) => format!("unavailable: {m}"),
    }
}
