//! The whole resilience stack against the sandbox's fault injection: 20% 429 / 5xx, 2%
//! connection resets and 1% bodies cut short, on every request of the twin (the token endpoint
//! included). Also: injected refusals come in the vendor's problem shape, and a 503 is
//! transient (a DELETE is sent again through it).

#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use customer_data::consumer_intelligence::{
    Client, Credentials, Environment, Error, bulk, connect, types,
};
use customer_data::runtime::Layer;
use customer_data::runtime::layer::attempts_of;
use customer_data::runtime::retry::RetryPolicy;
use customer_data_sandbox::faults::{Fate, FaultInjector};
use customer_data_sandbox::{Faults, Sandbox, SandboxConfig, credentials};

const SLUG: &str = "consumer_intelligence";

/// The fault mix, seeded so a failure can be replayed.
fn faults(seed: u64) -> Faults {
    Faults {
        seed,
        rate_limited: 0.10,
        server_error: 0.10,
        reset: 0.02,
        truncated: 0.01,
        retry_after_secs: 1,
        ..Faults::none()
    }
}

fn client(sandbox: &Sandbox) -> Client {
    let base_url = sandbox.url(SLUG);
    let token_url = format!("{base_url}/oauth/token");
    connect(
        Environment::Custom {
            base_url,
            token_url,
        },
        Credentials::new(
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
            credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        ),
    )
    .unwrap()
}

fn consumer(i: usize) -> types::UploadConsumerDto {
    types::UploadConsumerDto {
        consumer_id: format!("bulk-{i:06}").parse().unwrap(),
        market: "SE".parse().unwrap(),
        data: types::ConsumerDataDto {
            first_name: Some(format!("Name{i}").parse().unwrap()),
            ..Default::default()
        },
    }
}

