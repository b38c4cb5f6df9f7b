//! Helpers shared by the per-service integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;

pub mod soap;
pub mod xml;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An HTTP client (from the library's builder) sending `Authorization: Bearer <token>`.
pub fn bearer_http(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}")
        .parse()
        .expect("a token is a valid header value");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    customer_data::runtime::http::client_builder()
        .default_headers(headers)
        .build()
        .expect("the HTTP client builds")
}

/// `tests/fixtures/<slug>/<name>` as JSON.
pub fn fixture(slug: &str, name: &str) -> Value {
    let path = fixture_path(slug, name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixture_path(slug: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(slug)
        .join(name)
}

/// The `<seed operation> => <operationId>` lines of `tests/fixtures/<slug>/operations.txt`.
pub fn seed_operations(slug: &str) -> Vec<(String, String)> {
    let path = fixture_path(slug, "operations.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (seed, id) = l
                .rsplit_once("=>")
                .unwrap_or_else(|| panic!("bad line `{l}`"));
            (seed.trim().to_string(), id.trim().to_string())
        })
        .collect()
}

/// The operation lines of `slug`'s API surface, as the generator produces it from the spec
/// this build compiled.
pub fn surface_operations(slug: &str) -> Vec<String> {
    let service = customer_data_codegen::services::by_slug(slug).expect("known slug");
    let generated =
        customer_data_codegen::run(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), service)
            .unwrap_or_else(|e| panic!("{e}"));
    generated
        .surface
        .split("## operations\n")
        .nth(1)
        .unwrap_or("")
        .lines()
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Every operation the vendor's seed text names exists in the generated client: `expected` is
/// the explicit list of `(seed name, start of the surface line)`; it must also be exactly the
/// seed column of `tests/fixtures/<slug>/operations.txt`.
pub fn assert_seed_operations(slug: &str, expected: &[(&str, &str)]) {
    let surface = surface_operations(slug);
    for (seed, line_start) in expected {
        assert!(
            surface.iter().any(|l| l.starts_with(line_start)),
            "seed operation `{seed}` is missing from the {slug} client (no line `{line_start}...`):\n{}",
            surface.join("\n")
        );
    }
    let listed: Vec<String> = seed_operations(slug)
        .into_iter()
        .map(|(seed, _)| seed)
        .collect();
    let expected: Vec<String> = expected.iter().map(|(seed, _)| seed.to_string()).collect();
    assert_eq!(listed, expected, "operations.txt and the test disagree");
}

/// `fixture` decodes into `T` and encodes back to the same JSON. Allowed differences: an
/// *optional* member holding an empty array or object is omitted on output (typify's
/// documented elision; absent and empty mean the same to the APIs), and numbers compare by
/// value (`60` and `60.0`). Decoding the output again must give the same value.
pub fn assert_round_trip<T>(slug: &str, name: &str)
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let original = fixture(slug, name);
    let decoded: T = serde_json::from_value(original.clone())
        .unwrap_or_else(|e| panic!("{slug}/{name} does not decode: {e}"));
    let encoded = serde_json::to_value(&decoded).unwrap();
    assert_same(&format!("{slug}/{name}"), "", &original, &encoded);
    let again: T = serde_json::from_value(encoded).unwrap();
    assert_eq!(again, decoded, "{slug}/{name}: second decode differs");
}

fn assert_same(name: &str, at: &str, original: &Value, encoded: &Value) {
    match (original, encoded) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{at}/{key}");
                match b.get(key) {
                    Some(other) => assert_same(name, &here, value, other),
                    None => {
                        let empty = matches!(value, Value::Array(v) if v.is_empty())
                            || matches!(value, Value::Object(m) if m.is_empty());
                        assert!(empty, "{name}: {here} = {value} was lost on the way back");
                    }
                }
            }
            for key in b.keys() {
                assert!(
                    a.contains_key(key),
                    "{name}: {at}/{key} appeared on the way back"
                );
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{name}: {at} length changed");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(name, &format!("{at}/{i}"), x, y);
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            assert_eq!(a.as_f64(), b.as_f64(), "{name}: {at} changed");
        }
        (a, b) => assert_eq!(a, b, "{name}: {at} changed"),
    }
}

/// A listener nobody should connect to; proves a request was refused before sending.
pub struct NoTraffic {
    listener: std::net::TcpListener,
}

impl NoTraffic {
    pub fn new() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Self { listener }
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.listener.local_addr().unwrap())
    }
    pub fn assert_untouched(&self) {
        match self.listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("a connection was made: {other:?}"),
        }
    }
}

/// Reads a request head, up to its blank line, from `socket` (a plain or TLS stream); the
/// body, if any, is left unread. `None` when the peer closed or failed first.
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(socket: &mut S) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    Some(head)
}

/// Serves `responses` in order, one per connection, and returns the raw requests it saw.
pub async fn serve(responses: Vec<String>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let mut seen = Vec::new();
        for response in responses {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            seen.push(String::from_utf8_lossy(&request).into_owned());
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
        }
        seen
    });
    (url, handle)
}

pub fn http(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A Consumer Intelligence client of the sandbox's twin, with the sandbox's credentials.
pub fn ci_client(
    sandbox: &customer_data_sandbox::Sandbox,
) -> customer_data::consumer_intelligence::Client {
    use customer_data::consumer_intelligence::{Credentials, Environment, SLUG, connect};
    use customer_data_sandbox::credentials;
    let base_url = sandbox.url(SLUG);
    connect(
        Environment::Custom {
            token_url: format!("{base_url}/oauth/token"),
            base_url,
        },
        Credentials::new(
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
            credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        ),
    )
    .expect("the client builds")
}

/// A bearer token from the Consumer Intelligence twin (for its sandbox-only routes).
pub async fn ci_token(sandbox: &customer_data_sandbox::Sandbox) -> String {
    sandbox
        .consumer_intelligence_token()
        .await
        .expect("a token from the twin")
}
