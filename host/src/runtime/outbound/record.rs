//! One outbound request as the operator sees it: a mission log line and a
//! metric observation, written once, when the request is over (its response
//! body dropped, or its failure known).
//!
//! The line names the method, `scheme://host[:port]/path` (never the query),
//! the status or the error, the duration and the bytes each way; never a
//! header.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::model::report::{LogLevel, Report};
use crate::runtime::reports::ReportSender;

/// What the metric observer is told of each request.
#[derive(Debug, Clone)]
pub struct HttpRequestSeen {
    /// The plugin that sent it.
    pub plugin: String,
    /// The destination's host (name or address), without port.
    pub host: String,
    /// `2xx`..`5xx`, `denied` (refused by policy or limit) or `error`.
    pub status_class: &'static str,
    /// How long it took, response body included.
    pub took: Duration,
}

/// Receives every request seen (see `Runtime::on_http_request`).
pub type HttpObserver = Arc<dyn Fn(&HttpRequestSeen) + Send + Sync>;

/// A request in progress; dropping it reports it.
pub(super) struct RequestRecord {
    /// `GET http://host:port/path`.
    pub label: String,
    pub plugin: String,
    pub host: String,
    pub started: Instant,
    pub status: Option<u16>,
    /// Why it failed, if it did; `denied` is set for policy and limit refusals.
    pub error: Option<String>,
    pub denied: bool,
    /// Request body bytes sent (shared with the body that counts them).
    pub sent: Arc<AtomicU64>,
    pub received: u64,
    pub reports: Option<ReportSender>,
    pub observer: Option<HttpObserver>,
}

impl RequestRecord {
    /// Marks the request failed (the first reason wins).
    pub fn fail(&mut self, why: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(why.into());
        }
    }

    /// Marks the request refused by the grant, the deny list or a limit.
    pub fn deny(&mut self, why: impl Into<String>) {
        self.denied = true;
        self.fail(why);
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        let sent = self.sent.load(Ordering::Relaxed);
        let outcome = match (&self.error, self.status) {
            (Some(e), Some(s)) => format!("{s}, then failed: {e}"),
            (Some(e), None) if self.denied => format!("refused: {e}"),
            (Some(e), None) => format!("failed: {e}"),
            (None, Some(s)) => s.to_string(),
            (None, None) => "abandoned before a response".to_owned(),
        };
        let line = format!(
            "http {} -> {outcome} ({} ms, {sent} bytes sent, {} bytes received)",
            self.label,
            took.as_millis(),
            self.received
        );
        let level = if self.error.is_some() { LogLevel::Warn } else { LogLevel::Info };
        if let Some(reports) = &self.reports {
            let _ = reports.try_send(Report::Log { level, message: line });
        }
        if let Some(observe) = &self.observer {
            let status_class = match self.status {
                _ if self.denied => "denied",
                Some(100..=199) => "1xx",
                Some(200..=299) => "2xx",
                Some(300..=399) => "3xx",
                Some(400..=499) => "4xx",
                Some(500..=599) => "5xx",
                _ => "error",
            };
            observe(&HttpRequestSeen {
                plugin: self.plugin.clone(),
                host: std::mem::take(&mut self.host),
                status_class,
                took,
            });
        }
    }
}
