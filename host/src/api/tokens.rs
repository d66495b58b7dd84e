//! `/api/tokens`: API tokens created at run time (stored hashed in Redis).
//! Tokens of the configuration file are not listed here; they change with it.
//!
//! The operator (`admin`) manages every tenant's tokens. A tenant admin
//! (`tenant:admin`) manages its own tenant's only, and grants no scope it
//! does not hold (so never `admin` or `plugins:admin`): another tenant's
//! token is as absent to it as one that never existed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::caller::{Caller, TenantAdmin};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::ops::{PageParams, page_by_key};
use crate::api::ErrorCode;
use crate::auth::{Scope, StoredToken, valid_tenant};
use crate::store::TokenStore;

/// Body of `POST /api/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Who will hold it (1 to 100 characters); recorded on what it changes.
    name: String,
    /// Its tenant (default: the caller's). Only `admin` may name another tenant.
    #[serde(default)]
    tenant: Option<String>,
    /// At least one scope.
    scopes: Vec<Scope>,
}

/// Answer of `POST /api/tokens`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The token: shown this once, stored only as its hash.
    token: String,
    /// Its record.
    record: StoredToken,
}

/// A page of tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPage {
    /// By id; without the secrets.
    tokens: Vec<StoredToken>,
    /// Where the next page starts; `null` at the end.
    next_cursor: Option<String>,
}

fn store(state: &AppState) -> TokenStore {
    TokenStore::new(state.queue.conn(), state.queue.keys())
}

/// Creates a token. Refused (409) while the API is open: with no token
/// configured, tokens would not be asked for. A tenant admin creates tokens
/// of its own tenant with scopes it holds (403 otherwise).
#[utoipa::path(post, path = "/api/tokens", tag = "tokens", request_body = CreateToken,
    security(("bearer" = ["tenant:admin"])),
    responses(
        (status = 201, description = "Created; the token is in the answer only", body = CreatedToken),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Another tenant, or a scope the caller does not hold", body = ErrorBody),
        (status = 409, description = "The API is open (no tokens configured)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller<TenantAdmin>,
    ApiJson(req): ApiJson<CreateToken>,
) -> Result<(StatusCode, ApiJson<CreatedToken>), ApiError> {
    if !state.auth.enforced() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::AuthDisabled,
            "the API is open (no tokens configured), so tokens would not be asked for; configure [[auth.tokens]] first",
        ));
    }
    let name = req.name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(ErrorCode::InvalidField, "`name` must be 1 to 100 characters"));
    }
    let tenant = req.tenant.unwrap_or_else(|| caller.tenant().to_owned());
    if !valid_tenant(&tenant) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidField,
            "`tenant` must be 1 to 64 of a-z, 0-9, `_` and `-`",
        ));
    }
    let mut scopes = req.scopes;
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    if scopes.is_empty() {
        return Err(ApiError::bad_request(ErrorCode::InvalidField, "`scopes`: give at least one"));
    }
    if !caller.principal.may_manage_token(&tenant, &scopes) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!(
                "the token `{}` may create tokens only for its tenant `{}`, with scopes it holds (`admin` spans tenants)",
                caller.name(),
                caller.tenant()
            ),
        ));
    }
    let (token, record) = store(&state).create(name, &tenant, scopes, caller.name()).await?;
    tracing::info!(id = %record.id, name = %record.name, tenant = %record.tenant, by = %caller.name(), "token created");
    Ok((StatusCode::CREATED, ApiJson(CreatedToken { token, record })))
}

/// Lists the tokens created through the API (not their secrets): every
/// tenant's for `admin`, the caller's tenant's for a tenant admin.
#[utoipa::path(get, path = "/api/tokens", tag = "tokens", params(PageParams),
    security(("bearer" = ["tenant:admin"])),
    responses(
        (status = 200, description = "One page (default 100)", body = TokenPage),
        (status = 400, description = "Invalid query", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller<TenantAdmin>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<ApiJson<TokenPage>, ApiError> {
    let limit = super::missions::limit(p.limit, 100)?;
    let cursor = super::ops::page_cursor(p.cursor)?;
    let mut all = store(&state).list().await?;
    all.retain(|t| caller.is_operator() || t.tenant == caller.tenant());
    let (tokens, next_cursor) = page_by_key(all, |t| t.id.clone(), cursor, limit);
    Ok(ApiJson(TokenPage { tokens, next_cursor }))
}

/// Revokes a token; every host stops accepting it within 5 seconds. A tenant
/// admin revokes its tenant's tokens that hold no scope it lacks.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    security(("bearer" = ["tenant:admin"])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token (that the caller may revoke)", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller<TenantAdmin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let well_formed = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let store = store(&state);
    let mine = well_formed
        && match store.get(&id).await? {
            Some(t) => caller.principal.may_manage_token(&t.tenant, &t.scopes),
            None => false,
        };
    if mine && store.revoke(&id).await? {
        tracing::info!(%id, by = %caller.name(), "token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        let shown: String = id.chars().take(64).collect();
        Err(ApiError::new(StatusCode::NOT_FOUND, ErrorCode::TokenNotFound, format!("no token with id `{shown}`")))
    }
}
