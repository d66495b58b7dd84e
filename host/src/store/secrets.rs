//! Secrets at rest: ChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`), a
//! random 96-bit nonce per value, and associated data binding each ciphertext
//! to its (plugin, tenant, name): a sealed value copied to another plugin,
//! tenant or name in Redis does not open.
//!
//! The key (32 bytes, base64 in its file or variable) comes from config
//! `[secrets] key_file`, else `MISSION_RUNNER_SECRETS_KEY`, else, for the
//! embedded default only, `<data_dir>/secrets.key`, generated on first start
//! with mode 0600. Without a key, setting a secret is refused and reading one
//! fails (the guest sees `unavailable`).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// The environment variable holding the key (base64 of 32 bytes).
pub const SECRETS_KEY_ENV: &str = "MISSION_RUNNER_SECRETS_KEY";

/// Why a secret cannot be sealed or opened, or the key not loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No key is configured.
    #[error("this host has no secrets key: set [secrets] key_file or MISSION_RUNNER_SECRETS_KEY (base64 of 32 bytes)")]
    NoKey,
    /// The key is not base64 of 32 bytes, or its file cannot be read or written.
    #[error("secrets key: {0}")]
    BadKey(String),
    /// A sealed value does not open with this key for this (plugin, tenant, name).
    #[error("a stored secret does not open with this host's key (was the key changed?)")]
    Tampered,
}

/// The host's key for secrets. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SecretKey(Key);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// What the ciphertext is bound to.
fn aad(plugin: &str, tenant: &str, name: &str) -> Vec<u8> {
    format!("mission-runner secret v1\0{plugin}\0{tenant}\0{name}").into_bytes()
}

impl SecretKey {
    /// A key from base64 text (32 bytes).
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = B64.decode(text.trim()).map_err(|e| {
            SecretError::BadKey(format!("not base64 ({e}); make one with `head -c 32 /dev/urandom | base64`"))
        })?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey(format!("{} bytes, a key is 32", bytes.len())));
        }
        Ok(SecretKey(*Key::from_slice(&bytes)))
    }

    /// The host's key: `key_file` if given, else `env` (the variable's value),
    /// else, when `generate_at` is given (the embedded default), that file,
    /// created with mode 0600 holding a new random key if it does not exist.
    pub fn load(
        key_file: Option<&Path>,
        env: Option<String>,
        generate_at: Option<&Path>,
    ) -> Result<Option<Self>, SecretError> {
        if let Some(path) = key_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SecretError::BadKey(format!("cannot read {}: {e}", path.display())))?;
            return Self::from_base64(&text).map(Some);
        }
        if let Some(text) = env.filter(|t| !t.trim().is_empty()) {
            return Self::from_base64(&text).map(Some);
        }
        let Some(path) = generate_at else { return Ok(None) };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ChaCha20Poly1305::generate_key(&mut chacha20poly1305::aead::OsRng);
                write_private(path, &B64.encode(key))
                    .map_err(|e| SecretError::BadKey(format!("cannot write {}: {e}", path.display())))?;
                Ok(Some(SecretKey(key)))
            }
            Err(e) => Err(SecretError::BadKey(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Seals `value` for (plugin, tenant, name): base64 of nonce and ciphertext.
    pub fn seal(&self, plugin: &str, tenant: &str, name: &str, value: &str) -> Result<String, SecretError> {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let nonce = ChaCha20Poly1305::generate_nonce(&mut chacha20poly1305::aead::OsRng);
        let aad = aad(plugin, tenant, name);
        let sealed = cipher
            .encrypt(&nonce, Payload { msg: value.as_bytes(), aad: &aad })
            .map_err(|_| SecretError::BadKey("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(B64.encode(out))
    }

    /// Opens what [`seal`](Self::seal) made for the same (plugin, tenant, name).
    pub fn open(&self, plugin: &str, tenant: &str, name: &str, sealed: &str) -> Result<String, SecretError> {
        let bytes = B64.decode(sealed).map_err(|_| SecretError::Tampered)?;
        if bytes.len() < 12 {
            return Err(SecretError::Tampered);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let cipher = ChaCha20Poly1305::new(&self.0);
        let aad = aad(plugin, tenant, name);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| SecretError::Tampered)?;
        String::from_utf8(plain).map_err(|_| SecretError::Tampered)
    }
}

/// Writes `text` to a new file readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_plugin_tenant_and_name() {
        let key = SecretKey::from_base64(&B64.encode([7u8; 32])).unwrap();
        let sealed = key.seal("webhook", "acme", "signing_key", "s3cr3t").unwrap();
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(key.open("webhook", "acme", "signing_key", &sealed).unwrap(), "s3cr3t");
        assert!(key.open("webhook", "other", "signing_key", &sealed).is_err());
        assert!(key.open("other", "acme", "signing_key", &sealed).is_err());
        assert!(key.open("webhook", "acme", "other", &sealed).is_err());
        assert_ne!(sealed, key.seal("webhook", "acme", "signing_key", "s3cr3t").unwrap(), "a fresh nonce each time");
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
        assert_eq!(format!("{key:?}"), "SecretKey(..)");
    }
}
