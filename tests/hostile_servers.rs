//! Servers that misbehave on purpose, over real sockets: answers too large to buffer, bodies
//! that trickle, calls that never end, redirects to another address, cleartext URLs, and TLS
//! handshakes that fail. Each test names the bound it proves (issue 17).

#![allow(clippy::result_large_err)]

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use customer_data::consumer_intelligence::{self as ci, Client, Error};
use customer_data::runtime::limits::{self, CallLimits, Limits, MinThroughput};
use customer_data::runtime::retry::RetryPolicy;
use customer_data::runtime::transport::{CallPhase, DeadlineSource};
use customer_data::runtime::{ConnectError, ConnectOptions, Layer, TransportError};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// A server on 127.0.0.1 that hands every connection to `handle` after reading the request
/// head, and counts the connections.
struct Server {
    url: String,
    connections: Arc<AtomicUsize>,
}

async fn server<F, Fut>(handle: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let handle = Arc::new(handle);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let handle = handle.clone();
            tokio::spawn(async move {
                if common::read_head(&mut socket).await.is_some() {
                    handle(socket).await;
                }
            });
        }
    });
    Server { url, connections }
}

fn client_with(url: &str, layer: Layer) -> Client {
    let http = customer_data::runtime::http::default_client().unwrap();
    Client::new_with_client(url, http, layer)
}

fn layer() -> Layer {
    Layer::new(&ci::SERVICE_RULES).with_retry(
        RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
    )
}

fn transport(error: Error<ci::types::Problem>) -> (u32, TransportError) {
    match error {
        Error::Transport { attempts, source } => (attempts, source),
        other => panic!("expected a transport error, got {other}"),
    }
}

#[tokio::test]
async fn an_announced_answer_over_the_limit_is_refused_before_it_is_read() {
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let server = server(move |mut socket| {
        let counter = counter.clone();
        async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000000000\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b' '; 64 * 1024];
            while socket.write_all(&chunk).await.is_ok() {
                counter.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        }
    })
    .await;
    let client = client_with(&server.url, layer());
    let (attempts, source) = transport(client.list_webhooks().send().await.unwrap_err());
    assert!(
        matches!(
            source,
            TransportError::TooLarge {
                limit: limits::DEFAULT_MAX_ANSWER_BYTES,
                declared: Some(5_000_000_000)
            }
        ),
        "{source}"
    );
    assert_eq!(
        attempts, 1,
        "an answer over the limit is final: not retried"
    );
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    assert!(source.to_string().contains("5000000000 bytes"), "{source}");
}

#[tokio::test]
async fn a_chunked_answer_is_cut_as_soon_as_it_grows_past_the_limit() {
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let server = server(move |mut socket| {
        let counter = counter.clone();
        async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            let _ = socket.write_all(head.as_bytes()).await;
            // An endless body: 64 KiB chunks until the client hangs up.
            let data = vec![b' '; 64 * 1024];
            let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
            chunk.extend_from_slice(&data);
            chunk.extend_from_slice(b"\r\n");
            while socket.write_all(&chunk).await.is_ok() {
                counter.fetch_add(data.len(), Ordering::SeqCst);
            }
        }
    })
    .await;
    let limit = 1024 * 1024;
    let client = client_with(
        &server.url,
        layer().with_limits(Limits {
            max_answer_bytes: limit,
            ..Limits::default()
        }),
    );
    let (attempts, source) = transport(client.list_webhooks().send().await.unwrap_err());
    assert!(
        matches!(
            source,
            TransportError::TooLarge {
                limit: 1_048_576,
                declared: None
            }
        ),
        "{source}"
    );
    assert_eq!(attempts, 1);
    // The server could write ahead into socket buffers, but not much more than the limit.
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < 64 * 1024 * 1024, "the server wrote {sent} bytes");
}

