//! The API's one error type: an HTTP status and `{"error": {"code", "message"}}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::store::StoreError;

/// Every error code the API answers with: the `code` of `{"error": {...}}`.
/// Stable: clients match on these (the OpenAPI document lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The mission has finished; it cannot be cancelled or changed.
    AlreadyFinished,
    /// Tokens are not enforced on this host, so none can be made.
    AuthDisabled,
    /// Every compile slot is busy; try again after `Retry-After`.
    CompileBusy,
    /// The plugin's configuration (or a tenant's overrides of it) holds the most names already.
    ConfigFull,
    /// The plugin has no such configuration entry.
    ConfigNotFound,
    /// The token lacks the scope or the tenant the operation needs.
    Forbidden,
    /// The `Host` header names no loopback address (open mode).
    HostNotLoopback,
    /// A bug or an unexpected state; the host's log has the detail.
    Internal,
    /// The body is not the JSON this operation reads.
    InvalidBody,
    /// A field of the body is out of range or malformed; the message names it.
    InvalidField,
    /// The upload is not a usable plugin or its manifest does not fit it.
    InvalidPlugin,
    /// A query parameter is out of range or malformed; the message names it.
    InvalidQuery,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// No mission with this id (in the caller's tenant).
    MissionNotFound,
    /// No such route.
    NoRoute,
    /// A secret cannot be set: this host has no secrets key (`[secrets]`).
    NoSecretsKey,
    /// Only a failed mission can be retried.
    NotFailed,
    /// A browser `Origin` that is not a loopback address (open mode).
    OriginNotLoopback,
    /// The body is over the host's limit.
    PayloadTooLarge,
    /// No plugin with this name.
    PluginNotFound,
    /// The plugin is over a static budget (functions, memory, ...).
    PluginTooCostly,
    /// A tenant quota refused the request; `quota` names it, `Retry-After` says when to come back.
    QuotaExceeded,
    /// Redis cannot serve now; nothing was changed, try again.
    RedisUnavailable,
    /// The request took longer than the host allows.
    RequestTimeout,
    /// The tenant already has a schedule of this name.
    ScheduleExists,
    /// No schedule of this name (in the tenant).
    ScheduleNotFound,
    /// No token with this id.
    TokenNotFound,
    /// No bearer token, or one that is unknown or revoked.
    Unauthorized,
    /// No plugin serves the mission type.
    UnknownMissionType,
    /// The body is not sent as `application/json`.
    UnsupportedMediaType,
    /// The version is active for a mission type and cannot be deleted.
    VersionActive,
    /// The version exists with other bytes; versions are immutable.
    VersionExists,
    /// The plugin has no such version.
    VersionNotFound,
}

impl ErrorCode {
    /// Every code, in the order of the OpenAPI document's enum.
    pub const ALL: [ErrorCode; 33] = [
        ErrorCode::AlreadyFinished,
        ErrorCode::AuthDisabled,
        ErrorCode::CompileBusy,
        ErrorCode::ConfigFull,
        ErrorCode::ConfigNotFound,
        ErrorCode::Forbidden,
        ErrorCode::HostNotLoopback,
        ErrorCode::Internal,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidField,
        ErrorCode::InvalidPlugin,
        ErrorCode::InvalidQuery,
        ErrorCode::MethodNotAllowed,
        ErrorCode::MissionNotFound,
        ErrorCode::NoRoute,
        ErrorCode::NoSecretsKey,
        ErrorCode::NotFailed,
        ErrorCode::OriginNotLoopback,
        ErrorCode::PayloadTooLarge,
        ErrorCode::PluginNotFound,
        ErrorCode::PluginTooCostly,
        ErrorCode::QuotaExceeded,
        ErrorCode::RedisUnavailable,
        ErrorCode::RequestTimeout,
        ErrorCode::ScheduleExists,
        ErrorCode::ScheduleNotFound,
        ErrorCode::TokenNotFound,
        ErrorCode::Unauthorized,
        ErrorCode::UnknownMissionType,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::VersionActive,
        ErrorCode::VersionExists,
        ErrorCode::VersionNotFound,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AlreadyFinished => "already_finished",
            ErrorCode::AuthDisabled => "auth_disabled",
            ErrorCode::CompileBusy => "compile_busy",
            ErrorCode::ConfigFull => "config_full",
            ErrorCode::ConfigNotFound => "config_not_found",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::HostNotLoopback => "host_not_loopback",
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::InvalidPlugin => "invalid_plugin",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::MissionNotFound => "mission_not_found",
            ErrorCode::NoRoute => "no_route",
            ErrorCode::NoSecretsKey => "no_secrets_key",
            ErrorCode::NotFailed => "not_failed",
            ErrorCode::OriginNotLoopback => "origin_not_loopback",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::PluginNotFound => "plugin_not_found",
            ErrorCode::PluginTooCostly => "plugin_too_costly",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::RedisUnavailable => "redis_unavailable",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::ScheduleExists => "schedule_exists",
            ErrorCode::ScheduleNotFound => "schedule_not_found",
            ErrorCode::TokenNotFound => "token_not_found",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnknownMissionType => "unknown_mission_type",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::VersionActive => "version_active",
            ErrorCode::VersionExists => "version_exists",
            ErrorCode::VersionNotFound => "version_not_found",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer. Client errors are not logged as failures; server errors are
/// logged with detail and answered with a message that leaks nothing internal.
#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, such as `unknown_mission_type`.
    pub code: ErrorCode,
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
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), limited: None }
    }
    /// 429 `quota_exceeded`, naming the quota, with `Retry-After`.
    pub fn too_many(quota: &'static str, retry_after_s: u64, message: impl Into<String>) -> Self {
        let limited = Some(Limited { quota, retry_after_s: retry_after_s.max(1) });
        ApiError { limited, ..Self::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::QuotaExceeded, message) }
    }
    /// 400.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 404 for a mission.
    pub fn mission_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::MissionNotFound, format!("no mission with id `{id}`"))
    }
}

/// Marks an answer that Redis failed (unreachable, timed out, out of memory,
/// loading...), so the metrics count it; a client's bad input never is one.
#[derive(Debug, Clone, Copy)]
pub struct RedisFailure;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code.as_str(), message = %self.message, "request failed");
        }
        let redis_failed = self.code == ErrorCode::RedisUnavailable;
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
                    ErrorCode::RedisUnavailable,
                    "Redis is unavailable; nothing was changed, try again",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error; see the host's log",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, "request body is too large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ),
            _ => ApiError::bad_request(ErrorCode::InvalidBody, r.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(ErrorCode::InvalidQuery, r.body_text())
    }
}
