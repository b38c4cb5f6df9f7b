//! `cargo bench --bench auth`: the cost of the auth layer, against the local sandbox.
//!
//! 1. 1,000 concurrent calls on a cold Consumer Intelligence client: how many token requests
//!    reach the token endpoint (target: exactly 1, single flight).
//! 2. Throughput of a warm client with the auth layer vs the same generated client sending a
//!    token fixed in its HTTP client's default headers, in alternating rounds of the same
//!    run; the median of the rounds' ratios (target >= 0.97) and their spread (`_min`,
//!    `_max`).
//!
//! Prints `figure <name> <value>` lines.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{authed, compare, raw_token, round};
use customer_data::consumer_intelligence::{Client, SLUG};
use customer_data::runtime::Layer;
use customer_data_sandbox::{Sandbox, SandboxConfig};

const COLD_CALLS: usize = 1000;
const ROUND_CALLS: usize = 6000;
const CONCURRENCY: usize = 32;
const ROUNDS: usize = 21;

/// The baseline: the same generated client and layer, no token cache; the token sits in the
/// HTTP client's default headers.
async fn plain(sandbox: &Sandbox) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", raw_token(sandbox).await)
            .parse()
            .unwrap(),
    );
    let http = customer_data::runtime::http::client_builder()
        .default_headers(headers)
        .build()
        .unwrap();
    Client::new_with_client(
        &sandbox.url(SLUG),
        http,
        Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES),
    )
}

async fn call(client: Arc<Client>) {
    client
        .list_consumers()
        .page_size(10)
        .send()
        .await
        .expect("call succeeds");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();

    // 1. Cold start.
    let cold = Arc::new(authed(&sandbox));
    let started = Instant::now();
    let calls: Vec<_> = (0..COLD_CALLS)
        .map(|_| tokio::spawn(call(cold.clone())))
        .collect();
    for c in calls {
        c.await.unwrap();
    }
    let cold_elapsed = started.elapsed();
    let token_requests = sandbox.requests(SLUG, "/oauth/token");
    println!("figure token_requests {token_requests}");
    println!(
        "figure cold_start_1000_calls_ms {:.1}",
        cold_elapsed.as_secs_f64() * 1000.0
    );

    // 2. Warm throughput, alternating rounds.
    let with_auth = Arc::new(authed(&sandbox));
    call(with_auth.clone()).await;
    let without = Arc::new(plain(&sandbox).await);
    let comparison = compare(
        ROUNDS,
        || round(&with_auth, ROUND_CALLS, CONCURRENCY, call),
        || round(&without, ROUND_CALLS, CONCURRENCY, call),
    )
    .await;
    comparison.print(
        "auth_throughput_ratio",
        "auth_calls_per_sec",
        "plain_calls_per_sec",
    );
    sandbox.shutdown().await;
}
