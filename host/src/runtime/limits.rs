//! What a plugin may use and emit: the host's defaults and maxima (config
//! `[limits]` and `[limits.max]`), and the budgets of one plugin, which its
//! manifest's `limits` may set within the host's maxima.

use std::time::Duration;

use crate::model::http_limits::HttpLimits;
pub use crate::model::manifest::LimitMaxima;
use crate::model::manifest::PluginLimits;

/// The host's limits of plugins (config `[limits]`). Each per-attempt budget
/// here is the default a manifest may change, up to [`LimitMaxima`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest linear memory of one instance.
    pub memory_bytes: usize,
    /// Largest result a plugin may return.
    pub max_result_bytes: usize,
    /// Fuel one attempt may burn (`None`: unmetered, only the timeout applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Captured stdout and stderr kept per attempt, each.
    pub output_bytes: usize,
    /// Log lines one attempt may send; the rest are dropped and counted.
    pub max_log_lines: u32,
    /// Longest log line; a longer one is cut, with a marker saying how much.
    pub max_log_line_bytes: usize,
    /// Progress updates one attempt stores one by one; past it (or when the
    /// report buffer is full) only the latest is kept, and stored when the
    /// attempt ends.
    pub max_progress_updates: u32,
    /// Longest progress note; a longer one is cut, with a marker.
    pub max_progress_message_bytes: usize,
    /// Longest error message a plugin's failure stores; cut, with a marker.
    pub max_error_bytes: usize,
    /// Reports of one attempt waiting to be written to Redis (bytes); a guest
    /// faster than Redis loses lines past it (counted), never grows the host.
    pub report_buffer_bytes: usize,
    /// Longest `describe()` may run when a plugin is loaded (ms), measured in
    /// epoch ticks: a guest spinning in it is interrupted, not waited out.
    pub describe_timeout_ms: u64,
    /// Longest a component's compilation may take (ms); the load is refused past it.
    /// Kept below `[http] request_timeout_ms`, so an upload hears 422, not 408.
    pub compile_timeout_ms: u64,
    /// Components compiled (and described) at once; others wait for a turn.
    pub compile_concurrency: usize,
    /// `[limits.http]`: outbound HTTP per attempt, for plugins with `grants.http`.
    pub http: HttpLimits,
    /// Key-value operations one attempt may make unless its manifest's
    /// `limits.kv_operations` says otherwise (up to `max.kv_operations`).
    pub kv_operations: u32,
    /// What a manifest may ask for at most.
    pub max: LimitMaxima,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 128 << 20,
            max_result_bytes: 1 << 20,
            fuel: None,
            output_bytes: 64 << 10,
            max_log_lines: 1_000,
            max_log_line_bytes: 16 << 10,
            max_progress_updates: 1_000,
            max_progress_message_bytes: 1 << 10,
            max_error_bytes: 64 << 10,
            report_buffer_bytes: 8 << 20,
            describe_timeout_ms: 2_000,
            compile_timeout_ms: 50_000,
            compile_concurrency: 1,
            http: HttpLimits::default(),
            kv_operations: 1_000,
            max: LimitMaxima::default(),
        }
    }
}

impl Limits {
    /// How long `describe()` may run.
    pub fn describe_timeout(&self) -> Duration {
        Duration::from_millis(self.describe_timeout_ms)
    }

    /// How long a compilation may take.
    pub fn compile_timeout(&self) -> Duration {
        Duration::from_millis(self.compile_timeout_ms)
    }

    /// Fuel one attempt of a plugin may burn: its manifest's, else the
    /// host's; `None`: unmetered (its engine does not count fuel).
    pub fn fuel(&self, plugin: &PluginLimits) -> Option<u64> {
        plugin.fuel.or(self.fuel)
    }

    /// Key-value operations one attempt of a plugin may make.
    pub fn kv_operations(&self, plugin: &PluginLimits) -> u32 {
        plugin.kv_operations.unwrap_or(self.kv_operations).min(self.max.kv_operations)
    }

    /// The output budgets of a plugin: its manifest's, else the host's
    /// defaults, never above the host's maxima.
    pub fn budgets(&self, plugin: &PluginLimits) -> Budgets {
        let max = &self.max;
        Budgets {
            log_lines: plugin.max_log_lines.unwrap_or(self.max_log_lines).min(max.max_log_lines),
            log_line_bytes: plugin.max_log_line_bytes.unwrap_or(self.max_log_line_bytes).min(max.max_log_line_bytes),
            progress_updates: plugin
                .max_progress_updates
                .unwrap_or(self.max_progress_updates)
                .min(max.max_progress_updates),
            progress_message_bytes: plugin
                .max_progress_message_bytes
                .unwrap_or(self.max_progress_message_bytes)
                .min(max.max_progress_message_bytes),
            error_bytes: plugin.max_error_bytes.unwrap_or(self.max_error_bytes).min(max.max_error_bytes),
            report_buffer_bytes: self.report_buffer_bytes,
            fail_on_exceed: plugin.fail_on_exceed,
        }
    }
}

/// What one attempt of one plugin may emit through the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Log lines per attempt.
    pub log_lines: u32,
    /// Bytes per log line.
    pub log_line_bytes: usize,
    /// Stored progress updates per attempt.
    pub progress_updates: u32,
    /// Bytes per progress note.
    pub progress_message_bytes: usize,
    /// Bytes of an error message.
    pub error_bytes: usize,
    /// Bytes of reports waiting for Redis.
    pub report_buffer_bytes: usize,
    /// Whether going over a log or progress budget fails the attempt (the
    /// guest is stopped at once) instead of dropping the excess.
    pub fail_on_exceed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_sets_budgets_within_the_host_maxima() {
        let limits = Limits::default();
        let b = limits.budgets(&PluginLimits::default());
        assert_eq!((b.log_lines, b.log_line_bytes, b.fail_on_exceed), (1_000, 16 << 10, false));
        let asked = PluginLimits {
            max_log_lines: Some(10),
            max_log_line_bytes: Some(usize::MAX),
            fail_on_exceed: true,
            ..Default::default()
        };
        let b = limits.budgets(&asked);
        assert_eq!((b.log_lines, b.log_line_bytes, b.fail_on_exceed), (10, 1 << 20, true));
    }
}
