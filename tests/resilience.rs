//! The layer's retries, timeouts, error details and tracing, against scripted servers that
//! answer each connection with the next canned answer (or drop it).

#![allow(clippy::result_large_err)]

mod common;

use std::time::{Duration, Instant};

use customer_data::consumer_intelligence::{Client, Error, types};
use customer_data::runtime::Layer;
use customer_data::runtime::layer::ATTEMPTS_HEADER;
use customer_data::runtime::retry::{RetryBudget, RetryPolicy};

/// The default policy with millisecond backoff, so the tests do not sleep.
fn fast() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

fn client(url: &str, policy: RetryPolicy) -> Client {
    let http = customer_data::runtime::http::default_client().unwrap();
    Client::new_with_client(
        url,
        http,
        Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES).with_retry(policy),
    )
}

fn json(status: &str, body: &str) -> String {
    common::http(status, "application/json", body)
}

fn problem(status: u16, title: &str) -> String {
    common::http(
        &format!("{status} {title}"),
        "application/problem+json",
        &format!(r#"{{"title":"{title}","status":{status},"detail":"scripted"}}"#),
    )
}

/// A connection accepted and closed without a byte: a reset as the client sees it.
const DROP: &str = "";

fn consumer(id: &str) -> types::UploadConsumerDto {
    types::UploadConsumerDto {
        consumer_id: id.parse().unwrap(),
        market: "SE".parse().unwrap(),
        data: types::ConsumerDataDto::default(),
    }
}

#[tokio::test]
async fn a_get_is_retried_through_5xx_and_resets_and_the_answer_counts_the_attempts() {
    let (url, server) = common::serve(vec![
        problem(503, "Service Unavailable"),
        DROP.into(),
        problem(502, "Bad Gateway"),
        json("200 OK", r#"{"webhooks":[]}"#),
    ])
    .await;
    let answer = client(&url, fast()).list_webhooks().send().await.unwrap();
    assert!(answer.webhooks.is_empty());
    assert_eq!(answer.headers()[ATTEMPTS_HEADER], "4");
    assert_eq!(server.await.unwrap().len(), 4);
}

#[tokio::test]
async fn retry_after_in_seconds_is_waited_for() {
    let (url, _server) = common::serve(vec![
        format!(
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        json("200 OK", r#"{"webhooks":[]}"#),
    ])
    .await;
    let started = Instant::now();
    let answer = client(&url, fast()).list_webhooks().send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(answer.headers()[ATTEMPTS_HEADER], "2");
}

#[tokio::test]
async fn a_retry_after_beyond_the_bound_ends_the_call_with_the_answer() {
    let body = r#"{"title":"Too Many Requests","status":429}"#;
    let (url, server) = common::serve(vec![format!(
        "HTTP/1.1 429 Too Many Requests\r\nretry-after: 3600\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )])
    .await;
    let policy = fast().with_max_retry_after(Duration::from_secs(5));
    let started = Instant::now();
    let error = client(&url, policy)
        .list_webhooks()
        .send()
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(error.attempts(), Some(1));
    assert_eq!(server.await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_body_cut_short_is_retried() {
    let cut = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\nconnection: close\r\n\r\n[{\"id\":";
    let (url, _server) =
        common::serve(vec![cut.into(), json("200 OK", r#"{"webhooks":[]}"#)]).await;
    let answer = client(&url, fast()).list_webhooks().send().await.unwrap();
    assert_eq!(answer.headers()[ATTEMPTS_HEADER], "2");
}

#[tokio::test]
async fn a_post_that_is_not_retry_safe_is_sent_once() {
    let (url, server) = common::serve(vec![problem(503, "Service Unavailable")]).await;
    let error = client(&url, fast())
        .create_webhook()
        .body(types::CreateWebhookDto {
            description: None,
            events: vec![],
            url: "https://example.invalid/hook".into(),
        })
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(error.attempts(), Some(1));
    assert_eq!(server.await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_upload_is_retried_because_it_is_idempotent_by_consumer_id() {
    let (url, server) = common::serve(vec![
        problem(503, "Service Unavailable"),
        DROP.into(),
        common::http("202 Accepted", "application/json", ""),
    ])
    .await;
    client(&url, fast())
        .upload_consumers()
        .body(vec![consumer("c-1")])
        .send()
        .await
        .unwrap();
    let requests = server.await.unwrap();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.contains("\"c-1\"")));
}

#[tokio::test]
async fn a_post_whose_connection_failed_is_retried_because_nothing_was_sent() {
    // Bind a port, then close it: every connect is refused.
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let error = client(&refused, fast().with_max_attempts(2))
        .create_webhook()
        .body(types::CreateWebhookDto {
            description: None,
            events: vec![],
            url: "https://example.invalid/hook".into(),
        })
        .send()
        .await
        .unwrap_err();
    // Two attempts for a POST that is not retry-safe: the refused connect was retried.
    assert!(
        matches!(error, Error::Transport { attempts: 2, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn no_answer_after_every_attempt_is_a_transport_error_with_the_count() {
    let (url, _server) = common::serve(vec![DROP.into(); 4]).await;
    let error = client(&url, fast())
        .list_webhooks()
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Transport { attempts: 4, .. }),
        "{error}"
    );
    assert_eq!(error.attempts(), Some(4));
    assert!(
        error
            .to_string()
            .starts_with("no answer after 4 attempt(s)"),
        "{error}"
    );
}

#[tokio::test]
async fn a_spent_budget_stops_retries() {
    let (url, server) = common::serve(vec![
        problem(503, "Service Unavailable"),
        json("200 OK", r#"{"webhooks":[]}"#),
    ])
    .await;
    let error = client(&url, fast().with_budget(RetryBudget::new(0.0, 0)))
        .list_webhooks()
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(error.attempts(), Some(1));
    server.abort();
}

#[tokio::test]
async fn every_attempt_gets_the_timeout() {
    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let http = customer_data::runtime::http::default_client().unwrap();
    let client = Client::new_with_client(
        &url,
        http,
        Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES)
            .with_retry(fast().with_max_attempts(2))
            .with_timeout(Duration::from_millis(200)),
    );
    let started = Instant::now();
    let error = client.list_webhooks().send().await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(&error, Error::Transport { attempts: 2, source } if source.is_timeout()),
        "{error}"
    );
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    silent.abort();
}

#[tokio::test]
async fn problems_come_back_typed_documented_or_not_and_undocumented_bodies_are_kept() {
    let (url, _server) = common::serve(vec![
        common::http(
            "400 Bad Request",
            "application/problem+json",
            r#"{"type":"about:blank","title":"Constraint Violation","status":400,"detail":"bad","instance":"urn:x","violations":[{"field":"[0].consumerId","message":"must not be blank"}]}"#,
        ),
        common::http(
            "418 I'm a teapot",
            "application/problem+json",
            r#"{"title":"Teapot","status":418}"#,
        ),
        common::http("418 I'm a teapot", "text/plain", &"tea ".repeat(600)),
    ])
    .await;
    let client = client(&url, fast());
    let error = client
        .upload_consumers()
        .body(vec![consumer("c-1")])
        .send()
        .await
        .unwrap_err();
    let problem = error.error_body().unwrap();
    assert_eq!(problem.title.as_deref(), Some("Constraint Violation"));
    assert_eq!(problem.status, Some(400));
    assert_eq!(problem.detail.as_deref(), Some("bad"));
    assert_eq!(problem.instance.as_deref(), Some("urn:x"));
    assert_eq!(
        problem.violations[0].field.as_deref(),
        Some("[0].consumerId")
    );

    // A status the spec does not list: the problem is still read from the kept body.
    let error = client.list_webhooks().send().await.unwrap_err();
    assert!(matches!(error, Error::UnexpectedResponse(_)), "{error}");
    assert_eq!(error.error_body().unwrap().title.as_deref(), Some("Teapot"));

    // Not a problem at all: the body is kept whole, and shown cut in the message.
    let error = client.list_webhooks().send().await.unwrap_err();
    assert_eq!(error.body().unwrap().len(), 2400);
    assert!(error.error_body().is_none());
    let message = error.to_string();
    assert!(message.contains("tea tea"), "{message}");
    assert!(message.contains("(2400 bytes)"), "{message}");
}

mod soap {
    use super::*;
    use common::soap::{envelope, soap_response};
    use customer_data::accountsiq_v1_1::{Client, SLUG, types};
    use customer_data::runtime::soap::SoapError;

    fn client(url: &str) -> Client {
        let http = customer_data::runtime::http::default_client().unwrap();
        Client::new(url, http).with_layer(
            Layer::new(&customer_data::accountsiq_v1_1::SERVICE_RULES).with_retry(fast()),
        )
    }

    fn get_customer() -> types::GetCustomer {
        types::GetCustomer {
            token: Some("t".into()),
            customer_code: Some("C1".into()),
        }
    }

    #[tokio::test]
    async fn a_read_is_retried_through_a_gateway_error_but_not_through_a_fault() {
        // The vendor sample says the session expired; this answer is a plain success.
        let ok = common::soap::sample(SLUG, "GetCustomer.response.xml").replace(
            "<HasExpired>true</HasExpired>",
            "<HasExpired>false</HasExpired>",
        );
        let fault = envelope(
            "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>Object reference not set</faultstring></soap:Fault>",
        );
        let (url, server) = common::serve(vec![
            soap_response("502 Bad Gateway", "<html>bad gateway</html>"),
            DROP.into(),
            soap_response("200 OK", &ok),
            soap_response("500 Internal Server Error", &fault),
        ])
        .await;
        let client = client(&url);
        client.get_customer(&get_customer()).await.unwrap();
        let error = client.get_customer(&get_customer()).await.unwrap_err();
        assert!(matches!(error, SoapError::Fault(_)), "{error}");
        assert_eq!(server.await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn a_write_is_sent_once() {
        let (url, server) = common::serve(vec![soap_response(
            "503 Service Unavailable",
            "<html>down</html>",
        )])
        .await;
        let error = client(&url)
            .delete_customer_by_code(&types::DeleteCustomerByCode::default())
            .await
            .unwrap_err();
        assert!(
            matches!(error, SoapError::Http { status: 503, .. }),
            "{error}"
        );
        assert_eq!(server.await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn no_answer_reports_the_attempts() {
        let (url, _server) = common::serve(vec![DROP.into(); 4]).await;
        let error = client(&url)
            .get_customer(&get_customer())
            .await
            .unwrap_err();
        assert!(
            matches!(error, SoapError::Transport { attempts: 4, .. }),
            "{error}"
        );
    }
}

#[tokio::test]
async fn an_error_answer_in_a_foreign_format_keeps_its_status_and_body() {
    // The spec documents 5XX as a problem; a gateway sends a text page.
    let (url, _server) = common::serve(vec![common::http(
        "503 Service Unavailable",
        "text/plain",
        "upstream busy",
    )])
    .await;
    let error = client(&url, RetryPolicy::none())
        .list_webhooks()
        .send()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::UnexpectedResponse(_)), "{error}");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    assert!(error.is_transient());
    assert_eq!(error.body(), Some(&b"upstream busy"[..]));
    assert_eq!(error.attempts(), Some(1));
}
