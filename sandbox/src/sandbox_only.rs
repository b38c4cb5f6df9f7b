//! The guard of the sandbox's own routes (`/sandbox/...` below each twin's prefix: scripting,
//! counters, callback registration; no vendor has them).
//!
//! The sandbox listens on loopback, but a web page the developer visits can still send
//! requests there. Without a guard such a page could script the twins or register a callback
//! URL of its choosing, which the sandbox would then call. So every sandbox-only route
//! requires:
//! * the sandbox key in [`KEY_HEADER`] (401 without it, 403 with another one). The key is
//!   random per [`crate::Sandbox`] (unless [`crate::SandboxConfig::sandbox_key`] sets one),
//!   printed at start by the binary and exposed as [`crate::Sandbox::sandbox_key`]. A page
//!   cannot read it, and a cross-site request carrying a custom header needs a CORS preflight
//!   that the sandbox never grants.
//! * `Content-Type: application/json` on a request with a body (415 otherwise): a page can
//!   send a form or `text/plain` body without preflight, never JSON.
//!
//! Separately, every URL the sandbox will call (BiQ callbacks, Consumer Intelligence webhooks)
//! must be loopback ([`loopback_url`]), so even a registered URL cannot reach other hosts.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The request header carrying the sandbox key.
pub const KEY_HEADER: &str = "x-sandbox-key";

/// A fresh random sandbox key (128 random bits as 32 hex digits).
pub fn new_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Whether `path` (below a twin's prefix) is a sandbox-only route.
pub fn is_sandbox_only(path: &str) -> bool {
    path == "/sandbox" || path.starts_with("/sandbox/")
}

/// The state of [`guard`]: the key this sandbox accepts.
#[derive(Clone)]
pub(crate) struct SandboxKey(pub(crate) Arc<str>);

/// Refuses a call of a sandbox-only route without the sandbox key (401), with another key
/// (403), or with a body that is not declared JSON (415); other routes pass untouched.
pub(crate) async fn guard(State(key): State<SandboxKey>, request: Request, next: Next) -> Response {
    if !is_sandbox_only(request.uri().path()) {
        return next.run(request).await;
    }
    if let Err((status, message)) = check(&key.0, request.headers()) {
        return (status, message).into_response();
    }
    next.run(request).await
}

/// The refusal (status and message) of a call, if any.
fn check(key: &str, headers: &HeaderMap) -> Result<(), (StatusCode, &'static str)> {
    let Some(given) = headers.get(KEY_HEADER) else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "sandbox-only route: send the sandbox key (printed at start; Sandbox::sandbox_key()) \
             in the x-sandbox-key header",
        ));
    };
    if !same_bytes(given.as_bytes(), key.as_bytes()) {
        return Err((
            StatusCode::FORBIDDEN,
            "sandbox-only route: the x-sandbox-key header is not this sandbox's key",
        ));
    }
    if has_body(headers) && !is_json(headers) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "sandbox-only route: a body must be sent as Content-Type: application/json",
        ));
    }
    Ok(())
}

/// Compares in time independent of where the bytes differ (the key is a credential).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Whether the request announces a body: a non-zero `Content-Length`, or any
/// `Transfer-Encoding` (a chunked body of unknown length).
fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    match headers.get(header::CONTENT_LENGTH) {
        Some(length) => {
            length
                .to_str()
                .ok()
                .and_then(|l| l.trim().parse::<u64>().ok())
                != Some(0)
        }
        None => false,
    }
}

/// `application/json`, parameters (`; charset=utf-8`) allowed, in any case.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Checks that `url` is an absolute http(s) URL to this machine (127.0.0.0/8, `::1` or
/// `localhost`): the only place the sandbox calls. The error is the message to answer with.
pub fn loopback_url(url: &str) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|_| "must be an absolute http(s) URL".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an absolute http(s) URL".to_string());
    }
    // The parser has normalised the host: IPv4 in dotted decimal, IPv6 in brackets.
    let host = parsed.host_str().unwrap_or_default();
    let loopback = match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(ip) => std::net::IpAddr::is_loopback(&ip),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    if loopback {
        Ok(())
    } else {
        Err(
            "must be a loopback URL (127.0.0.0/8, [::1] or localhost): the sandbox calls \
             nothing else"
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_accepted() {
        for url in [
            "http://127.0.0.1:8080/cb",
            "http://127.5.6.7/cb",
            "https://[::1]:9/x",
            "http://localhost:3000/",
            "http://LOCALHOST/",
        ] {
            assert_eq!(loopback_url(url), Ok(()), "{url}");
        }
        for url in [
            "http://10.0.0.1/cb",
            "http://example.com/cb",
            "http://localhost.example.com/",
            "http://[::2]/",
            "http://0.0.0.0/",
            "ftp://127.0.0.1/",
            "not a url",
            "http://127.0.0.1@evil.example/",
        ] {
            assert!(loopback_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn a_json_content_type_may_carry_parameters() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "application/jsonp".parse().unwrap());
        assert!(!is_json(&headers));
    }
}
