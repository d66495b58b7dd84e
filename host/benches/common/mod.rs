//! What more than one bench needs (each includes this file as `mod common`).

use mission_runner::config::QuotaConfig;

/// Quotas no benchmark reaches: one tenant submits everything as fast as it
/// can, and what is measured is the queue, not the limits.
pub fn unlimited_quotas() -> QuotaConfig {
    QuotaConfig {
        queued_missions: 100_000_000,
        submissions_per_second: 1_000_000,
        submission_burst: 10_000_000,
        ..QuotaConfig::default()
    }
}
