//! `/api/tenants/{tenant}/quotas` (admin): read and set a tenant's quotas.
//! What is set is stored in Redis and read by the scripts on every call, so
//! every host applies it to the next request.

use axum::extract::{Path, State};

use super::AppState;
use super::caller::{Admin, Caller};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::ApiJson;
use crate::api::ErrorCode;
use crate::store::{QuotaOverrides, QuotaView};

fn tenant(t: &str) -> Result<&str, ApiError> {
    match crate::auth::valid_tenant(t) {
        true => Ok(t),
        false => Err(ApiError::bad_request(ErrorCode::InvalidField, format!("`tenant`: `{t}` is not a tenant name"))),
    }
}

/// A tenant's quotas: what applies (defaults with overrides), what an admin
/// set, and what the tenant uses now.
#[utoipa::path(get, path = "/api/tenants/{tenant}/quotas", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant name")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The tenant's quotas", body = QuotaView),
        (status = 400, description = "Not a tenant name", body = ErrorBody),
    ))]
pub async fn get_quotas(
    State(state): State<AppState>,
    _caller: Caller<Admin>,
    Path(t): Path<String>,
) -> Result<ApiJson<QuotaView>, ApiError> {
    Ok(ApiJson(state.queue.quotas(tenant(&t)?).await?))
}

/// Sets a tenant's quotas: the fields given replace the host defaults for it,
/// those left out take the defaults (`{}` resets it). Applies at once on every
/// host; what is already queued or open stays.
#[utoipa::path(put, path = "/api/tenants/{tenant}/quotas", tag = "tenants", request_body = QuotaOverrides,
    params(("tenant" = String, Path, description = "Tenant name")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The tenant's quotas now", body = QuotaView),
        (status = 400, description = "Invalid body; the message names the field", body = ErrorBody),
    ))]
pub async fn put_quotas(
    State(state): State<AppState>,
    _caller: Caller<Admin>,
    Path(t): Path<String>,
    ApiJson(overrides): ApiJson<QuotaOverrides>,
) -> Result<ApiJson<QuotaView>, ApiError> {
    let t = tenant(&t)?;
    state
        .queue
        .default_quotas()
        .with(&overrides)
        .validate()
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidField, e))?;
    state.queue.set_quotas(t, &overrides).await?;
    Ok(ApiJson(state.queue.quotas(t).await?))
}
