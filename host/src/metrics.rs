//! Prometheus metrics (`GET /metrics`, text format 0.0.4), exposed with
//! `metrics-exporter-prometheus`.
//!
//! Why that crate rather than `prometheus-client`: the latter encodes only
//! OpenMetrics, which renames counter families (`# TYPE x counter` with
//! samples `x_total`), appends `# EOF` and changes the content type; scrapers
//! and dashboards rely on the names and types below, so they stay exactly.
//!
//! Two recorders, neither installed globally (tests run many hosts in one
//! process): the host's own, for what happens here (claims, attempts, runs,
//! instantiations, Redis errors), and one made for each scrape, for what is
//! read at that moment (the queue's gauges from Redis, the compile counters),
//! so that a series that no longer exists is not shown with a stale value.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use metrics::{Key, Label, Metadata, Recorder as _};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use tokio_util::sync::CancellationToken;

use crate::store::Stats;

/// Bucket bounds (seconds) for latencies from microseconds to minutes.
const BUCKETS: [f64; 16] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 300.0];

/// How often histogram samples are folded into their buckets when nobody
/// scrapes (the recorder keeps raw samples until then).
const UPKEEP: Duration = Duration::from_secs(5);

const CLAIM: &str = "mission_runner_claim_seconds";
const RUN: &str = "mission_runner_run_seconds";
const ATTEMPTS: &str = "mission_runner_attempts_total";
const INSTANTIATE: &str = "mission_runner_instantiate_seconds";
const REDIS_ERRORS: &str = "mission_runner_redis_errors_total";
const HTTP_REQUESTS: &str = "mission_runner_plugin_http_requests_total";
/// Schedule ticks this host decided, by outcome (`fired`: a mission was
/// created; `skipped`: overlap, catch-up or a refused enqueue).
const SCHEDULE_TICKS: &str = "mission_runner_schedule_ticks_total";

/// Every family of the host's recorder: name and help.
const FAMILIES: [(&str, &str); 6] = [
    (CLAIM, "Duration of claim calls."),
    (RUN, "Duration of attempts, per plugin."),
    (ATTEMPTS, "Attempts by plugin and outcome (retrying counts retries)."),
    (INSTANTIATE, "Time to make a fresh plugin instance."),
    (REDIS_ERRORS, "Redis commands that failed."),
    (HTTP_REQUESTS, "Plugins' outbound HTTP requests by plugin, destination host and status class (or denied, error)."),
];

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
}

fn recorder() -> PrometheusRecorder {
    // `set_buckets` refuses only an empty list.
    let builder = PrometheusBuilder::new();
    let builder = match builder.set_buckets(&BUCKETS) {
        Ok(b) => b,
        Err(_) => PrometheusBuilder::new(),
    };
    builder.build_recorder()
}