/// Every consumer id the service lists, with how often it is listed. A page that fails after
/// the layer's retries is asked for again with the same token (nothing skipped).
async fn listed_consumers(client: &Client) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    let mut token: Option<String> = None;
    let mut failures = 0;
    loop {
        let mut call = client.list_consumers().page_size(1000);
        if let Some(token) = &token {
            call = call.page_token(token.clone());
        }
        let page = match call.send().await {
            Ok(page) => page.into_inner(),
            Err(error) if error.is_transient() && failures < 50 => {
                failures += 1;
                continue;
            }
            Err(error) => panic!("listing failed: {error}"),
        };
        for consumer in page.data {
            *seen.entry(consumer.consumer_id).or_default() += 1;
        }
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => return seen,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_upload_of_100_000_consumers_survives_faults_and_a_crash_with_each_present_once() {
    const TOTAL: usize = 100_000;
    let sandbox = Sandbox::start(SandboxConfig::default().with_faults(SLUG, faults(7)))
        .await
        .unwrap();
    let client = client(&sandbox);

    // First run: "crash" (drop the run) once the checkpoint passes 40%.
    let checkpoint = Arc::new(Mutex::new(0usize));
    let (crash, crashed) = tokio::sync::oneshot::channel::<()>();
    let mut crash = Some(crash);
    let persisted = checkpoint.clone();
    let options = bulk::upload_options();
    let first = bulk::upload_consumers(&client, (0..TOTAL).map(consumer), &options, |p| {
        *persisted.lock().unwrap() = p.checkpoint;
        if p.checkpoint >= TOTAL * 2 / 5
            && let Some(crash) = crash.take()
        {
            let _ = crash.send(());
        }
    });
    tokio::select! {
        report = first => panic!("the run should have been stopped first: {report:?}"),
        _ = crashed => {}
    }
    let resumed_from = *checkpoint.lock().unwrap();
    assert!(
        (TOTAL * 2 / 5..TOTAL).contains(&resumed_from),
        "{resumed_from}"
    );

    // Second run, as after a restart: the same input, from the persisted checkpoint.
    let report = bulk::upload_consumers(
        &client,
        (0..TOTAL).map(consumer),
        &bulk::upload_options().resume_from(resumed_from),
        |_| {},
    )
    .await
    .unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.checkpoint, TOTAL);
    assert_eq!(report.sent, TOTAL - resumed_from);
    assert!(
        report.requeued_chunks > 0 || sandbox.requests(SLUG, "/consumers") > 1_100,
        "the faults were felt"
    );

    let listed = listed_consumers(&client).await;
    let duplicated: Vec<_> = listed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "listed more than once: {duplicated:?}"
    );
    let missing: Vec<_> = (0..TOTAL)
        .map(|i| format!("bulk-{i:06}"))
        .filter(|id| !listed.contains_key(id))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "missing (first 10): {missing:?}");
    assert_eq!(listed.len(), TOTAL);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_000_change_feed_is_read_without_gap_or_duplicate_across_faults_and_a_restart() {
    use customer_data::biq::{Environment, Session};
    use customer_data::biq_alert_changes::stream::approved_changes;
    use futures_util::TryStreamExt;

    const CHANGES: usize = 100_000;
    let sandbox = Sandbox::start(
        SandboxConfig {
            biq_synthetic_changes: Some(CHANGES as u64),
            ..SandboxConfig::default()
        }
        // One reader pages sequentially: a 1 s Retry-After on 10% of ~1,000 batches would be
        // 100 s of waiting that tests nothing the bulk test does not; `Retry-After: 0` keeps
        // the 429s (and their retries) without the wait.
        .with_faults(
            "biq_alert_changes",
            Faults {
                retry_after_secs: 0,
                ..faults(11)
            },
        )
        .with_faults("biq_auth", faults(12)),
    )
    .await
    .unwrap();
    let session = Session::new(
        Environment::Custom {
            auth: sandbox.url("biq_auth"),
            customer_shadow: sandbox.url("biq_customer_shadow"),
            alert_changes: sandbox.url("biq_alert_changes"),
        },
        credentials::BIQ_API_KEY,
    )
    .unwrap();
    let tenant = session.tenant_id().await.unwrap();
    let source = session
        .customer_shadow()
        .unwrap()
        .list_shadow_sources()
        .tenant_id(&tenant)
        .send()
        .await
        .unwrap()
        .into_inner()[0]
        .id
        .unwrap();
    let client = session.alert_changes().unwrap();

    // The cursor as an application keeps it: text in durable storage, here a string.
    let mut persisted: Option<String> = None;
    let mut ids = std::collections::HashSet::new();
    let (mut restarts_after_errors, mut restarted_on_purpose) = (0, false);
    'read: loop {
        let from = persisted.as_deref().map(|text| text.parse().unwrap());
        let mut items = approved_changes(&client, &tenant, source, from).items();
        loop {
            match items.try_next().await {
                Ok(Some(change)) => {
                    assert!(
                        ids.insert(change.id.unwrap()),
                        "a change came twice: {change:?}"
                    );
                    if let Some(from) = from {
                        assert!(change.committed.unwrap() > from, "before the cursor");
                    }
                    persisted = change.committed.map(|c| c.to_rfc3339());
                    // A crash half way: the process is gone, the persisted cursor stays.
                    if ids.len() == CHANGES / 2 && !restarted_on_purpose {
                        restarted_on_purpose = true;
                        continue 'read;
                    }
                }
                Ok(None) => break 'read,
                Err(error) => {
                    restarts_after_errors += 1;
                    assert!(restarts_after_errors < 1000, "no progress: {error}");
                    continue 'read;
                }
            }
        }
    }
    assert!(restarted_on_purpose);
    assert_eq!(ids.len(), CHANGES, "every change once, none missing");
    println!("restarts after errors the layer could not absorb: {restarts_after_errors}");
    sandbox.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Injected refusals in the vendor's shape, and what the client makes of a 503.

/// The title the twin gives each status the fault layer injects: the vendor's Problem titles
/// (reference rendering) and status names (page `http_response_codes.html`).
fn vendor_title(status: u16) -> &'static str {
    match status {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        other => panic!("the fault layer injected {other}"),
    }
}

/// An injected answer as raw HTTP: its status, after checking it is an RFC 7807 problem whose
/// `status` and `title` match (the shape the spec declares for every error status).
async fn injected_problem(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap) {
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    assert_eq!(headers["content-type"], "application/problem+json");
    let problem: types::Problem = answer.json().await.unwrap();
    assert_eq!(problem.status, Some(i32::from(status)));
    assert_eq!(problem.title.as_deref(), Some(vendor_title(status)));
    (status, headers)
}

fn plain_http() -> reqwest::Client {
    customer_data::runtime::http::default_client().unwrap()
}

/// A client of the twin sending no credentials (the fault layer answers before auth).
fn unauthenticated(sandbox: &Sandbox, retry: RetryPolicy) -> Client {
    Client::new_with_client(
        &sandbox.url(SLUG),
        plain_http(),
        Layer::new(&customer_data::consumer_intelligence::SERVICE_RULES).with_retry(retry),
    )
}

fn delete_body() -> types::DeleteConsumersDto {
    types::DeleteConsumersDto {
        consumer_ids: vec!["crm-1".parse().unwrap()],
    }
}

