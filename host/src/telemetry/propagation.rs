//! W3C trace context: the `traceparent` a mission keeps from its submission,
//! and the spans that continue its trace.

use std::time::SystemTime;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{Span as _, SpanContext, TraceContextExt as _, Tracer as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::TARGET;

/// The context a `traceparent` header value names, if it is a valid one (an
/// invalid one is ignored, as W3C Trace Context asks).
fn parse(traceparent: &str) -> Option<Context> {
    // The propagator takes short ids too; the format has fixed widths.
    let widths: Vec<usize> = traceparent.split('-').map(str::len).collect();
    let hex = traceparent.bytes().all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if widths[..] != [2, 32, 16, 2] || !hex {
        return None;
    }
    let carrier = std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

/// `00-<trace id>-<span id>-<flags>`.
fn format(sc: &SpanContext) -> Option<String> {
    sc.is_valid().then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
}

/// A submission's span and the `traceparent` to store with its missions.
#[derive(Debug)]
pub struct Submission {
    /// `mission.submit`: a child of the client's context, if it sent one.
    pub span: tracing::Span,
    /// The submission span's context when traces are exported; else the
    /// client's `traceparent` (normalized), so events still join the
    /// client's trace; else empty.
    pub traceparent: String,
}

impl Submission {
    /// Starts the span of a submission whose request carried `traceparent`.
    pub fn start(traceparent: Option<&str>) -> Self {
        let client = traceparent.and_then(parse);
        let span = tracing::info_span!(target: TARGET, "mission.submit");
        if let Some(cx) = &client {
            let _ = span.set_parent(cx.clone());
        }
        let own = format(span.context().span().span_context());
        let traceparent = own.or_else(|| client.and_then(|cx| format(cx.span().span_context()))).unwrap_or_default();
        Submission { span, traceparent }
    }
}

/// The span of one attempt of a mission submitted with `traceparent`: a
/// child of it (a root if it is empty). The claim, made in one call for a
/// batch before the attempt could have a span, is recorded below it with its
/// own start and end.
pub fn attempt_span(
    traceparent: &str,
    mission_id: &str,
    attempt: u32,
    claim: (SystemTime, SystemTime),
) -> tracing::Span {
    let span =
        tracing::info_span!(target: TARGET, "mission.attempt", mission.id = mission_id, mission.attempt = attempt);
    if span.is_disabled() {
        return span;
    }
    if let Some(cx) = parse(traceparent) {
        let _ = span.set_parent(cx);
    }
    let tracer = opentelemetry::global::tracer("mission-runner");
    let mut claimed =
        tracer.span_builder("mission.claim").with_start_time(claim.0).start_with_context(&tracer, &span.context());
    claimed.end_with_timestamp(claim.1);
    span
}

/// Whether a span of the current operation is being traced (its children
/// will be exported).
pub(crate) fn in_trace() -> bool {
    tracing::Span::current().context().span().span_context().is_valid()
}

/// The current span's `traceparent`, when traces are exported: what a
/// plugin's outbound request carries, so the called service joins the trace.
pub fn current_traceparent() -> Option<String> {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return None;
    }
    format(span.context().span().span_context())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_kept_and_an_invalid_one_ignored() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(Submission::start(Some(tp)).traceparent, tp, "kept as sent while nothing is exported");
        for bad in ["", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf9-00f0-01"] {
            assert_eq!(Submission::start(Some(bad)).traceparent, "", "{bad}");
        }
        assert_eq!(Submission::start(None).traceparent, "");
    }
}
