//! Exchange recording, for the independent validators in CI (`.ci/validate/`): with
//! `CUSTOMER_DATA_SANDBOX_RECORD=<dir>` set (or [`crate::SandboxConfig::record`]), every
//! [`crate::Sandbox`] appends each HTTP exchange it serves as one JSON line to its own file
//! `<dir>/exchanges-<pid>-<n>.jsonl` (`n` counts the sandboxes of the process, so parallel test
//! binaries and several sandboxes per process never share a file; each line is written whole,
//! by one `write` to a file opened for appending).
//!
//! One line:
//! `{"slug", "method", "path" (below the /<slug> prefix), "query" (raw, "" if none),
//! "request_headers" {lower-case name: value}, "request_body" (UTF-8 text, or base64 with
//! "request_body_base64": true), "status", "response_headers", "response_body" (+
//! "response_body_base64"), "injected", "sandbox_only"}`.
//!
//! * The bytes are the wire's: the request as the twin received it, the answer as sent, after
//!   fault injection. `injected` is true when fault injection decided the answer (a 429 or 5xx
//!   instead of the twin's, a reset, a body cut short: [`crate::faults::Injected`]); a `Slow`
//!   answer is the twin's own and is not marked. Every exchange of a sandbox with
//!   [`crate::SandboxConfig::send_unlisted_enum_values`] on is marked `injected` too: its answers
//!   carry enum values the spec does not list, on purpose. An answer whose body did not go out whole for
//!   another reason (the client went away) carries `"incomplete": true` as well. Headers
//!   hyper adds after the router (`date`, `content-length`) are not in `response_headers`.
//! * `sandbox_only` is true for the sandbox's own routes (`/sandbox/...`), which no vendor has.
//! * Credentials are redacted where they stand, keeping the structure: the values of
//!   `Authorization` (its scheme word kept: `Bearer <redacted>`), `Proxy-Authorization`,
//!   cookies, the sandbox key (`x-sandbox-key`) and any header naming a token, secret,
//!   password or api key; query and form
//!   parameters such as `client_secret`, `code`, `refresh_token`; JSON members such as
//!   `access_token`, `token`, `secret`, `apikey` (and any string that is a JWT); the text of
//!   SOAP elements such as `token`, `partnerKey`, `LoginResult`, `AccessToken`. A body is
//!   rewritten only when something in it was redacted.
//! * Cheap when off: without a directory no layer is installed at all. When on, the request
//!   body is read whole before the twin sees it (the twins read it whole anyway); the answer
//!   is streamed as before and copied on its way out, and the line is written when its body
//!   is finished with.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body::{Body as HttpBody, Frame, SizeHint};
use serde_json::{Map, Value};

use crate::faults::Injected;
use crate::lock;

/// The environment variable naming the recording directory.
pub const RECORD_ENV: &str = "CUSTOMER_DATA_SANDBOX_RECORD";

/// What a redacted value is replaced by.
pub const REDACTED: &str = "<redacted>";

