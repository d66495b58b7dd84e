//! `/api/missions`: submit, read, list, cancel, retry, logs.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument as _;

use super::AppState;
use super::caller::{Caller, Read, Write};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, cursor, mission_id, numeric_cursor, optional_json};
use crate::api::ErrorCode;
use crate::model::mission::{Mission, Status};
use crate::model::report::{LogLevel, Report};
use crate::model::submission::{MissionRequest, NewMission, valid_type_name};
use crate::store::{CancelOutcome, ListQuery, MissionPage, RetryOutcome, StoreError};
use crate::telemetry::Submission;

/// Most missions in one batch.
pub const MAX_BATCH: usize = 1_000;
/// Most items one list returns.
pub const MAX_LIMIT: usize = 1_000;

fn validate<N>(state: &AppState, caller: &Caller<N>, req: MissionRequest) -> Result<NewMission, ApiError> {
    let m = req
        .validate(&state.defaults, Utc::now())
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidField, e.to_string()))?;
    Ok(m.owned_by(&caller.principal))
}

/// The mission `id` if the caller's tenant owns it; another tenant's mission
/// is as absent as one that never existed.
pub(super) async fn owned<N>(state: &AppState, caller: &Caller<N>, id: &str) -> Result<Mission, ApiError> {
    let id = mission_id(id)?;
    match state.queue.get(id).await? {
        Some(m) if m.tenant == caller.tenant() => Ok(m),
        _ => Err(ApiError::mission_not_found(id)),
    }
}

/// Checks that the caller's tenant owns mission `id`, without reading it all.
pub(super) async fn check_owner<N>(state: &AppState, caller: &Caller<N>, id: &str) -> Result<(), ApiError> {
    match state.queue.owner(mission_id(id)?).await? {
        Some(t) if t == caller.tenant() => Ok(()),
        _ => Err(ApiError::mission_not_found(id)),
    }
}

/// The request's W3C `traceparent` header (checked by [`Submission::start`]).
fn traceparent(headers: &HeaderMap) -> Option<&str> {
    headers.get("traceparent").and_then(|v| v.to_str().ok())
}

/// Enqueues; an unknown type (checked by the script, atomically) is a 422.
async fn enqueue(state: &AppState, missions: &[NewMission]) -> Result<Vec<crate::store::Enqueued>, ApiError> {
    match state.queue.enqueue(missions).await {
        Err(StoreError::UnknownType(t)) => {
            let known: Vec<String> = state.registry.active().into_keys().collect();
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::UnknownMissionType,
                format!("no plugin serves mission type `{t}`; known types: {}", known.join(", ")),
            ))
        }
        other => Ok(other?),
    }
}

/// Submits a mission: 201 with it, or 200 with the earlier one when the
/// idempotency key was already used (keys are per tenant).
#[utoipa::path(post, path = "/api/missions", tag = "missions", request_body = MissionRequest,
    params(("traceparent" = Option<String>, Header, description = "W3C trace context of the caller: the submission's span becomes its child; stored with the mission(s) and in their events' `meta` (an invalid one is ignored)")),
    security(("bearer" = ["missions:write"])),
    responses(
        (status = 201, description = "Created", body = Mission),
        (status = 200, description = "The idempotency key's earlier mission", body = Mission),
        (status = 400, description = "Invalid body or field", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "No plugin serves the type", body = ErrorBody),
        (status = 429, description = "A tenant quota refused it (named in `error.quota`; see `Retry-After`); nothing was created", body = ErrorBody),
    ))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller<Write>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<MissionRequest>,
) -> Result<(StatusCode, ApiJson<Mission>), ApiError> {
    let trace = Submission::start(traceparent(&headers));
    let mut m = validate(&state, &caller, req)?;
    m.traceparent = trace.traceparent;
    let done = enqueue(&state, std::slice::from_ref(&m)).instrument(trace.span).await?;
    let first =
        done.into_iter().next().ok_or_else(|| ApiError::from(StoreError::Protocol("empty enqueue reply".into())))?;
    let mission = state.queue.get(&first.id).await?.ok_or_else(|| ApiError::mission_not_found(&first.id))?;
    let status = if first.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, ApiJson(mission)))
}

