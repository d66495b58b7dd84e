//! Logs and traces: the `tracing` subscriber of `serve`, and OpenTelemetry
//! spans exported over OTLP/HTTP (protobuf) when `[telemetry] otlp_endpoint`
//! (or `OTEL_EXPORTER_OTLP_ENDPOINT`) is set. Off by default.
//!
//! Spans meant for traces use the target [`TARGET`]: the log output never
//! shows them, and without an exporter no layer wants them, so they cost a
//! disabled callsite. A mission's trace:
//! - `mission.submit` (the request; a child of the client's `traceparent`);
//!   its context is stored with the mission as a W3C `traceparent`;
//! - per attempt, `mission.attempt`, a child of that stored context, whichever
//!   host runs it, with `mission.claim`, `plugin.instantiate`, `plugin.run`
//!   and the Redis script calls (`complete`, `fail`, `report`...) below it;
//! - every Redis script call made within a traced operation is a span named
//!   after the script ([`script`]).

pub(crate) mod propagation;
pub mod script;

pub use propagation::{Submission, attempt_span};

use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::prelude::*;

/// The `tracing` target of spans that exist for traces only.
pub const TARGET: &str = "mission_runner::otel";

/// `[telemetry]`: OpenTelemetry trace export.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP receiver, such as `http://127.0.0.1:4318`
    /// (spans are posted to `<it>/v1/traces`). Unset: the environment's
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` if any, else no export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// How long spans wait to be sent in a batch (ms).
    #[serde(rename = "export_interval_ms", with = "millis")]
    pub export_interval: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: "mission-runner".into(),
            export_interval: Duration::from_secs(5),
        }
    }
}

impl TelemetryConfig {
    /// Where spans go, if anywhere: the configured endpoint, else the
    /// environment's.
    pub fn endpoint(&self) -> Option<String> {
        let env = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
        let base = self.otlp_endpoint.clone().or(env).filter(|e| !e.trim().is_empty())?;
        Some(format!("{}/v1/traces", base.trim_end_matches('/')))
    }
}

/// Durations in the file are whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// The installed exporter; [`Telemetry::shutdown`] sends what is left.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans not yet exported and stops the exporter. Blocks: call
    /// it outside the async runtime.
    pub fn shutdown(self) {
        if let Some(p) = self.provider
            && let Err(e) = p.shutdown()
        {
            eprintln!("warning: spans not exported at shutdown: {e}");
        }
    }
}

/// Installs the process' subscriber: logs to stderr (`json` or text, filtered
/// by `MISSION_RUNNER_LOG`, default `info`) and, if `cfg` names an endpoint,
/// spans exported there.
pub fn init(json: bool, cfg: &TelemetryConfig) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_env("MISSION_RUNNER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match json {
        true => logs.json().boxed(),
        false => logs.boxed(),
    };
    // Trace spans never reach the log output. As a directive, not a closure,
    // so the filter keeps its maximum level: callsites above it (and the `log`
    // records of dependencies, through `LogTracer`) are skipped before any work;
    // a closure's unknown maximum made every one of them pay.
    let logs = logs.with_filter(filter.add_directive(format!("{TARGET}=off").parse()?));
    let (spans, provider) = match cfg.endpoint() {
        Some(endpoint) => {
            let provider = provider(&endpoint, cfg)?;
            opentelemetry::global::set_tracer_provider(provider.clone());
            let tracer = provider.tracer("mission-runner");
            // Trace spans, and warnings and errors as events of the span they happen in.
            let wanted = filter_fn(|m| m.target() == TARGET || (m.is_event() && *m.level() <= tracing::Level::WARN));
            (Some(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(wanted)), Some(provider))
        }
        None => (None, None),
    };
    tracing_subscriber::registry().with(logs).with(spans).try_init().context("installing the log subscriber")?;
    Ok(Telemetry { provider })
}

fn provider(endpoint: &str, cfg: &TelemetryConfig) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("the OTLP exporter to {endpoint}"))?;
    let batch = BatchConfigBuilder::default().with_scheduled_delay(cfg.export_interval).build();
    let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batch).build();
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(cfg.service_name.clone()).build();
    Ok(SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build())
}