/// A histogram of durations (observed in seconds). Cheap to clone; clones
/// record into the same series. `Default` records nowhere (a runtime built
/// without a host, as in benchmarks), but still keeps its mean.
#[derive(Clone, Default)]
pub struct Histogram {
    series: Option<metrics::Histogram>,
    /// Count and sum (ns), for [`Histogram::mean`].
    totals: Arc<(AtomicU64, AtomicU64)>,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").field("mean", &self.mean()).finish()
    }
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        if let Some(s) = &self.series {
            s.record(d.as_secs_f64());
        }
        self.totals.0.fetch_add(1, Relaxed);
        self.totals.1.fetch_add(d.as_nanos() as u64, Relaxed);
    }

    /// The mean observation, if any.
    pub fn mean(&self) -> Option<Duration> {
        let n = self.totals.0.load(Relaxed);
        (n > 0).then(|| Duration::from_nanos(self.totals.1.load(Relaxed) / n))
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

/// The host's metrics; shared by the worker, the runtime and the API.
pub struct Metrics {
    recorder: PrometheusRecorder,
    /// Duration of claim calls (one script call claims a batch).
    pub claim: Histogram,
    /// Time to make fresh instances; the runtime records into a clone.
    pub instantiate: Histogram,
    /// Redis commands that failed (API and worker).
    redis_errors: metrics::Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A recorder with every family declared (and the unlabelled ones at zero,
    /// so they are shown before anything happens).
    pub fn new() -> Self {
        let recorder = recorder();
        for (name, help) in FAMILIES {
            if name.ends_with("_total") {
                recorder.describe_counter(name.into(), None, help.into());
            } else {
                recorder.describe_histogram(name.into(), None, help.into());
            }
        }
        recorder.describe_counter(SCHEDULE_TICKS.into(), None, "Schedule ticks by outcome (fired, skipped).".into());
        let histogram = |name: &'static str| Histogram {
            series: Some(recorder.register_histogram(&Key::from_static_name(name), &metadata())),
            totals: Default::default(),
        };
        let (claim, instantiate) = (histogram(CLAIM), histogram(INSTANTIATE));
        let redis_errors = recorder.register_counter(&Key::from_static_name(REDIS_ERRORS), &metadata());
        Metrics { claim, instantiate, redis_errors, recorder }
    }

    /// Records one attempt of `plugin` that ran for `took`.
    pub fn attempt(&self, plugin: &str, took: Duration, outcome: AttemptOutcome) {
        let run = Key::from_parts(RUN, vec![Label::new("plugin", plugin.to_owned())]);
        self.recorder.register_histogram(&run, &metadata()).record(took.as_secs_f64());
        let labels = vec![Label::new("plugin", plugin.to_owned()), Label::new("outcome", outcome.as_str())];
        self.recorder.register_counter(&Key::from_parts(ATTEMPTS, labels), &metadata()).increment(1);
    }

    /// Counts one outbound HTTP request of a plugin.
    pub fn http_request(&self, seen: &crate::runtime::HttpRequestSeen) {
        let labels = vec![
            Label::new("plugin", seen.plugin.clone()),
            Label::new("host", seen.host.clone()),
            Label::new("status", seen.status_class),
        ];
        self.recorder.register_counter(&Key::from_parts(HTTP_REQUESTS, labels), &metadata()).increment(1);
    }

    /// Counts `n` schedule ticks that ended as `outcome` (`fired` or `skipped`) on this host.
    pub fn schedule_ticks(&self, outcome: &'static str, n: u64) {
        if n > 0 {
            let key = Key::from_parts(SCHEDULE_TICKS, vec![Label::new("outcome", outcome)]);
            self.recorder.register_counter(&key, &metadata()).increment(n);
        }
    }

    /// Counts a failed Redis command.
    pub fn redis_error(&self) {
        self.redis_errors.increment(1);
    }

    /// Folds histogram samples into buckets every few seconds until `stop`,
    /// so that memory stays bounded when nobody scrapes.
    pub async fn upkeep(self: Arc<Self>, stop: CancellationToken) {
        let handle = self.recorder.handle();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(UPKEEP) => handle.run_upkeep(),
                _ = stop.cancelled() => return,
            }
        }
    }

    /// The exposition: `stats` (from Redis, if it answered), the runtime's
    /// compile counters (`compiled`, cache hits) and this host's metrics.
    pub fn render(&self, stats: Option<&Stats>, compiled: (u64, u64)) -> String {
        let now = recorder();
        let gauge = |name: &'static str, help: &'static str, labels: Vec<Label>, v: f64| {
            now.describe_gauge(name.into(), None, help.into());
            now.register_gauge(&Key::from_parts(name, labels), &metadata()).set(v);
        };
        if let Some(s) = stats {
            for (t, ts) in &s.by_type {
                for (status, n) in &ts.by_status {
                    let labels = vec![Label::new("type", t.clone()), Label::new("status", status.clone())];
                    gauge("mission_runner_missions", "Missions by status and type (retained ones).", labels, *n as f64);
                }
            }
            for (name, help, v) in [
                ("mission_runner_queue_depth", "Missions ready to run.", s.queue_depth),
                ("mission_runner_delayed", "Missions waiting for run_at or a retry.", s.delayed),
                ("mission_runner_running", "Missions under a lease.", s.running),
                ("mission_runner_dead", "Missions in the dead-letter set.", s.dead),
            ] {
                gauge(name, help, Vec::new(), v as f64);
            }
        }
        for (name, help, v) in [
            ("mission_runner_plugins_compiled_total", "Plugins compiled (compile cache misses).", compiled.0),
            ("mission_runner_compile_cache_hits_total", "Plugins loaded from the compile cache.", compiled.1),
        ] {
            now.describe_counter(name.into(), None, help.into());
            now.register_counter(&Key::from_static_name(name), &metadata()).absolute(v);
        }
        let mut out = now.handle().render();
        out.push_str(&self.recorder.handle().render());
        out
    }
}