/// Body of `POST /api/missions/batch`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 1,000 missions.
    #[schema(min_items = 1, max_items = 1000)]
    missions: Vec<MissionRequest>,
}

/// One mission of a batch's answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BatchItem {
    /// The mission's id (the earlier mission's, for a used idempotency key).
    id: String,
    /// Whether it was created now.
    created: bool,
}

/// Answer of `POST /api/missions/batch`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BatchResponse {
    /// In the order submitted.
    missions: Vec<BatchItem>,
}

/// Submits up to 1,000 missions, all or none, in one atomic step: a batch
/// that would pass any of the tenant's quotas is refused whole (429).
#[utoipa::path(post, path = "/api/missions/batch", tag = "missions", request_body = BatchRequest,
    params(("traceparent" = Option<String>, Header, description = "W3C trace context of the caller: the submission's span becomes its child; stored with the mission(s) and in their events' `meta` (an invalid one is ignored)")),
    security(("bearer" = ["missions:write"])),
    responses(
        (status = 201, description = "Created (or found by idempotency key)", body = BatchResponse),
        (status = 400, description = "Invalid body; names the item at fault", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "No plugin serves a type; nothing was created", body = ErrorBody),
        (status = 429, description = "A tenant quota refused the batch, whole (named in `error.quota`; see `Retry-After`); nothing was created", body = ErrorBody),
    ))]
pub async fn submit_batch(
    State(state): State<AppState>,
    caller: Caller<Write>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<(StatusCode, ApiJson<BatchResponse>), ApiError> {
    let trace = Submission::start(traceparent(&headers));
    if req.missions.is_empty() || req.missions.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidField,
            format!("`missions`: give 1 to {MAX_BATCH} missions"),
        ));
    }
    let mut checked = Vec::with_capacity(req.missions.len());
    for (i, r) in req.missions.into_iter().enumerate() {
        checked.push(
            validate(&state, &caller, r)
                .map_err(|e| ApiError { message: format!("missions[{i}]: {}", e.message), ..e })?,
        );
    }
    for m in &mut checked {
        m.traceparent.clone_from(&trace.traceparent);
    }
    let done = enqueue(&state, &checked).instrument(trace.span).await?;
    let missions = done.into_iter().map(|d| BatchItem { id: d.id, created: d.created }).collect();
    Ok((StatusCode::CREATED, ApiJson(BatchResponse { missions })))
}

/// Reads one mission.
#[utoipa::path(get, path = "/api/missions/{id}", tag = "missions",
    params(("id" = String, Path, description = "Mission id")),
    security(("bearer" = ["missions:read"])),
    responses(
        (status = 200, description = "The mission", body = Mission),
        (status = 404, description = "No such mission in the caller's tenant", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller<Read>,
    Path(id): Path<String>,
) -> Result<ApiJson<Mission>, ApiError> {
    let mut m = owned(&state, &caller, &id).await?;
    m.waiting_reason = state.queue.waiting_reason(&m).await?;
    Ok(ApiJson(m))
}

/// Query of `GET /api/missions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only missions with this status.
    #[param(value_type = Option<Status>)]
    status: Option<String>,
    /// Only missions of this type.
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    mission_type: Option<String>,
    /// Only missions whose `name` starts with this (case-sensitive; 1 to 200 characters).
    #[param(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// Only missions created at or after this time: RFC 3339, or Unix seconds.
    since: Option<String>,
    /// Only missions created at or before this time: RFC 3339, or Unix seconds.
    until: Option<String>,
    /// 1 to 1,000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,15}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    cursor: Option<String>,
}

/// Checks a `limit` query parameter.
pub fn limit(given: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match given.unwrap_or(default) {
        n @ 1..=MAX_LIMIT => Ok(n),
        _ => Err(ApiError::bad_request(ErrorCode::InvalidQuery, format!("`limit` must be 1..={MAX_LIMIT}"))),
    }
}

