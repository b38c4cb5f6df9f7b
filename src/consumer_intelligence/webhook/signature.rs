//! Signing and verifying Consumer Intelligence webhook deliveries.
//!
//! Every delivery carries two headers (case-insensitive, vendor page "Webhooks"):
//! [`TIMESTAMP_HEADER`] (`ci-signature-timestamp`, seconds since the Unix epoch, UTC) and
//! [`SIGNATURE_HEADER`] (`ci-signature-sha256`). The receiver must verify the signature and
//! validate the timestamp before it processes anything.
//!
//! **Unconfirmed: what exactly is signed.** Our copy of the vendor page breaks off where it
//! names the signed string. The construction used here is the most credible one, and it lives
//! in one function, [`Construction::signed_message`]:
//!
//! * key: the webhook's `secret` (the string `createWebhook` answered), as UTF-8 bytes;
//! * message: `{ci-signature-timestamp}.{raw body}` ([`Construction::TimestampDotBody`]);
//! * MAC: HMAC-SHA256, sent as lowercase hex (hex or base64, with or without a `sha256=`
//!   prefix, is accepted when verifying).
//!
//! Check it against your own account once: the vendor sends a `PING` delivery when you create
//! a webhook. Give that delivery to [`check_construction`]; it tells you which of the
//! plausible constructions ([`Construction::ALL`]) the vendor used. If it is not the default,
//! configure it with [`Verifier::with_construction`] (and please tell us, so the default can be
//! corrected). The sandbox signs with the default.
//!
//! ```
//! use customer_data::consumer_intelligence::webhook::{
//!     sign, Verifier, WebhookSecret, SIGNATURE_HEADER, TIMESTAMP_HEADER,
//! };
//! let secret = WebhookSecret::new("whsec-from-createWebhook");
//! let body = br#"[{"id":"e1","type":"PING","timestamp":"2026-11-21T10:00:00Z"}]"#;
//! let now = std::time::SystemTime::now();
//! let timestamp = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert(TIMESTAMP_HEADER, timestamp.parse().unwrap());
//! headers.insert(SIGNATURE_HEADER, sign(&secret, &timestamp, body).parse().unwrap());
//!
//! let verifier = Verifier::new(secret);
//! assert!(verifier.verify_at(&headers, body, now).is_ok());
//! let tampered = br#"[{"id":"e2","type":"PING","timestamp":"2026-11-21T10:00:00Z"}]"#;
//! assert_eq!(
//!     verifier.verify_at(&headers, tampered, now).unwrap_err().reason(),
//!     "signature_mismatch"
//! );
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Header with the delivery's timestamp, seconds since the Unix epoch (UTC).
pub const TIMESTAMP_HEADER: &str = "ci-signature-timestamp";
/// Header with the delivery's HMAC-SHA256 signature.
pub const SIGNATURE_HEADER: &str = "ci-signature-sha256";
/// How far a delivery's timestamp may be from the receiver's clock, either way, by default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Longest header value echoed back in a [`Rejection`] (values come from the network).
const ECHO_LIMIT: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// A webhook's signing secret, as `createWebhook` answered it (it cannot be read again
/// later). `Debug` never shows it.
#[derive(Clone)]
pub struct WebhookSecret(SecretString);

impl WebhookSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(SecretString::from(secret.into()))
    }

    fn key(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        <HmacSha256 as Mac>::new_from_slice(self.key())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"))
    }
}

