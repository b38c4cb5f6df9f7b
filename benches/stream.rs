//! `cargo bench --bench stream`: the item stream over a big feed, against the in-process
//! sandbox with a synthetic subscribed-person feed of 1,000,000 persons
//! (`SandboxConfig::consumer_intelligence_synthetic_persons`), pages of 1,000.
//!
//! 1. Peak RSS while the stream reads the whole feed (the high-water mark is reset by writing
//!    `5` to `/proc/self/clear_refs` before, and read as `VmHWM` from `/proc/self/status`
//!    after; the sandbox serving the pages runs in the same process and is counted too).
//!    Target < 64 MiB: one page in flight, nothing accumulated.
//! 2. Throughput of the item stream (generated client, runtime layer, `runtime::paginate`) vs a
//!    raw page loop (hand-written reqwest + serde_json over the same pages, same page size,
//!    a token fetched once): two passes of each in the same run, in the order stream, raw,
//!    raw, stream; the ratio of the mean rates. Target >= 0.9.
//!
//! Prints `figure <name> <value>` lines.

use std::time::Instant;

use customer_data::consumer_intelligence::stream::{PageSize, subscribed_persons};
use customer_data::consumer_intelligence::{
    Client, Credentials, Environment, SLUG, connect, types,
};
use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};
use futures_util::TryStreamExt;

const PERSONS: u64 = 1_000_000;
const PAGE_SIZE: i64 = 1000;

fn client(sandbox: &Sandbox) -> Client {
    let base_url = sandbox.url(SLUG);
    connect(
        Environment::Custom {
            token_url: format!("{base_url}/oauth/token"),
            base_url,
        },
        Credentials::new(
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
            credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        ),
    )
    .expect("client")
}

/// Reads the feed through the item stream; returns how many persons it saw.
async fn stream_pass(client: &Client) -> u64 {
    let page_size = PageSize::new(PAGE_SIZE).expect("a valid page size");
    let mut persons = subscribed_persons(client, page_size, None).items();
    let mut count = 0u64;
    while let Some(person) = persons.try_next().await.expect("the stream reads the feed") {
        std::hint::black_box(&person);
        count += 1;
    }
    count
}

/// The baseline: a hand-written loop over the same pages (reqwest, serde_json, the same types).
async fn raw_pass(http: &reqwest::Client, base_url: &str, token: &str) -> u64 {
    let mut page_token: Option<String> = None;
    let mut count = 0u64;
    loop {
        let mut request = http
            .get(format!("{base_url}/subscriptions/persons"))
            .bearer_auth(token)
            .query(&[("pageSize", PAGE_SIZE.to_string())]);
        if let Some(page_token) = &page_token {
            request = request.query(&[("pageToken", page_token)]);
        }
        let body = request
            .send()
            .await
            .expect("the page call")
            .error_for_status()
            .expect("a 2xx page")
            .bytes()
            .await
            .expect("the page body");
        let page: types::SubscribedPersonPage =
            serde_json::from_slice(&body).expect("a page of persons");
        if page.data.is_empty() {
            return count;
        }
        for person in &page.data {
            std::hint::black_box(person);
            count += 1;
        }
        page_token = page.next_page_token;
    }
}

async fn token(http: &reqwest::Client, base_url: &str) -> String {
    let answer: serde_json::Value = http
        .post(format!("{base_url}/oauth/token"))
        .basic_auth(
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
            Some(credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials"), ("scope", "bci")])
        .send()
        .await
        .expect("a token")
        .json()
        .await
        .expect("a token answer");
    answer["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// `VmHWM` of this process, in MiB (Linux); `None` elsewhere.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak RSS to the current RSS (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn items_per_sec(count: u64, started: Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sandbox = Sandbox::start(SandboxConfig {
        consumer_intelligence_synthetic_persons: Some(PERSONS),
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox");
    let base_url = sandbox.url(SLUG);
    let client = client(&sandbox);
    let http = customer_data::runtime::http::default_client().expect("an HTTP client");
    let token = token(&http, &base_url).await;

    // 1. Peak RSS of a whole pass of the stream (the first pass also warms it up).
    let rss_before = peak_rss_mib();
    let reset = reset_peak_rss();
    let started = Instant::now();
    let count = stream_pass(&client).await;
    let mut stream_rates = vec![items_per_sec(count, started)];
    assert_eq!(count, PERSONS, "the stream saw every person once");
    match (reset, peak_rss_mib()) {
        (true, Some(peak)) => println!("figure stream_peak_rss_mib {peak:.1}"),
        _ => println!("figure stream_peak_rss_mib unavailable (no /proc/self/clear_refs)"),
    }
    if let Some(before) = rss_before {
        println!("figure peak_rss_before_stream_mib {before:.1}");
    }

    // 2. Throughput: the stream pass above, then raw, raw, stream (ABBA: a steady drift in
    //    the machine's load, shared with other work, cancels out of the means).
    let mut raw_rates = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        let count = raw_pass(&http, &base_url, &token).await;
        assert_eq!(count, PERSONS, "the raw loop saw every person once");
        raw_rates.push(items_per_sec(count, started));
    }
    let started = Instant::now();
    let count = stream_pass(&client).await;
    assert_eq!(count, PERSONS);
    stream_rates.push(items_per_sec(count, started));
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    let (stream_rate, raw_rate) = (mean(&stream_rates), mean(&raw_rates));
    println!("figure stream_items_per_sec {stream_rate:.0}");
    println!("figure raw_items_per_sec {raw_rate:.0}");
    println!(
        "figure stream_throughput_ratio {:.3}",
        stream_rate / raw_rate
    );
    sandbox.shutdown().await;
}