#[tokio::test]
async fn a_trickling_body_is_ended_by_the_stall_guard_and_retried_once() {
    let server = server(|mut socket| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        let _ = socket.write_all(head.as_bytes()).await;
        // One byte every 100 ms, forever: 10 bytes/s.
        while socket.write_all(b"1\r\n \r\n").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let client = client_with(
        &server.url,
        layer()
            .with_retry(
                RetryPolicy::default()
                    .with_max_attempts(2)
                    .with_backoff(Duration::from_millis(1), Duration::from_millis(1)),
            )
            .with_limits(Limits {
                min_throughput: Some(MinThroughput {
                    bytes_per_second: 100,
                    window: Duration::from_millis(400),
                }),
                ..Limits::default()
            }),
    );
    let started = Instant::now();
    let (attempts, source) = transport(client.list_webhooks().send().await.unwrap_err());
    assert!(
        matches!(
            source,
            TransportError::Stalled {
                minimum_bytes_per_second: 100,
                ..
            }
        ),
        "{source}"
    );
    assert_eq!(attempts, 2, "a stalled body is retried like one cut short");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A server that reads the request and never answers.
async fn silent() -> Server {
    server(|socket| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(socket);
    })
    .await
}

#[tokio::test]
async fn the_operation_deadline_bounds_a_call_that_never_ends() {
    let server = silent().await;
    let client = client_with(
        &server.url,
        layer()
            .with_timeout(Duration::from_secs(600))
            .with_limits(Limits {
                deadline: Some(Duration::from_millis(300)),
                ..Limits::default()
            }),
    );
    let started = Instant::now();
    let (attempts, source) = transport(client.list_webhooks().send().await.unwrap_err());
    let elapsed = started.elapsed();
    assert!(
        matches!(
            source,
            TransportError::DeadlineExceeded {
                set_by: DeadlineSource::Client,
                during: CallPhase::Attempt(1),
                ..
            }
        ),
        "{source}"
    );
    assert_eq!(attempts, 1);
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(
        source
            .to_string()
            .contains("the client's operation deadline of 300 ms ran out during attempt 1"),
        "{source}"
    );
}

#[tokio::test]
async fn a_deadline_set_for_one_call_is_named_as_such() {
    let server = silent().await;
    let client = client_with(&server.url, layer());
    let started = Instant::now();
    let error = limits::within(
        CallLimits::deadline(Duration::from_millis(200)),
        client.list_webhooks().send(),
    )
    .await
    .unwrap_err();
    let (_, source) = transport(error);
    assert!(
        matches!(
            source,
            TransportError::DeadlineExceeded {
                set_by: DeadlineSource::Call,
                ..
            }
        ),
        "{source}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_returns_the_429_at_once() {
    let (url, _server) = common::serve(vec![common::http(
        "429 Too Many Requests\r\nretry-after: 30",
        "application/problem+json",
        r#"{"title":"Too Many Requests","status":429}"#,
    )])
    .await;
    let client = client_with(
        &url,
        layer().with_limits(Limits {
            deadline: Some(Duration::from_secs(2)),
            ..Limits::default()
        }),
    );
    let started = Instant::now();
    let error = client.list_webhooks().send().await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "waited {:?} for a retry that would end past the deadline",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_deadline_covers_the_wait_for_a_token() {
    // The token endpoint never answers; the API would.
    let token = silent().await;
    let environment = ci::Environment::Custom {
        base_url: "http://127.0.0.1:9".into(),
        token_url: format!("{}/oauth/token", token.url),
    };
    let credentials = ci::Credentials::new("client", "secret");
    let options = ConnectOptions {
        timeout: Some(Duration::from_secs(600)),
        limits: Limits {
            deadline: Some(Duration::from_millis(300)),
            ..Limits::default()
        },
        ..ConnectOptions::default()
    };
    let client = ci::connect_with(environment, credentials, &options).unwrap();
    let started = Instant::now();
    let error = client.list_webhooks().send().await.unwrap_err();
    // The token request runs under the same deadline: whichever notices first reports it,
    // the API call (waiting for the token) or the token request itself (an auth failure).
    match &error {
        Error::Transport {
            attempts: 0,
            source:
                TransportError::DeadlineExceeded {
                    during: CallPhase::Token,
                    ..
                },
        } => {}
        Error::Auth(auth)
            if auth
                .to_string()
                .contains("operation deadline of 300 ms ran out") => {}
        other => panic!("expected the deadline while waiting for a token, got {other}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_307_to_another_port_is_not_followed_and_the_body_never_arrives_there() {
    let elsewhere = server(|mut socket| async move {
        let _ = socket
            .write_all(common::http("200 OK", "application/json", "{}").as_bytes())
            .await;
    })
    .await;
    let location = format!("{}/stolen?token=s3cret", elsewhere.url);
    let redirect = server(move |mut socket| {
        let location = location.clone();
        async move {
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    })
    .await;
    let client = client_with(&redirect.url, layer());
    let upload = client
        .upload_consumers()
        .body(vec![ci::types::UploadConsumerDto {
            consumer_id: "c-1".parse().unwrap(),
            market: "SE".parse().unwrap(),
            data: ci::types::ConsumerDataDto::default(),
        }])
        .send()
        .await;
    let (attempts, source) = transport(upload.unwrap_err());
    match &source {
        TransportError::Redirected { status, location } => {
            assert_eq!(*status, 307);
            let location = location.as_deref().unwrap();
            assert!(location.ends_with("/stolen"), "{location}");
            assert!(!source.to_string().contains("s3cret"), "{source}");
        }
        other => panic!("expected a refused redirect, got {other}"),
    }
    assert_eq!(attempts, 1, "a redirect is final");
    assert_eq!(elsewhere.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn plain_http_to_another_host_is_refused_before_anything_is_sent() {
    let client = client_with("http://api.example.com", layer());
    let (attempts, source) = transport(client.list_webhooks().send().await.unwrap_err());
    assert!(
        matches!(&source, TransportError::Cleartext { host } if host == "api.example.com"),
        "{source}"
    );
    assert_eq!(attempts, 0);

    // Connecting says so at once, for the API and the token URL alike, whatever the case.
    for (base, token) in [
        ("HTTP://api.example.com", "https://login.example.com/token"),
        ("https://api.example.com", "http://login.example.com/token"),
    ] {
        let environment = ci::Environment::Custom {
            base_url: base.into(),
            token_url: token.into(),
        };
        let refused = ci::connect_with(
            environment,
            ci::Credentials::new("id", "secret"),
            &ConnectOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&refused, ConnectError::Cleartext { host } if host.ends_with("example.com")),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn loopback_is_this_machine_and_a_test_proxy_can_be_allowed() {
    let (url, _server) = common::serve(vec![common::http(
        "200 OK",
        "application/json",
        r#"{"webhooks":[]}"#,
    )])
    .await;
    let upper = url.replace("http://", "HTTP://");
    client_with(&upper, layer())
        .list_webhooks()
        .send()
        .await
        .expect("plain http to 127.0.0.1 is this machine");

    // Allowed cleartext reaches the network: the name does not resolve, which is a
    // connection failure, not a refusal.
    let client = client_with(
        "http://customer-data.invalid",
        layer().allow_cleartext(true),
    );
    let (_, source) = transport(client.list_webhooks().send().await.unwrap_err());
    assert!(matches!(source, TransportError::Http(_)), "{source}");
}

#[test]
fn blink_requires_a_client_certificate_for_https_in_any_case() {
    use customer_data::blink_customer_management as blink;
    let config = blink::Config::new(
        "HTTPS://api.blink.example",
        "client",
        "user",
        "bank",
        blink::Grant::RefreshToken("r".to_string().into()),
    );
    let refused = blink::connect(config).unwrap_err();
    assert!(
        matches!(refused, ConnectError::MissingClientIdentity { .. }),
        "{refused}"
    );
}

#[tokio::test]
async fn a_page_of_a_stream_can_have_its_own_size_limit() {
    use customer_data::consumer_intelligence::stream::{PageSize, subscribed_persons};
    use customer_data::runtime::paginate::StreamError;
    use futures_util::StreamExt;

    let small = r#"{"data":[{"gedi":"g-1"}],"nextPageToken":"t-2"}"#;
    let persons = (0..200)
        .map(|n| format!(r#"{{"gedi":"g-{n}"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let large = format!(r#"{{"data":[{persons}],"nextPageToken":"t-3"}}"#);
    let (url, _server) = common::serve(vec![
        common::http("200 OK", "application/json", small),
        common::http("200 OK", "application/json", &large),
    ])
    .await;
    let client = client_with(&url, layer());
    let mut pages = subscribed_persons(&client, PageSize::try_from(500).unwrap(), None);
    let page_limit = CallLimits::max_answer_bytes(1024);
    let first = limits::within(page_limit, pages.next()).await.unwrap();
    assert_eq!(first.unwrap().items().len(), 1, "a page under the limit");
    let second = limits::within(page_limit, pages.next()).await.unwrap();
    match second {
        Err(StreamError::Call(Error::Transport {
            source: TransportError::TooLarge { limit: 1024, .. },
            ..
        })) => {}
        other => panic!("expected the page limit, got {other:?}"),
    }
    assert!(large.len() > 1024 && large.len() < limits::DEFAULT_MAX_ANSWER_BYTES as usize);
}
