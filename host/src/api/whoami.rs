//! `GET /api/whoami`: what a token may learn about itself. A client (the
//! dashboard above all) needs it to offer only what the token's scopes allow;
//! without it, it could only find out by being refused.

use axum::extract::State;
use serde::Serialize;

use super::AppState;
use super::caller::AnyCaller;
use super::doc::ErrorBody;
use super::extract::ApiJson;
use crate::auth::Scope;

/// The caller, as its token says.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// The token's name (recorded as `created_by`, `cancelled_by`, ...).
    name: String,
    /// Whose missions, events and stats the token sees.
    tenant: String,
    /// The scopes the token was given.
    scopes: Vec<&'static str>,
    /// Every scope the token holds, those its scopes imply included
    /// (`admin` implies all): what a client may offer.
    allows: Vec<&'static str>,
    /// `tokens`, or `open` when the API has no tokens (every caller is the anonymous admin).
    auth: &'static str,
}

/// The calling token's name, tenant and scopes. Any valid token may ask.
#[utoipa::path(get, path = "/api/whoami", tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = WhoAmI),
        (status = 401, description = "No or unknown token", body = ErrorBody),
    ))]
pub async fn whoami(State(state): State<AppState>, AnyCaller(p): AnyCaller) -> ApiJson<WhoAmI> {
    ApiJson(WhoAmI {
        allows: Scope::ALL.into_iter().filter(|s| p.allows(*s)).map(Scope::as_str).collect(),
        scopes: p.scopes.iter().map(|s| s.as_str()).collect(),
        name: p.name,
        tenant: p.tenant,
        auth: if state.auth.enforced() { "tokens" } else { "open" },
    })
}
