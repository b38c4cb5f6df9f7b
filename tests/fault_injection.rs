//! The whole resilience stack against the sandbox's fault injection: 20% 429 / 5xx, 2%
//! connection resets and 1% bodies cut short, on every request of the twin (the token endpoint
//! included).

#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use customer_data::consumer_intelligence::{
    Client, Credentials, Environment, bulk, connect, types,
};
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
    use customer_data::biq_alert_changes::stream::approved_changes;
    use customer_data::biq_auth::{Environment, Session};
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