#[tokio::test]
async fn an_injected_503_is_a_documented_problem_the_client_treats_as_transient() {
    let sandbox = Sandbox::start(SandboxConfig::default().with_faults(
        SLUG,
        Faults {
            seed: 3,
            server_error: 1.0,
            ..Faults::none()
        },
    ))
    .await
    .unwrap();
    let base = sandbox.url(SLUG);
    let http = plain_http();

    // Every injected 5xx is the vendor's problem; 503 among them.
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..40 {
        let request = if i % 2 == 0 {
            http.delete(format!("{base}/consumers"))
                .json(&serde_json::json!({"consumerIds": ["crm-1"]}))
        } else {
            http.get(format!("{base}/subscriptions/persons"))
        };
        seen.insert(injected_problem(request).await.0);
    }
    assert_eq!(
        seen,
        [500, 502, 503, 504].into(),
        "the fault layer draws all four"
    );

    // Through the generated client, one attempt per call: a 503 is a declared status, so a
    // typed problem, and transient (worth trying again later).
    let once = unauthenticated(&sandbox, RetryPolicy::none());
    let mut unavailable = None;
    for _ in 0..40 {
        let error = once
            .delete_consumers()
            .body(delete_body())
            .send()
            .await
            .unwrap_err();
        assert!(error.is_transient(), "{error}");
        if error.status().map(|s| s.as_u16()) == Some(503) {
            unavailable = Some(error);
            break;
        }
    }
    let error = unavailable.expect("a 503 within 40 calls");
    assert!(matches!(error, Error::ErrorResponse(_)), "typed: {error}");
    let problem = error.error_body().unwrap();
    assert_eq!(problem.title.as_deref(), Some("Service Unavailable"));
    assert_eq!(problem.status, Some(503));
    assert_eq!(error.attempts(), Some(1));

    // With retries: the DELETE is repeated through the 5xx (an idempotent method) until the
    // attempts run out; the POST that creates a webhook is not (not retry-safe).
    let retrying = unauthenticated(
        &sandbox,
        RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
    );
    let error = retrying
        .delete_consumers()
        .body(delete_body())
        .send()
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert_eq!(error.attempts(), Some(4), "{error}");
    let error = retrying
        .create_webhook()
        .body(types::CreateWebhookDto {
            url: "http://127.0.0.1:9/hook".into(),
            events: vec![types::WebhookEventTypeDto::X],
            description: None,
        })
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.attempts(), Some(1), "{error}");
    sandbox.shutdown().await;

    // An injected 429 is the vendor's problem too, with the documented Retry-After.
    let sandbox = Sandbox::start(SandboxConfig::default().with_faults(
        SLUG,
        Faults {
            rate_limited: 1.0,
            retry_after_secs: 3,
            ..Faults::none()
        },
    ))
    .await
    .unwrap();
    let (status, headers) =
        injected_problem(http.get(format!("{}/subscriptions/persons", sandbox.url(SLUG)))).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "3");
    sandbox.shutdown().await;
}

/// The first seed from which the twin's fault layer draws `prefix` for its first requests
/// (the n-th request a twin receives gets the n-th fate of its seed).
fn seed_starting_with(template: &Faults, prefix: &[Fate]) -> u64 {
    (0..100_000)
        .find(|&seed| {
            let injector = FaultInjector::new(Faults {
                seed,
                ..template.clone()
            });
            prefix.iter().all(|fate| injector.next_fate() == *fate)
        })
        .expect("a seed with that prefix")
}

#[tokio::test]
async fn a_delete_meeting_an_injected_503_is_sent_again_with_its_body_and_deletes() {
    let template = Faults {
        server_error: 0.5,
        ..Faults::none()
    };
    // token, upload, delete (503), delete again, list.
    let seed = seed_starting_with(
        &template,
        &[
            Fate::Serve,
            Fate::Serve,
            Fate::ServerError(503),
            Fate::Serve,
            Fate::Serve,
        ],
    );
    let sandbox =
        Sandbox::start(SandboxConfig::default().with_faults(SLUG, Faults { seed, ..template }))
            .await
            .unwrap();
    let client = client(&sandbox);
    client
        .upload_consumers()
        .body(vec![consumer(1)])
        .send()
        .await
        .unwrap();
    let deleted = client
        .delete_consumers()
        .body(types::DeleteConsumersDto {
            consumer_ids: vec!["bulk-000001".parse().unwrap()],
        })
        .send()
        .await
        .expect("the retry succeeds");
    assert_eq!(deleted.status().as_u16(), 204);
    assert_eq!(attempts_of(deleted.headers()), Some(2), "503, then 204");
    let listed = client.list_consumers().send().await.unwrap();
    assert!(
        listed.data.is_empty(),
        "the retried body was read: {listed:?}"
    );
    assert_eq!(
        sandbox.requests(SLUG, "/consumers"),
        4,
        "upload, delete twice, list"
    );
    sandbox.shutdown().await;
}
