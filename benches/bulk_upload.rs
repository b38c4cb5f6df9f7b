//! `cargo bench --bench bulk_upload`: how close a bulk upload gets to the service's rate limit.
//! The Consumer Intelligence twin allows `RATE` calls per second per client (a fixed
//! one-second window; beyond it 429 with `Retry-After: 1`). 100,000 consumers go up in
//! chunks of 100, that is 1,000 calls, 20 windows at best.
//!
//! Goodput: the ideal run admits `RATE` calls at the start of each window, and the last
//! window's calls finish right after it opens, so an ideal run of W windows lasts W - 1
//! seconds. `bulk_goodput_ratio` = (calls - RATE) / (seconds × RATE): 1.0 is the ideal, 0.5
//! means half the allowed calls went unused (target >= 0.95). Then every consumer is listed:
//! `bulk_lost` and `bulk_duplicated` (both must be 0).
//!
//! Prints `figure <name> <value>` lines.

mod common;

use std::collections::HashMap;
use std::time::Instant;

use customer_data::consumer_intelligence::{SLUG, bulk, types};
use customer_data_sandbox::{Sandbox, SandboxConfig};

const RATE: u32 = 20;
const CONSUMERS: usize = 40_000;

fn consumer(i: usize) -> types::UploadConsumerDto {
    types::UploadConsumerDto {
        consumer_id: format!("bench-{i:06}").parse().unwrap(),
        market: "SE".parse().unwrap(),
        data: types::ConsumerDataDto::default(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sandbox = Sandbox::start(SandboxConfig {
        consumer_intelligence_rate_limit: Some(RATE),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let client = common::authed(&sandbox);

    let started = Instant::now();
    let report = bulk::upload_consumers(
        &client,
        (0..CONSUMERS).map(consumer),
        &bulk::upload_options(),
        |_| {},
    )
    .await
    .expect("the upload completes");
    let seconds = started.elapsed().as_secs_f64();
    let calls = CONSUMERS.div_ceil(bulk::UPLOAD_BATCH) as f64;
    let rate = f64::from(RATE);
    println!("figure bulk_seconds {seconds:.2}");
    println!(
        "figure bulk_requests_429 {}",
        sandbox.requests(SLUG, "/consumers") as f64 - calls
    );
    println!("figure bulk_peak_concurrency {}", report.peak_concurrency);
    println!(
        "figure bulk_goodput_ratio {:.3}",
        (calls - rate) / (seconds * rate)
    );

    // Listing goes through the same rate limit; the layer waits it out.
    let mut listed: HashMap<String, usize> = HashMap::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = client.list_consumers().page_size(1000);
        if let Some(token) = &token {
            call = call.page_token(token.clone());
        }
        let page = call.send().await.expect("a page").into_inner();
        for consumer in page.data {
            *listed.entry(consumer.consumer_id).or_default() += 1;
        }
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let lost = (0..CONSUMERS)
        .filter(|i| !listed.contains_key(&format!("bench-{i:06}")))
        .count();
    let duplicated = listed.values().filter(|n| **n > 1).count();
    println!("figure bulk_lost {lost}");
    println!("figure bulk_duplicated {duplicated}");
    sandbox.shutdown().await;
}
