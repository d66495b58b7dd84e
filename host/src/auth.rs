//! Who is calling: bearer tokens, their scopes and their tenant.
//!
//! Tokens are never stored in clear: the configuration file and Redis hold
//! the SHA-256 of each. With no token configured at all the API is open (every
//! caller is the `anonymous` admin of the `default` tenant), which the host only
//! allows on a loopback address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore as _;
use redis::AsyncCommands as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::queue::QueueError;

/// The tenant of the open mode and of tokens that name none.
pub const DEFAULT_TENANT: &str = "default";
/// How long a token read from Redis is trusted before it is read again; so a
/// revocation reaches every host within this time.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

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
    /// Submit, cancel and re-drive missions; append to their logs.
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

/// A token in the configuration file: `[[auth.tokens]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredToken {
    /// Who holds it.
    pub name: String,
    /// Its tenant.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Hex SHA-256 of the token (`mission-runner token hash` prints it).
    pub sha256: String,
}

fn default_tenant() -> String {
    DEFAULT_TENANT.into()
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

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("this API needs a bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    /// A token no one issued, or one that was revoked.
    #[error("the bearer token is not valid (unknown or revoked)")]
    Invalid,
    /// Redis could not be asked about the token.
    #[error(transparent)]
    Store(#[from] QueueError),
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

type Cache = HashMap<String, (Instant, Option<Principal>)>;

/// Resolves bearer tokens to principals.
#[derive(Debug)]
pub struct Authenticator {
    /// `None`: no tokens configured, the API is open.
    configured: Option<HashMap<String, Principal>>,
    redis: Option<(redis::aio::ConnectionManager, String)>,
    cache: Mutex<Cache>,
}

impl Authenticator {
    /// Open: every caller is [`Principal::anonymous`].
    pub fn open() -> Self {
        Authenticator { configured: None, redis: None, cache: Mutex::default() }
    }

    /// Enforcing: tokens from the configuration, then those created through
    /// the API (in Redis under `tokens_key`).
    pub fn enforcing(tokens: &[ConfiguredToken], redis: redis::aio::ConnectionManager, tokens_key: String) -> Self {
        let configured = tokens
            .iter()
            .map(|t| {
                let p = Principal { name: t.name.clone(), tenant: t.tenant.clone(), scopes: t.scopes.clone() };
                (t.sha256.to_ascii_lowercase(), p)
            })
            .collect();
        Authenticator { configured: Some(configured), redis: Some((redis, tokens_key)), cache: Mutex::default() }
    }

    /// Whether tokens are required.
    pub fn enforced(&self) -> bool {
        self.configured.is_some()
    }

    /// The caller presenting `bearer` (the header's token, if any). An open
    /// API ignores tokens: every caller is [`Principal::anonymous`].
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Principal, AuthError> {
        let Some(configured) = &self.configured else { return Ok(Principal::anonymous()) };
        let token = bearer.ok_or(AuthError::Missing)?;
        let hash = hash_token(token);
        if let Some(p) = configured.get(&hash) {
            return Ok(p.clone());
        }
        if let Some((at, p)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&hash)
            && at.elapsed() < CACHE_TTL
        {
            return p.clone().ok_or(AuthError::Invalid);
        }
        let Some((conn, key)) = &self.redis else { return Err(AuthError::Invalid) };
        let raw: Option<String> = conn.clone().hget(key, &hash).await.map_err(QueueError::from)?;
        let found = raw.and_then(|r| serde_json::from_str::<StoredToken>(&r).ok()).map(|t| Principal {
            name: t.name,
            tenant: t.tenant,
            scopes: t.scopes,
        });
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        }
        cache.insert(hash, (Instant::now(), found.clone()));
        found.ok_or(AuthError::Invalid)
    }
}

/// Tokens created through the API, kept in Redis (hashed) so every host
/// sharing it accepts them.
#[derive(Debug, Clone)]
pub struct TokenStore {
    conn: redis::aio::ConnectionManager,
    tokens: String,
    ids: String,
}

impl TokenStore {
    /// The store under `keys`.
    pub fn new(conn: redis::aio::ConnectionManager, keys: &crate::queue::Keys) -> Self {
        TokenStore { conn, tokens: keys.tokens(), ids: keys.token_ids() }
    }

    /// Creates a token; returns it (the only time it is shown) and its record.
    pub async fn create(
        &self,
        name: &str,
        tenant: &str,
        scopes: Vec<Scope>,
        created_by: &str,
    ) -> Result<(String, StoredToken), QueueError> {
        let token = generate_token();
        let record = StoredToken {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: name.to_owned(),
            tenant: tenant.to_owned(),
            scopes,
            created_at: chrono::Utc::now().timestamp(),
            created_by: created_by.to_owned(),
        };
        let json = serde_json::to_string(&record).map_err(|e| QueueError::Protocol(e.to_string()))?;
        let hash = hash_token(&token);
        let () = redis::pipe()
            .atomic()
            .hset(&self.tokens, &hash, json)
            .ignore()
            .hset(&self.ids, &record.id, &hash)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        Ok((token, record))
    }

    /// Every token's record, by id.
    pub async fn list(&self) -> Result<Vec<StoredToken>, QueueError> {
        let all: Vec<(String, String)> = self.conn.clone().hgetall(&self.tokens).await?;
        let mut out: Vec<StoredToken> = all.into_iter().filter_map(|(_, j)| serde_json::from_str(&j).ok()).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The record of token `id`, if there is one.
    pub async fn get(&self, id: &str) -> Result<Option<StoredToken>, QueueError> {
        let hash: Option<String> = self.conn.clone().hget(&self.ids, id).await?;
        let Some(hash) = hash else { return Ok(None) };
        let raw: Option<String> = self.conn.clone().hget(&self.tokens, &hash).await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Revokes a token by id; `false` if there was none.
    pub async fn revoke(&self, id: &str) -> Result<bool, QueueError> {
        let hash: Option<String> = self.conn.clone().hget(&self.ids, id).await?;
        let Some(hash) = hash else { return Ok(false) };
        let (removed,): (u32,) = redis::pipe()
            .atomic()
            .hdel(&self.tokens, &hash)
            .hdel(&self.ids, id)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(removed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_allows_everything_and_others_only_their_own() {
        let admin = Principal { name: "a".into(), tenant: "t".into(), scopes: vec![Scope::Admin] };
        let reader = Principal { name: "r".into(), tenant: "t".into(), scopes: vec![Scope::MissionsRead] };
        for s in Scope::ALL {
            assert!(admin.allows(s));
            assert_eq!(reader.allows(s), s == Scope::MissionsRead, "{s:?}");
        }
    }

    #[test]
    fn a_tenant_admin_manages_only_its_tenant_and_grants_no_more_than_it_holds() {
        let ta = Principal { name: "ta".into(), tenant: "acme".into(), scopes: vec![Scope::TenantAdmin] };
        assert!(ta.allows(Scope::MissionsRead) && ta.allows(Scope::MissionsWrite));
        assert!(!ta.allows(Scope::Admin) && !ta.allows(Scope::PluginsAdmin) && !ta.is_operator());
        assert!(ta.may_manage_token("acme", &[Scope::MissionsRead, Scope::TenantAdmin]));
        assert!(!ta.may_manage_token("rival", &[Scope::MissionsRead]), "another tenant");
        assert!(!ta.may_manage_token("acme", &[Scope::Admin]), "a wider scope");
        assert!(!ta.may_manage_token("acme", &[Scope::PluginsAdmin]), "a shared scope");
        let op = Principal { name: "op".into(), tenant: "acme".into(), scopes: vec![Scope::Admin] };
        assert!(op.may_manage_token("rival", &[Scope::Admin]), "the operator spans tenants");
        assert_eq!("tenant:admin".parse::<Scope>(), Ok(Scope::TenantAdmin));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert!(a.starts_with("mr_") && a.len() == 67);
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(valid_tenant("team-a") && !valid_tenant("Team") && !valid_tenant("") && !valid_tenant("a.b"));
    }

    #[tokio::test]
    async fn open_mode_needs_no_token() {
        let p = Authenticator::open().authenticate(None).await.unwrap();
        assert_eq!(p, Principal::anonymous());
    }
}
