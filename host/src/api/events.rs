//! `/api/events`: the lifecycle events, from the tenant's Redis Stream and the
//! shared plugin stream. Every query value is checked before Redis is asked:
//! a malformed one is a 400 naming it, never a Redis error.

use axum::extract::State;
use serde::Deserialize;

use super::AppState;
use super::caller::{Caller, Read};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::missions::limit;
use crate::api::ErrorCode;
use crate::model::event_id::EventCursor;
use crate::model::events::{Event, EventPosition};
use crate::store::{EventQuery, EventStats};

/// Latest time a query may name: the end of year 9999 (ms).
const MAX_TIME_MS: u64 = 253_402_300_799_999;

/// Query of `GET /api/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only this mission's events (a mission of the caller's tenant; 404 otherwise).
    mission_id: Option<String>,
    /// Only events of this type, such as `mission.completed`.
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    event_type: Option<String>,
    /// RFC 3339 time or Unix seconds, from 1970 to 9999.
    since: Option<String>,
    /// RFC 3339 time or Unix seconds, from 1970 to 9999.
    until: Option<String>,
    /// Only events older than this: the previous page's `next_cursor`, or an event's `id`.
    #[param(
        pattern = r"^([0-9]{1,20}(-[0-9]{1,20})?(_[0-9]{1,20}(-[0-9]{1,20})?)?|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-8[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12})$"
    )]
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
    /// Older events may follow: pass it as `before`.
    next_cursor: Option<String>,
}

fn invalid(field: &str, what: &str) -> ApiError {
    ApiError::bad_request(ErrorCode::InvalidQuery, format!("`{field}` must be {what}"))
}

/// Reads a time given as RFC 3339 or as Unix seconds (fractions allowed), in
/// ms since 1970, up to the year 9999.
pub(super) fn time_ms(name: &str, v: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    let ms = match chrono::DateTime::parse_from_rfc3339(v) {
        Ok(t) => t.timestamp_millis() as f64,
        Err(_) => v.parse::<f64>().ok().filter(|s| s.is_finite()).map(|s| s * 1000.0).unwrap_or(-1.0),
    };
    if !(0.0..=MAX_TIME_MS as f64).contains(&ms) {
        return Err(invalid(name, "an RFC 3339 time or Unix seconds between 1970 and 9999"));
    }
    Ok(Some(ms as u64))
}

/// Reads a position or an event's UUID given as `field`, and resolves it in
/// the caller's view: `after` an event (a resume point) or `before` it (a
/// page bound). An event of another tenant's stream is a 400, like a
/// malformed value: it says nothing about this tenant's streams.
pub(super) fn cursor(
    state: &AppState,
    tenant: &str,
    field: &str,
    value: &str,
    before: bool,
) -> Result<EventPosition, ApiError> {
    let (own, shared) = state.queue.event_streams(tenant);
    let c: EventCursor = value.parse().map_err(|()| {
        invalid(field, "a `next_cursor` or SSE id such as 1700000000000-0_1700000000000-0, or an event's id (a UUID)")
    })?;
    let resolved = if before { c.before(own, shared) } else { c.after(own, shared) };
    resolved.ok_or_else(|| invalid(field, "an event id of the caller's own events (this one is of another stream)"))
}

/// Reads an event type filter: a dotted name such as `mission.completed`.
pub(super) fn event_type(v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(t) if !crate::model::submission::valid_type_name(&t) => {
            Err(invalid("type", "an event type such as mission.completed"))
        }
        other => Ok(other),
    }
}

/// Reads a mission id given in a query: malformed is a 400 (a path's is a 404).
pub(super) fn mission_param(v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(id) if super::extract::mission_id(&id).is_err() => Err(invalid("mission_id", "a mission id (a UUID)")),
        other => Ok(other),
    }
}

/// Reads events the caller's tenant may see (its missions' and the plugin
/// events): the newest `limit` that match, oldest first; `next_cursor` (as
/// `before`) pages back. With `mission_id`, that mission's events from its
/// creation on; a mission that does not exist (or no longer does, or is
/// another tenant's) is a 404, answered without reading any stream.
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventParams),
    security(("bearer" = ["missions:read"])),
    responses(
        (status = 200, description = "One page", body = EventPage),
        (status = 400, description = "Invalid query; the message names the field", body = ErrorBody),
        (status = 404, description = "`mission_id` is not a mission of the caller's tenant", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller<Read>,
    ApiQuery(p): ApiQuery<EventParams>,
) -> Result<ApiJson<EventPage>, ApiError> {
    let before = p.before.as_deref().map(|b| cursor(&state, caller.tenant(), "before", b, true)).transpose()?;
    let q = EventQuery {
        tenant: caller.tenant().to_owned(),
        before,
        since_ms: time_ms("since", p.since.as_deref())?,
        until_ms: time_ms("until", p.until.as_deref())?,
        mission_id: mission_param(p.mission_id)?,
        event_type: event_type(p.event_type)?,
        limit: limit(p.limit, 100)?,
    };
    if let Some(id) = &q.mission_id {
        super::missions::check_owner(&state, &caller, id).await?;
    }
    let page = state.queue.events(&q).await?;
    Ok(ApiJson(EventPage { events: page.events, next_cursor: page.next.map(|p| p.to_string()) }))
}

/// Events per type the caller's tenant may see, and its streams' lengths.
#[utoipa::path(get, path = "/api/events/stats", tag = "events",
    security(("bearer" = ["missions:read"])),
    responses((status = 200, description = "Counts", body = EventStats)))]
pub async fn stats(State(state): State<AppState>, caller: Caller<Read>) -> Result<ApiJson<EventStats>, ApiError> {
    Ok(ApiJson(state.queue.event_stats(caller.tenant()).await?))
}
