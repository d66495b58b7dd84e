//! Flow control (admin): pause and resume the queue or one mission type, a
//! type's global limits, a tenant's fair-share weight. Everything is stored in
//! Redis and read by the claim script, so it applies at the next claim of
//! every host (see `store/flow.rs`).

use axum::extract::{Path, State};

use super::AppState;
use super::caller::{Admin, Caller};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::ApiJson;
use crate::api::ErrorCode;
use crate::model::flow::{MAX_WEIGHT, Paused, TypeFlow, TypeLimits, Weight};
use crate::store::FlowChange;

/// Most mission types that may have flow settings (pause or limits) at once:
/// the claim and `GET /api/types` read them, so they are bounded.
pub const MAX_FLOW_TYPES: usize = 1_000;

/// Whether the whole queue is paused.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct QueuePause {
    /// Who paused it and when; null when not paused.
    paused: Option<Paused>,
}

/// Every mission type with flow settings.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FlowList {
    /// Who paused the whole queue and when; null when not paused.
    queue_paused: Option<Paused>,
    /// By type name.
    types: Vec<TypeFlow>,
}

fn mission_type(t: &str) -> Result<&str, ApiError> {
    match crate::model::submission::valid_type_name(t) {
        true => Ok(t),
        false => {
            Err(ApiError::bad_request(ErrorCode::InvalidField, format!("`type`: `{t}` is not a mission type name")))
        }
    }
}

/// Refuses settings for a new type past [`MAX_FLOW_TYPES`].
async fn room_for(state: &AppState, t: &str) -> Result<(), ApiError> {
    let (types, _) = state.queue.flows().await?;
    if types.len() >= MAX_FLOW_TYPES && !types.iter().any(|f| f.mission_type == t) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidField,
            format!("`type`: {MAX_FLOW_TYPES} mission types have flow settings already, the most allowed"),
        ));
    }
    Ok(())
}

async fn queue_pause(state: &AppState) -> Result<ApiJson<QueuePause>, ApiError> {
    let (_, paused) = state.queue.flows().await?;
    Ok(ApiJson(QueuePause { paused }))
}

/// Pauses every mission type: missions are still accepted and keep their
/// order; none starts until resumed; running ones finish. Writes
/// `queue.paused` (none if already paused).
#[utoipa::path(put, path = "/api/queue/pause", tag = "flow",
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Paused", body = QueuePause)))]
pub async fn pause_queue(
    State(state): State<AppState>,
    caller: Caller<Admin>,
) -> Result<ApiJson<QueuePause>, ApiError> {
    state.queue.set_paused(None, FlowChange::Pause, caller.name()).await?;
    queue_pause(&state).await
}

/// Resumes the queue (types paused on their own stay paused). Writes
/// `queue.resumed` (none if it was not paused).
#[utoipa::path(delete, path = "/api/queue/pause", tag = "flow",
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Resumed", body = QueuePause)))]
pub async fn resume_queue(
    State(state): State<AppState>,
    caller: Caller<Admin>,
) -> Result<ApiJson<QueuePause>, ApiError> {
    state.queue.set_paused(None, FlowChange::Resume, caller.name()).await?;
    queue_pause(&state).await
}

/// Pauses one mission type on every host (see `PUT /api/queue/pause`).
#[utoipa::path(put, path = "/api/types/{type}/pause", tag = "flow",
    params(("type" = String, Path, description = "Mission type")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The type's flow state now", body = TypeFlow),
        (status = 400, description = "Not a type name, or too many types with settings", body = ErrorBody),
    ))]
pub async fn pause_type(
    State(state): State<AppState>,
    caller: Caller<Admin>,
    Path(t): Path<String>,
) -> Result<ApiJson<TypeFlow>, ApiError> {
    let t = mission_type(&t)?;
    room_for(&state, t).await?;
    state.queue.set_paused(Some(t), FlowChange::Pause, caller.name()).await?;
    Ok(ApiJson(state.queue.type_flow(t).await?))
}

/// Resumes one mission type: its missions start again in their order.
#[utoipa::path(delete, path = "/api/types/{type}/pause", tag = "flow",
    params(("type" = String, Path, description = "Mission type")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The type's flow state now", body = TypeFlow),
        (status = 400, description = "Not a type name", body = ErrorBody),
    ))]
