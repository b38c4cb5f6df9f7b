//! Credentials and tokens as the vendors hand them out: opaque bearer tokens with a lifetime,
//! HS256 JWTs (BiQ), and the checks the twins run on every call.

use crate::lock;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a presented token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    Unknown,
    Expired,
}

/// Issued tokens of one twin, each for a subject (client id, tenant, ...), with one lifetime.
#[derive(Debug)]
pub struct Tokens {
    lifetime: Duration,
    prefix: &'static str,
    issued: Mutex<HashMap<String, (String, Instant)>>,
    counter: Mutex<u64>,
}

impl Tokens {
    pub fn new(prefix: &'static str, lifetime: Duration) -> Self {
        Self {
            lifetime,
            prefix,
            issued: Mutex::new(HashMap::new()),
            counter: Mutex::new(0),
        }
    }

    /// The lifetime of new tokens.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A new token for `subject`.
    pub fn issue(&self, subject: &str) -> String {
        let n = {
            let mut counter = lock(&self.counter);
            *counter += 1;
            *counter
        };
        let token = format!("{}-{n}-{}", self.prefix, uuid::Uuid::new_v4().simple());
        lock(&self.issued).insert(
            token.clone(),
            (subject.to_string(), Instant::now() + self.lifetime),
        );
        token
    }

    /// The subject of a valid token.
    pub fn check(&self, token: Option<&str>) -> Result<String, TokenError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
        match lock(&self.issued).get(token) {
            None => Err(TokenError::Unknown),
            Some((_, expiry)) if *expiry <= Instant::now() => Err(TokenError::Expired),
            Some((subject, _)) => Ok(subject.clone()),
        }
    }

    /// Forgets every token issued so far.
    pub fn revoke_all(&self) {
        lock(&self.issued).clear();
    }

    /// Forgets a token (refresh-token rotation, revocation).
    pub fn revoke(&self, token: &str) {
        lock(&self.issued).remove(token);
    }
}

/// `Authorization: Bearer <token>` -> `<token>` (the scheme is case-insensitive, RFC 9110).
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// A signed HS256 JWT with `claims` (the sandbox signs; clients only read the claims).
pub fn jwt(claims: &serde_json::Value, key: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(signing_input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length; keep a valid shape regardless.
        Err(_) => String::new(),
    };
    format!("{signing_input}.{signature}")
}

/// Verifies a JWT made by [`jwt`] and returns its claims.
pub fn verify_jwt(token: &str, key: &[u8]) -> Option<serde_json::Value> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?)
        .ok()?;
    let payload = signing_input.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_unknown_ones_are_refused() {
        let tokens = Tokens::new("t", Duration::from_millis(30));
        let token = tokens.issue("client-1");
        assert_eq!(tokens.check(Some(&token)), Ok("client-1".into()));
        assert_eq!(tokens.check(Some("nope")), Err(TokenError::Unknown));
        assert_eq!(tokens.check(None), Err(TokenError::Missing));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(tokens.check(Some(&token)), Err(TokenError::Expired));
    }

    #[test]
    fn jwts_round_trip_and_detect_tampering() {
        let token = jwt(&serde_json::json!({"tenantIds": ["t1"], "exp": 2}), b"key");
        assert_eq!(verify_jwt(&token, b"key").unwrap()["tenantIds"][0], "t1");
        assert!(verify_jwt(&token, b"other").is_none());
        assert!(verify_jwt(&token.replace('.', ".x"), b"key").is_none());
    }
}
