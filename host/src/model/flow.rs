//! Flow control values: a mission type's settings (pause, global limits,
//! default time to live), the global pause, tenant weights, and why a mission
//! waits. Stored in Redis as JSON (`flow:types`) and read by the claim script.

use serde::{Deserialize, Serialize};

/// Most missions of one type a limit may let run at once.
pub const MAX_CONCURRENCY: u32 = 1_000_000;
/// Most starts a rate limit may allow per window.
pub const MAX_RATE: u32 = 1_000_000;
/// Longest rate window: one day (ms).
pub const MAX_WINDOW_MS: u64 = 86_400_000;
/// Longest time to live before start: the longest delay a `run_at` may have (ms).
pub const MAX_TTL_MS: u64 = 366 * 86_400_000;
/// Highest fair-share weight of a tenant (the lowest is 1).
pub const MAX_WEIGHT: u32 = 1_000;

/// A rate limit: at most `limit` starts per `window_ms`, as a token bucket of
/// `burst` tokens (default `limit`) refilled at `limit / window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Starts per window (1 to 1,000,000).
    #[schema(minimum = 1, maximum = 1000000)]
    pub limit: u32,
    /// The window, in milliseconds (1 to 86,400,000).
    #[schema(minimum = 1, maximum = 86400000)]
    pub window_ms: u64,
    /// Most starts at once after an idle spell (1 to `limit`; default `limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub burst: Option<u32>,
}

/// The limits of one mission type, as set through `PUT /api/types/{type}/limits`,
/// the CLI or `[flow.types.<type>]`. Absent: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeLimits {
    /// At most this many running at once across every host (1 to 1,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub concurrency: Option<u32>,
    /// At most so many starts per window across every host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateLimit>,
    /// Missions of this type submitted without `expires_at` or `ttl_ms` are
    /// cancelled as `expired` if not started within this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub ttl_ms: Option<u64>,
}

impl TypeLimits {
    /// Checks every bound; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(c) = self.concurrency
            && !(1..=MAX_CONCURRENCY).contains(&c)
        {
            return Err(("concurrency", format!("must be 1..={MAX_CONCURRENCY} (leave it out for no limit)")));
        }
        if let Some(r) = self.rate {
            if !(1..=MAX_RATE).contains(&r.limit) {
                return Err(("rate.limit", format!("must be 1..={MAX_RATE}")));
            }
            if !(1..=MAX_WINDOW_MS).contains(&r.window_ms) {
                return Err(("rate.window_ms", format!("must be 1..={MAX_WINDOW_MS}")));
            }
            if r.burst.is_some_and(|b| b == 0 || b > r.limit) {
                return Err(("rate.burst", format!("must be 1..={} (the limit)", r.limit)));
            }
        }
        if let Some(t) = self.ttl_ms
            && !(1..=MAX_TTL_MS).contains(&t)
        {
            return Err(("ttl_ms", format!("must be 1..={MAX_TTL_MS}")));
        }
        Ok(())
    }
}

/// Who paused, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Paused {
    /// The principal (token name) that paused it.
    pub by: String,
    /// When (Unix seconds, from the Redis clock).
    pub at: f64,
}

/// A mission type's flow settings and state (`GET /api/types/{type}/limits`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TypeFlow {
    /// The mission type.
    #[serde(rename = "type")]
    pub mission_type: String,
    /// Set while the type is paused (none of its missions starts).
    pub paused: Option<Paused>,
    /// Set while every type is paused.
    pub queue_paused: Option<Paused>,
    /// The type's limits.
    pub limits: TypeLimits,
    /// Its missions running now, on every host (counted while the type has
    /// flow settings, a pause or limits; 0 otherwise).
    pub running: i64,
}

/// Why a waiting mission (pending or retrying, due) does not start: derived
/// when the record is read, from its type's state now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitingReason {
    /// Its type, or the whole queue, is paused.
    Paused,
    /// Its type has as many missions running as its concurrency limit allows.
    ConcurrencyLimit,
    /// Its type's rate limit has no start left in this window.
    RateLimit,
}

/// A tenant's fair-share weight (`PUT /api/tenants/{tenant}/weight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Weight {
    /// 1 to 1,000 (default 1): a tenant of weight 3 gets three starts for each
    /// one of a tenant of weight 1 while both have work waiting.
    #[schema(minimum = 1, maximum = 1000)]
    pub weight: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_out_of_bounds_name_their_field() {
        let bad = |l: TypeLimits| l.validate().err().map(|(f, _)| f);
        assert_eq!(bad(TypeLimits { concurrency: Some(0), ..Default::default() }), Some("concurrency"));
        let rate = |limit, window_ms, burst| TypeLimits {
            rate: Some(RateLimit { limit, window_ms, burst }),
            ..Default::default()
        };
        assert_eq!(bad(rate(0, 1000, None)), Some("rate.limit"));
        assert_eq!(bad(rate(5, 0, None)), Some("rate.window_ms"));
        assert_eq!(bad(rate(5, 1000, Some(6))), Some("rate.burst"));
        assert_eq!(bad(TypeLimits { ttl_ms: Some(0), ..Default::default() }), Some("ttl_ms"));
        assert_eq!(bad(rate(5, 1000, Some(5))), None);
    }
}