impl From<String> for WebhookSecret {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

impl From<&str> for WebhookSecret {
    fn from(secret: &str) -> Self {
        Self::new(secret)
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// How the signed bytes are built from the timestamp header and the raw body. Only
/// [`Construction::DEFAULT`] is used unless you configure another; the others exist so that
/// [`check_construction`] can tell which one the vendor really uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Construction {
    /// `{timestamp}.{body}`: the default (the common form among timestamped HMAC webhooks;
    /// unconfirmed for Consumer Intelligence).
    TimestampDotBody,
    /// `{timestamp}{body}`, no separator.
    TimestampThenBody,
    /// `{body}{timestamp}`, no separator.
    BodyThenTimestamp,
    /// The body alone (the timestamp would then not be protected by the signature).
    BodyOnly,
}

impl Construction {
    /// The construction used unless configured otherwise.
    pub const DEFAULT: Construction = Construction::TimestampDotBody;
    /// Every construction [`check_construction`] tries, the default first.
    pub const ALL: [Construction; 4] = [
        Construction::TimestampDotBody,
        Construction::TimestampThenBody,
        Construction::BodyThenTimestamp,
        Construction::BodyOnly,
    ];

    /// The bytes that are signed: **the one place that says what the signature covers.**
    /// `timestamp` is the `ci-signature-timestamp` header exactly as sent.
    pub fn signed_message(self, timestamp: &str, body: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
        match self {
            Construction::TimestampDotBody => {
                message.extend_from_slice(timestamp.as_bytes());
                message.push(b'.');
                message.extend_from_slice(body);
            }
            Construction::TimestampThenBody => {
                message.extend_from_slice(timestamp.as_bytes());
                message.extend_from_slice(body);
            }
            Construction::BodyThenTimestamp => {
                message.extend_from_slice(body);
                message.extend_from_slice(timestamp.as_bytes());
            }
            Construction::BodyOnly => message.extend_from_slice(body),
        }
        message
    }
}

impl Default for Construction {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The `ci-signature-sha256` value for `body` sent at `timestamp` (the header value, epoch
/// seconds), with the default construction: lowercase hex HMAC-SHA256. What the sandbox sends;
/// useful to test your own receiver.
pub fn sign(secret: &WebhookSecret, timestamp: &str, body: &[u8]) -> String {
    sign_with(Construction::DEFAULT, secret, timestamp, body)
}

/// [`sign`] with a given construction.
pub fn sign_with(
    construction: Construction,
    secret: &WebhookSecret,
    timestamp: &str,
    body: &[u8],
) -> String {
    let mut mac = secret.mac();
    mac.update(&construction.signed_message(timestamp, body));
    hex_lower(&mac.finalize().into_bytes())
}

/// Why a delivery was refused. [`Rejection::reason`] is a stable, machine-readable name;
/// `Display` is a sentence. Neither ever contains the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No `ci-signature-timestamp` header.
    MissingTimestamp,
    /// No `ci-signature-sha256` header.
    MissingSignature,
    /// A signature header that appears more than once (which one would count is ambiguous).
    RepeatedHeader { name: &'static str },
    /// The timestamp is not a whole number of seconds since the epoch.
    MalformedTimestamp { value: String },
    /// The signature is neither 64 hex digits nor base64 of 32 bytes.
    MalformedSignature,
    /// Well-formed, but no configured secret produces it over this body and timestamp: a
    /// tampered body or timestamp, a wrong secret, or another construction (see
    /// [`check_construction`]).
    SignatureMismatch,
    /// Authentic, but older than the tolerance (a replay, or a clock far behind).
    StaleTimestamp { age: Duration, tolerance: Duration },
    /// Authentic, but further in the future than the tolerance (a clock far ahead).
    FutureTimestamp {
        ahead: Duration,
        tolerance: Duration,
    },
}

impl Rejection {
    /// A stable name for logs and metrics: `missing_timestamp`, `missing_signature`,
    /// `repeated_header`, `malformed_timestamp`, `malformed_signature`, `signature_mismatch`,
    /// `stale_timestamp`, `future_timestamp`.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::MissingTimestamp => "missing_timestamp",
            Rejection::MissingSignature => "missing_signature",
            Rejection::RepeatedHeader { .. } => "repeated_header",
            Rejection::MalformedTimestamp { .. } => "malformed_timestamp",
            Rejection::MalformedSignature => "malformed_signature",
            Rejection::SignatureMismatch => "signature_mismatch",
            Rejection::StaleTimestamp { .. } => "stale_timestamp",
            Rejection::FutureTimestamp { .. } => "future_timestamp",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::MissingTimestamp => write!(f, "the {TIMESTAMP_HEADER} header is missing"),
            Rejection::MissingSignature => write!(f, "the {SIGNATURE_HEADER} header is missing"),
            Rejection::RepeatedHeader { name } => {
                write!(f, "the {name} header appears more than once")
            }
            Rejection::MalformedTimestamp { value } => write!(
                f,
                "the {TIMESTAMP_HEADER} header `{value}` is not a number of seconds since the epoch"
            ),
            Rejection::MalformedSignature => write!(
                f,
                "the {SIGNATURE_HEADER} header is not an HMAC-SHA256 in hex or base64"
            ),
            Rejection::SignatureMismatch => write!(
                f,
                "the signature does not match the body and timestamp for any configured secret"
            ),
            Rejection::StaleTimestamp { age, tolerance } => write!(
                f,
                "the delivery is {}s old, more than the tolerated {}s",
                age.as_secs(),
                tolerance.as_secs()
            ),
            Rejection::FutureTimestamp { ahead, tolerance } => write!(
                f,
                "the delivery is dated {}s ahead of this clock, more than the tolerated {}s",
                ahead.as_secs(),
                tolerance.as_secs()
            ),
        }
    }
}

impl std::error::Error for Rejection {}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The delivery's timestamp (seconds since the epoch).
    pub timestamp: u64,
    /// Which configured secret matched: 0 for the one given to [`Verifier::new`], then the
    /// ones added with [`Verifier::also_accept`] in order.
    pub secret_index: usize,
}

/// Verifies deliveries of one webhook endpoint: signature first (constant-time comparison),
/// then the timestamp's distance from this clock.
///
/// More than one secret can be accepted: the vendor cannot change a webhook, only create a new
/// one (with a new secret) and delete the old, so during a switch both may deliver to the same
/// URL.
#[derive(Clone)]
pub struct Verifier {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
    construction: Construction,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("tolerance", &self.tolerance)
            .field("construction", &self.construction)
            .finish()
    }
}

