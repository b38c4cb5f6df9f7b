//! Why a call got no (whole) answer: [`TransportError`], the typed cause every client
//! reports in `Error::Transport` (OpenAPI) and `SoapError::Transport` (SOAP).
//!
//! Some causes pass (a reset connection, a timeout, a stalled body) and are retried as the
//! retry policy allows; others cannot change by trying again and end the call at once
//! ([`TransportError::is_final`]): a TLS failure, an answer over the size limit, a refused
//! redirect, a cleartext URL, the operation deadline.

use std::fmt;
use std::time::Duration;

/// Why a call got no (whole) answer. Never contains a secret: URLs are left out of the
/// underlying `reqwest::Error`s, and a redirect's location is shown without its query.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection failed, was reset or timed out (the per-attempt timeout), or the body
    /// was cut short.
    Http(reqwest::Error),
    /// The TLS handshake failed; never retried (see [`TlsFailure`]).
    Tls {
        failure: TlsFailure,
        source: reqwest::Error,
    },
    /// The answer is larger than the client allows ([`Limits::max_answer_bytes`]); refused
    /// before buffering past the limit, never retried. `declared`: the `Content-Length`, when
    /// the server announced one.
    ///
    /// [`Limits::max_answer_bytes`]: super::limits::Limits::max_answer_bytes
    TooLarge { limit: u64, declared: Option<u64> },
    /// The body arrived slower than the minimum throughput (a stalled or trickling body);
    /// retried like a body cut short.
    Stalled {
        /// Bytes received in the window that was too slow.
        received: u64,
        window: Duration,
        minimum_bytes_per_second: u64,
    },
    /// The server redirected (3xx with a `Location`); redirects are not followed, so
    /// credentials and bodies never reach another address. Never retried.
    Redirected {
        status: u16,
        /// The `Location` without its query and fragment (they may carry a token).
        location: Option<String>,
    },
    /// The URL is plain `http` to a host that is not this machine; nothing was sent
    /// (credentials would travel in cleartext). See `ConnectOptions::allow_cleartext`.
    Cleartext { host: String },
    /// The operation deadline over the whole call (all attempts, waits and the token) ran
    /// out.
    DeadlineExceeded {
        /// The deadline that ran out: the client's or one set for the call.
        deadline: Duration,
        set_by: DeadlineSource,
        /// What the call was doing when it ran out.
        during: CallPhase,
    },
}

/// Why a TLS handshake failed, as far as the error tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The server's certificate is not signed by a trusted root (a private PKI needs its
    /// root in `ConnectOptions::root_certificates`).
    ServerCertificateUntrusted,
    /// The server's certificate has expired or is not valid yet.
    ServerCertificateExpired,
    /// The server's certificate is not valid for the host name.
    ServerCertificateWrongName,
    /// The server's certificate is unusable otherwise (revoked, bad encoding, purpose).
    ServerCertificateInvalid,
    /// The server refused our client certificate, or required one and got none.
    ClientCertificateRefused,
    /// The handshake failed for another reason (versions, ciphers, a malformed message).
    Protocol,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFailure::ServerCertificateUntrusted => {
                "the server's certificate is not signed by a trusted root"
            }
            TlsFailure::ServerCertificateExpired => {
                "the server's certificate has expired or is not valid yet"
            }
            TlsFailure::ServerCertificateWrongName => {
                "the server's certificate is not valid for this host name"
            }
            TlsFailure::ServerCertificateInvalid => "the server's certificate is invalid",
            TlsFailure::ClientCertificateRefused => {
                "the server refused the client certificate (or required one and got none)"
            }
            TlsFailure::Protocol => "the TLS handshake failed",
        })
    }
}

/// Who set the deadline that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineSource {
    /// The client's (`ConnectOptions::deadline`, `Layer::with_deadline`, or the default).
    Client,
    /// One set for this call ([`within`](super::limits::within)).
    Call,
}

