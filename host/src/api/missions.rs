//! `/api/missions`: submit, read, list, cancel, re-drive, logs.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, cursor, mission_id, optional_json};
use crate::mission::{Mission, Status};
use crate::queue::{CancelOutcome, ListQuery, QueueError, RedriveOutcome};
use crate::runtime::Report;
use crate::submission::{MissionRequest, NewMission, valid_type_name};

/// Most missions in one batch.
pub const MAX_BATCH: usize = 1_000;
/// Most items one list returns.
pub const MAX_LIMIT: usize = 1_000;

fn validate(state: &AppState, req: MissionRequest) -> Result<NewMission, ApiError> {
    req.validate(&state.defaults, Utc::now()).map_err(|e| ApiError::bad_request("invalid_field", e.to_string()))
}

/// Enqueues; an unknown type (checked by the script, atomically) is a 422.
async fn enqueue(state: &AppState, missions: &[NewMission]) -> Result<Vec<crate::queue::Enqueued>, ApiError> {
    match state.queue.enqueue(missions).await {
        Err(QueueError::UnknownType(t)) => {
            let known: Vec<String> = state.registry.active().into_keys().collect();
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_mission_type",
                format!("no plugin serves mission type `{t}`; known types: {}", known.join(", ")),
            ))
        }
        other => Ok(other?),
    }
}

/// `POST /api/missions`: 201 with the new mission, or 200 with the earlier one
/// when the idempotency key was already used.
pub async fn submit(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<MissionRequest>,
) -> Result<(StatusCode, ApiJson<Mission>), ApiError> {
    let m = validate(&state, req)?;
    let done = enqueue(&state, std::slice::from_ref(&m)).await?;
    let first = done.into_iter().next().ok_or_else(|| ApiError::from(QueueError::Protocol("empty enqueue reply".into())))?;
    let mission = state.queue.get(&first.id).await?.ok_or_else(|| ApiError::mission_not_found(&first.id))?;
    let status = if first.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, ApiJson(mission)))
}

/// Body of `POST /api/missions/batch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    missions: Vec<MissionRequest>,
}

/// `POST /api/missions/batch`: all or none, in one script call.
pub async fn submit_batch(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<(StatusCode, ApiJson<Value>), ApiError> {
    if req.missions.is_empty() || req.missions.len() > MAX_BATCH {
        return Err(ApiError::bad_request("invalid_field", format!("`missions`: give 1 to {MAX_BATCH} missions")));
    }
    let mut checked = Vec::with_capacity(req.missions.len());
    for (i, r) in req.missions.into_iter().enumerate() {
        checked.push(validate(&state, r).map_err(|e| ApiError { message: format!("missions[{i}]: {}", e.message), ..e })?);
    }
    let done = enqueue(&state, &checked).await?;
    let items: Vec<Value> = done.iter().map(|d| json!({ "id": d.id, "created": d.created })).collect();
    Ok((StatusCode::CREATED, ApiJson(json!({ "missions": items }))))
}

/// `GET /api/missions/{id}`.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<ApiJson<Mission>, ApiError> {
    let id = mission_id(&id)?;
    state.queue.get(id).await?.map(ApiJson).ok_or_else(|| ApiError::mission_not_found(id))
}

/// Query of `GET /api/missions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    #[serde(rename = "type")]
    mission_type: Option<String>,
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Checks a `limit` query parameter.
pub fn limit(given: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match given.unwrap_or(default) {
        n @ 1..=MAX_LIMIT => Ok(n),
        _ => Err(ApiError::bad_request("invalid_query", format!("`limit` must be 1..={MAX_LIMIT}"))),
    }
}

/// `GET /api/missions?status=&type=&limit=&cursor=`: newest first, one page;
/// `next_cursor` continues it.
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<ApiJson<Value>, ApiError> {
    let status = p
        .status
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", format!("`status`: {e}")))?;
    if let Some(t) = &p.mission_type {
        if !valid_type_name(t) {
            return Err(ApiError::bad_request("invalid_query", format!("`type`: `{t}` is not a mission type name")));
        }
    }
    let q = ListQuery { status, mission_type: p.mission_type, limit: limit(p.limit, 50)?, cursor: cursor(p.cursor)? };
    let page = state.queue.list(&q).await?;
    Ok(ApiJson(json!(page)))
}

