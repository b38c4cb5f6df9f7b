//! Webhook and callback receivers over real HTTP: Consumer Intelligence deliveries signed here
//! (tampering, wrong secrets, stale and missing headers, each refused with its reason; handler
//! failures and resends; racing duplicates) and, further down, end to end with the sandbox,
//! which delivers real signed webhooks and BiQ callbacks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod common;

use customer_data::consumer_intelligence::webhook::{
    Receiver, Refusal, SIGNATURE_HEADER, TIMESTAMP_HEADER, Verifier, WebhookEvent, WebhookSecret,
    sign,
};

const SECRET: &str = "receiver-test-secret";

/// Serves `router` on a loopback port; returns its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn event(id: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "type": "CONSUMER_UPLOADED", "timestamp": "2026-11-21T10:00:00Z",
                       "consumerId": format!("c-{id}"), "market": "SE"})
}

fn body_of(ids: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&ids.iter().map(|id| event(id)).collect::<Vec<_>>()).expect("json")
}

/// Posts `body` with the given headers (`None` leaves one out); returns status and text.
async fn post(
    url: &str,
    timestamp: Option<String>,
    signature: Option<String>,
    body: Vec<u8>,
) -> (u16, String) {
    let http = customer_data::runtime::http::default_client().expect("client");
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(timestamp) = timestamp {
        request = request.header(TIMESTAMP_HEADER, timestamp);
    }
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let answer = request.send().await.expect("the receiver answers");
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap_or_default())
}

/// Signs `body` now with `secret` and posts it.
async fn post_signed(url: &str, secret: &str, body: Vec<u8>) -> (u16, String) {
    let timestamp = now_secs().to_string();
    let signature = sign(&WebhookSecret::new(secret), &timestamp, &body);
    post(url, Some(timestamp), Some(signature), body).await
}

/// A receiver recording handled event ids (with counts) and refusal reasons; `fail` decides,
/// per event id and attempt number (1-based), whether the handler fails.
struct Recorder {
    handled: Arc<Mutex<HashMap<String, u32>>>,
    refusals: Arc<Mutex<Vec<&'static str>>>,
    url: String,
}

async fn recorder(fail: impl Fn(&str, u32) -> bool + Send + Sync + 'static) -> Recorder {
    let handled: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let attempts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let refusals: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let fail = Arc::new(fail);
    let receiver = {
        let handled = handled.clone();
        Receiver::new(Verifier::new(SECRET), move |event: WebhookEvent| {
            let (handled, attempts, fail) = (handled.clone(), attempts.clone(), fail.clone());
            async move {
                let id = event.id().to_string();
                let attempt = {
                    let mut attempts = attempts.lock().unwrap();
                    let n = attempts.entry(id.clone()).or_default();
                    *n += 1;
                    *n
                };
                if fail(&id, attempt) {
                    return Err(std::io::Error::other(format!(
                        "{id} failed on attempt {attempt}"
                    )));
                }
                *handled.lock().unwrap().entry(id).or_default() += 1;
                Ok(())
            }
        })
    };
    let refused = refusals.clone();
    let receiver = receiver.on_refusal(move |refusal: &Refusal| {
        refused.lock().unwrap().push(refusal.reason());
    });
    let url = serve(axum::Router::new().route("/hook", receiver.into_route())).await;
    Recorder {
        handled,
        refusals,
        url: format!("{url}/hook"),
    }
}

