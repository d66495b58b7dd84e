//! Who is calling: bearer tokens, their scopes and their tenant.
//!
//! Tokens are never stored in clear: the configuration file and Redis hold
//! the SHA-256 of each. With no token configured at all the API is open (every
//! caller is the `anonymous` admin of the `default` tenant), which the host only
//! allows on a loopback address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use crate::model::access::{
    DEFAULT_TENANT, Principal, Scope, StoredToken, generate_token, hash_token, valid_tenant,
};
use crate::store::{StoreError, TokenStore};

/// How long a token read from Redis is trusted before it is read again; so a
/// revocation reaches every host within this time.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

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
    Store(#[from] StoreError),
}

type Cache = HashMap<String, (Instant, Option<Principal>)>;

/// Resolves bearer tokens to principals.
#[derive(Debug)]
pub struct Authenticator {
    /// `None`: no tokens configured, the API is open.
    configured: Option<HashMap<String, Principal>>,
    /// Tokens created through the API (`None` in open mode).
    stored: Option<TokenStore>,
    cache: Mutex<Cache>,
}

impl Authenticator {
    /// Open: every caller is [`Principal::anonymous`].
    pub fn open() -> Self {
        Authenticator { configured: None, stored: None, cache: Mutex::default() }
    }

    /// Enforcing: tokens from the configuration, then those created through
    /// the API (kept by `stored`).
    pub fn enforcing(tokens: &[ConfiguredToken], stored: TokenStore) -> Self {
        let configured = tokens
            .iter()
            .map(|t| {
                let p = Principal { name: t.name.clone(), tenant: t.tenant.clone(), scopes: t.scopes.clone() };
                (t.sha256.to_ascii_lowercase(), p)
            })
            .collect();
        Authenticator { configured: Some(configured), stored: Some(stored), cache: Mutex::default() }
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
        let Some(stored) = &self.stored else { return Err(AuthError::Invalid) };
        let found =
            stored.by_hash(&hash).await?.map(|t| Principal { name: t.name, tenant: t.tenant, scopes: t.scopes });
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        }
        cache.insert(hash, (Instant::now(), found.clone()));
        found.ok_or(AuthError::Invalid)
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