/// Body of `POST /api/missions/{id}/cancel`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

/// `POST /api/missions/{id}/cancel`: 200 with the record; 409 if already finished.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<ApiJson<Mission>, ApiError> {
    let id = mission_id(&id)?;
    let req: CancelRequest = optional_json(&body)?;
    let by = req.by.unwrap_or_else(|| "api".to_owned());
    match state.queue.cancel(id, &by, req.reason.as_deref().unwrap_or("")).await? {
        CancelOutcome::Cancelled { .. } => {}
        CancelOutcome::AlreadyFinished(s) => {
            return Err(ApiError::new(StatusCode::CONFLICT, "already_finished", format!("mission is already {s}; nothing changed")));
        }
        CancelOutcome::NotFound => return Err(ApiError::mission_not_found(id)),
    }
    state.queue.get(id).await?.map(ApiJson).ok_or_else(|| ApiError::mission_not_found(id))
}

/// Body of `POST /api/missions/{id}/retry`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    #[serde(default)]
    max_attempts: Option<u32>,
}

/// `POST /api/missions/{id}/retry`: re-drives a failed mission (same id, fresh attempts).
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<ApiJson<Mission>, ApiError> {
    let id = mission_id(&id)?;
    let max = optional_json::<RetryRequest>(&body)?.max_attempts;
    if max.is_some_and(|m| !(1..=crate::submission::MAX_ATTEMPTS).contains(&m)) {
        return Err(ApiError::bad_request("invalid_field", "`max_attempts` must be 1..=100"));
    }
    match state.queue.redrive(id, "api", max).await? {
        RedriveOutcome::Requeued => {}
        RedriveOutcome::NotDead(s) => {
            return Err(ApiError::new(StatusCode::CONFLICT, "not_failed", format!("only failed missions can be retried; this one is {s}")));
        }
        RedriveOutcome::NotFound => return Err(ApiError::mission_not_found(id)),
    }
    state.queue.get(id).await?.map(ApiJson).ok_or_else(|| ApiError::mission_not_found(id))
}

/// `GET /api/missions/{id}/log`.
pub async fn get_log(State(state): State<AppState>, Path(id): Path<String>) -> Result<ApiJson<Value>, ApiError> {
    let id = mission_id(&id)?;
    let Some(m) = state.queue.get(id).await? else { return Err(ApiError::mission_not_found(id)) };
    let lines = state.queue.log(id).await?;
    Ok(ApiJson(json!({ "mission_id": id, "lines": lines, "dropped": m.log_dropped })))
}

/// Body of `POST /api/missions/{id}/log`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRequest {
    message: String,
    #[serde(default)]
    level: Option<String>,
}

/// `POST /api/missions/{id}/log`: a client appends a line.
pub async fn append_log(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<LogRequest>,
) -> Result<(StatusCode, ApiJson<Value>), ApiError> {
    let id = mission_id(&id)?;
    let level = match req.level.as_deref().unwrap_or("info") {
        "debug" => "debug",
        "info" => "info",
        "warn" => "warn",
        "error" => "error",
        _ => return Err(ApiError::bad_request("invalid_field", "`level` must be debug, info, warn or error")),
    };
    if req.message.is_empty() || req.message.len() > 16 * 1024 {
        return Err(ApiError::bad_request("invalid_field", "`message` must be 1 byte to 16 KiB"));
    }
    match state.queue.report(id, "", "client", &[Report::Log { level, message: req.message }]).await? {
        None => Err(ApiError::mission_not_found(id)),
        Some(stored) => Ok((StatusCode::CREATED, ApiJson(json!({ "stored": stored == 1 })))),
    }
}
