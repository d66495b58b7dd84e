//! `/api/events`: the lifecycle events, from the Redis Stream.


use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, mission_id};
use super::missions::limit;
use crate::queue::{EventQuery, EventStats};

/// Query of `GET /api/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    mission_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// RFC 3339 time or Unix seconds.
    since: Option<String>,
    /// RFC 3339 time or Unix seconds.
    until: Option<String>,
    limit: Option<usize>,
}

/// Reads a time given as RFC 3339 or as Unix seconds (fractions allowed), in ms.
fn time_ms(name: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.timestamp_millis()));
    }
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(Some((s * 1000.0) as i64)),
        _ => Err(ApiError::bad_request("invalid_query", format!("`{name}` must be an RFC 3339 time or Unix seconds"))),
    }
}

/// `GET /api/events?mission_id=&type=&limit=`: oldest first (the newest `limit` that match).
pub async fn list(State(state): State<AppState>, ApiQuery(p): ApiQuery<EventParams>) -> Result<ApiJson<Value>, ApiError> {
    if let Some(id) = &p.mission_id {
        mission_id(id)?;
    }
    let q = EventQuery {
        since_ms: time_ms("since", p.since.as_deref())?,
        until_ms: time_ms("until", p.until.as_deref())?,
        mission_id: p.mission_id,
        event_type: p.event_type,
        limit: limit(p.limit, 100)?,
    };
    let events = state.queue.events(&q).await?;
    Ok(ApiJson(json!({ "events": events })))
}

/// `GET /api/events/stats`: events per type, and the stream's length.
pub async fn stats(State(state): State<AppState>) -> Result<ApiJson<EventStats>, ApiError> {
    Ok(ApiJson(state.queue.event_stats().await?))
}
