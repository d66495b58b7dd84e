//! The API's one error type: an HTTP status and `{"error": {"code", "message"}}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// An error answer. Client errors are not logged as failures; server errors are
/// logged with detail and answered with a message that leaks nothing internal.
#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, such as `unknown_mission_type`.
    pub code: &'static str,
    /// What was wrong, for a person.
    pub message: String,
    /// On a 429: the quota that refused, and when to try again.
    pub limited: Option<Limited>,
}

/// What a 429 adds: the quota's name (in the body) and `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// The quota, such as `queued_missions`.
    pub quota: &'static str,
    /// Seconds, sent as `Retry-After`.
    pub retry_after_s: u64,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), limited: None }
    }
    /// 429 `quota_exceeded`, naming the quota, with `Retry-After`.
    pub fn too_many(quota: &'static str, retry_after_s: u64, message: impl Into<String>) -> Self {
        let limited = Some(Limited { quota, retry_after_s: retry_after_s.max(1) });
        ApiError { limited, ..Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", message) }
    }
    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 404 for a mission.
    pub fn mission_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "mission_not_found", format!("no mission with id `{id}`"))
    }
}

/// Marks an answer that Redis failed (unreachable, timed out, out of memory,
/// loading...), so the metrics count it; a client's bad input never is one.
#[derive(Debug, Clone, Copy)]
pub struct RedisFailure;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let redis_failed = self.code == REDIS_UNAVAILABLE;
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut resp = match self.limited {
            None => (self.status, Json(body)).into_response(),
            Some(limited) => {
                body["error"]["quota"] = json!(limited.quota);
                let retry = [(axum::http::header::RETRY_AFTER, limited.retry_after_s.to_string())];
                (self.status, retry, Json(body)).into_response()
            }
        };
        if redis_failed {
            resp.extensions_mut().insert(RedisFailure);
        }
        resp
    }
}

/// The code of a 503 that Redis caused.
const REDIS_UNAVAILABLE: &str = "redis_unavailable";

/// Whether `e` says Redis cannot serve now (a 503, try again), rather than
/// that it refused what it was sent (our bug or unchecked input: a 500).
pub fn redis_unavailable(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return true;
    }
    match e.kind() {
        ErrorKind::AuthenticationFailed | ErrorKind::ClusterConnectionNotFound => true,
        ErrorKind::Server(k) => matches!(
            k,
            ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
        ),
        // Out of memory (noeviction), a script running too long, a failing disk, no password.
        ErrorKind::Extension => matches!(e.code(), Some("OOM" | "BUSY" | "MISCONF" | "NOAUTH" | "WRONGPASS")),
        _ => false,
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Quota(q) => ApiError::too_many(
                q.quota.as_str(),
                q.retry_after_s,
                format!("quota `{}`: {}", q.quota.as_str(), q.message),
            ),
            StoreError::Redis(e) if redis_unavailable(&e) => {
                tracing::error!(error = %e, "redis unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    REDIS_UNAVAILABLE,
                    "Redis is unavailable; nothing was changed, try again",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the host's log")
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "request body is too large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ),
            _ => ApiError::bad_request("invalid_body", r.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}
