//! `/api/plugins`: upload, list, activate (and roll back), delete.

use axum::extract::{Multipart, Path, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::caller::{Caller, Plugins};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::responses::{PluginList, PluginVersion, PluginVersions};
use crate::api::ErrorCode;
use crate::model::plugin_ref::PluginRef;
use crate::model::submission::valid_type_name;
use crate::registry::{ActivateOutcome, DeleteOutcome, MAX_MANIFEST_BYTES, Manifest, PutOutcome, UploadError};
use crate::runtime::LoadError;

/// Largest plugin upload (componentize-py plugins are about 20 MB).
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;

/// Query of `POST /api/plugins`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// Activate the version for its mission types once stored.
    #[serde(default)]
    activate: bool,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::InvalidPlugin, message)
}

/// The documented 413 for a body over [`MAX_UPLOAD_BYTES`]; other multipart
/// errors are the client's malformed body (400).
fn multipart_error(what: String, status: StatusCode) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("a plugin upload is at most {MAX_UPLOAD_BYTES} bytes ({} MiB)", MAX_UPLOAD_BYTES >> 20),
        ),
        _ => invalid(what),
    }
}

/// What a refused load answers: 422 when the component is too costly to
/// compile, 429 when the host's compile slots are all busy, else 400.
fn load_refused(e: LoadError) -> ApiError {
    match e {
        LoadError::TooCostly(_) | LoadError::TooSlow(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::PluginTooCostly, e.to_string())
        }
        LoadError::Busy(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::CompileBusy, e.to_string()),
        e => invalid(e.to_string()),
    }
}

/// The multipart form of an upload.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The component's bytes.
    #[schema(value_type = String, format = Binary)]
    wasm: Vec<u8>,
    /// The manifest, as JSON text.
    manifest: Manifest,
}

/// Uploads a plugin version: a `wasm` part (the component) and a `manifest`
/// part (JSON, at most 64 KiB). Validated before anything is stored (a
/// component of the world, not too costly to compile, compiles within the
/// host's budget, `describe()` returns within its deadline and agrees with the
/// manifest); nothing reaches the compile cache before that.
#[utoipa::path(post, path = "/api/plugins", tag = "plugins", params(UploadParams),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    security(("bearer" = ["plugins:admin"])),
    responses(
        (status = 201, description = "Stored", body = Object),
        (status = 200, description = "The same version with the same bytes exists", body = Object),
        (status = 400, description = "Invalid; the message says why", body = ErrorBody),
        (status = 409, description = "The version exists with other bytes", body = ErrorBody),
        (status = 413, description = "Larger than 64 MiB", body = ErrorBody),
        (status = 422, description = "Too costly to compile (refused before compiling, or over the compile time budget)", body = ErrorBody),
        (status = 429, description = "Every compile slot stayed busy for the whole compile budget; try again after `Retry-After`", body = ErrorBody),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller<Plugins>,
    ApiQuery(params): ApiQuery<UploadParams>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    match receive(state, caller, params, form).await {
        Ok(stored) => stored.into_response(),
        Err(e) => {
            let busy = e.code == ErrorCode::CompileBusy;
            let mut response = e.into_response();
            if busy {
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static(COMPILE_RETRY_AFTER_S));
            }
            response
        }
    }
}

/// When to try again (s) after a `429` for busy compile slots.
const COMPILE_RETRY_AFTER_S: &str = "5";

/// The upload itself (see [`upload`]).
async fn receive(
    state: AppState,
    caller: Caller<Plugins>,
    params: UploadParams,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, ApiJson<Value>), ApiError> {
    let mut form = form.map_err(|e| {
        let what = format!("send a multipart/form-data body with `wasm` and `manifest` parts: {}", e.body_text());
        multipart_error(what, e.status())
    })?;
    let (mut wasm, mut manifest) = (None, None);
    while let Some(field) =
        form.next_field().await.map_err(|e| multipart_error(format!("malformed multipart body: {e}"), e.status()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes =
            field.bytes().await.map_err(|e| multipart_error(format!("reading part `{name}`: {e}"), e.status()))?;
        match name.as_str() {
            "wasm" => wasm = Some(bytes),
            "manifest" => {
                if bytes.len() > MAX_MANIFEST_BYTES {
                    return Err(invalid(format!("manifest: {} bytes, at most {MAX_MANIFEST_BYTES}", bytes.len())));
                }
                let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| invalid(format!("manifest: {e}")))?;
                manifest = Some(m);
            }
            other => return Err(invalid(format!("unexpected part `{other}`; send `wasm` and `manifest`"))),
        }
    }
    let wasm = wasm.ok_or_else(|| invalid("missing the `wasm` part (the component's bytes)"))?;
    let manifest = manifest.ok_or_else(|| invalid("missing the `manifest` part (JSON)"))?;
    manifest.validate(&state.registry.runtime().limits().max).map_err(|e| invalid(format!("manifest: {e}")))?;
    let (record, outcome) = match state.registry.upload(&wasm, Some(manifest), caller.name()).await {
        Ok(r) => r,
        Err(UploadError::Invalid(e)) => return Err(load_refused(e)),
        Err(e @ UploadError::Conflict { .. }) => {
            return Err(ApiError::new(StatusCode::CONFLICT, ErrorCode::VersionExists, e.to_string()));
        }
        Err(UploadError::Store(e)) => return Err(e.into()),
    };
    let mut activated = Vec::new();
    if params.activate {
        if let ActivateOutcome::Activated(types) =
            state.registry.store().activate(&record.name, &record.version, caller.name(), false).await?
        {
            activated = types;
        }
        follow_here(&state).await;
    }
    let status = if outcome == PutOutcome::Stored { StatusCode::CREATED } else { StatusCode::OK };
    let capabilities = state.registry.capabilities_of(&record.name, &record.version);
    Ok((status, ApiJson(json!({ "plugin": record, "activated_for": activated, "capabilities": capabilities }))))
}

