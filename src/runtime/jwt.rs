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

/// When a token with these claims expires, from `exp` (seconds since the epoch), clamped by
/// [`auth::expiry`](super::auth::expiry): an `exp` in the past still gives the token the
/// shortest lifetime (it is tried once; a 401 replays with a new one).
pub fn expires_at(claims: &serde_json::Value) -> Option<Instant> {
    let exp = claims.get("exp")?.as_f64()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    // Negative, NaN or huge: the clamp decides, never a panic.
    let left = Duration::try_from_secs_f64(exp - now).unwrap_or(if exp > now {
        Duration::MAX
    } else {
        Duration::ZERO
    });
    Some(super::auth::expiry(left))
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
    fn a_past_or_absurd_exp_is_clamped() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let left = |exp: &str| {
            let c = claims(&jwt(&format!(r#"{{"exp":{exp}}}"#))).unwrap();
            expires_at(&c)
                .unwrap()
                .saturating_duration_since(Instant::now())
        };
        let past = left(&(now - 3600).to_string());
        assert!(
            past > Duration::from_millis(900) && past <= crate::runtime::auth::MIN_TOKEN_LIFETIME,
            "{past:?}"
        );
        for absurd in ["1e300", &u64::MAX.to_string()] {
            let far = left(absurd);
            assert!(
                far <= crate::runtime::auth::MAX_TOKEN_LIFETIME
                    && far > Duration::from_secs(23 * 3600),
                "{far:?}"
            );
        }
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
