//! `/api/events`: the lifecycle events, from the Redis Stream.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, mission_id};
use super::missions::limit;
use crate::queue::EventQuery;

/// Query of `GET /api/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    mission_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/events?mission_id=&type=&limit=`: oldest first (the newest `limit` that match).
pub async fn list(State(state): State<AppState>, ApiQuery(p): ApiQuery<EventParams>) -> Result<ApiJson<Value>, ApiError> {
    if let Some(id) = &p.mission_id {
        mission_id(id)?;
    }
    let q = EventQuery { mission_id: p.mission_id, event_type: p.event_type, limit: limit(p.limit, 100)? };
    let events = state.queue.events(&q).await?;
    Ok(ApiJson(json!({ "events": events })))
}
