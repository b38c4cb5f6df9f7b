//! The error of every call of a generated OpenAPI client.
//!
//! progenitor's own `Error` has no room for a typed auth failure (its hooks can only return a
//! `Custom(String)`), so the generator points the generated clients at this type instead. It
//! keeps progenitor's variants and names, so code written against progenitor reads the same,
//! and adds [`Error::Auth`].

use std::fmt;

use progenitor_client::ResponseValue;

use super::auth::AuthError;
use super::layer::RawBody;
use super::transport::TransportError;

/// What went wrong in a call. `E` is the operation's documented error body.
pub enum Error<E = ()> {
    /// A parameter did not satisfy the spec; nothing was sent.
    InvalidRequest(String),
    /// No credentials could be had (rejected, token endpoint unreachable or malformed); the
    /// call was not sent.
    Auth(AuthError),
    /// The request could not be built or sent (progenitor's variant; the layer reports a call
    /// that got no answer as [`Error::Transport`]).
    CommunicationError(reqwest::Error),
    /// No whole answer after `attempts` attempts (0: nothing was sent): connection refused
    /// or reset, a TLS failure, a timeout, a body cut short, stalled or over the size limit,
    /// a refused redirect or cleartext URL, the operation deadline. `source` says which.
    Transport {
        attempts: u32,
        source: TransportError,
    },
    /// A documented error answer, decoded.
    ErrorResponse(ResponseValue<E>),
    /// The body of an answer could not be read.
    ResponseBodyError(reqwest::Error),
    /// A documented answer whose body did not decode; the raw body is kept.
    InvalidResponsePayload(bytes::Bytes, serde_json::Error),
    /// An answer the spec does not list (check `status()`); the response is kept unread.
    UnexpectedResponse(reqwest::Response),
    /// Anything else a hook reported.
    Custom(String),
}

/// The header bLink echoes (and the runtime records) so a failed call can be traced.
pub const CORRELATION_ID_HEADER: &str = "x-correlation-id";

impl<E> Error<E> {
    /// The HTTP status, when the error came with an answer.
    pub fn status(&self) -> Option<reqwest::StatusCode> {
        match self {
            Error::CommunicationError(e) | Error::ResponseBodyError(e) => e.status(),
            Error::Transport {
                source: TransportError::Http(e),
                ..
            } => e.status(),
            Error::ErrorResponse(rv) => Some(rv.status()),
            Error::UnexpectedResponse(r) => Some(r.status()),
            Error::Auth(AuthError::Rejected {
                status: Some(status),
                ..
            }) => reqwest::StatusCode::from_u16(*status).ok(),
            _ => None,
        }
    }

    /// The `X-Correlation-ID` of the call, when the answer carried one (bLink echoes it, and
    /// the runtime adds the one it sent when the server did not).
    pub fn correlation_id(&self) -> Option<&str> {
        let headers = match self {
            Error::ErrorResponse(rv) => rv.headers(),
            Error::UnexpectedResponse(r) => r.headers(),
            _ => return None,
        };
        headers.get(CORRELATION_ID_HEADER)?.to_str().ok()
    }

    /// How a token flow reports a failed call of its token operation (BiQ `login`,
    /// CarmaChain `getToken`): a 4xx answer refuses the credentials, anything else is the
    /// service's trouble. Never includes a body: a token answer that does not decode may
    /// still hold the token.
    pub fn into_auth_error(self, operation: &str) -> AuthError {
        match self.status() {
            Some(status) if status.is_client_error() => {
                return AuthError::Rejected {
                    status: Some(status.as_u16()),
                    detail: format!("{operation} was refused"),
                };
            }
            Some(status) if !matches!(self, Error::InvalidResponsePayload(..)) => {
                return AuthError::Transport(format!("{operation} answered HTTP {status}"));
            }
            _ => {}
        }
        match self {
            Error::CommunicationError(e) | Error::ResponseBodyError(e) => {
                AuthError::Transport(format!("{operation}: {}", e.without_url()))
            }
            Error::Transport { attempts, source } => AuthError::Transport(format!(
                "{operation}: no answer after {attempts} attempt(s): {source}"
            )),
            Error::InvalidResponsePayload(_, e) => {
                AuthError::Malformed(format!("{operation} answered no token: {e}"))
            }
            Error::Auth(e) => e,
            Error::InvalidRequest(m) | Error::Custom(m) => {
                AuthError::Malformed(format!("{operation}: {m}"))
            }
            Error::ErrorResponse(_) | Error::UnexpectedResponse(_) => {
                AuthError::Malformed(format!("{operation}: an answer without a status"))
            }
        }
    }

