//! `cargo bench --bench auth`: the cost of the auth layer, against the local sandbox.
//!
//! 1. 1,000 concurrent calls on a cold Consumer Intelligence client: how many token requests
//!    reach the token endpoint (target: exactly 1, single flight).
//! 2. Throughput of a warm client with the auth layer vs the same generated client sending a
//!    token fixed in its HTTP client's default headers, in alternating rounds of the same
//!    run; the ratio of medians (target >= 0.97).
//!
//! Prints `figure <name> <value>` lines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use customer_data::consumer_intelligence::{Client, Credentials, Environment, SLUG, connect};
use customer_data::runtime::Layer;
use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};

const COLD_CALLS: usize = 1000;
const ROUND_CALLS: usize = 6000;
const CONCURRENCY: usize = 32;
const ROUNDS: usize = 9;

fn environment(sandbox: &Sandbox) -> Environment {
    let base_url = sandbox.url(SLUG);
    Environment::Custom {
        token_url: format!("{base_url}/oauth/token"),
        base_url,
    }
}

fn authed(sandbox: &Sandbox) -> Client {
    connect(
        environment(sandbox),
        Credentials::new(
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
            credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        ),
    )
    .expect("client")
}

/// The baseline: the same generated client and layer, no token cache; the token sits in the
/// HTTP client's default headers.
async fn plain(sandbox: &Sandbox) -> Client {
    let token: serde_json::Value = customer_data::runtime::http::default_client()
        .unwrap()
        .post(format!("{}/oauth/token", sandbox.url(SLUG)))
        .basic_auth(
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
            Some(credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials"), ("scope", "bci")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", token["access_token"].as_str().unwrap())
            .parse()
            .unwrap(),
    );
    let http = customer_data::runtime::http::client_builder()
        .default_headers(headers)
        .build()
        .unwrap();
    Client::new_with_client(&sandbox.url(SLUG), http, Layer::new(SLUG))
}

async fn call(client: &Client) {
    client
        .list_consumers()
        .page_size(10)
        .send()
        .await
        .expect("call succeeds");
}

/// Calls per second for `ROUND_CALLS` calls, `CONCURRENCY` at a time.
async fn round(client: &Arc<Client>) -> f64 {
    let started = Instant::now();
    let per_worker = ROUND_CALLS / CONCURRENCY;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    call(&client).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    (per_worker * CONCURRENCY) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();

    // 1. Cold start.
    let cold = Arc::new(authed(&sandbox));
    let started = Instant::now();
    let calls: Vec<_> = (0..COLD_CALLS)
        .map(|_| {
            let client = cold.clone();
            tokio::spawn(async move { call(&client).await })
        })
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
    call(&with_auth).await;
    let without = Arc::new(plain(&sandbox).await);
    // Warm-up of both (connections, allocator).
    round(&with_auth).await;
    round(&without).await;
    let (mut auth_rates, mut plain_rates) = (Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        // Alternate who goes first, so drift in the machine's load hits both alike.
        if i % 2 == 0 {
            auth_rates.push(round(&with_auth).await);
            plain_rates.push(round(&without).await);
        } else {
            plain_rates.push(round(&without).await);
            auth_rates.push(round(&with_auth).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (auth_rate, plain_rate) = (median(auth_rates), median(plain_rates));
    println!("figure auth_calls_per_sec {auth_rate:.0}");
    println!("figure plain_calls_per_sec {plain_rate:.0}");
    println!("figure auth_throughput_ratio {:.3}", auth_rate / plain_rate);
    sandbox.shutdown().await;
}
