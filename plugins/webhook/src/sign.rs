//! Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")),
//! where the key is the base64 after the secret's `whsec_` prefix.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a secret cannot sign.
#[derive(Debug, PartialEq, Eq)]
pub struct BadSecret(pub String);

/// The `webhook-signature` header's value for one message.
pub fn signature(secret: &str, id: &str, timestamp: u64, body: &str) -> Result<String, BadSecret> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD
        .decode(encoded)
        .map_err(|e| BadSecret(format!("the signing secret is not `whsec_` + base64 ({e})")))?;
    if key.is_empty() {
        return Err(BadSecret("the signing secret is empty".into()));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| BadSecret(e.to_string()))?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks reference libraries.
    #[test]
    fn signs_the_published_test_vector() {
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig.as_deref(), Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    }

    #[test]
    fn refuses_a_secret_that_is_not_base64() {
        assert!(signature("whsec_not base64!", "id", 1, "{}").is_err());
    }
}
