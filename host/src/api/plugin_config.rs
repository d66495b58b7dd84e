//! `/api/plugins/{name}/config`: a plugin's variables and secrets, plugin-wide
//! or per tenant (`plugins:admin`). The operator (`admin`) manages every
//! entry; another `plugins:admin` caller sees and changes only its own
//! tenant's overrides (and sees the plugin-wide names). A secret's value is
//! never in an answer, a log line or an event: only its name, when and by whom.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::caller::{Caller, Plugins};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use crate::api::ErrorCode;
use crate::model::manifest::valid_config_name;
use crate::model::submission::valid_type_name;
use crate::store::{ConfigEntry, ConfigSetError, PluginConfigStore, SecretError};

/// `GET /api/plugins/{name}/config`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigList {
    /// The plugin.
    pub plugin: String,
    /// Its entries the caller may see, by tenant (plugin-wide first) then name.
    pub entries: Vec<ConfigEntry>,
}

/// Body of `PUT /api/plugins/{name}/config/{key}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigSetRequest {
    /// The value (at most `[plugin_config] max_value_bytes`).
    value: String,
    /// A secret: sealed at rest, never shown again.
    #[serde(default)]
    secret: bool,
    /// Set it for this tenant's missions only (an override); absent: plugin-wide.
    #[serde(default)]
    tenant: Option<String>,
}

/// Query of `DELETE /api/plugins/{name}/config/{key}`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConfigDeleteParams {
    /// Delete this tenant's override; absent: the plugin-wide value.
    tenant: Option<String>,
}

fn plugin_name(name: &str) -> Result<(), ApiError> {
    match valid_type_name(name) {
        true => Ok(()),
        false => Err(ApiError::new(StatusCode::NOT_FOUND, ErrorCode::PluginNotFound, "no plugin with this name")),
    }
}

fn config_key(key: &str) -> Result<(), ApiError> {
    match valid_config_name(key) {
        true => Ok(()),
        false => Err(ApiError::bad_request(
            ErrorCode::InvalidField,
            "`key`: 1 to 128 bytes of letters, digits, `_`, `-` and `.`",
        )),
    }
}

/// The tenant an entry belongs to, as the caller may touch it: the operator
/// any (or plugin-wide), another caller only its own tenant's overrides.
fn scope<'a, N>(caller: &'a Caller<N>, tenant: Option<&'a str>) -> Result<Option<&'a str>, ApiError> {
    if let Some(t) = tenant
        && !crate::auth::valid_tenant(t)
    {
        return Err(ApiError::bad_request(ErrorCode::InvalidField, format!("`tenant`: `{t}` is not a tenant name")));
    }
    if caller.is_operator() {
        return Ok(tenant);
    }
    match tenant {
        Some(t) if t == caller.tenant() => Ok(Some(t)),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!(
                "only the operator (`admin`) sets plugin-wide values or other tenants' overrides; set `tenant` to `{}`",
                caller.tenant()
            ),
        )),
    }
}

/// A plugin's configuration: names, whether each is a secret, when and by
/// whom it was set, and the values of variables (never of secrets).
#[utoipa::path(get, path = "/api/plugins/{name}/config", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name")),
    security(("bearer" = ["plugins:admin"])),
    responses(
        (status = 200, description = "The entries the caller may see", body = ConfigList),
        (status = 404, description = "Not a plugin name", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller<Plugins>,
    Path(name): Path<String>,
) -> Result<ApiJson<ConfigList>, ApiError> {
    plugin_name(&name)?;
    let only = (!caller.is_operator()).then(|| caller.tenant());
    let entries = PluginConfigStore::new(state.queue.clone()).list(&name, only).await?;
    Ok(ApiJson(ConfigList { plugin: name, entries }))
}

/// Sets a variable or a secret, plugin-wide or for one tenant. Missions read
/// it from their next attempt on, on every host; no re-upload needed.
#[utoipa::path(put, path = "/api/plugins/{name}/config/{key}", tag = "plugins", request_body = ConfigSetRequest,
    params(("name" = String, Path, description = "Plugin name"), ("key" = String, Path, description = "Configuration name")),
    security(("bearer" = ["plugins:admin"])),
    responses(
        (status = 200, description = "Set (a secret's value is not shown)", body = ConfigEntry),
        (status = 400, description = "Invalid key, tenant or value, or a secret on a host without a secrets key", body = ErrorBody),
        (status = 403, description = "Not the operator, and not the caller's own tenant", body = ErrorBody),
        (status = 404, description = "Not a plugin name", body = ErrorBody),
        (status = 409, description = "The plugin (or the tenant's overrides) holds the most names already", body = ErrorBody),
    ))]
pub async fn set(
    State(state): State<AppState>,
    caller: Caller<Plugins>,
    Path((name, key)): Path<(String, String)>,
    ApiJson(req): ApiJson<ConfigSetRequest>,
) -> Result<ApiJson<ConfigEntry>, ApiError> {
    plugin_name(&name)?;
    config_key(&key)?;
    let tenant = scope(&caller, req.tenant.as_deref())?;
    let store = PluginConfigStore::new(state.queue.clone());
    store.set(&name, tenant, &key, &req.value, req.secret, caller.name()).await.map_err(|e| match e {
        ConfigSetError::TooLong(..) => ApiError::bad_request(ErrorCode::InvalidField, e.to_string()),
        ConfigSetError::TooMany(_) => ApiError::new(StatusCode::CONFLICT, ErrorCode::ConfigFull, e.to_string()),
        ConfigSetError::Secret(SecretError::NoKey) => ApiError::bad_request(ErrorCode::NoSecretsKey, e.to_string()),
        ConfigSetError::Secret(e) => ApiError::bad_request(ErrorCode::NoSecretsKey, e.to_string()),
        ConfigSetError::Store(e) => e.into(),
    })?;
    let entry = store.list(&name, tenant).await?.into_iter().find(|e| e.key == key && e.tenant.as_deref() == tenant);
    entry.map(ApiJson).ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "the value was set but is not listed")
    })
}

/// Deletes a variable or secret (a tenant's override with `?tenant=`).
#[utoipa::path(delete, path = "/api/plugins/{name}/config/{key}", tag = "plugins", params(
        ("name" = String, Path, description = "Plugin name"), ("key" = String, Path, description = "Configuration name"),
        ConfigDeleteParams),
    security(("bearer" = ["plugins:admin"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid key or tenant", body = ErrorBody),
        (status = 403, description = "Not the operator, and not the caller's own tenant", body = ErrorBody),
        (status = 404, description = "No such entry", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller<Plugins>,
    Path((name, key)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ConfigDeleteParams>,
) -> Result<StatusCode, ApiError> {
    plugin_name(&name)?;
    config_key(&key)?;
    let tenant = scope(&caller, params.tenant.as_deref())?;
    match PluginConfigStore::new(state.queue.clone()).delete(&name, tenant, &key, caller.name()).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::ConfigNotFound,
            format!("{name} has no `{key}`{}", tenant.map(|t| format!(" for tenant {t}")).unwrap_or_default()),
        )),
    }
}
