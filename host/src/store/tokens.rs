//! Tokens created through the API, kept in Redis (hashed) so every host
//! sharing it accepts them.

use redis::AsyncCommands as _;

use super::{Keys, StoreError};
use crate::model::access::{Scope, StoredToken, generate_token, hash_token};

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
    pub fn new(conn: redis::aio::ConnectionManager, keys: &Keys) -> Self {
        TokenStore { conn, tokens: keys.tokens(), ids: keys.token_ids() }
    }

    /// Creates a token; returns it (the only time it is shown) and its record.
    pub async fn create(
        &self,
        name: &str,
        tenant: &str,
        scopes: Vec<Scope>,
        created_by: &str,
    ) -> Result<(String, StoredToken), StoreError> {
        let token = generate_token();
        let record = StoredToken {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: name.to_owned(),
            tenant: tenant.to_owned(),
            scopes,
            created_at: chrono::Utc::now().timestamp(),
            created_by: created_by.to_owned(),
        };
        let json = serde_json::to_string(&record).map_err(|e| StoreError::Protocol(e.to_string()))?;
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

    /// The record of the token whose hash is `hash`, if there is one (a record
    /// this version cannot read counts as none: the token is refused).
    pub async fn by_hash(&self, hash: &str) -> Result<Option<StoredToken>, StoreError> {
        let raw: Option<String> = self.conn.clone().hget(&self.tokens, hash).await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Every token's record, by id.
    pub async fn list(&self) -> Result<Vec<StoredToken>, StoreError> {
        let all: Vec<(String, String)> = self.conn.clone().hgetall(&self.tokens).await?;
        let mut out: Vec<StoredToken> = all.into_iter().filter_map(|(_, j)| serde_json::from_str(&j).ok()).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The record of token `id`, if there is one.
    pub async fn get(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
        let hash: Option<String> = self.conn.clone().hget(&self.ids, id).await?;
        let Some(hash) = hash else { return Ok(None) };
        let raw: Option<String> = self.conn.clone().hget(&self.tokens, &hash).await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Revokes a token by id; `false` if there was none.
    pub async fn revoke(&self, id: &str) -> Result<bool, StoreError> {
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