    /// How many attempts the call took (retries and a 401 replay included), when known.
    pub fn attempts(&self) -> Option<u32> {
        let headers = match self {
            Error::Transport { attempts, .. } => return Some(*attempts),
            Error::ErrorResponse(rv) => rv.headers(),
            Error::UnexpectedResponse(r) => r.headers(),
            _ => return None,
        };
        super::layer::attempts_of(headers)
    }

    /// The raw body of the answer, when it was not decoded into a documented type: an
    /// undecodable body ([`Error::InvalidResponsePayload`]) or an undocumented answer
    /// ([`Error::UnexpectedResponse`], whose body the layer keeps as [`RawBody`]).
    pub fn body(&self) -> Option<&[u8]> {
        match self {
            Error::InvalidResponsePayload(body, _) => Some(body),
            Error::UnexpectedResponse(r) => r.extensions().get::<RawBody>().map(|b| &b.0[..]),
            _ => None,
        }
    }

    /// The answer's documented error body: decoded ([`Error::ErrorResponse`]), or read from
    /// the raw body of an answer the spec does not list for the operation (e.g. a 503 from a
    /// gateway in the vendor's error format). For Consumer Intelligence this is the RFC 7807
    /// problem (`type`, `title`, `status`, `detail`, `instance`, `violations`); for bLink its
    /// `CommonErrorResponse`.
    pub fn error_body(&self) -> Option<E>
    where
        E: Clone + serde::de::DeserializeOwned,
    {
        match self {
            Error::ErrorResponse(rv) => Some(rv.as_ref().clone()),
            _ => serde_json::from_slice(self.body()?).ok(),
        }
    }

    /// Whether the failure may pass: no answer, 408, 429 or 5xx, or a token endpoint that
    /// could not be reached. Worth trying again later (the layer already retried what it
    /// could); anything else (a refusal, an undecodable answer) will not change by waiting.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { source, .. } => {
                !source.is_final() || matches!(source, TransportError::DeadlineExceeded { .. })
            }
            Error::CommunicationError(_) | Error::ResponseBodyError(_) => true,
            Error::Auth(AuthError::Transport(_)) => true,
            Error::ErrorResponse(_) | Error::UnexpectedResponse(_) => {
                self.status().is_some_and(super::retry::is_retryable_status)
            }
            _ => false,
        }
    }

    /// Why the call got no answer, when it got none.
    pub fn transport(&self) -> Option<&TransportError> {
        match self {
            Error::Transport { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The auth failure, when no credentials could be had.
    pub fn auth(&self) -> Option<&AuthError> {
        match self {
            Error::Auth(e) => Some(e),
            _ => None,
        }
    }
}

impl<E> From<progenitor_client::Error<E>> for Error<E> {
    fn from(error: progenitor_client::Error<E>) -> Self {
        use progenitor_client::Error as P;
        match error {
            P::InvalidRequest(s) => Error::InvalidRequest(s),
            P::CommunicationError(e) | P::InvalidUpgrade(e) => Error::CommunicationError(e),
            P::ErrorResponse(rv) => Error::ErrorResponse(rv),
            P::ResponseBodyError(e) => Error::ResponseBodyError(e),
            P::InvalidResponsePayload(b, e) => Error::InvalidResponsePayload(b, e),
            P::UnexpectedResponse(r) => Error::UnexpectedResponse(r),
            P::Custom(s) => Error::Custom(s),
        }
    }
}

impl<E> From<reqwest::Error> for Error<E> {
    fn from(error: reqwest::Error) -> Self {
        Error::CommunicationError(error)
    }
}

impl<E> From<std::convert::Infallible> for Error<E> {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl<E> From<reqwest::header::InvalidHeaderValue> for Error<E> {
    fn from(error: reqwest::header::InvalidHeaderValue) -> Self {
        Error::InvalidRequest(error.to_string())
    }
}

impl<E> From<AuthError> for Error<E> {
    fn from(error: AuthError) -> Self {
        Error::Auth(error)
    }
}

impl<E> fmt::Display for Error<E>
where
    ResponseValue<E>: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidRequest(s) => write!(f, "invalid request: {s}"),
            Error::Auth(e) => write!(f, "authentication failed: {e}"),
            Error::CommunicationError(e) => write!(f, "communication error: {e}"),
            Error::Transport { attempts, source } => {
                write!(f, "no answer after {attempts} attempt(s): {source}")
            }
            Error::ErrorResponse(rv) => write!(f, "error response: {rv:?}"),
            Error::ResponseBodyError(e) => write!(f, "error reading the response body: {e}"),
            Error::InvalidResponsePayload(body, e) => write!(
                f,
                "invalid response payload ({e}): {}",
                truncated(&String::from_utf8_lossy(body))
            ),
            Error::UnexpectedResponse(r) => {
                write!(f, "unexpected response: {}", r.status())?;
                match self.body() {
                    Some(body) if !body.is_empty() => {
                        write!(f, ": {}", truncated(&String::from_utf8_lossy(body)))
                    }
                    _ => Ok(()),
                }
            }
            Error::Custom(s) => write!(f, "{s}"),
        }?;
        if let Some(attempts) = self.attempts().filter(|n| *n > 1)
            && !matches!(self, Error::Transport { .. })
        {
            write!(f, " (after {attempts} attempts)")?;
        }
        match self.correlation_id() {
            Some(id) => write!(f, " (X-Correlation-ID {id})"),
            None => Ok(()),
        }
    }
}

