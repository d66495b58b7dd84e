//! Limits of a plugin's outbound HTTP, per attempt: the manifest's
//! `limits.http` asks, the host's `[limits.http]` gives the defaults and
//! `[limits.max.http]` the most a manifest may ask for.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The manifest's `limits.http`: each absent value takes the host's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginHttpLimits {
    /// Requests one attempt may send (the next ones fail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
    /// Requests in flight at once (one more fails at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Largest request body (bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_body_bytes: Option<u64>,
    /// Largest response body (bytes); reading past it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_body_bytes: Option<u64>,
    /// Longest wait for a connection (ms, TLS included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    /// Longest wait for the response's head once the request is sent (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_timeout_ms: Option<u64>,
}

impl PluginHttpLimits {
    /// Whether nothing is set (to skip it when serialising).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Refuses a value of 0 or over the host's maximum, naming the field.
    pub fn validate(&self, max: &HttpLimits) -> Result<(), String> {
        let fields: [(&str, Option<u64>, u64); 6] = [
            ("max_requests", self.max_requests.map(u64::from), u64::from(max.max_requests)),
            ("max_concurrent", self.max_concurrent.map(u64::from), u64::from(max.max_concurrent)),
            ("max_request_body_bytes", self.max_request_body_bytes, max.max_request_body_bytes),
            ("max_response_body_bytes", self.max_response_body_bytes, max.max_response_body_bytes),
            ("connect_timeout_ms", self.connect_timeout_ms, max.connect_timeout_ms),
            ("first_byte_timeout_ms", self.first_byte_timeout_ms, max.first_byte_timeout_ms),
        ];
        for (field, value, most) in fields {
            if value.is_some_and(|v| v == 0 || v > most) {
                return Err(format!("`limits.http.{field}`: must be 1..={most} (this host's maximum)"));
            }
        }
        Ok(())
    }
}

/// The host's outbound HTTP limits: `[limits.http]` (defaults) and
/// `[limits.max.http]` (maxima) have this shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLimits {
    /// Requests per attempt.
    pub max_requests: u32,
    /// Requests in flight at once, per attempt.
    pub max_concurrent: u32,
    /// Bytes of one request body.
    pub max_request_body_bytes: u64,
    /// Bytes of one response body.
    pub max_response_body_bytes: u64,
    /// Connect timeout (ms).
    pub connect_timeout_ms: u64,
    /// First-byte timeout (ms).
    pub first_byte_timeout_ms: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_requests: 100,
            max_concurrent: 8,
            max_request_body_bytes: 10 << 20,
            max_response_body_bytes: 10 << 20,
            connect_timeout_ms: 5_000,
            first_byte_timeout_ms: 30_000,
        }
    }
}

impl HttpLimits {
    /// The default maxima (`[limits.max.http]`).
    pub fn default_maxima() -> Self {
        HttpLimits {
            max_requests: 10_000,
            max_concurrent: 64,
            max_request_body_bytes: 100 << 20,
            max_response_body_bytes: 100 << 20,
            connect_timeout_ms: 60_000,
            first_byte_timeout_ms: 600_000,
        }
    }

    /// What one plugin gets: its manifest's values, else these defaults,
    /// never above `max`.
    pub fn resolve(&self, plugin: &PluginHttpLimits, max: &HttpLimits) -> HttpLimits {
        HttpLimits {
            max_requests: plugin.max_requests.unwrap_or(self.max_requests).min(max.max_requests),
            max_concurrent: plugin.max_concurrent.unwrap_or(self.max_concurrent).min(max.max_concurrent).max(1),
            max_request_body_bytes: plugin
                .max_request_body_bytes
                .unwrap_or(self.max_request_body_bytes)
                .min(max.max_request_body_bytes),
            max_response_body_bytes: plugin
                .max_response_body_bytes
                .unwrap_or(self.max_response_body_bytes)
                .min(max.max_response_body_bytes),
            connect_timeout_ms: plugin
                .connect_timeout_ms
                .unwrap_or(self.connect_timeout_ms)
                .min(max.connect_timeout_ms),
            first_byte_timeout_ms: plugin
                .first_byte_timeout_ms
                .unwrap_or(self.first_byte_timeout_ms)
                .min(max.first_byte_timeout_ms),
        }
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The first-byte timeout.
    pub fn first_byte_timeout(&self) -> Duration {
        Duration::from_millis(self.first_byte_timeout_ms)
    }
}

/// Serde default of `[limits.max.http]`.
pub fn default_maxima() -> HttpLimits {
    HttpLimits::default_maxima()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_asks_within_the_host_maxima() {
        let (defaults, max) = (HttpLimits::default(), HttpLimits::default_maxima());
        let asked = PluginHttpLimits { max_requests: Some(3), ..Default::default() };
        assert_eq!(asked.validate(&max), Ok(()));
        let got = defaults.resolve(&asked, &max);
        assert_eq!((got.max_requests, got.max_concurrent), (3, 8));
        let over = PluginHttpLimits { max_concurrent: Some(65), ..Default::default() };
        assert!(over.validate(&max).expect_err("refused").contains("limits.http.max_concurrent"));
        let zero = PluginHttpLimits { first_byte_timeout_ms: Some(0), ..Default::default() };
        assert!(zero.validate(&max).expect_err("refused").contains("first_byte_timeout_ms"));
        // A stored plugin asking more than a stricter host allows is clamped.
        let strict = HttpLimits { max_requests: 2, ..max };
        assert_eq!(defaults.resolve(&asked, &strict).max_requests, 2);
    }
}