/// Prometheus text of the flow-control state (read from Redis per scrape, so
/// a type whose settings were removed disappears): the queue's pause, and per
/// type with settings whether it is paused, its running missions and limits.
pub fn render_flow(types: &[crate::model::flow::TypeFlow], queue_paused: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "# HELP mission_runner_queue_paused Whether every mission type is paused (1) or not (0).");
    let _ = writeln!(
        out,
        "# TYPE mission_runner_queue_paused gauge\nmission_runner_queue_paused {}",
        u8::from(queue_paused)
    );
    type Value = fn(&crate::model::flow::TypeFlow) -> Option<f64>;
    let series: [(&str, &str, Value); 4] = [
        ("mission_runner_type_paused", "Whether the mission type is paused (1) or not (0).", |f| {
            Some(f64::from(u8::from(f.paused.is_some())))
        }),
        ("mission_runner_type_running", "Missions of the type running now, on every host.", |f| Some(f.running as f64)),
        ("mission_runner_type_concurrency_limit", "The type's global concurrency limit.", |f| {
            f.limits.concurrency.map(f64::from)
        }),
        ("mission_runner_type_rate_per_second", "The type's rate limit, in starts per second.", |f| {
            f.limits.rate.map(|r| f64::from(r.limit) * 1000.0 / r.window_ms as f64)
        }),
    ];
    for (name, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for f in types {
            if let Some(v) = value(f) {
                let _ = writeln!(out, "{name}{{type=\"{}\"}} {v}", f.mission_type);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_named_as_before() {
        let m = Metrics::new();
        m.instantiate.observe(Duration::from_micros(70));
        m.instantiate.observe(Duration::from_millis(3));
        m.attempt("echo@1.0.0", Duration::from_millis(2), AttemptOutcome::Completed);
        let out = m.render(None, (1, 2));
        let x = "mission_runner_instantiate_seconds";
        assert!(out.contains(&format!("# TYPE {x} histogram\n")), "{out}");
        assert!(out.contains(&format!("{x}_bucket{{le=\"0.00005\"}} 0\n")), "{out}");
        assert!(out.contains(&format!("{x}_bucket{{le=\"0.0001\"}} 1\n")), "{out}");
        assert!(out.contains(&format!("{x}_bucket{{le=\"0.005\"}} 2\n")), "{out}");
        assert!(out.contains(&format!("{x}_bucket{{le=\"+Inf\"}} 2\n{x}_sum 0.00307")), "{out}");
        assert!(out.contains(&format!("\n{x}_count 2\n")), "{out}");
        assert!(out.contains("# TYPE mission_runner_attempts_total counter\n"), "{out}");
        assert!(
            out.contains("mission_runner_attempts_total{plugin=\"echo@1.0.0\",outcome=\"completed\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("mission_runner_run_seconds_count{plugin=\"echo@1.0.0\"} 1\n"), "{out}");
        assert!(out.contains("mission_runner_claim_seconds_count 0\n"), "declared before use: {out}");
        assert!(out.contains("mission_runner_redis_errors_total 0\n"), "{out}");
        assert!(out.contains("mission_runner_compile_cache_hits_total 2\n"), "{out}");
        assert_eq!(m.instantiate.mean(), Some(Duration::from_micros(1535)));
    }
}