/// Lists the tenant's missions, newest first, a page at a time; `next_cursor`
/// continues it (`null` at the end). `since` and `until` bound the creation
/// time; `name` keeps the missions whose name starts with it. With a `type`
/// or `name` filter (or `until` with a `status`) a page may hold
/// fewer than `limit` (one request reads at most 10,000 missions), yet the
/// cursor goes on.
#[utoipa::path(get, path = "/api/missions", tag = "missions", params(ListParams),
    security(("bearer" = ["missions:read"])),
    responses(
        (status = 200, description = "One page", body = MissionPage),
        (status = 400, description = "Invalid query", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller<Read>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<ApiJson<MissionPage>, ApiError> {
    let status = p
        .status
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidQuery, format!("`status`: {e}")))?;
    if let Some(t) = &p.mission_type
        && !valid_type_name(t)
    {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("`type`: `{t}` is not a mission type name"),
        ));
    }
    if let Some(n) = &p.name {
        crate::model::submission::check_name(n)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidQuery, format!("`name`: {e}")))?;
    }
    let q = ListQuery {
        tenant: caller.tenant().to_owned(),
        status,
        mission_type: p.mission_type,
        name_prefix: p.name,
        since_ms: super::events::time_ms("since", p.since.as_deref())?,
        until_ms: super::events::time_ms("until", p.until.as_deref())?,
        limit: limit(p.limit, 50)?,
        cursor: cursor(p.cursor)?,
    };
    Ok(ApiJson(state.queue.list(&q).await?))
}

/// Body of `POST /api/missions/{id}/cancel` (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why; kept on the mission and in its event.
    #[serde(default)]
    reason: Option<String>,
}

/// Cancels a mission; a running one is stopped. The caller is recorded as `cancelled_by`.
#[utoipa::path(post, path = "/api/missions/{id}/cancel", tag = "missions",
    params(("id" = String, Path, description = "Mission id")),
    request_body(content = Option<CancelRequest>, description = "Optional"),
    security(("bearer" = ["missions:write"])),
    responses(
        (status = 200, description = "Cancelled", body = Mission),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "No such mission in the caller's tenant", body = ErrorBody),
        (status = 409, description = "Already finished; nothing changed", body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller<Write>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<ApiJson<Mission>, ApiError> {
    check_owner(&state, &caller, &id).await?;
    let req: CancelRequest = optional_json(&body)?;
    let reason = req.reason.unwrap_or_default();
    if reason.len() > 1024 {
        return Err(ApiError::bad_request(ErrorCode::InvalidField, "`reason` must be at most 1 KiB"));
    }
    match state.queue.cancel(&id, caller.name(), &reason).await? {
        CancelOutcome::Cancelled { .. } => {}
        CancelOutcome::AlreadyFinished(s) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::AlreadyFinished,
                format!("mission is already {s}; nothing changed"),
            ));
        }
        CancelOutcome::NotFound => return Err(ApiError::mission_not_found(&id)),
    }
    owned(&state, &caller, &id).await.map(ApiJson)
}

/// Body of `POST /api/missions/{id}/retry` (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// Attempts it gets anew (1..=100; default: its previous `max_attempts`).
    #[serde(default)]
    max_attempts: Option<u32>,
}

/// Retries a failed (dead-lettered) mission: same id, fresh attempts.
#[utoipa::path(post, path = "/api/missions/{id}/retry", tag = "missions",
    params(("id" = String, Path, description = "Mission id")),
    request_body(content = Option<RetryRequest>, description = "Optional"),
    security(("bearer" = ["missions:write"])),
    responses(
        (status = 200, description = "Back in the queue", body = Mission),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "No such mission in the caller's tenant", body = ErrorBody),
        (status = 409, description = "Not failed; nothing changed", body = ErrorBody),
        (status = 429, description = "The tenant has as many missions waiting as its quota allows (`Retry-After`); nothing changed", body = ErrorBody),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller<Write>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<ApiJson<Mission>, ApiError> {
    check_owner(&state, &caller, &id).await?;
    let id = id.as_str();
    let max = optional_json::<RetryRequest>(&body)?.max_attempts;
    if max.is_some_and(|m| !(1..=crate::model::submission::MAX_ATTEMPTS).contains(&m)) {
        return Err(ApiError::bad_request(ErrorCode::InvalidField, "`max_attempts` must be 1..=100"));
    }
    match state.queue.retry(id, caller.name(), max).await? {
        RetryOutcome::Requeued => {}
        RetryOutcome::NotFailed(s) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::NotFailed,
                format!("only failed missions can be retried; this one is {s}"),
            ));
        }
        RetryOutcome::NotFound => return Err(ApiError::mission_not_found(id)),
    }
    owned(&state, &caller, id).await.map(ApiJson)
}

