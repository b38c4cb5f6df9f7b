//! SOAP 1.1 document/literal calls, shared by every WSDL-generated client (AccountsIQ v1.1 and
//! v2.0): the envelope, `SOAPAction`, the body's one child element, faults, `xsi:nil`, and the
//! XSD types serde has no good default for (`xs:dateTime`, `xs:base64Binary`).
//!
//! Here: the errors and the one call through the layer. `envelope.rs` writes and reads the
//! envelope, `session.rs` replays a call once with a renewed token, `xsd.rs` holds the XSD
//! value types.
//!
//! Absent values follow the element's XSD declaration (the generator decides, see
//! `codegen/src/wsdl/model.rs` `Presence`): an optional element (`minOccurs="0"`) without a
//! value is left out; a required nillable one (`minOccurs` 1, `nillable="true"`) is written as
//! `<X xsi:nil="true"/>` ([`nil::serialize`]), the `xsi` prefix declared on the
//! `soap:Envelope`. Reading accepts both forms, and `xsi:nil="true"` on any optional element,
//! as `None`.

mod envelope;
mod session;
mod xsd;

use std::fmt;

use serde::de::DeserializeOwned;

pub use envelope::{decode_response, envelope, is_fault, nil, quoted_action};
pub use session::{auth_error, with_token};
pub use xsd::{Base64Binary, XsDateTime, XsDecimal};

/// SOAP 1.1 envelope namespace.
pub const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The XML Schema instance namespace (`xsi:nil`), declared on every envelope we write.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// How much of an undecodable body an error keeps.
pub(crate) const BODY_EXCERPT: usize = 2048;

/// Everything a SOAP call can fail with. Nothing is lost: faults keep their XML, bodies that
/// do not decode are kept (truncated), and result envelopes keep the vendor's codes.
#[derive(Debug)]
pub enum SoapError {
    /// The request could not be encoded as XML (a bug in a value, e.g. an invalid string).
    Encode(String),
    /// No whole HTTP answer after `attempts` attempts (connection, TLS, timeout, a body cut
    /// short).
    Transport {
        attempts: u32,
        source: crate::runtime::transport::TransportError,
    },
    /// The server answered with a SOAP Fault.
    Fault(SoapFault),
    /// A non-2xx answer that is not a SOAP Fault.
    Http { status: u16, body: String },
    /// A 2xx answer whose body is not the expected response.
    Decode { message: String, body: String },
    /// The operation's result envelope says it failed (vendor codes kept).
    Failed(ResultFailure),
    /// No session or access token could be had; the call was not sent.
    Auth(crate::runtime::auth::AuthError),
}

impl SoapError {
    /// The session or access token has expired (`HasExpired` in the result): log in again.
    pub fn is_expired(&self) -> bool {
        matches!(self, SoapError::Failed(f) if f.has_expired)
    }

    /// The vendor's error code, when the result envelope carried one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            SoapError::Failed(f) => Some(&f.error_code),
            _ => None,
        }
    }

    /// The response (of `element`) lacked its result element.
    pub fn missing(element: &str) -> Self {
        SoapError::Decode {
            message: format!("the response has no `{element}` element"),
            body: String::new(),
        }
    }
}

impl fmt::Display for SoapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SoapError::Encode(m) => write!(f, "cannot encode the SOAP request: {m}"),
            SoapError::Transport { attempts, source } => {
                write!(
                    f,
                    "SOAP request got no answer after {attempts} attempt(s): {source}"
                )
            }
            SoapError::Fault(fault) => write!(f, "SOAP fault {}: {}", fault.code, fault.string),
            SoapError::Http { status, .. } => write!(f, "HTTP {status} without a SOAP fault"),
            SoapError::Decode { message, .. } => {
                write!(f, "cannot decode the SOAP response: {message}")
            }
            SoapError::Failed(failure) => write!(f, "{failure}"),
            SoapError::Auth(e) => write!(f, "authentication failed: {e}"),
        }
    }
}

impl std::error::Error for SoapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SoapError::Transport { source, .. } => Some(source),
            SoapError::Auth(e) => Some(e),
            _ => None,
        }
    }
}

