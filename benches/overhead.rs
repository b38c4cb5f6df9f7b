//! `cargo bench --bench overhead`: what the whole stack costs per call. The generated
//! Consumer Intelligence client with every layer (token cache, headers, retry bookkeeping,
//! whole-body read, tracing span, typed decode) vs a hand-written reqwest call with the same
//! token, the same query and the same typed decode, against the same local sandbox, in
//! alternating rounds of one run; the median of the rounds' ratios (target >= 0.97) and their
//! spread (`_min`, `_max`).
//!
//! Prints `figure <name> <value>` lines.

mod common;

use std::sync::Arc;

use common::{authed, compare, raw_token, round};
use customer_data::consumer_intelligence::{Client, SLUG, types};
use customer_data_sandbox::{Sandbox, SandboxConfig};

const ROUND_CALLS: usize = 6000;
const CONCURRENCY: usize = 32;
const ROUNDS: usize = 21;

/// The hand-written call: a reqwest client, the URL, the bearer token, the typed body.
struct Raw {
    http: reqwest::Client,
    url: String,
    token: String,
}

async fn generated(client: Arc<Client>) {
    let page = client
        .list_consumers()
        .page_size(10)
        .send()
        .await
        .expect("call succeeds");
    std::hint::black_box(page.into_inner());
}

async fn raw(raw: Arc<Raw>) {
    let page: types::ConsumerPage = raw
        .http
        .get(&raw.url)
        .query(&[("pageSize", "10")])
        .bearer_auth(&raw.token)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("call succeeds")
        .json()
        .await
        .expect("a page");
    std::hint::black_box(page);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let layered = Arc::new(authed(&sandbox));
    generated(layered.clone()).await;
    let hand_written = Arc::new(Raw {
        http: customer_data::runtime::http::default_client().unwrap(),
        url: format!("{}/consumers", sandbox.url(SLUG)),
        token: raw_token(&sandbox).await,
    });
    let comparison = compare(
        ROUNDS,
        || round(&layered, ROUND_CALLS, CONCURRENCY, generated),
        || round(&hand_written, ROUND_CALLS, CONCURRENCY, raw),
    )
    .await;
    comparison.print(
        "overhead_throughput_ratio",
        "layered_calls_per_sec",
        "raw_calls_per_sec",
    );
    sandbox.shutdown().await;
}
