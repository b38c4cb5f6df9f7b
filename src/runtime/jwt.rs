//! Reading (not verifying) a JWT's claims: the client only needs `exp` and vendor claims
//! such as BiQ's tenant ids; the issuing server verifies its own signature.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::auth::AuthError;

/// The claims of `token` (the middle, base64url-encoded JSON part).
pub fn claims(token: &str) -> Result<serde_json::Value, AuthError> {
    let mut parts = token.split('.');
    let payload = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(payload), Some(_), None) => payload,
        _ => {
            return Err(AuthError::Malformed(
                "the token is not a JWT (three dot-separated parts)".into(),
            ));
        }
    };
    // Some issuers pad; base64url without padding is the standard (RFC 7515).
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed("the JWT payload is not base64url".into()))?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("the JWT payload is not JSON".into()))?;
    if claims.is_object() {
        Ok(claims)
    } else {
        Err(AuthError::Malformed(
            "the JWT payload is not a JSON object".into(),
        ))
    }
}

/// When a token with these claims expires, from `exp` (seconds since the epoch).
pub fn expires_at(claims: &serde_json::Value) -> Option<Instant> {
    let exp = claims.get("exp")?.as_f64()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let left = (exp - now).max(0.0);
    Some(Instant::now() + Duration::from_secs_f64(left.min(1e9)))
}

/// The strings of the first of `names` that is present in `claims` (a string or an array).
pub fn strings(claims: &serde_json::Value, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .find_map(|name| claims.get(name))
        .map(|value| match value {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn reads_exp_and_tenants_either_spelling() {
        let far = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 120;
        let c = claims(&jwt(&format!(r#"{{"exp":{far},"tenatIds":["a","b"]}}"#))).unwrap();
        let left = expires_at(&c)
            .unwrap()
            .saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(100) && left <= Duration::from_secs(121),
            "{left:?}"
        );
        assert_eq!(strings(&c, &["tenatIds", "tenantIds"]), ["a", "b"]);
        let c = claims(&jwt(r#"{"tenantIds":"x"}"#)).unwrap();
        assert_eq!(strings(&c, &["tenatIds", "tenantIds"]), ["x"]);
        assert_eq!(expires_at(&c), None);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for bad in [
            "",
            "abc",
            "a.b",
            "a.!!.c",
            &jwt("[1]"),
            &jwt("not json"),
            "a.b.c.d",
        ] {
            assert!(matches!(claims(bad), Err(AuthError::Malformed(_))), "{bad}");
        }
    }
}