/// The recording directory from [`RECORD_ENV`], if set and not empty.
pub fn dir_from_env() -> Option<PathBuf> {
    std::env::var_os(RECORD_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Sandboxes started by this process so far: the `<n>` of the file names.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// The recording file of one sandbox.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    file: Mutex<File>,
}

impl Recorder {
    /// Creates `dir` if needed and a new file `exchanges-<pid>-<n>.jsonl` in it (never an
    /// existing one).
    pub fn create(dir: &Path) -> io::Result<Recorder> {
        std::fs::create_dir_all(dir)?;
        let pid = std::process::id();
        loop {
            let n = INSTANCES.fetch_add(1, Ordering::Relaxed) + 1;
            let path = dir.join(format!("exchanges-{pid}-{n}.jsonl"));
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(Recorder {
                        path,
                        file: Mutex::new(file),
                    });
                }
                // A file of an earlier process with the same pid: take the next number.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The file this sandbox records into.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one exchange as one line (one `write` of the whole line).
    fn append(&self, exchange: &Map<String, Value>) {
        let Ok(mut line) = serde_json::to_vec(exchange) else {
            return;
        };
        line.push(b'\n');
        let mut file = lock(&self.file);
        if let Err(e) = file.write_all(&line) {
            eprintln!(
                "sandbox recording: cannot write {}: {e}",
                self.path.display()
            );
        }
    }
}

/// Middleware state: the sandbox's recorder and the twin's slug.
#[derive(Clone)]
pub struct Recording {
    pub recorder: Arc<Recorder>,
    pub slug: &'static str,
    /// The twin deviates from its spec on purpose in every answer
    /// (`SandboxConfig::send_unlisted_enum_values`): each exchange is marked `injected`.
    pub deviates: bool,
}

/// Records the exchange: reads the request body whole, passes the request on, and copies the
/// answer's body on its way out; the line is written when that body is finished with.
pub async fn record(State(recording): State<Recording>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {e}"),
            )
                .into_response();
        }
    };
    let path = parts.uri.path().to_string();
    let mut exchange = Map::new();
    exchange.insert("slug".into(), recording.slug.into());
    exchange.insert("method".into(), parts.method.as_str().into());
    exchange.insert("path".into(), path.clone().into());
    exchange.insert(
        "query".into(),
        redact_form(parts.uri.query().unwrap_or_default()).into(),
    );
    exchange.insert("request_headers".into(), headers(&parts.headers));
    put_body(
        &mut exchange,
        "request_body",
        content_type(&parts.headers),
        &bytes,
    );
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    exchange.insert("status".into(), response.status().as_u16().into());
    exchange.insert("response_headers".into(), headers(response.headers()));
    exchange.insert(
        "injected".into(),
        (recording.deviates || response.extensions().get::<Injected>().is_some()).into(),
    );
    exchange.insert(
        "sandbox_only".into(),
        crate::sandbox_only::is_sandbox_only(&path).into(),
    );
    let content_type = content_type(response.headers()).map(str::to_string);
    let (parts, body) = response.into_parts();
    let body = RecordingBody {
        inner: body,
        sent: Vec::new(),
        failed: false,
        ended: false,
        pending: Some(Pending {
            recorder: recording.recorder,
            exchange,
            content_type,
        }),
    };
    Response::from_parts(parts, Body::new(body))
}

/// The line waiting for its answer body.
struct Pending {
    recorder: Arc<Recorder>,
    exchange: Map<String, Value>,
    content_type: Option<String>,
}

/// The answer's body, copied as it is sent.
struct RecordingBody {
    inner: Body,
    sent: Vec<u8>,
    failed: bool,
    ended: bool,
    pending: Option<Pending>,
}

impl HttpBody for RecordingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.sent.extend_from_slice(data);
                }
            }
            Poll::Ready(Some(Err(_))) => this.failed = true,
            Poll::Ready(None) => this.ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RecordingBody {
    fn drop(&mut self) {
        let Some(mut pending) = self.pending.take() else {
            return;
        };
        let whole = !self.failed && (self.ended || self.inner.is_end_stream());
        let injected = pending.exchange.get("injected") == Some(&Value::Bool(true));
        if !whole && !injected {
            pending.exchange.insert("incomplete".into(), true.into());
        }
        put_body(
            &mut pending.exchange,
            "response_body",
            pending.content_type.as_deref(),
            &self.sent,
        );
        pending.recorder.append(&pending.exchange);
    }
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// Headers as `{lower-case name: value}` (repeated headers joined by `, `), credentials
/// redacted.
fn headers(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let value = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        let value = if is_secret_header(name.as_str()) {
            redact_header_value(name.as_str(), &value)
        } else {
            value
        };
        out.insert(name.as_str().to_string(), value.into());
    }
    Value::Object(out)
}

