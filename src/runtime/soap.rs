//! SOAP 1.1 document/literal calls, shared by every WSDL-generated client (AccountsIQ v1.1 and
//! v2.0): the envelope, `SOAPAction`, the body's one child element, faults, `xsi:nil`, and the
//! XSD types serde has no good default for (`xs:dateTime`, `xs:base64Binary`).
//!
//! Absent values follow the element's XSD declaration (the generator decides, see
//! `codegen/src/wsdl/model.rs` `Presence`): an optional element (`minOccurs="0"`) without a
//! value is left out; a required nillable one (`minOccurs` 1, `nillable="true"`) is written as
//! `<X xsi:nil="true"/>` ([`nil::serialize`]), the `xsi` prefix declared on the
//! `soap:Envelope`. Reading accepts both forms, and `xsi:nil="true"` on any optional element,
//! as `None`.

use std::cell::Cell;
use std::fmt;

use serde::{Serialize, de::DeserializeOwned};

/// SOAP 1.1 envelope namespace.
pub const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The XML Schema instance namespace (`xsi:nil`), declared on every envelope we write.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// How much of an undecodable body an error keeps.
const BODY_EXCERPT: usize = 2048;

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
        source: reqwest::Error,
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

/// The request envelope: `request` serialised as `element` in `namespace`, with an optional
/// SOAP header element (also in `namespace`). The envelope declares `xsi` (for `xsi:nil`).
pub fn envelope<Req: Serialize, H: Serialize>(
    namespace: &str,
    element: &str,
    header: Option<(&str, &H)>,
    request: &Req,
) -> Result<String, SoapError> {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"{ENVELOPE_NS}\" xmlns:xsi=\"{XSI_NS}\">",
    );
    if let Some((name, value)) = header {
        xml.push_str("<soap:Header>");
        xml.push_str(&qualified(namespace, name, value)?);
        xml.push_str("</soap:Header>");
    }
    xml.push_str("<soap:Body>");
    xml.push_str(&qualified(namespace, element, request)?);
    xml.push_str("</soap:Body></soap:Envelope>");
    Ok(xml)
}

/// `<name xmlns="namespace">...</name>` for a serialisable value, required nillable elements
/// without a value as `xsi:nil="true"` (the caller declares the `xsi` prefix).
fn qualified<T: Serialize>(namespace: &str, name: &str, value: &T) -> Result<String, SoapError> {
    let inner = nil::writing_xml(|| quick_xml::se::to_string_with_root(name, value))
        .map_err(|e| SoapError::Encode(e.to_string()))?;
    // The serialiser writes the root tag first, `<name>` or `<name/>`: put the namespace on it,
    // so every child element is in the target namespace (elementFormDefault="qualified").
    let open = format!("<{name}");
    match inner.strip_prefix(&open) {
        Some(rest) => Ok(format!(
            "{open} xmlns=\"{}\"{rest}",
            escape_attribute(namespace)
        )),
        None => Err(SoapError::Encode(format!(
            "unexpected serialisation of `{name}`"
        ))),
    }
}

fn escape_attribute(value: &str) -> String {
    quick_xml::escape::escape(value).into_owned()
}

/// `xsi:nil` for required nillable elements (XML Schema Part 1 §2.6.2 and §3.3.4): the
/// generated types name [`serialize`] on every member declared `minOccurs` 1 and
/// `nillable="true"`.
pub mod nil {
    use super::Cell;
    use serde::{Serialize, Serializer};

    thread_local! {
        /// Set while this module's XML writer runs (serialisation never yields, so a
        /// thread-local is exact).
        static WRITING_XML: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `write` (one synchronous XML serialisation) with `xsi:nil` markers on.
    pub(crate) fn writing_xml<R>(write: impl FnOnce() -> R) -> R {
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                WRITING_XML.with(|flag| flag.set(self.0));
            }
        }
        let _restore = Restore(WRITING_XML.with(|flag| flag.replace(true)));
        write()
    }

    /// The empty element with only `xsi:nil="true"`.
    #[derive(Serialize)]
    struct Nil {
        #[serde(rename = "@xsi:nil")]
        nil: &'static str,
    }

    /// A required nillable element: the value, or `<X xsi:nil="true"/>` when there is none.
    /// Only the SOAP writer ([`super::envelope`]) writes the marker; any other serde format
    /// (e.g. JSON) sees a plain `None`, so values keep round-tripping there.
    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_some(value),
            None if WRITING_XML.with(Cell::get) => Nil { nil: "true" }.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }
}

