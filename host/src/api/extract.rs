//! `Json` and `Query` whose rejections are [`ApiError`]s (JSON bodies, 400).

use axum::extract::{FromRequest, FromRequestParts};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::api::ErrorCode;

/// `axum::Json`, rejecting with an [`ApiError`].
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query`, rejecting with an [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Checks a mission id from a path: ids are UUIDs; anything else cannot exist.
pub fn mission_id(id: &str) -> Result<&str, ApiError> {
    match uuid::Uuid::parse_str(id) {
        Ok(u) if u.hyphenated().to_string() == id => Ok(id),
        _ => Err(ApiError::mission_not_found(id)),
    }
}

/// An optional JSON body: empty means `T::default()`.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidBody, format!("invalid JSON body: {e}")))
}

fn foreign_cursor() -> ApiError {
    ApiError::bad_request(ErrorCode::InvalidQuery, "`cursor` is not a cursor this API handed out")
}

/// Reads a `cursor` query parameter of a mission list.
pub fn cursor(given: Option<String>) -> Result<Option<crate::store::Cursor>, ApiError> {
    given.map(|c| crate::store::Cursor::parse(&c).ok_or_else(foreign_cursor)).transpose()
}

/// Reads a numeric `cursor` (a position the API handed out) below `max`.
pub fn numeric_cursor(given: Option<String>, max: u64) -> Result<Option<u64>, ApiError> {
    given.map(|c| c.parse::<u64>().ok().filter(|n| *n < max).ok_or_else(foreign_cursor)).transpose()
}
