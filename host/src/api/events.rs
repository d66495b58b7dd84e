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
    /// Only events older than this id: the previous page's `next_cursor`.
    before: Option<String>,
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

/// `GET /api/events?mission_id=&type=&since=&until=&before=&limit=`: the newest
/// `limit` that match, oldest first; `next_cursor` (as `before`) pages back.
pub async fn list(State(state): State<AppState>, ApiQuery(p): ApiQuery<EventParams>) -> Result<ApiJson<Value>, ApiError> {
    if let Some(id) = &p.mission_id {
        mission_id(id)?;
    }
    if p.before.as_deref().is_some_and(|b| !super::stream::valid_stream_id(b)) {
        return Err(ApiError::bad_request("invalid_query", "`before` must be an event id such as 1700000000000-0"));
    }
    let q = EventQuery {
        before: p.before,
        since_ms: time_ms("since", p.since.as_deref())?,
        until_ms: time_ms("until", p.until.as_deref())?,
        mission_id: p.mission_id,
        event_type: p.event_type,
        limit: limit(p.limit, 100)?,
    };
    let limit = q.limit;
    let events = state.queue.events(&q).await?;
    // A full page may have older events before it: continue with `before`.
    let next_cursor = (events.len() == limit).then(|| events.first().map(|e| e.id.clone())).flatten();
    Ok(ApiJson(json!({ "events": events, "next_cursor": next_cursor })))
}

/// `GET /api/events/stats`: events per type, and the stream's length.
pub async fn stats(State(state): State<AppState>) -> Result<ApiJson<EventStats>, ApiError> {
    Ok(ApiJson(state.queue.event_stats().await?))
}
