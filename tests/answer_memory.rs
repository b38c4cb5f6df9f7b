//! Peak memory while a client refuses a 1 GiB answer with the default size limit (64 MiB).
//! Alone in its test binary, so the process's peak resident set (`VmHWM`, Linux) is this
//! test's. Prints `figure peak_rss_growth_refusing_1gib_mib <n>` (issue 17).

#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use customer_data::consumer_intelligence::{self as ci, Client, Error};
use customer_data::runtime::{Layer, TransportError, limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const GIB: u64 = 1024 * 1024 * 1024;

/// The peak resident set of this process, in KiB (`None` off Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn refusing_a_gigabyte_answer_keeps_memory_near_the_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await;
        // 1 GiB, chunked (no Content-Length to refuse up front), made as it is sent.
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        let _ = socket.write_all(head.as_bytes()).await;
        let data = vec![b' '; 256 * 1024];
        let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
        chunk.extend_from_slice(&data);
        chunk.extend_from_slice(b"\r\n");
        while counter.load(Ordering::SeqCst) < GIB {
            if socket.write_all(&chunk).await.is_err() {
                return;
            }
            counter.fetch_add(data.len() as u64, Ordering::SeqCst);
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    });

    let before = peak_rss_kib();
    let http = customer_data::runtime::http::default_client().unwrap();
    let client = Client::new_with_client(&url, http, Layer::new(&ci::SERVICE_RULES));
    let error = client.list_webhooks().send().await.unwrap_err();
    match &error {
        Error::Transport {
            attempts: 1,
            source:
                TransportError::TooLarge {
                    limit: limits::DEFAULT_MAX_ANSWER_BYTES,
                    declared: None,
                },
        } => {}
        other => panic!("expected the size limit, got {other}"),
    }
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < GIB / 4,
        "reading stopped at the limit: the server sent {sent} bytes"
    );
    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        let growth_mib = after.saturating_sub(before) / 1024;
        println!("figure peak_rss_growth_refusing_1gib_mib {growth_mib}");
        println!(
            "figure bytes_sent_before_refusal_mib {}",
            sent / (1024 * 1024)
        );
        // The body buffer is at most the limit, plus its growth step.
        assert!(
            growth_mib < 3 * limits::DEFAULT_MAX_ANSWER_BYTES / (1024 * 1024),
            "peak RSS grew by {growth_mib} MiB"
        );
    }
}