/// `key` and, when not UTF-8, `key_base64`: the body, credentials redacted.
fn put_body(
    exchange: &mut Map<String, Value>,
    key: &str,
    content_type: Option<&str>,
    bytes: &[u8],
) {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let text = redact_body(content_type, text).unwrap_or_else(|| text.to_string());
            exchange.insert(key.to_string(), text.into());
        }
        Err(_) => {
            exchange.insert(key.to_string(), STANDARD.encode(bytes).into());
            exchange.insert(format!("{key}_base64"), true.into());
        }
    }
}

/// A name with case, `_` and `-` ignored.
fn folded(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn is_secret_header(name: &str) -> bool {
    let name = folded(name);
    matches!(
        name.as_str(),
        "authorization" | "proxyauthorization" | "cookie" | "setcookie" | "xsandboxkey"
    ) || ["token", "secret", "password", "apikey"]
        .iter()
        .any(|word| name.contains(word))
}

/// `Bearer <redacted>`: the scheme word stays, so a reader still sees how it was sent.
fn redact_header_value(name: &str, value: &str) -> String {
    let folded = folded(name);
    if folded == "authorization" || folded == "proxyauthorization" {
        let mut words = value.trim().splitn(2, ' ');
        if let (Some(scheme), Some(_)) = (words.next(), words.next()) {
            return format!("{scheme} {REDACTED}");
        }
    }
    REDACTED.to_string()
}

/// Secret members of JSON bodies and elements of SOAP bodies.
fn is_secret_member(name: &str) -> bool {
    matches!(
        folded(name).as_str(),
        "token"
            | "accesstoken"
            | "refreshtoken"
            | "idtoken"
            | "clientsecret"
            | "secret"
            | "apikey"
            | "password"
            | "partnerkey"
            | "userkey"
            | "loginresult"
            | "authorization"
            | "clientassertion"
    )
}

/// Secret query and form parameters: the JSON names plus the OAuth `code` and `assertion`.
fn is_secret_parameter(name: &str) -> bool {
    is_secret_member(name) || matches!(folded(name).as_str(), "code" | "assertion")
}

/// The body with its credentials replaced, or `None` when it has none.
fn redact_body(content_type: Option<&str>, text: &str) -> Option<String> {
    let content_type = content_type.unwrap_or_default().to_ascii_lowercase();
    let trimmed = text.trim_start();
    if content_type.contains("x-www-form-urlencoded") {
        let redacted = redact_form(text);
        return (redacted != text).then_some(redacted);
    }
    if (content_type.contains("json") || trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(mut value) = serde_json::from_str::<Value>(text)
    {
        return redact_json(&mut value)
            .then(|| serde_json::to_string(&value).ok())
            .flatten();
    }
    if content_type.contains("xml") || trimmed.starts_with('<') {
        return redact_xml(text);
    }
    None
}

/// `a=1&client_secret=<redacted>`: the value of every secret parameter replaced (URL-encoded).
fn redact_form(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_parameter(&decoded_name(name)) => {
                format!("{name}=%3Credacted%3E")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A form parameter's name as the server reads it (`%XX` and `+` decoded).
fn decoded_name(name: &str) -> String {
    form_urlencoded::parse(name.as_bytes())
        .next()
        .map(|(name, _)| name.into_owned())
        .unwrap_or_default()
}

/// Replaces secret members and JWTs in place; whether anything was replaced.
fn redact_json(value: &mut Value) -> bool {
    match value {
        Value::Object(members) => {
            let mut changed = false;
            for (name, member) in members.iter_mut() {
                if is_secret_member(name) && member.is_string() {
                    if member.as_str() != Some(REDACTED) {
                        *member = Value::from(REDACTED);
                        changed = true;
                    }
                } else {
                    changed |= redact_json(member);
                }
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| redact_json(item) | changed),
        Value::String(text) if looks_like_jwt(text) => {
            *value = Value::from(REDACTED);
            true
        }
        _ => false,
    }
}

/// `eyJ...` (a base64url JSON object) with two dots: a JWT, maybe signed with a secret.
fn looks_like_jwt(text: &str) -> bool {
    let text = text.strip_prefix("Bearer ").unwrap_or(text);
    text.starts_with("eyJ") && text.matches('.').count() == 2
}

/// Replaces the text of every secret element (`<token>...</token>`, any prefix); `None` when
/// there is none.
fn redact_xml(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|c| open + c) else {
            break;
        };
        let tag = &rest[open + 1..close];
        out.push_str(&rest[..=close]);
        rest = &rest[close + 1..];
        if tag.starts_with(['/', '?', '!']) || tag.ends_with('/') {
            continue;
        }
        let qname = tag.split(char::is_whitespace).next().unwrap_or_default();
        let local = qname.rsplit(':').next().unwrap_or(qname);
        if !is_secret_member(local) {
            continue;
        }
        let Some(end) = rest.find(&format!("</{qname}")) else {
            continue;
        };
        let content = &rest[..end];
        let text_only = !content.contains('<') || content.trim_start().starts_with("<![CDATA[");
        if text_only && !content.is_empty() {
            out.push_str("&lt;redacted&gt;");
            rest = &rest[end..];
            changed = true;
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_query_values_are_redacted_names_kept() {
        assert_eq!(
            redact_form("grant_type=authorization_code&code=abc&client_id=me&refresh_token=r"),
            "grant_type=authorization_code&code=%3Credacted%3E&client_id=me&refresh_token=%3Credacted%3E"
        );
        assert_eq!(redact_form("limit=5&cursor=x"), "limit=5&cursor=x");
        assert_eq!(redact_form(""), "");
        assert_eq!(
            redact_form("client%5Fsecret=s%25"),
            "client%5Fsecret=%3Credacted%3E"
        );
    }

    #[test]
    fn json_members_and_jwts_are_redacted_structure_kept() {
        let text = r#"{"access_token":"blink-access-1-x","token_type":"bearer","nested":[{"secret":"s"}],"other":"eyJhbGciOiJIUzI1NiJ9.e30.sig","nextPageToken":"p"}"#;
        let redacted = redact_body(Some("application/json"), text).unwrap();
        let value: Value = serde_json::from_str(&redacted).unwrap();
        assert_eq!(value["access_token"], REDACTED);
        assert_eq!(value["token_type"], "bearer");
        assert_eq!(value["nested"][0]["secret"], REDACTED);
        assert_eq!(value["other"], REDACTED);
        assert_eq!(value["nextPageToken"], "p");
        // Nothing secret: the bytes stay as they were.
        assert_eq!(redact_body(Some("application/json"), r#"{ "a": 1 }"#), None);
    }

    #[test]
    fn soap_elements_are_redacted_with_any_prefix() {
        let text = "<s:Envelope><s:Body><Login xmlns=\"x\"><companyID>C</companyID>\
                    <partnerKey>pk</partnerKey><a:userKey>uk</a:userKey><empty></empty>\
                    <token><![CDATA[t]]></token></Login></s:Body></s:Envelope>";
        let redacted = redact_body(Some("text/xml; charset=utf-8"), text).unwrap();
        assert!(redacted.contains("<companyID>C</companyID>"), "{redacted}");
        assert!(redacted.contains("<partnerKey>&lt;redacted&gt;</partnerKey>"));
        assert!(redacted.contains("<a:userKey>&lt;redacted&gt;</a:userKey>"));
        assert!(redacted.contains("<token>&lt;redacted&gt;</token>"));
        for secret in ["pk", "uk", "[t]"] {
            assert!(!redacted.contains(&format!(">{secret}<")), "{redacted}");
        }
    }

    #[test]
    fn credential_headers_keep_their_scheme_only() {
        let mut map = HeaderMap::new();
        map.insert("authorization", "Bearer blink-access-1-x".parse().unwrap());
        map.insert("x-api-key", "k".parse().unwrap());
        map.insert("x-correlation-id", "c".parse().unwrap());
        let value = headers(&map);
        assert_eq!(value["authorization"], "Bearer <redacted>");
        assert_eq!(value["x-api-key"], REDACTED);
        assert_eq!(value["x-correlation-id"], "c");
    }

    /// The lines of the one recording file in `dir`, once `n` are there.
    async fn lines(dir: &Path, n: usize) -> Vec<Value> {
        for _ in 0..100 {
            let mut lines = Vec::new();
            for entry in std::fs::read_dir(dir).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                lines.extend(
                    text.lines()
                        .map(|l| serde_json::from_str::<Value>(l).unwrap()),
                );
            }
            if lines.len() >= n {
                return lines;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("fewer than {n} exchanges recorded in {}", dir.display());
    }

    #[tokio::test]
    async fn a_sandbox_records_what_it_served_marking_faults_and_its_own_routes() {
        let dir = std::env::temp_dir().join(format!("sandbox-record-{}", uuid::Uuid::new_v4()));
        let config = crate::SandboxConfig {
            record: Some(dir.clone()),
            ..crate::SandboxConfig::default()
        }
        .with_faults(
            "biq_auth",
            crate::Faults {
                server_error: 1.0,
                ..crate::Faults::none()
            },
        );
        let sandbox = crate::Sandbox::start(config).await.unwrap();
        assert!(sandbox.recording().unwrap().starts_with(&dir));
        let http = reqwest::Client::new();
        let token = http
            .get(format!("{}/auth/getToken?x=1", sandbox.url("carmachain")))
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), 200);
        let injected = http
            .post(format!("{}/api/auth/login", sandbox.url("biq_auth")))
            .body(r#"{"apikey":"sandbox-api-key"}"#)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert!(injected.status().is_server_error());
        let ours = http
            .post(format!(
                "{}/sandbox/tokens/revoke",
                sandbox.url("consumer_intelligence")
            ))
            .header(crate::sandbox_only::KEY_HEADER, sandbox.sandbox_key())
            .send()
            .await
            .unwrap();
        assert!(ours.status().is_success(), "{}", ours.status());
        let lines = lines(&dir, 3).await;
        sandbox.shutdown().await;
        let by_slug = |slug: &str| lines.iter().find(|l| l["slug"] == slug).unwrap().clone();

        let carma = by_slug("carmachain");
        assert_eq!(carma["method"], "GET");
        assert_eq!(carma["path"], "/auth/getToken");
        assert_eq!(carma["query"], "x=1");
        assert_eq!(carma["status"], 200);
        assert_eq!(carma["injected"], false);
        assert_eq!(carma["sandbox_only"], false);
        assert_eq!(
            carma["response_headers"]["content-type"],
            "application/json"
        );
        assert_eq!(carma["response_body"], r#"{"token":"<redacted>"}"#);

        let biq = by_slug("biq_auth");
        assert_eq!(biq["injected"], true);
        assert_eq!(biq["request_body"], r#"{"apikey":"<redacted>"}"#);

        let ci = by_slug("consumer_intelligence");
        assert_eq!(ci["sandbox_only"], true);
        assert_eq!(ci["injected"], false);
        assert_eq!(ci["status"], 204, "the sandbox key was accepted");
        assert_eq!(
            ci["request_headers"][crate::sandbox_only::KEY_HEADER],
            REDACTED,
            "the sandbox key is a credential"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_are_one_per_recorder() {
        let dir = std::env::temp_dir().join(format!("sandbox-record-{}", uuid::Uuid::new_v4()));
        let a = Recorder::create(&dir).unwrap();
        let b = Recorder::create(&dir).unwrap();
        assert_ne!(a.path(), b.path());
        let mut exchange = Map::new();
        exchange.insert("slug".into(), "x".into());
        a.append(&exchange);
        a.append(&exchange);
        let text = std::fs::read_to_string(a.path()).unwrap();
        assert_eq!(text, "{\"slug\":\"x\"}\n{\"slug\":\"x\"}\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
