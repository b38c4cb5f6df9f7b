//! A path parameter is one path segment on the wire, over a real socket: a value the URL parser
//! would read as structure (`..`, `.`, `""`) is refused before anything is sent (progenitor's
//! encoder let `..` through, and the request went to the parent path), and an ordinary value
//! with dots and reserved characters arrives encoded at the intended path.
#![cfg(feature = "blink-customer-management")]

mod common;

use std::sync::{Arc, Mutex};

use customer_data::blink_customer_management::{Client, Error, SERVICE_RULES};
use customer_data::runtime::Layer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A server that records the request line of every request and answers 404.
async fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let recorded = lines.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let Some(head) = common::read_head(&mut socket).await else {
                    return;
                };
                let text = String::from_utf8_lossy(&head);
                let line = text.lines().next().unwrap_or_default().to_string();
                recorded.lock().unwrap().push(line);
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    (format!("http://{address}"), lines)
}

fn client(base_url: &str) -> Client {
    Client::new(base_url, Layer::new(&SERVICE_RULES))
}

#[tokio::test]
async fn dot_segment_and_empty_path_parameters_are_refused_before_sending() {
    let (base_url, lines) = recording_server().await;
    let client = client(&base_url);
    for value in ["..", ".", ""] {
        let result = client
            .get_customer_by_customer_id()
            .customer_id(value)
            .send()
            .await;
        match result {
            Err(Error::InvalidRequest(message)) => assert!(
                message.contains("path parameter `customer_id`"),
                "{value:?}: {message}"
            ),
            Err(other) => panic!("{value:?}: expected InvalidRequest, got {other}"),
            Ok(_) => panic!("{value:?}: expected InvalidRequest, got a success"),
        }
    }
    // The same for a segment in the middle of the path (`/customers/{customerId}/kyc`).
    let result = client
        .get_kyc_by_customer_id()
        .customer_id("..")
        .send()
        .await;
    assert!(
        matches!(&result, Err(Error::InvalidRequest(m)) if m.contains("`customer_id` is `..`")),
        "{:?}",
        result.err().map(|e| e.to_string())
    );
    assert_eq!(
        *lines.lock().unwrap(),
        Vec::<String>::new(),
        "nothing may reach the server, least of all the parent path"
    );
}

#[tokio::test]
async fn an_ordinary_value_arrives_encoded_at_the_intended_path() {
    let (base_url, lines) = recording_server().await;
    let client = client(&base_url);
    for value in ["...", "a/../b", "C 1%?#"] {
        let result = client
            .get_customer_by_customer_id()
            .customer_id(value)
            .send()
            .await;
        assert_eq!(
            result.err().and_then(|e| e.status()).map(|s| s.as_u16()),
            Some(404),
            "{value:?} should have reached the server"
        );
    }
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "GET /customers/... HTTP/1.1",
            "GET /customers/a%2F..%2Fb HTTP/1.1",
            "GET /customers/C%201%25%3F%23 HTTP/1.1",
        ]
    );
}
