//! `/api/events`: the lifecycle events, from the Redis Stream.

use axum::extract::State;
use serde::Deserialize;

use super::AppState;
use super::caller::{Caller, Read};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::missions::limit;
use crate::events::Event;
use crate::queue::{EventQuery, EventStats};

/// Query of `GET /api/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only this mission's events.
    mission_id: Option<String>,
    /// Only events of this type, such as `mission.completed`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    /// RFC 3339 time or Unix seconds.
    since: Option<String>,
    /// RFC 3339 time or Unix seconds.
    until: Option<String>,
    /// Only events older than this id: the previous page's `next_cursor`.
    before: Option<String>,
    /// 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A page of events.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EventPage {
    /// Oldest first.
    events: Vec<Event>,
    /// Older events follow: pass it as `before`.
    next_cursor: Option<String>,
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

/// Reads events the caller's tenant may see (its missions' and the plugin
/// events): the newest `limit` that match, oldest first; `next_cursor` (as
/// `before`) pages back.
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventParams),
    security(("bearer" = ["missions:read"])),
    responses(
        (status = 200, description = "One page", body = EventPage),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 404, description = "`mission_id` is not a mission of the caller's tenant", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller<Read>,
    ApiQuery(p): ApiQuery<EventParams>,
) -> Result<ApiJson<EventPage>, ApiError> {
    if let Some(id) = &p.mission_id {
        super::missions::not_foreign(&state, &caller, id).await?;
    }
    if p.before.as_deref().is_some_and(|b| !super::stream::valid_stream_id(b)) {
        return Err(ApiError::bad_request("invalid_query", "`before` must be an event id such as 1700000000000-0"));
    }
    let q = EventQuery {
        tenant: Some(caller.tenant().to_owned()),
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
    Ok(ApiJson(EventPage { events, next_cursor }))
}

/// Events per type the caller's tenant may see, and the stream's length.
#[utoipa::path(get, path = "/api/events/stats", tag = "events",
    security(("bearer" = ["missions:read"])),
    responses((status = 200, description = "Counts", body = EventStats)))]
pub async fn stats(State(state): State<AppState>, caller: Caller<Read>) -> Result<ApiJson<EventStats>, ApiError> {
    Ok(ApiJson(state.queue.event_stats(Some(caller.tenant())).await?))
}
