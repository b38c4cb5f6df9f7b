//! The token cache against hostile or broken token endpoints, over real sockets: an endpoint
//! that hangs or answers 503 (one fetch shared by every waiting caller, then a short backoff),
//! wild lifetimes (`expires_in` of `u64::MAX` seconds or 0, a JWT `exp` in the past), a
//! service that refuses every token, and an AccountsIQ credentials fault written with CDATA.
//! Requests are counted at a local TCP server; fetches are counted at the token source.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use customer_data::runtime::auth::{
    AuthError, ExposeSecret, RefreshPolicy, SecretString, Token, TokenCache, TokenSource,
};
use customer_data::runtime::layer::{HeaderAuth, Scheme};
use customer_data::runtime::oauth2::{ClientCredentials, TokenEndpoint};
use customer_data::runtime::{Layer, ServiceRules, jwt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the local server answers a request for `path`: a whole HTTP response, or `None` to
/// never answer (the connection stays open).
type Answer = dyn Fn(&str) -> Option<String> + Send + Sync;

/// A local HTTP/1.1 server counting every request it reads.
struct Server {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl Server {
    async fn start(answer: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let answer: Arc<Answer> = Arc::new(answer);
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_connection(stream, answer.clone(), counter.clone()));
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads requests one after another on `stream` (keep-alive) and answers each.
async fn serve_connection(mut stream: TcpStream, answer: Arc<Answer>, requests: Arc<AtomicUsize>) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..head_end + length);
        requests.fetch_add(1, Ordering::SeqCst);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        match answer(&path) {
            Some(response) => {
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
            None => {
                // Hang: keep the connection open and never answer.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        }
    }
}

fn http(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn json(body: &str) -> String {
    http("200 OK", "application/json", body)
}

/// A token source that counts its fetches.
struct Counted<S> {
    inner: S,
    fetches: Arc<AtomicUsize>,
}

impl<S: TokenSource> TokenSource for Counted<S> {
    async fn fetch(&self, previous: Option<&Token>) -> Result<Token, AuthError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch(previous).await
    }
}

/// A client-credentials cache for the token endpoint at `server`, whose attempts time out
/// after `attempt_timeout` (through the HTTP client, so the token layer sees a lost answer).
fn client_credentials(
    server: &Server,
    attempt_timeout: Duration,
) -> (
    Arc<TokenCache<Counted<ClientCredentials>>>,
    Arc<AtomicUsize>,
) {
    let http = customer_data::runtime::http::client_builder()
        .timeout(attempt_timeout)
        .build()
        .unwrap();
    let endpoint = TokenEndpoint::new(http, format!("{}/token", server.url));
    let source = ClientCredentials::new(endpoint, "client", SecretString::from("secret"), None);
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = Counted {
        inner: source,
        fetches: fetches.clone(),
    };
    (
        Arc::new(TokenCache::new(counted, RefreshPolicy::default())),
        fetches,
    )
}

/// 20 concurrent callers on a cold cache; each one's error and how long it waited.
async fn twenty_waiters<S: TokenSource>(
    cache: &Arc<TokenCache<S>>,
) -> Vec<(Result<String, AuthError>, Duration)> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let outcome = cache
                    .token()
                    .await
                    .map(|t| t.value.expose_secret().to_string());
                (outcome, started.elapsed())
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_waiters_on_a_hanging_token_endpoint_share_one_fetch_and_fail_together() {
    let server = Server::start(|_| None).await;
    let (cache, fetches) = client_credentials(&server, Duration::from_millis(200));
    let outcomes = twenty_waiters(&cache).await;
    let slowest = outcomes.iter().map(|(_, waited)| *waited).max().unwrap();
    for (outcome, _) in &outcomes {
        assert!(
            matches!(outcome, Err(AuthError::Transport(_))),
            "{outcome:?}"
        );
    }
    let fetched = fetches.load(Ordering::SeqCst);
    println!("figure token_fetches_20_waiters_hanging {fetched}");
    println!(
        "figure time_to_fail_token_endpoint_down_ms {}",
        slowest.as_millis()
    );
    println!(
        "figure token_requests_20_waiters_hanging {}",
        server.requests()
    );
    assert_eq!(fetched, 1, "one fetch for all 20 waiters");
    // One fetch: at most 4 attempts of 200 ms plus the retry backoff between them. 20 serial
    // fetches would take over 16 s.
    assert!(server.requests() <= 4, "{} requests", server.requests());
    assert!(slowest < Duration::from_secs(6), "{slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_waiters_on_a_503_token_endpoint_share_one_fetch_then_back_off_then_fetch_again() {
    let server =
        Server::start(|_| Some(http("503 Service Unavailable", "text/plain", "down"))).await;
    let (cache, fetches) = client_credentials(&server, Duration::from_secs(5));
    let outcomes = twenty_waiters(&cache).await;
    for (outcome, _) in &outcomes {
        assert!(
            matches!(outcome, Err(AuthError::Transport(detail)) if detail.contains("503")),
            "{outcome:?}"
        );
    }
    let fetched = fetches.load(Ordering::SeqCst);
    let requests_of_one_fetch = server.requests();
    println!("figure token_fetches_20_waiters_503 {fetched}");
    println!("figure token_requests_20_waiters_503 {requests_of_one_fetch}");
    assert_eq!(fetched, 1, "one fetch for all 20 waiters");
    assert!(requests_of_one_fetch <= 4, "{requests_of_one_fetch}");

    // Within the backoff a new caller fails fast with the same error, without a request.
    let started = Instant::now();
    let error = cache.token().await.unwrap_err();
    assert!(matches!(error, AuthError::Transport(_)), "{error}");
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert_eq!(server.requests(), requests_of_one_fetch);

    // The default backoff is 1 s plus up to 1 s of jitter: after it, one new fetch.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    cache.token().await.unwrap_err();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_token_living_u64_max_seconds_is_usable_and_kept_at_most_a_day() {
    let server = Server::start(|_| {
        Some(json(
            r#"{"access_token":"x","expires_in":18446744073709551615}"#,
        ))
    })
    .await;
    let (cache, fetches) = client_credentials(&server, Duration::from_secs(5));
    let token = cache.token().await.unwrap();
    assert_eq!(token.value.expose_secret(), "x");
    let left = token.expires_at.saturating_duration_since(Instant::now());
    assert!(
        left <= Duration::from_secs(24 * 3600) && left > Duration::from_secs(23 * 3600),
        "{left:?}"
    );
    cache.token().await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn expires_in_zero_makes_100_sequential_calls_cause_at_most_3_fetches() {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let server = Server::start(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        Some(json(&format!(
            r#"{{"access_token":"t{n}","expires_in":0}}"#
        )))
    })
    .await;
    let (cache, fetches) = client_credentials(&server, Duration::from_secs(5));
    for _ in 0..100 {
        cache.token().await.unwrap();
    }
    let fetched = fetches.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&fetched),
        "{fetched} fetches for 100 calls"
    );
}

/// Hands out JWTs whose `exp` is an hour in the past.
struct ExpiredJwts {
    fetches: Arc<AtomicUsize>,
}

impl TokenSource for ExpiredJwts {
    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, AuthError> {
        use base64::Engine;
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let past = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 3600;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{past}}}"#));
        let value = format!("e30.{payload}.sig");
        let expires_at = jwt::expires_at(&jwt::claims(&value)?).expect("exp is read");
        Ok(Token {
            value: value.into(),
            expires_at,
            refresh: None,
        })
    }
}

