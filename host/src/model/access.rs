//! Who may do what: tenants, scopes, principals and the tokens that carry them.
//! Plain values shared by the store (which keeps tokens) and auth (which checks them).

use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The tenant of the open mode and of tokens that name none.
pub const DEFAULT_TENANT: &str = "default";
/// What a token may do.
///
/// `admin` is the operator's scope and spans every tenant: it may do
/// everything, mint tokens for any tenant, and see the shared views (queue,
/// workers, metrics). `tenant:admin` is a tenant's own administrator: it reads
/// and writes its tenant's missions and manages its tenant's tokens only,
/// granting no more than it holds. Missions, events and stats are always
/// those of the caller's own tenant, whatever its scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Scope {
    /// Submit, cancel and retry missions; append to their logs.
    #[serde(rename = "missions:write")]
    MissionsWrite,
    /// Read missions, logs, events and stats of the tenant.
    #[serde(rename = "missions:read")]
    MissionsRead,
    /// Upload, activate and delete plugins (shared by every tenant).
    #[serde(rename = "plugins:admin")]
    PluginsAdmin,
    /// Everything, across tenants: the operators' views and every tenant's tokens.
    #[serde(rename = "admin")]
    Admin,
    /// The tenant's missions (read and write) and the tenant's own tokens.
    #[serde(rename = "tenant:admin")]
    TenantAdmin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 5] =
        [Scope::MissionsWrite, Scope::MissionsRead, Scope::PluginsAdmin, Scope::Admin, Scope::TenantAdmin];

    /// The name in tokens, the configuration and the OpenAPI document.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MissionsWrite => "missions:write",
            Scope::MissionsRead => "missions:read",
            Scope::PluginsAdmin => "plugins:admin",
            Scope::Admin => "admin",
            Scope::TenantAdmin => "tenant:admin",
        }
    }

    /// Whether a holder of this scope also holds `other`.
    pub fn implies(self, other: Scope) -> bool {
        match self {
            Scope::Admin => true,
            Scope::TenantAdmin => matches!(other, Scope::TenantAdmin | Scope::MissionsRead | Scope::MissionsWrite),
            s => s == other,
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
            format!("unknown scope `{s}`; expected missions:write, missions:read, plugins:admin, tenant:admin or admin")
        })
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The token's name; recorded as `created_by`, `cancelled_by`, ...
    pub name: String,
    /// Whose missions, events and stats the caller sees.
    pub tenant: String,
    /// What the caller may do.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// The caller of an API with no tokens configured.
    pub fn anonymous() -> Self {
        Principal { name: "anonymous".into(), tenant: DEFAULT_TENANT.into(), scopes: vec![Scope::Admin] }
    }
    /// Whether the caller holds `scope` (or one that implies it, such as `admin`).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|s| s.implies(scope))
    }
    /// Whether the caller is the operator (`admin`), whose reach spans tenants.
    pub fn is_operator(&self) -> bool {
        self.scopes.contains(&Scope::Admin)
    }
    /// Whether the caller may act on tokens of `tenant` with `scopes`: the
    /// operator on any; a tenant admin only in its own tenant, and only for
    /// scopes it holds itself.
    pub fn may_manage_token(&self, tenant: &str, scopes: &[Scope]) -> bool {
        self.is_operator()
            || (self.allows(Scope::TenantAdmin) && tenant == self.tenant && scopes.iter().all(|s| self.allows(*s)))
    }
}

/// A token created through the API, as Redis stores it (under its hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredToken {
    /// Stable id, used to revoke it.
    pub id: String,
    /// Who holds it.
    pub name: String,
    /// Its tenant.
    pub tenant: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Unix seconds.
    pub created_at: i64,
    /// The principal that created it.
    pub created_by: String,
}

/// A new random token: `mr_` and 64 hex digits (256 bits).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("mr_{}", hex(&bytes))
}

/// Hex SHA-256 of a token, as stored.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `t` is a tenant name: like a mission type name, without dots.
pub fn valid_tenant(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
