//! Tracing: each call is one span with its service, operation, attempts, status and duration.
//! Its own test binary: the subscriber is the only one in the process, so no other test's
//! callsites race it for tracing's interest cache.

#![allow(clippy::result_large_err)]

mod common;

use std::time::Duration;

use customer_data::consumer_intelligence::Client;
use customer_data::runtime::Layer;
use customer_data::runtime::retry::RetryPolicy;

fn problem(status: u16, title: &str) -> String {
    common::http(
        &format!("{status} {title}"),
        "application/problem+json",
        &format!(r#"{{"title":"{title}","status":{status}}}"#),
    )
}

#[test]
fn each_call_is_one_span_with_its_service_operation_attempts_status_and_duration() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (url, _server) = common::serve(vec![
            problem(503, "Service Unavailable"),
            common::http("200 OK", "application/json", r#"{"webhooks":[]}"#),
        ])
        .await;
        let http = customer_data::runtime::http::default_client().unwrap();
        let policy =
            RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5));
        let client = Client::new_with_client(
            &url,
            http,
            Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES).with_retry(policy),
        );
        client.list_webhooks().send().await.unwrap();
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let close = logs
        .lines()
        .find(|l| l.contains("customer_data.call") && l.contains("close"))
        .unwrap_or_else(|| panic!("no span closed:\n{logs}"));
    for field in [
        "service=\"consumer_intelligence\"",
        "operation=\"list_webhooks\"",
        "attempts=2",
        "status=200",
        "duration_ms=",
    ] {
        assert!(close.contains(field), "`{field}` missing: {close}");
    }
    assert!(logs.contains("retrying"), "{logs}");
}