/// What a call was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPhase {
    /// Waiting for a token (fetching one, or waiting for another caller's fetch).
    Token,
    /// Held by a rate limit (a `Retry-After` given to another call of the client).
    RateLimit,
    /// Sending attempt `n` or reading its answer.
    Attempt(u32),
    /// Waiting before attempt `n`.
    Backoff(u32),
}

impl fmt::Display for CallPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallPhase::Token => f.write_str("waiting for a token"),
            CallPhase::RateLimit => f.write_str("held by the server's rate limit"),
            CallPhase::Attempt(n) => write!(f, "during attempt {n}"),
            CallPhase::Backoff(n) => write!(f, "waiting to send attempt {n}"),
        }
    }
}

impl TransportError {
    /// A `reqwest` error of an attempt, with a TLS failure recognised as such and the URL
    /// left out (it may carry a secret in its query).
    pub fn from_reqwest(error: reqwest::Error) -> Self {
        let error = error.without_url();
        match classify_tls(&error) {
            Some(failure) => TransportError::Tls {
                failure,
                source: error,
            },
            None => TransportError::Http(error),
        }
    }

    /// Whether trying again cannot help (the layer does not retry these).
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            TransportError::Http(_) | TransportError::Stalled { .. }
        )
    }

    /// Whether an attempt or the operation ran out of time.
    pub fn is_timeout(&self) -> bool {
        match self {
            TransportError::Http(e) => e.is_timeout(),
            TransportError::DeadlineExceeded { .. } => true,
            _ => false,
        }
    }

    /// Whether the connection could not be made, so nothing reached the server.
    pub fn is_connect(&self) -> bool {
        match self {
            TransportError::Http(e) => e.is_connect(),
            TransportError::Tls { .. } | TransportError::Cleartext { .. } => true,
            _ => false,
        }
    }

    /// The TLS failure, when the handshake failed.
    pub fn tls(&self) -> Option<TlsFailure> {
        match self {
            TransportError::Tls { failure, .. } => Some(*failure),
            _ => None,
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Http(e) => write!(f, "{e}"),
            TransportError::Tls { failure, source } => {
                write!(f, "TLS: {failure} ({})", innermost(source))
            }
            TransportError::TooLarge {
                limit,
                declared: Some(declared),
            } => write!(
                f,
                "the answer is {declared} bytes, over the limit of {limit} bytes (not read)"
            ),
            TransportError::TooLarge {
                limit,
                declared: None,
            } => write!(
                f,
                "the answer grew over the limit of {limit} bytes (reading stopped there)"
            ),
            TransportError::Stalled {
                received,
                window,
                minimum_bytes_per_second,
            } => write!(
                f,
                "the answer stalled: {received} bytes in {} ms, below the minimum of \
                 {minimum_bytes_per_second} bytes/s",
                window.as_millis()
            ),
            TransportError::Redirected {
                status,
                location: Some(location),
            } => write!(
                f,
                "the server redirected (HTTP {status}) to {location}; redirects are not followed"
            ),
            TransportError::Redirected {
                status,
                location: None,
            } => write!(
                f,
                "the server redirected (HTTP {status}); redirects are not followed"
            ),
            TransportError::Cleartext { host } => write!(
                f,
                "refusing plain http to {host}: credentials would travel in cleartext (use \
                 https, or allow cleartext for a test proxy with ConnectOptions::allow_cleartext)"
            ),
            TransportError::DeadlineExceeded {
                deadline,
                set_by,
                during,
            } => {
                let whose = match set_by {
                    DeadlineSource::Client => "the client's operation deadline",
                    DeadlineSource::Call => "the deadline set for this call",
                };
                write!(f, "{whose} of {} ms ran out {during}", deadline.as_millis())
            }
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportError::Http(e) | TransportError::Tls { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

/// The last error of `error`'s source chain: for a TLS failure, rustls' own words.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut last = error;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// The TLS failure behind `error`, if its source chain holds a rustls error.
pub fn classify_tls(error: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    rustls_error(error).map(tls_failure)
}

/// The rustls error in `error`'s chain. hyper and tokio-rustls wrap it in `io::Error`s, whose
/// `source()` skips the wrapped error itself, so each `io::Error` is opened with `get_ref`.
fn rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    None
}

/// What a rustls error says about the handshake (a small decision function: unit-tested).
pub fn tls_failure(error: &rustls::Error) -> TlsFailure {
    use rustls::{AlertDescription as Alert, CertificateError as Cert};
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            Cert::UnknownIssuer | Cert::BadSignature => TlsFailure::ServerCertificateUntrusted,
            Cert::Expired
            | Cert::ExpiredContext { .. }
            | Cert::NotValidYet
            | Cert::NotValidYetContext { .. } => TlsFailure::ServerCertificateExpired,
            Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                TlsFailure::ServerCertificateWrongName
            }
            _ => TlsFailure::ServerCertificateInvalid,
        },
        // The server's alerts about our certificate.
        rustls::Error::AlertReceived(
            Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::CertificateRevoked
            | Alert::CertificateExpired
            | Alert::UnsupportedCertificate
            | Alert::AccessDenied,
        ) => TlsFailure::ClientCertificateRefused,
        _ => TlsFailure::Protocol,
    }
}

