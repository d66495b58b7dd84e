//! The caller of a request, as an extractor that demands a scope: a handler
//! taking `Caller<Read>` cannot run for a caller without `missions:read`.
//! No token is a 401, a token without the scope a 403.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::api::ErrorCode;
use crate::auth::{AuthError, Principal, Scope};

/// A scope a handler demands.
pub trait Need {
    /// The scope.
    const SCOPE: Scope;
}

/// `missions:read`.
#[derive(Debug)]
pub struct Read;
/// `missions:write`.
#[derive(Debug)]
pub struct Write;
/// `plugins:admin`.
#[derive(Debug)]
pub struct Plugins;
/// `admin`: the operator, across tenants.
#[derive(Debug)]
pub struct Admin;
/// `tenant:admin` (or `admin`): manages tokens, of its own tenant only unless `admin`.
#[derive(Debug)]
pub struct TenantAdmin;

impl Need for Read {
    const SCOPE: Scope = Scope::MissionsRead;
}
impl Need for Write {
    const SCOPE: Scope = Scope::MissionsWrite;
}
impl Need for Plugins {
    const SCOPE: Scope = Scope::PluginsAdmin;
}
impl Need for Admin {
    const SCOPE: Scope = Scope::Admin;
}
impl Need for TenantAdmin {
    const SCOPE: Scope = Scope::TenantAdmin;
}

/// The token of an `Authorization` header: `Bearer <token>`, the scheme in
/// any case (RFC 9110, 11.1). `None` for another scheme or no token.
pub(super) fn bearer_token(value: &axum::http::HeaderValue) -> Option<&str> {
    let (scheme, token) = value.to_str().ok()?.trim().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An authenticated caller holding scope `N`.
#[derive(Debug)]
pub struct Caller<N> {
    /// Who it is.
    pub principal: Principal,
    need: PhantomData<N>,
}

impl<N> Caller<N> {
    /// Whether the caller is the operator (`admin`), whose reach spans tenants.
    pub fn is_operator(&self) -> bool {
        self.principal.is_operator()
    }
    /// The caller's tenant.
    pub fn tenant(&self) -> &str {
        &self.principal.tenant
    }
    /// The caller's name, recorded on what it changes.
    pub fn name(&self) -> &str {
        &self.principal.name
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(e) => e.into(),
            other => ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, other.to_string()),
        }
    }
}

/// The principal of a request's token, whatever its scopes: 401 for no,
/// malformed or unknown token (every caller of an open API is the anonymous admin).
async fn principal_of(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let bearer = match parts.headers.get(axum::http::header::AUTHORIZATION) {
        _ if !state.auth.enforced() => None,
        None => None,
        Some(v) => Some(bearer_token(v).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "the Authorization header must be `Bearer <token>`",
            )
        })?),
    };
    Ok(state.auth.authenticate(bearer).await?)
}

impl<N: Need> FromRequestParts<AppState> for Caller<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = principal_of(parts, state).await?;
        if !principal.allows(N::SCOPE) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                format!("this needs the `{}` scope, which the token `{}` lacks", N::SCOPE.as_str(), principal.name),
            ));
        }
        Ok(Caller { principal, need: PhantomData })
    }
}

/// Any authenticated caller, whatever its scopes: only for what a token may
/// always learn, such as its own scopes (`GET /api/whoami`).
#[derive(Debug)]
pub struct AnyCaller(pub Principal);

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(AnyCaller(principal_of(parts, state).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;
    use axum::http::HeaderValue;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in ["Bearer t1", "bearer t1", "BEARER t1", "BeArEr   t1 ", "Bearer\tt1"] {
            assert_eq!(bearer_token(&HeaderValue::from_static(v)), Some("t1"), "{v:?}");
        }
        for v in ["Basic dTpw", "Bearer", "Bearer ", "Bearert1", "t1"] {
            assert_eq!(bearer_token(&HeaderValue::from_static(v)), None, "{v:?}");
        }
    }
}