/// Decodes a response envelope: the Body's one child as `Resp`, or the Fault.
pub fn decode_response<Resp: DeserializeOwned>(status: u16, body: &str) -> Result<Resp, SoapError> {
    let child = match body_child(body) {
        Ok(child) => child,
        Err(message) if (200..300).contains(&status) => {
            return Err(SoapError::Decode {
                message,
                body: excerpt(body),
            });
        }
        Err(_) => {
            return Err(SoapError::Http {
                status,
                body: excerpt(body),
            });
        }
    };
    if child.is_fault {
        return Err(SoapError::Fault(fault(&child.xml)));
    }
    if !(200..300).contains(&status) {
        return Err(SoapError::Http {
            status,
            body: excerpt(body),
        });
    }
    // The path (e.g. `GetCustomerResult.Result.Hold`) says which element did not fit.
    let mut deserializer = quick_xml::de::Deserializer::from_str(&child.xml);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| SoapError::Decode {
        message: format!("{}: {}", e.path(), e.inner()),
        body: excerpt(body),
    })
}

struct BodyChild {
    /// The element's XML, with the namespace declarations it inherits from the Envelope and
    /// Body (e.g. `xmlns:xsi`) copied onto it, so it reads the same on its own.
    xml: String,
    is_fault: bool,
}

/// Finds the first element inside `Envelope/Body` (a `Header` before the Body is skipped).
fn body_child(body: &str) -> Result<BodyChild, String> {
    use quick_xml::events::{BytesStart, Event};
    use quick_xml::name::{QName, ResolveResult};
    let malformed = |e: quick_xml::Error| format!("not well-formed XML: {e}");
    let mut reader = quick_xml::NsReader::from_str(body);
    // Local names of the open elements: Envelope, then Body.
    let mut depth = 0usize;
    // Namespace declarations of the Envelope and the Body, in document order.
    let mut inherited: Vec<(String, String)> = Vec::new();
    let declarations = |e: &BytesStart| -> Vec<(String, String)> {
        e.attributes()
            .flatten()
            .filter(|a| a.key.as_namespace_binding().is_some())
            .map(|a| {
                let value = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map(|v| v.into_owned())
                    .unwrap_or_else(|_| a.value.to_string());
                (a.key.as_ref().to_string(), value)
            })
            .collect()
    };
    let child = |e: &BytesStart, xml: &str, inherited: &[(String, String)]| -> BodyChild {
        let name = e.name().into_inner().to_string();
        let own: Vec<String> = declarations(e).into_iter().map(|(k, _)| k).collect();
        let mut extra = String::new();
        for (i, (key, value)) in inherited.iter().enumerate() {
            let redeclared_later = inherited[i + 1..].iter().any(|(k, _)| k == key);
            if !redeclared_later && !own.contains(key) {
                extra.push_str(&format!(" {key}=\"{}\"", escape_attribute(value)));
            }
        }
        let open = format!("<{name}");
        let xml = match xml.strip_prefix(&open) {
            Some(rest) if !extra.is_empty() => format!("{open}{extra}{rest}"),
            _ => xml.to_string(),
        };
        BodyChild {
            is_fault: false,
            xml,
        }
    };
    loop {
        let start = reader.buffer_position() as usize;
        let (ns, event) = reader.read_resolved_event().map_err(malformed)?;
        let in_soap_ns = matches!(ns, ResolveResult::Bound(n) if n.into_inner() == ENVELOPE_NS);
        match event {
            Event::Start(e) if depth == 2 => {
                let is_fault = in_soap_ns && e.local_name().into_inner() == "Fault";
                let name = e.name().into_inner().to_string();
                reader.read_to_end(QName(&name)).map_err(malformed)?;
                let end = reader.buffer_position() as usize;
                let xml = body.get(start..end).unwrap_or_default().trim();
                return Ok(BodyChild {
                    is_fault,
                    ..child(&e, xml, &inherited)
                });
            }
            Event::Empty(e) if depth == 2 => {
                let is_fault = in_soap_ns && e.local_name().into_inner() == "Fault";
                let end = reader.buffer_position() as usize;
                let xml = body.get(start..end).unwrap_or_default().trim();
                return Ok(BodyChild {
                    is_fault,
                    ..child(&e, xml, &inherited)
                });
            }
            Event::Start(e) => {
                let local = e.local_name().into_inner().to_string();
                match (depth, local.as_str()) {
                    (0, "Envelope") | (1, "Body") if in_soap_ns => {
                        inherited.extend(declarations(&e));
                        depth += 1;
                    }
                    (1, "Header") if in_soap_ns => {
                        let name = e.name().into_inner().to_string();
                        reader.read_to_end(QName(&name)).map_err(malformed)?;
                    }
                    _ => {
                        return Err(format!(
                            "expected a SOAP 1.1 {} but found `{}`",
                            if depth == 0 { "Envelope" } else { "Body" },
                            local
                        ));
                    }
                }
            }
            Event::Empty(_) | Event::End(_) if depth < 2 => {
                return Err("no element in the SOAP Body".to_string());
            }
            Event::Eof => return Err("no SOAP Body".to_string()),
            _ => {}
        }
    }
}