#[tokio::test]
async fn a_jwt_with_a_past_exp_makes_100_sequential_calls_cause_at_most_3_fetches() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let cache = TokenCache::new(
        ExpiredJwts {
            fetches: fetches.clone(),
        },
        RefreshPolicy::default(),
    );
    for _ in 0..100 {
        cache.token().await.unwrap();
    }
    let fetched = fetches.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&fetched),
        "{fetched} fetches for 100 calls"
    );
}

static REFUSING_SERVICE: ServiceRules = ServiceRules::empty("refusing_service");

#[tokio::test]
async fn fifty_calls_against_a_service_that_refuses_every_token_cause_at_most_4_token_fetches() {
    let server = Server::start(|path| {
        Some(if path == "/token" {
            json(r#"{"access_token":"t","expires_in":3600}"#)
        } else {
            http("401 Unauthorized", "text/plain", "no")
        })
    })
    .await;
    let (cache, fetches) = client_credentials(&server, Duration::from_secs(5));
    let http = customer_data::runtime::http::default_client().unwrap();
    let layer = Layer::new(&REFUSING_SERVICE).with_auth(HeaderAuth::new(cache, Scheme::Bearer));
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..50 {
        let request = http
            .get(format!("{}/customers", server.url))
            .build()
            .unwrap();
        match layer.execute(&http, request, "list_customers").await {
            Ok(response) => assert_eq!(response.status(), 401),
            Err(error) => assert!(error.to_string().contains("refused"), "{error}"),
        }
        refused += 1;
    }
    let fetched = fetches.load(Ordering::SeqCst);
    println!(
        "figure token_fetches_50_calls_every_token_refused {fetched} (in {} ms)",
        started.elapsed().as_millis()
    );
    assert_eq!(refused, 50);
    // Two new tokens refused in a row, then one fetch per failure backoff (at least 1 s).
    let bound = 2 + started.elapsed().as_secs() as usize + 1;
    assert!(fetched <= bound.min(4), "{fetched} fetches (bound {bound})");
}

mod accountsiq {
    use super::*;
    use customer_data::accountsiq::Endpoint;
    use customer_data::accountsiq_v1_1::{Credentials, Session, types};
    use customer_data::runtime::ConnectOptions;
    use customer_data::runtime::soap::SoapError;

    /// An ASMX fault as .NET writes it, with the code in an attributed element (an empty
    /// default namespace) and the string in a CDATA section.
    const CREDENTIALS_FAULT: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
        <soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" \
        xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
        xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soap:Body><soap:Fault>\
        <faultcode xmlns=\"\">soap:Client</faultcode>\
        <faultstring><![CDATA[Server was unable to process request. ---> Invalid <partner> key]]></faultstring>\
        <detail /></soap:Fault></soap:Body></soap:Envelope>";

    #[tokio::test]
    async fn a_cdata_credentials_fault_is_a_rejection_and_not_a_login_per_call() {
        let server = Server::start(|_| {
            Some(http(
                "500 Internal Server Error",
                "text/xml; charset=utf-8",
                CREDENTIALS_FAULT,
            ))
        })
        .await;
        let session = Session::with_options(
            &Endpoint::Custom(format!("{}/integration_1_1.asmx", server.url)),
            Credentials::new("COMPANY", "partner", "user"),
            &ConnectOptions::default(),
        )
        .unwrap();
        for _ in 0..10 {
            let error = session
                .call(async |client, token| {
                    client
                        .get_customer_list(&types::GetCustomerList {
                            token: Some(token.into()),
                        })
                        .await
                })
                .await
                .unwrap_err();
            match &error {
                SoapError::Auth(AuthError::Rejected { detail, .. }) => {
                    assert!(detail.contains("Invalid <partner> key"), "{detail}");
                }
                other => panic!("expected a credentials rejection, got {other}"),
            }
        }
        // One Login (a fault is a final answer: not retried), answered for the backoff.
        assert_eq!(server.requests(), 1);
    }
}

#[tokio::test]
async fn the_token_endpoint_layer_timeout_bounds_each_attempt_at_a_hanging_endpoint() {
    let server = Server::start(|_| None).await;
    // The default HTTP client waits far longer than this test runs.
    let http = customer_data::runtime::http::default_client().unwrap();
    let endpoint = TokenEndpoint::new(http, format!("{}/token", server.url)).with_options(
        &customer_data::runtime::ConnectOptions {
            timeout: Some(Duration::from_millis(100)),
            ..Default::default()
        },
    );
    let source = ClientCredentials::new(endpoint, "client", SecretString::from("secret"), None);
    let started = Instant::now();
    let error = TokenCache::new(source, RefreshPolicy::default())
        .token()
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::Transport(_)), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
