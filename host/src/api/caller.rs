//! The caller of a request, as an extractor that demands a scope: a handler
//! taking `Caller<Read>` cannot run for a caller without `missions:read`.
//! No token is a 401, a token without the scope a 403.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
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
/// `admin`.
#[derive(Debug)]
pub struct Admin;

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

/// An authenticated caller holding scope `N`.
#[derive(Debug)]
pub struct Caller<N> {
    /// Who it is.
    pub principal: Principal,
    need: PhantomData<N>,
}

impl<N> Caller<N> {
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
            other => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", other.to_string()),
        }
    }
}

impl<N: Need> FromRequestParts<AppState> for Caller<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            _ if !state.auth.enforced() => None,
            None => None,
            Some(v) => {
                let v = v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
                Some(v.map(str::trim).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "the Authorization header must be `Bearer <token>`",
                    )
                })?)
            }
        };
        let principal = state.auth.authenticate(bearer).await?;
        if !principal.allows(N::SCOPE) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this needs the `{}` scope, which the token `{}` lacks", N::SCOPE.as_str(), principal.name),
            ));
        }
        Ok(Caller { principal, need: PhantomData })
    }
}