fn fault(xml: &str) -> SoapFault {
    let text_of = |tag: &str| -> Option<String> {
        let open = format!("<{tag}>");
        let start = xml.find(&open)? + open.len();
        let end = xml[start..].find(&format!("</{tag}>"))? + start;
        Some(
            quick_xml::escape::unescape(&xml[start..end])
                .map_or_else(|_| xml[start..end].to_string(), |s| s.into_owned()),
        )
    };
    SoapFault {
        code: text_of("faultcode").unwrap_or_default(),
        string: text_of("faultstring").unwrap_or_default(),
        actor: text_of("faultactor"),
        xml: xml.to_string(),
    }
}

fn excerpt(body: &str) -> String {
    if body.len() <= BODY_EXCERPT {
        return body.to_string();
    }
    let mut end = BODY_EXCERPT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &body[..end], body.len())
}

/// A token flow's view of a failed SOAP call: a SOAP `Client` fault or a failed result is a
/// rejection of the credentials, anything else is the service's trouble.
pub fn auth_error(error: SoapError, operation: &str) -> crate::runtime::auth::AuthError {
    use crate::runtime::auth::AuthError;
    match error {
        SoapError::Fault(fault) if fault.code.ends_with("Client") => AuthError::Rejected {
            status: None,
            detail: format!("{operation}: {}", fault.string),
        },
        SoapError::Failed(failure) => AuthError::Rejected {
            status: None,
            detail: format!("{operation}: {}", failure.error_code),
        },
        SoapError::Auth(e) => e,
        transport @ SoapError::Transport { .. } => {
            AuthError::Transport(format!("{operation}: {transport}"))
        }
        other => AuthError::Transport(format!("{operation}: {other}")),
    }
}

/// Runs `call` with a token of `cache`; when the answer says the token is no longer good
/// (`renew` says so, e.g. `HasExpired`), forgets it, gets a new one and replays once. The
/// SOAP counterpart of the 401 replay in [`crate::runtime::layer`].
pub async fn with_token<S, T>(
    cache: &crate::runtime::auth::TokenCache<S>,
    renew: impl Fn(&SoapError) -> bool,
    mut call: impl AsyncFnMut(&str) -> Result<T, SoapError>,
) -> Result<T, SoapError>
where
    S: crate::runtime::auth::TokenSource,
{
    use crate::runtime::auth::ExposeSecret;
    let token = cache.token().await.map_err(SoapError::Auth)?;
    match call(token.value.expose_secret()).await {
        Err(error) if renew(&error) => {
            tracing::debug!(error = %error, "token refused: renewing it and replaying once");
            cache.invalidate(&token);
            let token = cache.token().await.map_err(SoapError::Auth)?;
            call(token.value.expose_secret()).await
        }
        other => other,
    }
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
        .map_err(|source| SoapError::Transport { attempts, source })?;
    decode_response(status, &body)
}