/// A redirect's `Location` as an error may show it: without query and fragment.
pub(crate) fn redacted_location(location: &str) -> String {
    location
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_name_the_server_certificate_problem() {
        use rustls::CertificateError as Cert;
        let cases = [
            (Cert::UnknownIssuer, TlsFailure::ServerCertificateUntrusted),
            (Cert::Expired, TlsFailure::ServerCertificateExpired),
            (Cert::NotValidYet, TlsFailure::ServerCertificateExpired),
            (
                Cert::NotValidForName,
                TlsFailure::ServerCertificateWrongName,
            ),
            (Cert::Revoked, TlsFailure::ServerCertificateInvalid),
        ];
        for (cert, expected) in cases {
            assert_eq!(
                tls_failure(&rustls::Error::InvalidCertificate(cert.clone())),
                expected,
                "{cert:?}"
            );
        }
    }

    #[test]
    fn the_servers_alerts_about_our_certificate_are_a_refusal() {
        for alert in [
            rustls::AlertDescription::CertificateRequired,
            rustls::AlertDescription::BadCertificate,
            rustls::AlertDescription::UnknownCA,
        ] {
            assert_eq!(
                tls_failure(&rustls::Error::AlertReceived(alert)),
                TlsFailure::ClientCertificateRefused
            );
        }
        assert_eq!(
            tls_failure(&rustls::Error::AlertReceived(
                rustls::AlertDescription::ProtocolVersion
            )),
            TlsFailure::Protocol
        );
    }

    #[test]
    fn a_rustls_error_inside_an_io_error_is_found() {
        let io = std::io::Error::other(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(
            classify_tls(&io),
            Some(TlsFailure::ServerCertificateUntrusted)
        );
        // As hyper hands it on: an io::Error around an io::Error around rustls' error.
        let nested = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        ));
        assert_eq!(
            classify_tls(&nested),
            Some(TlsFailure::ServerCertificateExpired)
        );
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(classify_tls(&plain), None);
    }

    #[test]
    fn final_causes_are_not_retried() {
        assert!(
            TransportError::TooLarge {
                limit: 1,
                declared: None
            }
            .is_final()
        );
        assert!(
            TransportError::Redirected {
                status: 307,
                location: None
            }
            .is_final()
        );
        assert!(
            !TransportError::Stalled {
                received: 0,
                window: Duration::from_secs(1),
                minimum_bytes_per_second: 1
            }
            .is_final()
        );
    }

    #[test]
    fn a_redirect_location_loses_its_query() {
        assert_eq!(
            redacted_location("https://evil.example/x?token=s3cret#frag"),
            "https://evil.example/x"
        );
    }
}