/// A page of a mission's log.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LogResponse {
    /// The mission.
    mission_id: String,
    /// `{ts, level, message, source}` objects, oldest first.
    #[schema(value_type = Vec<Object>)]
    lines: Vec<Value>,
    /// Lines dropped past the per-mission cap.
    dropped: u64,
    /// Where the next page starts; `null` at the end (for now: the log may grow).
    next_cursor: Option<String>,
}

/// Query of `GET /api/missions/{id}/log`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// 1 to 1,000 lines (default 1,000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page (a line number).
    #[param(pattern = "^[0-9]{1,9}$")]
    cursor: Option<String>,
}

/// Reads a mission's log: the plugin's lines, its captured output and clients' notes.
#[utoipa::path(get, path = "/api/missions/{id}/log", tag = "missions",
    params(("id" = String, Path, description = "Mission id"), LogParams),
    security(("bearer" = ["missions:read"])),
    responses(
        (status = 200, description = "A page of the log", body = LogResponse),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 404, description = "No such mission in the caller's tenant", body = ErrorBody),
    ))]
pub async fn get_log(
    State(state): State<AppState>,
    caller: Caller<Read>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<LogParams>,
) -> Result<ApiJson<LogResponse>, ApiError> {
    let limit = limit(p.limit, MAX_LIMIT)?;
    let from = numeric_cursor(p.cursor, 1_000_000_000)?.unwrap_or(0) as usize;
    let m = owned(&state, &caller, &id).await?;
    let (lines, more) = state.queue.log(&m.id, from, limit).await?;
    let next_cursor = more.then(|| (from + lines.len()).to_string());
    Ok(ApiJson(LogResponse { mission_id: m.id, lines, dropped: m.log_dropped, next_cursor }))
}

/// Body of `POST /api/missions/{id}/log`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogRequest {
    /// 1 byte to 16 KiB.
    message: String,
    /// `debug`, `info` (default), `warn` or `error`.
    #[serde(default)]
    level: Option<String>,
}

/// Appends a line to a mission's log (and a `mission.log_appended` event).
#[utoipa::path(post, path = "/api/missions/{id}/log", tag = "missions", request_body = LogRequest,
    params(("id" = String, Path, description = "Mission id")),
    security(("bearer" = ["missions:write"])),
    responses(
        (status = 201, description = "Appended (`stored` is false past the log's cap)", body = Object),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "No such mission in the caller's tenant", body = ErrorBody),
    ))]
pub async fn append_log(
    State(state): State<AppState>,
    caller: Caller<Write>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<LogRequest>,
) -> Result<(StatusCode, ApiJson<Value>), ApiError> {
    check_owner(&state, &caller, &id).await?;
    let id = id.as_str();
    let level: LogLevel = req
        .level
        .as_deref()
        .unwrap_or("info")
        .parse()
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidField, e))?;
    if req.message.is_empty() || req.message.len() > 16 * 1024 {
        return Err(ApiError::bad_request(ErrorCode::InvalidField, "`message` must be 1 byte to 16 KiB"));
    }
    match state.queue.report(id, "", "client", &[Report::Log { level, message: req.message }]).await? {
        None => Err(ApiError::mission_not_found(id)),
        Some(stored) => Ok((StatusCode::CREATED, ApiJson(json!({ "stored": stored == 1 })))),
    }
}
