//! `/api/schedules`: create, read, list, replace, delete, pause and resume
//! schedules. A schedule belongs to the caller's tenant and submits its
//! missions as that tenant; the operator (`admin`) lists every tenant's and
//! reaches another tenant's with `?tenant=`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;

use super::AppState;
use super::caller::{Caller, Read, Write};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use crate::api::ErrorCode;
use crate::model::schedule::{Schedule, ScheduleRequest, valid_schedule_name};
use crate::model::schedule_plan::{Timing, first_tick};
use crate::store::{PauseOutcome, PutMode, SchedulePutOutcome};

/// Most schedules one list returns.
const MAX_LIST: usize = 10_000;

/// `?tenant=`: the operator's reach into another tenant.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TenantQuery {
    /// Another tenant's schedules (the `admin` scope only; others get 403).
    /// On a list, the operator sees every tenant's without it.
    #[serde(default)]
    tenant: Option<String>,
}

/// The tenant a call addresses: the caller's, or the one named (operator only).
fn tenant_of<N>(caller: &Caller<N>, q: &TenantQuery) -> Result<String, ApiError> {
    match &q.tenant {
        None => Ok(caller.tenant().to_owned()),
        Some(t) if !caller.is_operator() && t != caller.tenant() => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "only the operator (`admin`) may address another tenant's schedules",
        )),
        Some(t) if crate::auth::valid_tenant(t) => Ok(t.clone()),
        Some(t) => Err(ApiError::bad_request(ErrorCode::InvalidQuery, format!("`tenant`: `{t}` is not a tenant name"))),
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::ScheduleNotFound, format!("no schedule named `{name}`"))
}

fn checked_name(name: &str) -> Result<&str, ApiError> {
    match valid_schedule_name(name) {
        true => Ok(name),
        false => Err(not_found(name)),
    }
}

async fn read(state: &AppState, tenant: &str, name: &str) -> Result<Schedule, ApiError> {
    let rec = state.queue.schedule_get(tenant, name).await?.ok_or_else(|| not_found(name))?;
    Ok(rec.view())
}

/// Checks a body and stores it (create or update); 422 if no plugin serves its type.
async fn put(
    state: &AppState,
    who: &str,
    tenant: &str,
    path_name: Option<&str>,
    req: ScheduleRequest,
) -> Result<Schedule, ApiError> {
    let now = Utc::now();
    let checked = req
        .validate(&state.schedules, &state.defaults, now)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidField, e.to_string()))?;
    let (mode, name) = match (path_name, checked.name.as_deref()) {
        (None, Some(n)) => (PutMode::Create, n.to_owned()),
        (None, None) => return Err(ApiError::bad_request(ErrorCode::InvalidField, "`name`: required")),
        (Some(p), Some(n)) if p != n => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidField,
                format!("`name`: `{n}` differs from the path's `{p}` (a schedule cannot be renamed)"),
            ));
        }
        (Some(p), _) => (PutMode::Update, p.to_owned()),
    };
    let mission_type = serde_json::from_str::<serde_json::Value>(checked.spec.mission.get())
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default();
    if !state.registry.active().contains_key(&mission_type) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownMissionType,
            format!("`mission.type`: no plugin serves mission type `{mission_type}`"),
        ));
    }
    let timing =
        Timing::of(&checked.spec).map_err(|e| ApiError::bad_request(ErrorCode::InvalidField, e.to_string()))?;
    let next = first_tick(&timing, &checked.spec, now.timestamp_millis());
    let max = state.schedules.max_per_tenant;
    let outcome = state.queue.schedule_put(mode, tenant, &name, &checked.spec, next, checked.paused, max, who).await?;
    match outcome {
        SchedulePutOutcome::Stored => read(state, tenant, &name).await,
        SchedulePutOutcome::Missing => Err(not_found(&name)),
        SchedulePutOutcome::Exists => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::ScheduleExists,
            format!("a schedule named `{name}` exists; replace it with PUT /api/schedules/{name}"),
        )),
        SchedulePutOutcome::OverBudget => Err(ApiError::too_many(
            "schedules",
            60,
            format!("tenant {tenant} holds {max} schedules, as many as it may; delete one first"),
        )),
    }
}

/// Creates a schedule in the caller's tenant. Its missions are submitted as
/// that tenant, through the same checks and quotas as `POST /api/missions`.
#[utoipa::path(post, path = "/api/schedules", tag = "schedules", request_body = ScheduleRequest,
    security(("bearer" = ["missions:write"])),
    responses(
        (status = 201, description = "Created", body = Schedule),
        (status = 400, description = "Invalid body; the message names the field. Nothing was stored", body = ErrorBody),
        (status = 409, description = "The tenant has a schedule of that name", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "No plugin serves the template's type", body = ErrorBody),
        (status = 429, description = "The tenant holds as many schedules as it may (`error.quota`: `schedules`)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller<Write>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> Result<(StatusCode, ApiJson<Schedule>), ApiError> {
    let tenant = caller.tenant().to_owned();
    let s = put(&state, caller.name(), &tenant, None, req).await?;
    Ok((StatusCode::CREATED, ApiJson(s)))
}

/// The schedules list.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ScheduleList {
    /// By tenant, then name.
    schedules: Vec<Schedule>,
}