/// The `SOAPAction` header value for an action URI: the URI in double quotes (an action that
/// already comes quoted is kept as it is).
pub fn quoted_action(soap_action: &str) -> String {
    if soap_action.len() >= 2 && soap_action.starts_with('"') && soap_action.ends_with('"') {
        soap_action.to_string()
    } else {
        format!("\"{soap_action}\"")
    }
}

/// Whether an answer is a SOAP fault: the application answered (SOAP 1.1 sends every fault
/// with HTTP 500), so repeating the request would get the same answer.
pub fn is_fault(status: u16, body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    matches!(
        decode_response::<serde::de::IgnoredAny>(status, text),
        Err(SoapError::Fault(_))
    )
}

/// An `xs:dateTime`, kept exactly as written (with or without offset and fraction), so nothing
/// is lost between read and write; parsed on demand.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct XsDateTime(String);

impl XsDateTime {
    /// Validates `text` as an `xs:dateTime`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let valid = chrono::DateTime::parse_from_rfc3339(text).is_ok()
            || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok();
        if valid {
            Ok(Self(text.to_string()))
        } else {
            Err(format!("`{text}` is not an xs:dateTime"))
        }
    }

    /// The lexical form, as received or as built.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The date and time as written (any offset dropped).
    pub fn naive(&self) -> chrono::NaiveDateTime {
        match chrono::DateTime::parse_from_rfc3339(&self.0) {
            Ok(with_offset) => with_offset.naive_local(),
            // Validated on construction, so one of the two forms parses.
            Err(_) => chrono::NaiveDateTime::parse_from_str(&self.0, "%Y-%m-%dT%H:%M:%S%.f")
                .unwrap_or_default(),
        }
    }

    /// The instant, when the value carries an offset (or `Z`).
    pub fn with_offset(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        chrono::DateTime::parse_from_rfc3339(&self.0).ok()
    }
}

impl From<chrono::NaiveDateTime> for XsDateTime {
    fn from(value: chrono::NaiveDateTime) -> Self {
        Self(value.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
    }
}

impl<Tz: chrono::TimeZone> From<chrono::DateTime<Tz>> for XsDateTime
where
    Tz::Offset: fmt::Display,
{
    fn from(value: chrono::DateTime<Tz>) -> Self {
        Self(value.to_rfc3339())
    }
}

impl fmt::Debug for XsDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for XsDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for XsDateTime {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

impl Serialize for XsDateTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for XsDateTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An `xs:base64Binary`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Base64Binary(pub Vec<u8>);

impl fmt::Debug for Base64Binary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Binary({} bytes)", self.0.len())
    }
}

impl Serialize for Base64Binary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Base64Binary {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let text = String::deserialize(deserializer)?;
        let compact: String = text.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map(Base64Binary)
            .map_err(serde::de::Error::custom)
    }
}

/// An `xs:decimal`: exact, never through `f64` (amounts, rates). Read from and written as the
/// decimal's text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct XsDecimal(pub rust_decimal::Decimal);

impl XsDecimal {
    /// The decimal value.
    pub fn value(self) -> rust_decimal::Decimal {
        self.0
    }
}

impl From<rust_decimal::Decimal> for XsDecimal {
    fn from(value: rust_decimal::Decimal) -> Self {
        Self(value)
    }
}

impl std::ops::Deref for XsDecimal {
    type Target = rust_decimal::Decimal;
    fn deref(&self) -> &rust_decimal::Decimal {
        &self.0
    }
}

impl fmt::Debug for XsDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for XsDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::str::FromStr for XsDecimal {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        // xs:decimal allows a leading '+' and no exponent.
        let digits = text.strip_prefix('+').unwrap_or(text);
        rust_decimal::Decimal::from_str_exact(digits)
            .map(Self)
            .map_err(|e| format!("`{text}` is not an xs:decimal: {e}"))
    }
}

impl Serialize for XsDecimal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for XsDecimal {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
