//! Prometheus metrics (`GET /metrics`, text format 0.0.4): process-local
//! counters and histograms, plus queue gauges read from Redis at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::store::Stats;

/// Bucket bounds (seconds) for latencies from microseconds to minutes.
const BUCKETS: [f64; 16] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 300.0];

/// A cumulative histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, n) in BUCKETS.iter().zip(&self.counts) {
            if secs <= *bound {
                n.fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(d.as_nanos() as u64, Relaxed);
    }

    /// The mean observation, if any.
    pub fn mean(&self) -> Option<Duration> {
        let n = self.count.load(Relaxed);
        (n > 0).then(|| Duration::from_nanos(self.sum_nanos.load(Relaxed) / n))
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}", n.load(Relaxed));
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_nanos.load(Relaxed) as f64 / 1e9);
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// How an attempt ended, for the attempts counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttemptOutcome {
    /// Recorded as completed.
    Completed,
    /// Failed; will be retried.
    Retrying,
    /// Failed for good (dead-lettered).
    Dead,
    /// Stopped: cancelled, lease lost, or handed back at shutdown.
    Stopped,
}

impl AttemptOutcome {
    fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Completed => "completed",
            AttemptOutcome::Retrying => "retrying",
            AttemptOutcome::Dead => "dead",
            AttemptOutcome::Stopped => "stopped",
        }
    }
}

/// The host's metrics; shared by the worker and the API.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Duration of claim calls (one script call claims a batch).
    pub claim: Histogram,
    /// Time to make fresh instances (the runtime reports it, see `Runtime::on_instantiate`).
    pub instantiate: Histogram,
    /// Run duration per plugin (`name@version`).
    run: Mutex<BTreeMap<String, Histogram>>,
    /// Attempts per plugin and outcome.
    attempts: Mutex<BTreeMap<(String, AttemptOutcome), u64>>,
    /// Redis commands that failed (API and worker).
    pub redis_errors: AtomicU64,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// Records one attempt of `plugin` that ran for `took`.
    pub fn attempt(&self, plugin: &str, took: Duration, outcome: AttemptOutcome) {
        self.run.lock().unwrap_or_else(|p| p.into_inner()).entry(plugin.to_owned()).or_default().observe(took);
        *self.attempts.lock().unwrap_or_else(|p| p.into_inner()).entry((plugin.to_owned(), outcome)).or_default() += 1;
    }

    /// Counts a failed Redis command.
    pub fn redis_error(&self) {
        self.redis_errors.fetch_add(1, Relaxed);
    }

    /// The exposition: `stats` (from Redis, if it answered), these metrics and
    /// the runtime's (`instantiate`, compile counters).
    pub fn render(&self, stats: Option<&Stats>, instantiate: &Histogram, compiled: (u64, u64)) -> String {
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        if let Some(s) = stats {
            family(&mut out, "mission_runner_missions", "gauge", "Missions by status and type (retained ones).");
            for (t, ts) in &s.by_type {
                for (status, n) in &ts.by_status {
                    let _ = writeln!(
                        out,
                        "mission_runner_missions{{type=\"{}\",status=\"{}\"}} {n}",
                        escape(t),
                        escape(status)
                    );
                }
            }
            for (name, help, v) in [
                ("mission_runner_queue_depth", "Missions ready to run.", s.queue_depth),
                ("mission_runner_delayed", "Missions waiting for run_at or a retry.", s.delayed),
                ("mission_runner_running", "Missions under a lease.", s.running),
                ("mission_runner_dead", "Missions in the dead-letter set.", s.dead),
            ] {
                family(&mut out, name, "gauge", help);
                let _ = writeln!(out, "{name} {v}");
            }
        }
        family(&mut out, "mission_runner_claim_seconds", "histogram", "Duration of claim calls.");
        self.claim.render(&mut out, "mission_runner_claim_seconds", "");
        family(&mut out, "mission_runner_run_seconds", "histogram", "Duration of attempts, per plugin.");
        for (plugin, h) in self.run.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            h.render(&mut out, "mission_runner_run_seconds", &format!("plugin=\"{}\"", escape(plugin)));
        }
        family(
            &mut out,
            "mission_runner_attempts_total",
            "counter",
            "Attempts by plugin and outcome (retrying counts retries).",
        );
        for ((plugin, outcome), n) in self.attempts.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "mission_runner_attempts_total{{plugin=\"{}\",outcome=\"{}\"}} {n}",
                escape(plugin),
                outcome.as_str()
            );
        }
        family(&mut out, "mission_runner_instantiate_seconds", "histogram", "Time to make a fresh plugin instance.");
        instantiate.render(&mut out, "mission_runner_instantiate_seconds", "");
        family(
            &mut out,
            "mission_runner_plugins_compiled_total",
            "counter",
            "Plugins compiled (compile cache misses).",
        );
        let _ = writeln!(out, "mission_runner_plugins_compiled_total {}", compiled.0);
        family(
            &mut out,
            "mission_runner_compile_cache_hits_total",
            "counter",
            "Plugins loaded from the compile cache.",
        );
        let _ = writeln!(out, "mission_runner_compile_cache_hits_total {}", compiled.1);
        family(&mut out, "mission_runner_redis_errors_total", "counter", "Redis commands that failed.");
        let _ = writeln!(out, "mission_runner_redis_errors_total {}", self.redis_errors.load(Relaxed));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(70));
        h.observe(Duration::from_millis(3));
        let mut out = String::new();
        h.render(&mut out, "x", "");
        assert!(out.contains("x_bucket{le=\"0.00005\"} 0\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.0001\"} 1\n"));
        assert!(out.contains("x_bucket{le=\"0.005\"} 2\n"));
        assert!(out.contains("x_bucket{le=\"+Inf\"} 2\nx_sum 0.00307\nx_count 2\n"), "{out}");
    }
}