/// Lets this host follow an activation at once (the others follow the
/// notice). The activation is already done in Redis and claims resolve the
/// active version themselves, so a failure here is logged, never answered.
async fn follow_here(state: &AppState) {
    if let Err(e) = state.registry.refresh().await {
        tracing::warn!(error = %format!("{e:#}"), "activated, but this host could not reload its plugins yet");
    }
}

/// Query of `GET /api/plugins`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Plugins per page, 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page (a plugin name).
    cursor: Option<String>,
}

/// Every plugin (by name, a page at a time) with its versions, the types each
/// is active for and the hosts that loaded it; and the active version per type.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins", params(ListParams),
    security(("bearer" = ["plugins:admin"])),
    responses(
        (status = 200, description = "`{plugins, active, next_cursor}`", body = PluginList),
        (status = 400, description = "Invalid query", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller<Plugins>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<ApiJson<PluginList>, ApiError> {
    let store = state.registry.store();
    let (versions, next_cursor) = super::ops::page_by_key(
        store.versions().await?.into_iter().collect(),
        |(name, _)| name.clone(),
        p.cursor,
        super::missions::limit(p.limit, 100)?,
    );
    let active = store.active().await?;
    let hosts = state.queue.workers().await?;
    let mut plugins = Vec::new();
    for (name, records) in versions {
        let versions = records
            .into_iter()
            .map(|r| {
                let active_for =
                    active.iter().filter(|(_, a)| a.name == r.name && a.version == r.version).map(|(t, _)| t.clone());
                let key = PluginRef::new(&r.name, &r.version).to_string();
                let loaded_on = hosts.iter().filter(|h| h.plugins.contains(&key)).map(|h| h.id.clone());
                PluginVersion {
                    active_for: active_for.collect(),
                    digest: r.digest,
                    loaded_on: loaded_on.collect(),
                    manifest: r.manifest,
                    size: r.size,
                    uploaded_at: r.uploaded_at,
                    uploaded_by: r.uploaded_by,
                    version: r.version,
                }
            })
            .collect();
        plugins.push(PluginVersions { name, versions });
    }
    Ok(ApiJson(PluginList { active, next_cursor, plugins }))
}

/// Body of `POST /api/plugins/{name}/activate`: a version or a digest.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// The version to activate.
    #[serde(default)]
    version: Option<String>,
    /// Or the digest of the version to activate.
    #[serde(default)]
    digest: Option<String>,
}

/// Makes a stored version active for its types on every host (also how to
/// roll back): missions claimed from now on run it.
#[utoipa::path(post, path = "/api/plugins/{name}/activate", tag = "plugins", request_body = ActivateRequest,
    params(("name" = String, Path, description = "Plugin name")),
    security(("bearer" = ["plugins:admin"])),
    responses(
        (status = 200, description = "Active (`activated_for` is empty if it already was)", body = Object),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "No such plugin or version", body = ErrorBody),
    ))]
pub async fn activate(
    State(state): State<AppState>,
    caller: Caller<Plugins>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ActivateRequest>,
) -> Result<ApiJson<Value>, ApiError> {
    if !valid_type_name(&name) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, ErrorCode::PluginNotFound, format!("no plugin `{name}`")));
    }
    let store = state.registry.store();
    let version = match (req.version, req.digest) {
        (Some(v), None) => v,
        (None, Some(d)) => {
            store.versions_of(&name).await?.into_iter().rev().find(|r| r.digest == d).map(|r| r.version).ok_or_else(
                || {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        ErrorCode::VersionNotFound,
                        format!("{name} has no version with digest {d}"),
                    )
                },
            )?
        }
        _ => return Err(ApiError::bad_request(ErrorCode::InvalidBody, "give exactly one of `version` and `digest`")),
    };
    let outcome = store.activate(&name, &version, caller.name(), false).await?;
    let types = match outcome {
        ActivateOutcome::Missing => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::VersionNotFound,
                format!("{name} has no version {version}"),
            ));
        }
        ActivateOutcome::Activated(t) => t,
        ActivateOutcome::Unchanged => Vec::new(),
    };
    follow_here(&state).await;
    let record = store.version(&name, &version).await?;
    Ok(ApiJson(json!({ "plugin": record, "activated_for": types })))
}

/// Deletes a version that is active for no type.
#[utoipa::path(delete, path = "/api/plugins/{name}/versions/{version}", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name"), ("version" = String, Path, description = "Version")),
    security(("bearer" = ["plugins:admin"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 409, description = "Active for a type; activate another version first", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller<Plugins>,
    Path((name, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    match state.registry.store().delete(&name, &version, caller.name()).await? {
        DeleteOutcome::Deleted => Ok(StatusCode::NO_CONTENT),
        DeleteOutcome::Active(t) => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::VersionActive,
            format!("{name} {version} is active for mission type `{t}`; activate another version first"),
        )),
        DeleteOutcome::Missing => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::VersionNotFound,
            format!("{name} has no version {version}"),
        )),
    }
}