#[tokio::test]
async fn every_forgery_is_refused_with_its_reason_and_reaches_no_handler() {
    let r = recorder(|_, _| false).await;
    let body = body_of(&["e1"]);
    let fresh = now_secs().to_string();
    let good = sign(&WebhookSecret::new(SECRET), &fresh, &body);

    // Tampered body: the signature of the original over a changed body.
    let tampered = body_of(&["e2"]);
    let answer = post(&r.url, Some(fresh.clone()), Some(good.clone()), tampered).await;
    assert_eq!(answer.0, 401);
    assert!(answer.1.starts_with("signature_mismatch"), "{}", answer.1);

    // Signed with another secret.
    let answer = post_signed(&r.url, "not-the-secret", body.clone()).await;
    assert_eq!(
        (answer.0, answer.1.split(':').next()),
        (401, Some("signature_mismatch"))
    );

    // Genuine, but replayed 10 minutes later (stale timestamp).
    let old = (now_secs() - 600).to_string();
    let old_signature = sign(&WebhookSecret::new(SECRET), &old, &body);
    let answer = post(&r.url, Some(old), Some(old_signature), body.clone()).await;
    assert_eq!(
        (answer.0, answer.1.split(':').next()),
        (401, Some("stale_timestamp"))
    );

    // Missing headers.
    let answer = post(&r.url, None, Some(good.clone()), body.clone()).await;
    assert_eq!(
        (answer.0, answer.1.split(':').next()),
        (401, Some("missing_timestamp"))
    );
    let answer = post(&r.url, Some(fresh.clone()), None, body.clone()).await;
    assert_eq!(
        (answer.0, answer.1.split(':').next()),
        (401, Some("missing_signature"))
    );

    // Verified but not an array of events.
    let answer = post_signed(&r.url, SECRET, br#"{"id":"x"}"#.to_vec()).await;
    assert_eq!(
        (answer.0, answer.1.split(':').next()),
        (400, Some("not_an_array"))
    );

    assert_eq!(
        *r.refusals.lock().unwrap(),
        [
            "signature_mismatch",
            "signature_mismatch",
            "stale_timestamp",
            "missing_timestamp",
            "missing_signature",
            "not_an_array"
        ]
    );
    assert!(
        r.handled.lock().unwrap().is_empty(),
        "a refused delivery reached the handler"
    );

    // And the genuine delivery is accepted.
    let answer = post(&r.url, Some(fresh), Some(good), body).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(r.handled.lock().unwrap().get("e1"), Some(&1));
}

#[tokio::test]
async fn a_failed_handler_answers_500_and_the_resend_goes_on_where_it_stopped() {
    // e2 fails on its first attempt only.
    let r = recorder(|id, attempt| id == "e2" && attempt == 1).await;
    let body = body_of(&["e1", "e2", "e3"]);
    let first = post_signed(&r.url, SECRET, body.clone()).await;
    assert_eq!(first.0, 500, "{}", first.1);
    assert!(first.1.contains("e2"), "{}", first.1);
    {
        let handled = r.handled.lock().unwrap();
        assert_eq!(
            (handled.get("e1"), handled.get("e2"), handled.get("e3")),
            (Some(&1), None, None)
        );
    }
    // The vendor resends the same delivery: e1 is skipped, e2 and e3 are handled.
    let resend = post_signed(&r.url, SECRET, body.clone()).await;
    assert_eq!(
        resend,
        (200, "accepted: 2 handled, 1 already handled".to_string())
    );
    // A third copy changes nothing.
    let again = post_signed(&r.url, SECRET, body).await;
    assert_eq!(
        again,
        (200, "accepted: 0 handled, 3 already handled".to_string())
    );
    let handled = r.handled.lock().unwrap();
    assert!(
        ["e1", "e2", "e3"]
            .iter()
            .all(|id| handled.get(*id) == Some(&1)),
        "{handled:?}"
    );
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_receiver_keeps_serving() {
    let receiver = Receiver::new(Verifier::new(SECRET), |event: WebhookEvent| async move {
        if event.id() == "boom" {
            panic!("handler bug");
        }
        Ok::<(), std::io::Error>(())
    });
    let url = serve(axum::Router::new().route("/hook", receiver.into_route())).await;
    let url = format!("{url}/hook");
    let answer = post_signed(&url, SECRET, body_of(&["boom"])).await;
    assert_eq!(answer.0, 500, "{}", answer.1);
    let answer = post_signed(&url, SECRET, body_of(&["fine"])).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
}

#[tokio::test]
async fn racing_copies_of_one_delivery_hand_each_event_over_once() {
    // A slow handler, so that copies overlap.
    let handled: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let seen = handled.clone();
    let receiver = Receiver::new(Verifier::new(SECRET), move |event: WebhookEvent| {
        let seen = seen.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            *seen
                .lock()
                .unwrap()
                .entry(event.id().to_string())
                .or_default() += 1;
            Ok::<(), std::io::Error>(())
        }
    });
    let url = format!(
        "{}/hook",
        serve(axum::Router::new().route("/hook", receiver.into_route())).await
    );
    let ids: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
    let body = body_of(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    // Resend every copy that was not answered 200, as the vendor does.
    let copies = (0..4).map(|_| {
        let (url, body) = (url.clone(), body.clone());
        tokio::spawn(async move {
            for _ in 0..50 {
                if post_signed(&url, SECRET, body.clone()).await.0 == 200 {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            false
        })
    });
    for copy in copies {
        assert!(
            copy.await.expect("the copy ran"),
            "a copy was never accepted"
        );
    }
    let handled = handled.lock().unwrap();
    assert_eq!(handled.len(), ids.len());
    assert!(handled.values().all(|n| *n == 1), "{handled:?}");
}

/// A handler slower than the de-duplication lease keeps its claim (the receiver renews it
/// while the handler runs): a resend after the lease is answered busy, the event handled once.
#[tokio::test]
async fn a_handler_slower_than_the_lease_is_not_run_again_by_a_resend() {
    use customer_data::runtime::dedup::InMemorySeen;
    let lease = Duration::from_millis(300);
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    let receiver = Receiver::new(Verifier::new(SECRET), move |_event: WebhookEvent| {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(lease * 4).await;
            Ok::<(), std::io::Error>(())
        }
    })
    .with_store(InMemorySeen::with_limits(100, lease));
    let url = format!(
        "{}/hook",
        serve(axum::Router::new().route("/hook", receiver.into_route())).await
    );
    let first = tokio::spawn({
        let url = url.clone();
        async move { post_signed(&url, SECRET, body_of(&["slow"])).await }
    });
    tokio::time::sleep(lease * 2).await;
    let resend = post_signed(&url, SECRET, body_of(&["slow"])).await;
    assert_eq!(resend.0, 503, "busy, not run again: {}", resend.1);
    let first = first.await.expect("the first delivery");
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_oversized_delivery_is_refused_before_it_is_read_whole() {
    let receiver = Receiver::new(Verifier::new(SECRET), |_e: WebhookEvent| async {
        Ok::<(), std::io::Error>(())
    })
    .with_body_limit(1024);
    let url = format!(
        "{}/hook",
        serve(axum::Router::new().route("/hook", receiver.into_route())).await
    );
    let ids: Vec<String> = (0..100).map(|i| format!("big-{i}")).collect();
    let body = body_of(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(body.len() > 1024);
    let answer = post_signed(&url, SECRET, body).await;
    assert_eq!(
        (answer.0, answer.1.split(':').next()),
        (413, Some("too_large"))
    );
}

/// End to end with the sandbox: it delivers real signed webhooks (PING on creation, then
/// events as consumers are identified and persons change) and BiQ callbacks, resends on
/// non-200, and with fault injection resends deliveries at random.
mod sandbox_e2e {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::OnceLock;

    use customer_data::consumer_intelligence::webhook::{ConstructionCheck, check_construction};
    use customer_data::consumer_intelligence::{SLUG, types};
    use customer_data_sandbox::synthetic::population;
    use customer_data_sandbox::{Faults, Sandbox, SandboxConfig, credentials};
    use futures_util::TryStreamExt;

    use crate::common::{ci_client, ci_token};

    /// The sandbox's delivery counters of one webhook.
    async fn deliveries(sandbox: &Sandbox, webhook: &str) -> serde_json::Value {
        customer_data::runtime::http::default_client()
            .expect("http")
            .get(format!(
                "{}/sandbox/webhooks/{webhook}/deliveries",
                sandbox.url(SLUG)
            ))
            .header(
                customer_data_sandbox::sandbox_only::KEY_HEADER,
                sandbox.sandbox_key(),
            )
            .send()
            .await
            .expect("status route")
            .json()
            .await
            .expect("status json")
    }

    /// Waits until the sandbox has nothing queued or in flight for `webhook`.
    async fn wait_delivered(sandbox: &Sandbox, webhook: &str) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status = deliveries(sandbox, webhook).await;
            if status["queued"] == 0 && status["inFlight"] == false {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "deliveries never settled: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A delivery as received: headers and raw body.
    type Delivery = (http::HeaderMap, Vec<u8>);

    /// A receiver whose secret is only known once the webhook exists (the PING may come first:
    /// answered 503 until then, and resent by the sandbox).
    struct LateReceiver {
        receiver: Arc<OnceLock<Receiver>>,
        handled: Arc<Mutex<HashMap<String, u32>>>,
        types: Arc<Mutex<HashMap<String, String>>>,
        pings: Arc<Mutex<Vec<Delivery>>>,
        url: String,
    }

    async fn late_receiver() -> LateReceiver {
        let receiver: Arc<OnceLock<Receiver>> = Arc::default();
        let pings: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let (slot, seen) = (receiver.clone(), pings.clone());
        let route =
            axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
                let (slot, seen) = (slot.clone(), seen.clone());
                async move {
                    let Some(receiver) = slot.get() else {
                        return (
                            http::StatusCode::SERVICE_UNAVAILABLE,
                            "not ready".to_string(),
                        );
                    };
                    if body.windows(6).any(|w| w == b"\"PING\"") {
                        seen.lock().unwrap().push((headers.clone(), body.to_vec()));
                    }
                    let outcome = receiver.receive(&headers, &body).await;
                    (outcome.status(), outcome.message())
                }
            });
        let url = format!(
            "{}/ci-hook",
            serve(axum::Router::new().route("/ci-hook", route)).await
        );
        LateReceiver {
            receiver,
            handled: Arc::default(),
            types: Arc::default(),
            pings,
            url,
        }
    }

    impl LateReceiver {
        /// Installs the receiver for `secret`; its handler fails the first attempt of every
        /// fifth event, so the sandbox has to resend those deliveries.
        fn arm(&self, secret: &str) {
            let (handled, types) = (self.handled.clone(), self.types.clone());
            let attempts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
            let receiver = Receiver::new(Verifier::new(secret), move |event: WebhookEvent| {
                let (handled, types, attempts) = (handled.clone(), types.clone(), attempts.clone());
                async move {
                    let id = event.id().to_string();
                    let attempt = {
                        let mut attempts = attempts.lock().unwrap();
                        let n = attempts.entry(id.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    let unlucky = id.bytes().map(u32::from).sum::<u32>() % 5 == 0;
                    if unlucky && attempt == 1 {
                        return Err(std::io::Error::other("first attempt fails"));
                    }
                    types
                        .lock()
                        .unwrap()
                        .insert(id.clone(), event.event_type().to_string());
                    *handled.lock().unwrap().entry(id).or_default() += 1;
                    Ok(())
                }
            });
            assert!(self.receiver.set(receiver).is_ok(), "armed twice");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_event_reaches_the_handler_exactly_once_despite_resends() {
        let faults = Faults {
            seed: 8,
            webhook_resend: 0.3,
            ..Faults::none()
        };
        let config = SandboxConfig {
            consumer_intelligence_identify_delay: Duration::from_millis(100),
            ..SandboxConfig::default()
        }
        .with_faults(SLUG, faults);
        let sandbox = Sandbox::start(config.clone()).await.expect("sandbox");
        let client = ci_client(&sandbox);
        let hook = late_receiver().await;

        let created = client
            .create_webhook()
            .body(types::CreateWebhookDto {
                url: hook.url.clone(),
                events: vec![types::WebhookEventTypeDto::X],
                description: Some("e2e".into()),
            })
            .send()
            .await
            .expect("create webhook")
            .into_inner();
        hook.arm(&created.secret);

        // Consumers: 24 of the register (identified, subscribed) and 6 unknown.
        let people = population(config.seed, 24);
        let mut batch: Vec<types::UploadConsumerDto> = people
            .iter()
            .enumerate()
            .map(|(i, person)| types::UploadConsumerDto {
                consumer_id: format!("known-{i}").parse().unwrap(),
                market: person.market.parse().unwrap(),
                data: types::ConsumerDataDto::builder()
                    .legal_id(Some(person.legal_id.parse().unwrap()))
                    .try_into()
                    .unwrap(),
            })
            .collect();
        for i in 0..6 {
            batch.push(types::UploadConsumerDto {
                consumer_id: format!("unknown-{i}").parse().unwrap(),
                market: "SE".parse().unwrap(),
                data: types::ConsumerDataDto::builder()
                    .legal_id(Some(format!("19000101{i:04}").parse().unwrap()))
                    .try_into()
                    .unwrap(),
            });
        }
        client
            .upload_consumers()
            .body(batch)
            .send()
            .await
            .expect("upload");

        // Wait for identification (the sandbox settles it by itself and delivers the events).
        tokio::time::sleep(Duration::from_millis(400)).await;
        // Persons change; a consumer is deleted (unsubscribing its person).
        let token = ci_token(&sandbox).await;
        let http = customer_data::runtime::http::default_client().expect("http");
        for gedi in ["gedi-0", "gedi-1", "gedi-2"] {
            let moved = http
                .post(format!(
                    "{}/sandbox/persons/{gedi}/change",
                    sandbox.url(SLUG)
                ))
                .header(
                    customer_data_sandbox::sandbox_only::KEY_HEADER,
                    sandbox.sandbox_key(),
                )
                .bearer_auth(&token)
                .send()
                .await
                .expect("change");
            assert_eq!(moved.status().as_u16(), 200);
        }
        client
            .delete_consumers()
            .body(types::DeleteConsumersDto {
                consumer_ids: vec!["known-5".parse().unwrap()],
            })
            .send()
            .await
            .expect("delete");

        let status = wait_delivered(&sandbox, &created.id).await;

        // What the vendor recorded: the audit feed (every event but the PING).
        let audit: Vec<types::AuditEventDto> =
            customer_data::consumer_intelligence::stream::audit_events(
                &client,
                customer_data::consumer_intelligence::stream::PageSize::new(1000)
                    .expect("a page size"),
                None,
            )
            .items()
            .try_collect()
            .await
            .expect("audit feed");
        let mut expected: BTreeSet<String> = audit.iter().map(|e| e.id.clone()).collect();
        let handled = hook.handled.lock().unwrap().clone();
        let types = hook.types.lock().unwrap().clone();
        let pings: Vec<&String> = types
            .iter()
            .filter(|(_, t)| *t == "PING")
            .map(|(id, _)| id)
            .collect();
        assert_eq!(pings.len(), 1, "one PING: {types:?}");
        expected.insert(pings[0].clone());

        assert_eq!(handled.keys().cloned().collect::<BTreeSet<_>>(), expected);
        assert!(
            handled.values().all(|n| *n == 1),
            "an event was handled twice: {handled:?}"
        );
        for kind in [
            "CONSUMER_UPLOADED",
            "CONSUMER_IDENTIFIED",
            "CONSUMER_NOT_IDENTIFIED",
            "PERSON_SUBSCRIBED",
            "PERSON_CHANGED",
            "CONSUMER_DELETED",
            "PERSON_UNSUBSCRIBED",
        ] {
            assert!(
                types.values().any(|t| t == kind),
                "no {kind} arrived: {types:?}"
            );
        }
        let count = |kind: &str| types.values().filter(|t| *t == kind).count();
        assert_eq!(count("CONSUMER_UPLOADED"), 30);
        assert_eq!(
            count("CONSUMER_IDENTIFIED") + count("CONSUMER_NOT_IDENTIFIED"),
            30
        );
        assert_eq!(count("CONSUMER_NOT_IDENTIFIED"), 6);
        assert_eq!((count("PERSON_CHANGED"), count("CONSUMER_DELETED")), (3, 1));
        // Resends did happen: injected ones, and the ones the failing handler caused.
        let delivered_events = status["eventsDelivered"].as_u64().unwrap_or(0);
        assert!(status["resent"].as_u64().unwrap_or(0) > 0, "{status}");
        assert!(
            delivered_events > expected.len() as u64,
            "no duplicate arrived: {status}"
        );
        assert!(
            status["attempts"].as_u64().unwrap_or(0) > status["delivered"].as_u64().unwrap_or(0),
            "no delivery was refused and resent: {status}"
        );

        // The PING checks out against the construction this crate uses.
        let (headers, body) = hook.pings.lock().unwrap().first().cloned().expect("a PING");
        assert_eq!(
            check_construction(&WebhookSecret::new(created.secret.clone()), &headers, &body),
            ConstructionCheck::Default
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receiver_with_the_wrong_secret_refuses_every_delivery_and_handles_nothing() {
        let sandbox = Sandbox::start(SandboxConfig::default())
            .await
            .expect("sandbox");
        let client = ci_client(&sandbox);
        let refusals: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let handled: Arc<Mutex<u32>> = Arc::default();
        let (seen, count) = (refusals.clone(), handled.clone());
        let receiver = Receiver::new(
            Verifier::new("not-the-webhook-secret"),
            move |_e: WebhookEvent| {
                let count = count.clone();
                async move {
                    *count.lock().unwrap() += 1;
                    Ok::<(), std::io::Error>(())
                }
            },
        )
        .on_refusal(move |refusal: &Refusal| seen.lock().unwrap().push(refusal.reason()));
        let url = format!(
            "{}/hook",
            serve(axum::Router::new().route("/hook", receiver.into_route())).await
        );
        let created = client
            .create_webhook()
            .body(types::CreateWebhookDto {
                url,
                events: vec![types::WebhookEventTypeDto::Ping],
                description: None,
            })
            .send()
            .await
            .expect("create webhook")
            .into_inner();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while refusals.lock().unwrap().len() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the PING was not resent"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(
            refusals
                .lock()
                .unwrap()
                .iter()
                .all(|r| *r == "signature_mismatch")
        );
        assert_eq!(*handled.lock().unwrap(), 0);
        let status = deliveries(&sandbox, &created.id).await;
        assert_eq!(status["delivered"], 0, "{status}");
        assert!(status["attempts"].as_u64().unwrap_or(0) >= 2, "{status}");
    }

    mod biq {
        use super::*;
        use customer_data::biq::{Environment as BiqEnvironment, Session};
        use customer_data::biq_alert_changes::callback::{CallbackReceiver, FailureRetry};
        use customer_data::biq_alert_changes::{connect, types as biq_types};
        use std::sync::atomic::{AtomicUsize, Ordering};

        const SLUG: &str = "biq_alert_changes";

        /// A BiQ session against `sandbox`, its tenant and first shadow source.
        async fn biq_setup(sandbox: &Sandbox) -> (Session, String, i32) {
            let session = Session::new(
                BiqEnvironment::Custom {
                    auth: sandbox.url("biq_auth"),
                    customer_shadow: sandbox.url("biq_customer_shadow"),
                    alert_changes: sandbox.url(SLUG),
                },
                credentials::BIQ_API_KEY,
            )
            .expect("session");
            let tenant = session.tenant_id().await.expect("tenant");
            let source = session
                .customer_shadow()
                .expect("shadow client")
                .list_shadow_sources()
                .tenant_id(&tenant)
                .send()
                .await
                .expect("sources")
                .into_inner()[0]
                .id
                .expect("source id");
            (session, tenant, source)
        }

        /// Has the twin approve `count` changes for `source`; returns their ids.
        async fn script(sandbox: &Sandbox, tenant: &str, source: i32, count: u32) -> Vec<String> {
            let http = customer_data::runtime::http::default_client().expect("http");
            let emitted: serde_json::Value = http
                .post(format!(
                    "{}/sandbox/tenants/{tenant}/script",
                    sandbox.url(SLUG)
                ))
                .header(
                    customer_data_sandbox::sandbox_only::KEY_HEADER,
                    sandbox.sandbox_key(),
                )
                .json(&serde_json::json!({"count": count, "shadowSourceId": source}))
                .send()
                .await
                .expect("script")
                .json()
                .await
                .expect("script json");
            emitted["approvedChanges"]
                .as_array()
                .expect("changes")
                .iter()
                .map(|change| change["id"].as_str().expect("id").to_string())
                .collect()
        }

        /// Every scripted change reaches the handler once although BiQ calls back after every
        /// script, fault injection adds calls at random, and a handler failure makes a
        /// background drain fail (the route has answered 200 already, so the receiver itself
        /// tries again).
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn every_approved_change_reaches_the_callback_handler_once() {
            let faults = Faults {
                seed: 3,
                webhook_resend: 0.5,
                ..Faults::none()
            };
            let sandbox = Sandbox::start(SandboxConfig::default().with_faults(SLUG, faults))
                .await
                .expect("sandbox");
            let (session, tenant, source) = biq_setup(&sandbox).await;

            let handled: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
            let failures: Arc<Mutex<u32>> = Arc::default();
            let failed_drains = Arc::new(AtomicUsize::new(0));
            let (seen, failed) = (handled.clone(), failures.clone());
            let counted = failed_drains.clone();
            let receiver = CallbackReceiver::new(
                connect(&session).expect("client"),
                tenant.clone(),
                source,
                move |change: biq_types::ApprovedChange| {
                    let (seen, failed) = (seen.clone(), failed.clone());
                    async move {
                        let id = change.id.expect("an id").to_string();
                        // The 7th change fails once: that drain stops there and is retried.
                        if seen.lock().unwrap().len() == 6 && *failed.lock().unwrap() == 0 {
                            *failed.lock().unwrap() += 1;
                            return Err(std::io::Error::other("transient"));
                        }
                        *seen.lock().unwrap().entry(id).or_default() += 1;
                        Ok(())
                    }
                },
            )
            .with_failure_retry(FailureRetry {
                initial: Duration::from_millis(50),
                ..FailureRetry::default()
            })
            .on_drain(move |result| {
                if result.is_err() {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            });
            let url = format!(
                "{}/biq-callback/0d4b1a2e",
                serve(
                    axum::Router::new()
                        .route("/biq-callback/0d4b1a2e", receiver.clone().into_route())
                )
                .await
            );
            let http = customer_data::runtime::http::default_client().expect("http");
            let registered: serde_json::Value = http
                .post(format!(
                    "{}/sandbox/tenants/{tenant}/callbacks",
                    sandbox.url(SLUG)
                ))
                .header(
                    customer_data_sandbox::sandbox_only::KEY_HEADER,
                    sandbox.sandbox_key(),
                )
                .json(&serde_json::json!({"url": url}))
                .send()
                .await
                .expect("register")
                .json()
                .await
                .expect("registered json");
            let callback = registered["id"].as_str().expect("an id").to_string();

            let mut scripted = BTreeSet::new();
            for _ in 0..4 {
                scripted.extend(script(&sandbox, &tenant, source, 5).await);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let calls: serde_json::Value = http
                    .get(format!(
                        "{}/sandbox/tenants/{tenant}/callbacks/{callback}/calls",
                        sandbox.url(SLUG)
                    ))
                    .header(
                        customer_data_sandbox::sandbox_only::KEY_HEADER,
                        sandbox.sandbox_key(),
                    )
                    .send()
                    .await
                    .expect("calls")
                    .json()
                    .await
                    .expect("calls json");
                let settled =
                    calls["pending"] == false && handled.lock().unwrap().len() == scripted.len();
                if settled {
                    // Every callback was answered 200, the failed drain included.
                    assert!(calls["failed"].as_u64().unwrap_or(0) == 0, "{calls}");
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "callbacks never settled: {calls}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            receiver.idle().await;
            let handled = handled.lock().unwrap();
            assert_eq!(handled.keys().cloned().collect::<BTreeSet<_>>(), scripted);
            assert!(handled.values().all(|n| *n == 1), "{handled:?}");
            assert_eq!(*failures.lock().unwrap(), 1);
            assert_eq!(failed_drains.load(Ordering::SeqCst), 1, "one failed drain");
        }

        /// A flood of 10,000 callbacks over a real socket (64 at a time, one client) while a
        /// drain is held in the handler: every call is answered 200 at once, and the flood
        /// folds into one pending drain: two drains in all, never one per call.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_flood_of_callbacks_queues_at_most_one_pending_drain() {
            use futures_util::StreamExt;
            const CALLS: usize = 10_000;
            const AT_ONCE: usize = 64;
            let sandbox = Sandbox::start(SandboxConfig::default())
                .await
                .expect("sandbox");
            let (session, tenant, source) = biq_setup(&sandbox).await;
            // Five draws (not one): a draw may be a notification only, which no drain reads.
            let scripted = script(&sandbox, &tenant, source, 5).await;
            assert!(!scripted.is_empty(), "approved changes to drain");

            let gate = Arc::new(tokio::sync::Semaphore::new(0));
            let entered = Arc::new(tokio::sync::Notify::new());
            let drains = Arc::new(AtomicUsize::new(0));
            let (gate_in, entered_in, counted) = (gate.clone(), entered.clone(), drains.clone());
            let receiver = CallbackReceiver::new(
                connect(&session).expect("client"),
                tenant.clone(),
                source,
                move |_change: biq_types::ApprovedChange| {
                    let (gate, entered) = (gate_in.clone(), entered_in.clone());
                    async move {
                        // The first drain's handler is slow: it waits for the whole flood.
                        entered.notify_one();
                        gate.acquire().await.expect("gate open").forget();
                        Ok::<(), std::io::Error>(())
                    }
                },
            )
            .on_drain(move |result| {
                assert!(result.is_ok(), "{result:?}");
                counted.fetch_add(1, Ordering::SeqCst);
            });
            let url = format!(
                "{}/cb",
                serve(axum::Router::new().route("/cb", receiver.clone().into_route())).await
            );
            let http = customer_data::runtime::http::default_client().expect("http");
            let first = http.get(&url).send().await.expect("first call");
            assert_eq!(first.text().await.expect("text"), "drain started");
            tokio::time::timeout(Duration::from_secs(10), entered.notified())
                .await
                .expect("the drain reached the handler");

            let answers: Vec<(u16, String)> = futures_util::stream::iter(0..CALLS)
                .map(|_| {
                    let (http, url) = (http.clone(), url.clone());
                    async move {
                        let answer = http.get(&url).send().await.expect("answered");
                        (answer.status().as_u16(), answer.text().await.expect("text"))
                    }
                })
                .buffer_unordered(AT_ONCE)
                .collect()
                .await;
            assert_eq!(answers.len(), CALLS);
            for (status, text) in &answers {
                assert_eq!((*status, text.as_str()), (200, "drain already running"));
            }
            assert_eq!(
                drains.load(Ordering::SeqCst),
                0,
                "the first drain is still held"
            );

            gate.add_permits(1_000);
            tokio::time::timeout(Duration::from_secs(20), receiver.idle())
                .await
                .expect("drains settle");
            assert_eq!(
                drains.load(Ordering::SeqCst),
                2,
                "the held drain + one pending drain for 10,000 calls"
            );
        }

        /// While a drain is stuck in the handler, 50 callbacks are each answered 200 at once
        /// and fold into one more drain: two drains in all, every change once, including the
        /// changes approved during the stuck drain.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn callbacks_are_answered_at_once_and_fold_into_one_pending_drain() {
            let sandbox = Sandbox::start(SandboxConfig::default())
                .await
                .expect("sandbox");
            let (session, tenant, source) = biq_setup(&sandbox).await;
            let mut scripted: BTreeSet<String> = script(&sandbox, &tenant, source, 5)
                .await
                .into_iter()
                .collect();

            let gate = Arc::new(tokio::sync::Semaphore::new(0));
            let entered = Arc::new(tokio::sync::Notify::new());
            let handled: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
            let drains = Arc::new(AtomicUsize::new(0));
            let (gate_in, entered_in, seen, counted) = (
                gate.clone(),
                entered.clone(),
                handled.clone(),
                drains.clone(),
            );
            let receiver = CallbackReceiver::new(
                connect(&session).expect("client"),
                tenant.clone(),
                source,
                move |change: biq_types::ApprovedChange| {
                    let (gate, entered, seen) = (gate_in.clone(), entered_in.clone(), seen.clone());
                    async move {
                        entered.notify_one();
                        gate.acquire().await.expect("gate open").forget();
                        *seen
                            .lock()
                            .unwrap()
                            .entry(change.id.expect("an id").to_string())
                            .or_default() += 1;
                        Ok::<(), std::io::Error>(())
                    }
                },
            )
            .on_drain(move |result| {
                assert!(result.is_ok(), "{result:?}");
                counted.fetch_add(1, Ordering::SeqCst);
            });
            let url = format!(
                "{}/cb",
                serve(axum::Router::new().route("/cb", receiver.clone().into_route())).await
            );
            let http = customer_data::runtime::http::default_client().expect("http");
            let first = http.get(&url).send().await.expect("first call");
            assert_eq!(first.status(), 200);
            assert_eq!(first.text().await.expect("text"), "drain started");
            tokio::time::timeout(Duration::from_secs(10), entered.notified())
                .await
                .expect("the drain reached the handler");

            // The drain is stuck in the handler; changes approved now come after its page.
            scripted.extend(script(&sandbox, &tenant, source, 5).await);
            let calls = (0..50).map(|_| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let answer =
                        tokio::time::timeout(Duration::from_secs(5), http.get(&url).send())
                            .await
                            .expect("answered at once, not after the drain")
                            .expect("answered");
                    (answer.status().as_u16(), answer.text().await.expect("text"))
                }
            });
            for (status, text) in futures_util::future::join_all(calls).await {
                assert_eq!((status, text.as_str()), (200, "drain already running"));
            }
            assert_eq!(drains.load(Ordering::SeqCst), 0, "still stuck");

            gate.add_permits(1_000);
            tokio::time::timeout(Duration::from_secs(20), receiver.idle())
                .await
                .expect("drains settle");
            assert_eq!(
                drains.load(Ordering::SeqCst),
                2,
                "the stuck drain + one for 50 calls"
            );
            let handled = handled.lock().unwrap();
            assert_eq!(handled.keys().cloned().collect::<BTreeSet<_>>(), scripted);
            assert!(handled.values().all(|n| *n == 1), "{handled:?}");
        }
    }
}