pub async fn resume_type(
    State(state): State<AppState>,
    caller: Caller<Admin>,
    Path(t): Path<String>,
) -> Result<ApiJson<TypeFlow>, ApiError> {
    let t = mission_type(&t)?;
    state.queue.set_paused(Some(t), FlowChange::Resume, caller.name()).await?;
    Ok(ApiJson(state.queue.type_flow(t).await?))
}

/// A mission type's flow state: paused or not, its limits, its missions running now.
#[utoipa::path(get, path = "/api/types/{type}/limits", tag = "flow",
    params(("type" = String, Path, description = "Mission type")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The type's flow state", body = TypeFlow),
        (status = 400, description = "Not a type name", body = ErrorBody),
    ))]
pub async fn get_limits(
    State(state): State<AppState>,
    _caller: Caller<Admin>,
    Path(t): Path<String>,
) -> Result<ApiJson<TypeFlow>, ApiError> {
    Ok(ApiJson(state.queue.type_flow(mission_type(&t)?).await?))
}

/// Sets a mission type's limits on every host (within a claim: at once): the
/// body replaces the previous limits (`{}`: none); a pause stays. Missions over
/// a limit wait, never fail. Writes `queue.limits_changed`.
#[utoipa::path(put, path = "/api/types/{type}/limits", tag = "flow", request_body = TypeLimits,
    params(("type" = String, Path, description = "Mission type")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The type's flow state now", body = TypeFlow),
        (status = 400, description = "Invalid body; the message names the field", body = ErrorBody),
    ))]
pub async fn put_limits(
    State(state): State<AppState>,
    caller: Caller<Admin>,
    Path(t): Path<String>,
    ApiJson(limits): ApiJson<TypeLimits>,
) -> Result<ApiJson<TypeFlow>, ApiError> {
    let t = mission_type(&t)?;
    limits
        .validate()
        .map_err(|(field, m)| ApiError::bad_request(ErrorCode::InvalidField, format!("`{field}`: {m}")))?;
    room_for(&state, t).await?;
    state.queue.set_limits(t, &limits, caller.name()).await?;
    Ok(ApiJson(state.queue.type_flow(t).await?))
}

/// Every mission type with flow settings, and the queue's pause.
#[utoipa::path(get, path = "/api/types", tag = "flow",
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Flow settings by type", body = FlowList)))]
pub async fn list(State(state): State<AppState>, _caller: Caller<Admin>) -> Result<ApiJson<FlowList>, ApiError> {
    let (types, queue_paused) = state.queue.flows().await?;
    Ok(ApiJson(FlowList { queue_paused, types }))
}

fn tenant(t: &str) -> Result<&str, ApiError> {
    match crate::auth::valid_tenant(t) {
        true => Ok(t),
        false => Err(ApiError::bad_request(ErrorCode::InvalidField, format!("`tenant`: `{t}` is not a tenant name"))),
    }
}

/// A tenant's fair-share weight (1 unless an admin set another).
#[utoipa::path(get, path = "/api/tenants/{tenant}/weight", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant name")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The weight", body = Weight),
        (status = 400, description = "Not a tenant name", body = ErrorBody),
    ))]
pub async fn get_weight(
    State(state): State<AppState>,
    _caller: Caller<Admin>,
    Path(t): Path<String>,
) -> Result<ApiJson<Weight>, ApiError> {
    Ok(ApiJson(Weight { weight: state.queue.weight(tenant(&t)?).await? }))
}

/// Sets a tenant's fair-share weight (1 to 1,000): while several tenants have
/// work waiting, each gets starts in proportion to its weight; priorities
/// still order missions within a tenant. The next claim on every host uses it.
#[utoipa::path(put, path = "/api/tenants/{tenant}/weight", tag = "tenants", request_body = Weight,
    params(("tenant" = String, Path, description = "Tenant name")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The weight now", body = Weight),
        (status = 400, description = "Invalid body; the message names the field", body = ErrorBody),
    ))]
pub async fn put_weight(
    State(state): State<AppState>,
    _caller: Caller<Admin>,
    Path(t): Path<String>,
    ApiJson(w): ApiJson<Weight>,
) -> Result<ApiJson<Weight>, ApiError> {
    let t = tenant(&t)?;
    if !(1..=MAX_WEIGHT).contains(&w.weight) {
        return Err(ApiError::bad_request(ErrorCode::InvalidField, format!("`weight`: must be 1..={MAX_WEIGHT}")));
    }
    state.queue.set_weight(t, w.weight).await?;
    Ok(ApiJson(Weight { weight: state.queue.weight(t).await? }))
}