impl<E> fmt::Debug for Error<E>
where
    ResponseValue<E>: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<E> std::error::Error for Error<E>
where
    ResponseValue<E>: fmt::Debug,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Auth(e) => Some(e),
            Error::CommunicationError(e) | Error::ResponseBodyError(e) => Some(e),
            Error::Transport { source, .. } => Some(source),
            Error::InvalidResponsePayload(_, e) => Some(e),
            _ => None,
        }
    }
}

/// At most 1 KiB of a body for messages (the whole body stays in the error value).
fn truncated(body: &str) -> String {
    const LIMIT: usize = 1024;
    if body.len() <= LIMIT {
        return body.to_string();
    }
    let mut end = LIMIT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &body[..end], body.len())
}

/// Reads a documented answer into a typed value: progenitor's `ResponseValue::from_response`
/// with this module's error (the generator routes every generated call here). An error answer
/// whose body is not the documented error type (a gateway's text page with a 429 or 503)
/// comes back as [`Error::UnexpectedResponse`], so its status, headers and body stay
/// available (`status()`, `is_transient()`, `body()`), rather than as a payload error that
/// has lost the status.
pub async fn from_response<T: serde::de::DeserializeOwned, E>(
    mut response: reqwest::Response,
) -> Result<ResponseValue<T>, Error<E>> {
    // The body the layer read is decoded where it lies: the answer is neither converted nor
    // rebuilt, and its headers are moved out, not copied.
    let body = match response.extensions().get::<RawBody>() {
        Some(RawBody(body)) => body.clone(),
        None => return from_unread_response(response).await,
    };
    match serde_json::from_slice(&body) {
        Ok(inner) => {
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            Ok(ResponseValue::new(inner, status, headers))
        }
        Err(_) if !response.status().is_success() => Err(Error::UnexpectedResponse(response)),
        Err(e) => Err(Error::InvalidResponsePayload(body, e)),
    }
}

/// [`from_response`] for an answer whose body nobody has read (one that did not come through
/// the layer): reads it first, keeping it as [`RawBody`] for an error.
async fn from_unread_response<T: serde::de::DeserializeOwned, E>(
    response: reqwest::Response,
) -> Result<ResponseValue<T>, Error<E>> {
    use http_body_util::BodyExt;
    let (parts, stream) = ::http::Response::<reqwest::Body>::from(response).into_parts();
    let body = stream
        .collect()
        .await
        .map_err(Error::ResponseBodyError)?
        .to_bytes();
    match serde_json::from_slice(&body) {
        Ok(inner) => Ok(ResponseValue::new(inner, parts.status, parts.headers)),
        Err(_) if !parts.status.is_success() => Err(Error::UnexpectedResponse(
            super::layer::answer_from_parts(parts, body),
        )),
        Err(e) => Err(Error::InvalidResponsePayload(body, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_at_a_char_boundary() {
        let body = "é".repeat(1000);
        let cut = truncated(&body);
        assert!(cut.ends_with("(2000 bytes)"), "{cut}");
        assert!(cut.len() < 1100);
        assert_eq!(truncated("short"), "short");
    }

    #[test]
    fn a_token_answer_that_does_not_decode_never_shows_its_body() {
        let body = bytes::Bytes::from_static(br#"{"access_token": 42, "secret": "tok-123"}"#);
        let decode = serde_json::from_slice::<u8>(&body).unwrap_err();
        let error: Error<()> = Error::InvalidResponsePayload(body, decode);
        let auth = error.into_auth_error("login");
        assert!(matches!(auth, AuthError::Malformed(_)), "{auth}");
        assert!(!auth.to_string().contains("tok-123"), "{auth}");
    }

    #[test]
    fn auth_errors_keep_their_status_and_type() {
        let error: Error<()> = Error::Auth(AuthError::Rejected {
            status: Some(401),
            detail: "invalid_client".into(),
        });
        assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
        assert!(matches!(error.auth(), Some(AuthError::Rejected { .. })));
        assert_eq!(
            error.to_string(),
            "authentication failed: credentials rejected (HTTP 401): invalid_client"
        );
    }
}
