//! Real TLS handshakes in-process: a rustls server that requires a client certificate (as
//! bLink's mutual TLS does), with the fixture PKI of `tests/fixtures/tls/`. A handshake with
//! the right identity works; every failure is a typed [`TlsFailure`] named in the message and
//! sent once, never retried (issue 17, item 14).

#![allow(clippy::result_large_err)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use customer_data::consumer_intelligence::{self as ci, Client, Error};
use customer_data::runtime::retry::RetryPolicy;
use customer_data::runtime::{ConnectOptions, Layer, TlsFailure, TransportError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// A TLS server at `localhost` presenting `server` (a fixture name without extension) and
/// requiring a client certificate signed by the test CA. Counts TCP connections.
struct MutualTls {
    port: u16,
    connections: Arc<AtomicUsize>,
}

async fn mutual_tls(server: &str) -> MutualTls {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(fixture("ca.pem")).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain = CertificateDer::pem_file_iter(fixture(&format!("{server}.pem")))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture(&format!("{server}.key"))).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                if common::read_head(&mut tls).await.is_none() {
                    return;
                }
                let body = r#"{"webhooks":[]}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    MutualTls { port, connections }
}

/// A client of `url` that trusts the test CA when `trust` and presents `identity` (a fixture
/// name) if any, retrying as by default (4 attempts) so a retry would show.
fn client(url: &str, trust: bool, identity: Option<&str>) -> Client {
    let options = ConnectOptions {
        root_certificates: if trust {
            vec![reqwest::Certificate::from_pem(&pem("ca.pem")).unwrap()]
        } else {
            Vec::new()
        },
        ..ConnectOptions::default()
    };
    let mut builder = options.client_builder();
    if let Some(name) = identity {
        let mut both = pem(&format!("{name}.pem"));
        both.extend_from_slice(&pem(&format!("{name}.key")));
        builder = builder.identity(reqwest::Identity::from_pem(&both).unwrap());
    }
    let layer = Layer::new(&ci::SERVICE_RULES).with_retry(
        RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
    );
    Client::new_with_client(url, builder.build().unwrap(), layer)
}

async fn refusal(client: &Client) -> (u32, TransportError) {
    match client.list_webhooks().send().await.unwrap_err() {
        Error::Transport { attempts, source } => (attempts, source),
        other => panic!("expected a TLS failure, got {other}"),
    }
}

async fn assert_refused(server: &MutualTls, client: Client, expected: TlsFailure) {
    let (attempts, source) = refusal(&client).await;
    assert_eq!(source.tls(), Some(expected), "{source}");
    assert!(
        source.to_string().contains(&expected.to_string()),
        "the message names the cause: {source}"
    );
    assert_eq!(attempts, 1, "a TLS failure is final: {source}");
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "one connection, no retry"
    );
}

#[tokio::test]
async fn the_right_client_certificate_is_accepted() {
    let server = mutual_tls("server").await;
    let url = format!("https://localhost:{}", server.port);
    let list = client(&url, true, Some("client"))
        .list_webhooks()
        .send()
        .await
        .expect("a trusted server and an accepted client certificate");
    assert!(list.into_inner().webhooks.is_empty());
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused_once_and_named() {
    let server = mutual_tls("server").await;
    let url = format!("https://localhost:{}", server.port);
    assert_refused(
        &server,
        client(&url, true, Some("rogue_client")),
        TlsFailure::ClientCertificateRefused,
    )
    .await;
}

#[tokio::test]
async fn no_client_certificate_is_refused_once_and_named() {
    let server = mutual_tls("server").await;
    let url = format!("https://localhost:{}", server.port);
    assert_refused(
        &server,
        client(&url, true, None),
        TlsFailure::ClientCertificateRefused,
    )
    .await;
}

#[tokio::test]
async fn a_server_from_an_untrusted_ca_is_refused_once_and_named() {
    let server = mutual_tls("server").await;
    let url = format!("https://localhost:{}", server.port);
    assert_refused(
        &server,
        client(&url, false, Some("client")),
        TlsFailure::ServerCertificateUntrusted,
    )
    .await;
}

#[tokio::test]
async fn a_server_certificate_for_another_name_is_refused_once_and_named() {
    let server = mutual_tls("server").await;
    // The certificate names `localhost`, not the address.
    let url = format!("https://127.0.0.1:{}", server.port);
    assert_refused(
        &server,
        client(&url, true, Some("client")),
        TlsFailure::ServerCertificateWrongName,
    )
    .await;
}

#[tokio::test]
async fn an_expired_server_certificate_is_refused_once_and_named() {
    let server = mutual_tls("expired_server").await;
    let url = format!("https://localhost:{}", server.port);
    assert_refused(
        &server,
        client(&url, true, Some("client")),
        TlsFailure::ServerCertificateExpired,
    )
    .await;
}