impl Verifier {
    /// A verifier for `secret`, with a 5-minute tolerance and the default construction.
    pub fn new(secret: impl Into<WebhookSecret>) -> Self {
        Self {
            secrets: vec![secret.into()],
            tolerance: DEFAULT_TOLERANCE,
            construction: Construction::DEFAULT,
        }
    }

    /// Accepts deliveries signed with `secret` too.
    pub fn also_accept(mut self, secret: impl Into<WebhookSecret>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// How far the timestamp may be from this clock, either way.
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies with another construction (after [`check_construction`] found it).
    pub fn with_construction(mut self, construction: Construction) -> Self {
        self.construction = construction;
        self
    }

    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    pub fn construction(&self) -> Construction {
        self.construction
    }

    /// Verifies a delivery's headers and raw body against this clock.
    pub fn verify(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<Verified, Rejection> {
        self.verify_at(headers, body, SystemTime::now())
    }

    /// [`Verifier::verify`] against the clock reading `now`.
    pub fn verify_at(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, Rejection> {
        let timestamp =
            single_header(headers, TIMESTAMP_HEADER)?.ok_or(Rejection::MissingTimestamp)?;
        let signature =
            single_header(headers, SIGNATURE_HEADER)?.ok_or(Rejection::MissingSignature)?;
        self.verify_values(timestamp, signature, body, now)
    }

    /// Verifies the two header values (as raw bytes) and the raw body against the clock reading
    /// `now`; for frameworks whose header type is not `http::HeaderMap`.
    pub fn verify_values(
        &self,
        timestamp: &[u8],
        signature: &[u8],
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, Rejection> {
        let (timestamp_text, seconds) = parse_timestamp(timestamp)?;
        let claimed = parse_signature(signature)?;
        let message = self.construction.signed_message(timestamp_text, body);
        // Every secret is tried (no early exit), so timing does not tell which one matched.
        let mut matched = None;
        for (index, secret) in self.secrets.iter().enumerate() {
            let mut mac = secret.mac();
            mac.update(&message);
            // `verify_slice` compares in constant time.
            if mac.verify_slice(&claimed).is_ok() && matched.is_none() {
                matched = Some(index);
            }
        }
        let secret_index = matched.ok_or(Rejection::SignatureMismatch)?;
        let sent = UNIX_EPOCH + Duration::from_secs(seconds);
        match now.duration_since(sent) {
            Ok(age) if age > self.tolerance => Err(Rejection::StaleTimestamp {
                age,
                tolerance: self.tolerance,
            }),
            Ok(_) => Ok(Verified {
                timestamp: seconds,
                secret_index,
            }),
            Err(ahead) if ahead.duration() > self.tolerance => Err(Rejection::FutureTimestamp {
                ahead: ahead.duration(),
                tolerance: self.tolerance,
            }),
            Err(_) => Ok(Verified {
                timestamp: seconds,
                secret_index,
            }),
        }
    }
}

/// The header's only value; an error if it appears more than once.
fn single_header<'a>(
    headers: &'a http::HeaderMap,
    name: &'static str,
) -> Result<Option<&'a [u8]>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Rejection::RepeatedHeader { name });
    }
    Ok(first.map(|value| value.as_bytes()))
}

/// Epoch seconds: ASCII digits only (no sign, no fraction), at most 12 of them (year 33658).
fn parse_timestamp(raw: &[u8]) -> Result<(&str, u64), Rejection> {
    let malformed = || Rejection::MalformedTimestamp { value: echo(raw) };
    let text = std::str::from_utf8(raw).map_err(|_| malformed())?.trim();
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let seconds = text.parse::<u64>().map_err(|_| malformed())?;
    Ok((text, seconds))
}

/// The 32 MAC bytes from hex (either case) or base64 (standard or URL-safe, padded or not),
/// with an optional `sha256=` prefix.
fn parse_signature(raw: &[u8]) -> Result<Vec<u8>, Rejection> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| Rejection::MalformedSignature)?
        .trim();
    let text = text.strip_prefix("sha256=").unwrap_or(text);
    if let Some(bytes) = hex_decode(text)
        && bytes.len() == 32
    {
        return Ok(bytes);
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        if let Ok(bytes) = engine.decode(text)
            && bytes.len() == 32
        {
            return Ok(bytes);
        }
    }
    Err(Rejection::MalformedSignature)
}