/// A SOAP 1.1 Fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    pub code: String,
    pub string: String,
    pub actor: Option<String>,
    /// The whole `<soap:Fault>` element as received (detail included), with the namespace
    /// declarations it inherits from the Envelope and Body copied onto it.
    pub xml: String,
}

/// A result envelope that reports failure: `Status`, `ErrorCode`, `ErrorMessage`, `HasExpired`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFailure {
    pub status: String,
    pub error_code: String,
    pub message: Option<String>,
    pub has_expired: bool,
}

impl fmt::Display for ResultFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operation failed: status {}, error code {}",
            self.status, self.error_code
        )?;
        if self.has_expired {
            write!(f, " (session expired)")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// Statuses of a result envelope that mean the operation did what was asked.
pub const SUCCESS_STATUSES: &[&str] = &["Success", "Created", "InProgress"];

/// Checks a result envelope: `Ok` when the status is a success status and the session has not
/// expired, else [`SoapError::Failed`] with every code kept.
pub fn check_result(
    status: &str,
    error_code: &str,
    message: Option<&str>,
    has_expired: bool,
) -> Result<(), SoapError> {
    if SUCCESS_STATUSES.contains(&status) && !has_expired {
        return Ok(());
    }
    Err(SoapError::Failed(ResultFailure {
        status: status.to_string(),
        error_code: error_code.to_string(),
        message: message.map(str::to_string),
        has_expired,
    }))
}

/// One SOAP 1.1 call through `layer` (retries, timeouts, tracing: see
/// [`Layer`](crate::runtime::Layer)): POST `envelope_xml` with `SOAPAction`, decode the answer
/// as `Resp`. Which operations may be repeated is the service's declared rule (its
/// [`ServiceRules`](crate::runtime::ServiceRules)): every SOAP request is a POST. A SOAP fault
/// is the application's answer and final, even when it comes with HTTP 500 (the rule
/// [`FinalAnswerRule::SoapFault`](crate::runtime::FinalAnswerRule::SoapFault)); a 5xx without
/// one (a gateway's page) is retried.
pub async fn call<Resp: DeserializeOwned>(
    layer: &crate::runtime::Layer,
    http: &reqwest::Client,
    endpoint: &str,
    soap_action: &str,
    operation: &str,
    envelope_xml: String,
) -> Result<Resp, SoapError> {
    let (status, body) =
        exchange(layer, http, endpoint, soap_action, operation, envelope_xml).await?;
    decode_response(status, &body)
}

/// The part of [`call`] that does not depend on the answer's type: compiled once, not once
/// per operation (a SOAP client has hundreds; this keeps their build short).
async fn exchange(
    layer: &crate::runtime::Layer,
    http: &reqwest::Client,
    endpoint: &str,
    soap_action: &str,
    operation: &str,
    envelope_xml: String,
) -> Result<(u16, String), SoapError> {
    use crate::runtime::layer::CallFailure;
    let request = http
        .post(endpoint)
        .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
        // Quoted, as SOAP 1.1 §6.1.1 writes it and WS-I Basic Profile 1.1 R2744 requires.
        .header("SOAPAction", quoted_action(soap_action))
        .body(envelope_xml)
        .build()
        .map_err(|e| SoapError::Encode(e.without_url().to_string()))?;
    let response =
        layer
            .execute(http, request, operation)
            .await
            .map_err(|failure| match failure {
                CallFailure::Auth(e) => SoapError::Auth(e),
                CallFailure::Transport { attempts, source } => {
                    SoapError::Transport { attempts, source }
                }
            })?;
    let status = response.status().as_u16();
    let attempts = crate::runtime::layer::attempts_of(response.headers()).unwrap_or(1);
    // The layer has read the whole body; this cannot fail short of a bug in reqwest.
    let body = response
        .text()
        .await
        .map_err(|error| SoapError::Transport {
            attempts,
            source: crate::runtime::transport::TransportError::from_reqwest(error),
        })?;
    Ok((status, body))
}