/// Lists the caller's tenant's schedules (the operator: every tenant's, or
/// one tenant's with `?tenant=`).
#[utoipa::path(get, path = "/api/schedules", tag = "schedules", params(TenantQuery),
    security(("bearer" = ["missions:read"])),
    responses(
        (status = 200, description = "The schedules", body = ScheduleList),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 403, description = "`tenant` names another tenant and the caller is not the operator", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller<Read>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<ApiJson<ScheduleList>, ApiError> {
    let tenant = match (&q.tenant, caller.is_operator()) {
        (None, true) => None,
        _ => Some(tenant_of(&caller, &q)?),
    };
    let recs = state.queue.schedule_list(tenant.as_deref(), MAX_LIST).await?;
    Ok(ApiJson(ScheduleList { schedules: recs.iter().map(|r| r.view()).collect() }))
}

/// Reads one schedule.
#[utoipa::path(get, path = "/api/schedules/{name}", tag = "schedules",
    params(("name" = String, Path, description = "Schedule name"), TenantQuery),
    security(("bearer" = ["missions:read"])),
    responses(
        (status = 200, description = "The schedule", body = Schedule),
        (status = 403, description = "`tenant` names another tenant and the caller is not the operator", body = ErrorBody),
        (status = 404, description = "No such schedule in the tenant", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller<Read>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<ApiJson<Schedule>, ApiError> {
    let tenant = tenant_of(&caller, &q)?;
    Ok(ApiJson(read(&state, &tenant, checked_name(&name)?).await?))
}

/// Replaces a schedule's spec (name, counters, pause state and last mission
/// stay; a buffered tick is dropped); it ticks from the next tick after now.
#[utoipa::path(put, path = "/api/schedules/{name}", tag = "schedules", request_body = ScheduleRequest,
    params(("name" = String, Path, description = "Schedule name"), TenantQuery),
    security(("bearer" = ["missions:write"])),
    responses(
        (status = 200, description = "The schedule now", body = Schedule),
        (status = 400, description = "Invalid body; the message names the field. Nothing was changed", body = ErrorBody),
        (status = 403, description = "`tenant` names another tenant and the caller is not the operator", body = ErrorBody),
        (status = 404, description = "No such schedule in the tenant", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "No plugin serves the template's type", body = ErrorBody),
    ))]
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller<Write>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<TenantQuery>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> Result<ApiJson<Schedule>, ApiError> {
    let tenant = tenant_of(&caller, &q)?;
    let name = checked_name(&name)?;
    Ok(ApiJson(put(&state, caller.name(), &tenant, Some(name), req).await?))
}

/// Deletes a schedule; the missions it created stay.
#[utoipa::path(delete, path = "/api/schedules/{name}", tag = "schedules",
    params(("name" = String, Path, description = "Schedule name"), TenantQuery),
    security(("bearer" = ["missions:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`tenant` names another tenant and the caller is not the operator", body = ErrorBody),
        (status = 404, description = "No such schedule in the tenant", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller<Write>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<StatusCode, ApiError> {
    let tenant = tenant_of(&caller, &q)?;
    match state.queue.schedule_delete(&tenant, checked_name(&name)?, caller.name()).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(not_found(&name)),
    }
}

async fn pause_or_resume(
    state: &AppState,
    caller: &Caller<Write>,
    name: &str,
    q: &TenantQuery,
    pause: bool,
) -> Result<ApiJson<Schedule>, ApiError> {
    let tenant = tenant_of(caller, q)?;
    let name = checked_name(name)?;
    let next = match pause {
        true => None,
        false => {
            let rec = state.queue.schedule_get(&tenant, name).await?.ok_or_else(|| not_found(name))?;
            let timing =
                Timing::of(&rec.spec).map_err(|e| ApiError::bad_request(ErrorCode::InvalidField, e.to_string()))?;
            // From the next tick after now: ticks passed while paused are not caught up.
            first_tick(&timing, &rec.spec, Utc::now().timestamp_millis() + 1)
        }
    };
    match state.queue.schedule_pause(&tenant, name, pause, next, caller.name()).await? {
        PauseOutcome::Missing => Err(not_found(name)),
        PauseOutcome::Changed | PauseOutcome::Unchanged => Ok(ApiJson(read(state, &tenant, name).await?)),
    }
}

/// Pauses a schedule: no tick fires until it is resumed (a mission already
/// created runs on). Pausing a paused schedule changes nothing.
#[utoipa::path(post, path = "/api/schedules/{name}/pause", tag = "schedules",
    params(("name" = String, Path, description = "Schedule name"), TenantQuery),
    security(("bearer" = ["missions:write"])),
    responses(
        (status = 200, description = "The schedule, paused", body = Schedule),
        (status = 403, description = "`tenant` names another tenant and the caller is not the operator", body = ErrorBody),
        (status = 404, description = "No such schedule in the tenant", body = ErrorBody),
    ))]
pub async fn pause(
    State(state): State<AppState>,
    caller: Caller<Write>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<ApiJson<Schedule>, ApiError> {
    pause_or_resume(&state, &caller, &name, &q, true).await
}

/// Resumes a paused schedule from its next tick after now (ticks that passed
/// while paused are not caught up).
#[utoipa::path(post, path = "/api/schedules/{name}/resume", tag = "schedules",
    params(("name" = String, Path, description = "Schedule name"), TenantQuery),
    security(("bearer" = ["missions:write"])),
    responses(
        (status = 200, description = "The schedule, running", body = Schedule),
        (status = 403, description = "`tenant` names another tenant and the caller is not the operator", body = ErrorBody),
        (status = 404, description = "No such schedule in the tenant", body = ErrorBody),
    ))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller<Write>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<ApiJson<Schedule>, ApiError> {
    pause_or_resume(&state, &caller, &name, &q, false).await
}