/// At most [`ECHO_LIMIT`] characters of a header value, lossily decoded.
fn echo(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .chars()
        .take(ECHO_LIMIT)
        .collect()
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// What [`check_construction`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConstructionCheck {
    /// The delivery verifies with the default construction: nothing to configure.
    Default,
    /// The delivery verifies only with this other construction: configure it with
    /// [`Verifier::with_construction`] (and tell us, so the default can be corrected).
    Other(Construction),
    /// No construction reproduces the signature: the secret is not this webhook's, or the
    /// vendor signs in a way none of [`Construction::ALL`] covers.
    NoMatch,
    /// The headers themselves are missing or malformed.
    Unreadable(Rejection),
}

/// Tells which construction the vendor used for a delivery you received: give it the `PING`
/// delivery that arrives when you create a webhook, with that webhook's secret. The
/// timestamp's age is not checked here (the PING may be replayed from a log).
///
/// ```
/// use customer_data::consumer_intelligence::webhook::{
///     check_construction, sign_with, Construction, ConstructionCheck, WebhookSecret,
///     SIGNATURE_HEADER, TIMESTAMP_HEADER,
/// };
/// let secret = WebhookSecret::new("s3cret");
/// let body = br#"[{"id":"p1","type":"PING","timestamp":"2026-11-21T10:00:00Z"}]"#;
/// let mut headers = http::HeaderMap::new();
/// headers.insert(TIMESTAMP_HEADER, "1795255200".parse().unwrap());
/// let signed = sign_with(Construction::BodyOnly, &secret, "1795255200", body);
/// headers.insert(SIGNATURE_HEADER, signed.parse().unwrap());
/// assert_eq!(
///     check_construction(&secret, &headers, body),
///     ConstructionCheck::Other(Construction::BodyOnly)
/// );
/// ```
pub fn check_construction(
    secret: &WebhookSecret,
    headers: &http::HeaderMap,
    body: &[u8],
) -> ConstructionCheck {
    let read = || -> Result<(&[u8], &[u8]), Rejection> {
        let timestamp =
            single_header(headers, TIMESTAMP_HEADER)?.ok_or(Rejection::MissingTimestamp)?;
        let signature =
            single_header(headers, SIGNATURE_HEADER)?.ok_or(Rejection::MissingSignature)?;
        parse_timestamp(timestamp)?;
        parse_signature(signature)?;
        Ok((timestamp, signature))
    };
    let (timestamp, signature) = match read() {
        Ok(values) => values,
        Err(rejection) => return ConstructionCheck::Unreadable(rejection),
    };
    // Any age is fine here: only the construction is in question.
    let ageless = Duration::from_secs(u64::MAX / 4);
    for construction in Construction::ALL {
        let verifier = Verifier::new(secret.clone())
            .with_tolerance(ageless)
            .with_construction(construction);
        if verifier
            .verify_values(timestamp, signature, body, SystemTime::now())
            .is_ok()
        {
            return if construction == Construction::DEFAULT {
                ConstructionCheck::Default
            } else {
                ConstructionCheck::Other(construction)
            };
        }
    }
    ConstructionCheck::NoMatch
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_255_200;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn signed(secret: &str, timestamp: &str, body: &[u8]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, timestamp.parse().unwrap());
        let signature = sign(&WebhookSecret::new(secret), timestamp, body);
        headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
        headers
    }

    #[test]
    fn the_default_construction_is_hmac_sha256_over_timestamp_dot_body_in_hex() {
        // Independent check of the construction: RFC 4231 test case 2 (key "Jefe").
        let secret = WebhookSecret::new("Jefe");
        let mut mac = secret.mac();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex_lower(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            Construction::DEFAULT.signed_message("17", b"[]"),
            b"17.[]".to_vec()
        );
        let signature = sign(&secret, "what do ya want", b" for nothing?");
        assert_ne!(
            signature,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            sign_with(
                Construction::TimestampThenBody,
                &secret,
                "what do ya want",
                b" for nothing?"
            ),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn each_rejection_has_its_reason() {
        let body = b"[]";
        let verifier = Verifier::new("secret");
        let good = signed("secret", &NOW.to_string(), body);
        assert_eq!(
            verifier.verify_at(&good, body, at(NOW)),
            Ok(Verified {
                timestamp: NOW,
                secret_index: 0
            })
        );

        let reason = |headers: &http::HeaderMap, body: &[u8], now: u64| {
            verifier
                .verify_at(headers, body, at(now))
                .unwrap_err()
                .reason()
        };
        assert_eq!(reason(&good, b"[ ]", NOW), "signature_mismatch");
        assert_eq!(
            reason(&signed("other", &NOW.to_string(), body), body, NOW),
            "signature_mismatch"
        );
        assert_eq!(reason(&good, body, NOW + 301), "stale_timestamp");
        assert_eq!(reason(&good, body, NOW - 301), "future_timestamp");
        assert!(verifier.verify_at(&good, body, at(NOW + 300)).is_ok());

        let mut no_timestamp = good.clone();
        no_timestamp.remove(TIMESTAMP_HEADER);
        assert_eq!(reason(&no_timestamp, body, NOW), "missing_timestamp");
        let mut no_signature = good.clone();
        no_signature.remove(SIGNATURE_HEADER);
        assert_eq!(reason(&no_signature, body, NOW), "missing_signature");
        let mut repeated = good.clone();
        repeated.append(SIGNATURE_HEADER, "00".parse().unwrap());
        assert_eq!(reason(&repeated, body, NOW), "repeated_header");
        let mut bad_time = good.clone();
        bad_time.insert(TIMESTAMP_HEADER, "-5".parse().unwrap());
        assert_eq!(reason(&bad_time, body, NOW), "malformed_timestamp");
        let mut bad_signature = good.clone();
        bad_signature.insert(SIGNATURE_HEADER, "abc".parse().unwrap());
        assert_eq!(reason(&bad_signature, body, NOW), "malformed_signature");
        // Moving the timestamp breaks the signature: it is covered.
        let mut moved = good.clone();
        moved.insert(TIMESTAMP_HEADER, (NOW + 1).to_string().parse().unwrap());
        assert_eq!(reason(&moved, body, NOW), "signature_mismatch");
    }

    #[test]
    fn signatures_are_accepted_in_hex_either_case_base64_and_with_a_prefix() {
        let body = b"[{}]";
        let timestamp = NOW.to_string();
        let hex = sign(&WebhookSecret::new("k"), &timestamp, body);
        let bytes = hex_decode(&hex).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let verifier = Verifier::new("k");
        for form in [
            hex.clone(),
            hex.to_uppercase(),
            format!("sha256={hex}"),
            b64,
        ] {
            assert!(
                verifier
                    .verify_values(timestamp.as_bytes(), form.as_bytes(), body, at(NOW))
                    .is_ok(),
                "{form}"
            );
        }
    }

    #[test]
    fn a_second_secret_is_accepted_and_reported() {
        let body = b"[]";
        let headers = signed("new", &NOW.to_string(), body);
        let verifier = Verifier::new("old").also_accept("new");
        assert_eq!(
            verifier
                .verify_at(&headers, body, at(NOW))
                .unwrap()
                .secret_index,
            1
        );
    }

    #[test]
    fn the_tolerance_is_configurable() {
        let body = b"[]";
        let headers = signed("s", &NOW.to_string(), body);
        let verifier = Verifier::new("s").with_tolerance(Duration::from_secs(10));
        assert!(verifier.verify_at(&headers, body, at(NOW + 10)).is_ok());
        assert_eq!(
            verifier
                .verify_at(&headers, body, at(NOW + 11))
                .unwrap_err(),
            Rejection::StaleTimestamp {
                age: Duration::from_secs(11),
                tolerance: Duration::from_secs(10)
            }
        );
    }

    #[test]
    fn check_construction_names_the_one_that_matches() {
        let secret = WebhookSecret::new("s");
        let body = br#"[{"id":"p","type":"PING","timestamp":"2026-01-01T00:00:00Z"}]"#;
        for construction in Construction::ALL {
            let mut headers = http::HeaderMap::new();
            headers.insert(TIMESTAMP_HEADER, "1700000000".parse().unwrap());
            let signature = sign_with(construction, &secret, "1700000000", body);
            headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
            let expected = if construction == Construction::DEFAULT {
                ConstructionCheck::Default
            } else {
                ConstructionCheck::Other(construction)
            };
            assert_eq!(check_construction(&secret, &headers, body), expected);
            assert_eq!(
                check_construction(&WebhookSecret::new("wrong"), &headers, body),
                ConstructionCheck::NoMatch
            );
        }
        assert_eq!(
            check_construction(&secret, &http::HeaderMap::new(), body),
            ConstructionCheck::Unreadable(Rejection::MissingTimestamp)
        );
    }

    #[test]
    fn debug_and_messages_never_show_the_secret() {
        let verifier = Verifier::new("hunter2-secret");
        assert!(!format!("{verifier:?}").contains("hunter2"));
        assert!(!format!("{:?}", WebhookSecret::new("hunter2-secret")).contains("hunter2"));
        let body = b"[]";
        let headers = signed("other", &NOW.to_string(), body);
        let rejection = verifier.verify_at(&headers, body, at(NOW)).unwrap_err();
        assert!(!rejection.to_string().contains("hunter2"));
        assert!(!format!("{rejection:?}").contains("hunter2"));
    }
}
