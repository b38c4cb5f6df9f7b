//! Calls the twins make: Consumer Intelligence webhook deliveries (signed, batched, retried,
//! resent at random) and BiQ approved-changes callbacks, received by a tiny axum server.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use customer_data::consumer_intelligence::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, Verifier};
use customer_data_sandbox::sandbox_only::KEY_HEADER;
use customer_data_sandbox::twins::consumer_intelligence::POPULATION;
use customer_data_sandbox::{Faults, Sandbox, SandboxConfig, credentials, synthetic};
use serde_json::{Value, json};

const CI: &str = "consumer_intelligence";
const BIQ: &str = "biq_alert_changes";
/// How long a test waits for the sandbox's calls before it fails.
const PATIENCE: Duration = Duration::from_secs(4);

/// The key of every sandbox these tests start (their sandbox-only routes need it).
const SANDBOX_KEY: &str = "deliveries-test-key";

fn http() -> reqwest::Client {
    customer_data::runtime::http::default_client().unwrap()
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    /// The delivered events (a webhook delivery's body is a JSON array).
    fn events(&self) -> Vec<Value> {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the receiver answers and what it got.
#[derive(Clone)]
struct Inbox {
    received: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer first, in order; then `then`.
    answers: Arc<Mutex<VecDeque<u16>>>,
    then: u16,
}

impl Inbox {
    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Every event delivered so far, in arrival order (duplicates included).
    fn events(&self) -> Vec<Value> {
        self.received().iter().flat_map(Received::events).collect()
    }
}

async fn receive(
    State(inbox): State<Inbox>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    inbox.received.lock().unwrap().push(Received {
        method,
        headers,
        body,
    });
    let status = inbox
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(inbox.then);
    StatusCode::from_u16(status).unwrap()
}

/// A receiver on 127.0.0.1 answering `answers` first, then `then`: its URL and inbox.
async fn receiver(answers: &[u16], then: u16) -> (String, Inbox) {
    let inbox = Inbox {
        received: Arc::default(),
        answers: Arc::new(Mutex::new(answers.iter().copied().collect())),
        then,
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::any(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, inbox)
}

/// A sandbox whose calls retry quickly.
fn config() -> SandboxConfig {
    SandboxConfig {
        webhook_retry_delay: Duration::from_millis(20),
        consumer_intelligence_identify_delay: Duration::from_millis(100),
        ..SandboxConfig::default()
    }
}

fn resending(slug: &str) -> SandboxConfig {
    config().with_faults(
        slug,
        Faults {
            seed: 5,
            webhook_resend: 1.0,
            ..Faults::none()
        },
    )
}

/// Polls `url` (a status route) until `done` holds for its JSON, at most [`PATIENCE`].
/// `config` with the tests' sandbox key.
fn keyed(config: SandboxConfig) -> SandboxConfig {
    SandboxConfig {
        sandbox_key: Some(SANDBOX_KEY.to_string()),
        ..config
    }
}

async fn poll(url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let http = http();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status: Value = http
            .get(url)
            .header(KEY_HEADER, SANDBOX_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{url} still at {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Consumer Intelligence

/// A client of the Consumer Intelligence twin.
struct Ci {
    sandbox: Sandbox,
    http: reqwest::Client,
    token: String,
}

impl Ci {
    async fn start(config: SandboxConfig) -> Ci {
        let sandbox = Sandbox::start(keyed(config)).await.unwrap();
        let http = http();
        let answer: Value = http
            .post(format!("{}/oauth/token", sandbox.url(CI)))
            .basic_auth(
                credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
                Some(credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=bci")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"].as_str().unwrap().to_string();
        Ci {
            sandbox,
            http,
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.url(CI))
    }

    /// Creates a webhook for `events`: its id and secret.
    async fn create_webhook(&self, url: &str, events: &[&str]) -> (String, String) {
        let answer = self
            .http
            .post(self.url("/webhooks"))
            .bearer_auth(&self.token)
            .json(&json!({"url": url, "events": events}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 201);
        let created: Value = answer.json().await.unwrap();
        (
            created["id"].as_str().unwrap().to_string(),
            created["secret"].as_str().unwrap().to_string(),
        )
    }

    /// Uploads consumers that are register persons `persons` (identified by legal id).
    async fn upload(&self, persons: std::ops::Range<usize>) {
        let people = synthetic::population(SandboxConfig::default().seed, POPULATION);
        let batch: Vec<Value> = persons
            .map(|i| {
                json!({
                    "consumerId": format!("consumer-{i}"),
                    "market": people[i].market,
                    "data": {"legalId": people[i].legal_id},
                })
            })
            .collect();
        let answer = self
            .http
            .post(self.url("/consumers"))
            .bearer_auth(&self.token)
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 202);
    }

    fn status_url(&self, webhook: &str) -> String {
        self.url(&format!("/sandbox/webhooks/{webhook}/deliveries"))
    }

    /// Waits until the webhook's first delivery was answered (refused, in these tests; their
    /// retry delay is long enough for the test to act before the retry).
    async fn first_attempt(&self, webhook: &str) {
        poll(&self.status_url(webhook), |s| {
            s["attempts"].as_u64() >= Some(1) && s["inFlight"] == false
        })
        .await;
    }

    /// Waits until the webhook has nothing queued or in flight and at least `events` events
    /// were delivered; its status.
    async fn delivered(&self, webhook: &str, events: u64) -> Value {
        poll(&self.status_url(webhook), |s| {
            s["queued"] == 0
                && s["inFlight"] == false
                && s["eventsDelivered"].as_u64() >= Some(events)
        })
        .await
    }
}

fn types_of(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn ids_of(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_ping_arrives_first_after_create_signed_with_the_webhook_secret() {
    let ci = Ci::start(config()).await;
    let (url, inbox) = receiver(&[], 200).await;
    let (id, secret) = ci.create_webhook(&url, &["CONSUMER_DELETED"]).await;
    let status = ci.delivered(&id, 1).await;
    assert_eq!(status["delivered"], 1);
    assert_eq!(status["attempts"], 1);
    assert_eq!(status["failed"], 0);
    let received = inbox.received();
    assert_eq!(received.len(), 1);
    let ping = &received[0];
    assert_eq!(ping.method, Method::POST);
    assert_eq!(ping.headers["content-type"], "application/json");
    assert!(ping.headers.contains_key(TIMESTAMP_HEADER));
    assert!(ping.headers.contains_key(SIGNATURE_HEADER));
    Verifier::new(secret.as_str())
        .verify(&ping.headers, &ping.body)
        .unwrap();
    assert!(
        Verifier::new("another secret")
            .verify(&ping.headers, &ping.body)
            .is_err()
    );
    let events = ping.events();
    assert_eq!(types_of(&events), ["PING"]);
    assert!(events[0]["timestamp"].is_string());
    // PING is not an audit event.
    let audit: Value = ci
        .http
        .get(ci.url("/audit-events"))
        .bearer_auth(&ci.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["data"], json!([]));
    ci.sandbox.shutdown().await;
}

#[tokio::test]
async fn upload_and_identification_are_delivered_without_further_requests() {
    let ci = Ci::start(config()).await;
    let (url, inbox) = receiver(&[], 200).await;
    let (id, secret) = ci.create_webhook(&url, &["*"]).await;
    ci.upload(0..1).await;
    // No request of the client settles the identification: the twin does.
    ci.delivered(&id, 4).await;
    let events = inbox.events();
    assert_eq!(
        types_of(&events),
        [
            "PING",
            "CONSUMER_UPLOADED",
            "CONSUMER_IDENTIFIED",
            "PERSON_SUBSCRIBED"
        ]
    );
    assert_eq!(events[1]["consumerId"], "consumer-0");
    assert_eq!(events[2]["gedi"], "gedi-0");
    let verifier = Verifier::new(secret.as_str());
    for delivery in inbox.received() {
        verifier.verify(&delivery.headers, &delivery.body).unwrap();
    }
    // The deliveries carry the audit events, ids included.
    let audit: Value = ci
        .http
        .get(ci.url("/audit-events"))
        .bearer_auth(&ci.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let audited = audit["data"].as_array().unwrap();
    assert_eq!(ids_of(audited), ids_of(&events[1..]));
    ci.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_webhook_gets_only_the_ping_and_the_event_types_it_asked_for() {
    let ci = Ci::start(config()).await;
    let (all_url, all) = receiver(&[], 200).await;
    let (uploads_url, uploads) = receiver(&[], 200).await;
    let (every, _) = ci.create_webhook(&all_url, &["*"]).await;
    let (filtered, _) = ci
        .create_webhook(&uploads_url, &["CONSUMER_UPLOADED"])
        .await;
    ci.upload(0..2).await;
    ci.delivered(&every, 7).await;
    ci.delivered(&filtered, 3).await;
    assert_eq!(
        types_of(&uploads.events()),
        ["PING", "CONSUMER_UPLOADED", "CONSUMER_UPLOADED"]
    );
    let every_type = all.events();
    assert_eq!(every_type.len(), 7, "{every_type:?}");
    assert_eq!(
        types_of(&every_type)
            .iter()
            .filter(|t| **t == "PING")
            .count(),
        1,
        "each webhook gets its own PING only"
    );
    ci.sandbox.shutdown().await;
}

#[tokio::test]
async fn events_are_batched_at_most_ten_per_delivery_in_order() {
    let ci = Ci::start(SandboxConfig {
        webhook_retry_delay: Duration::from_millis(300),
        ..config()
    })
    .await;
    // The PING is refused once, so the 25 uploads queue up behind its retry.
    let (url, inbox) = receiver(&[500], 200).await;
    let (id, _) = ci.create_webhook(&url, &["CONSUMER_UPLOADED"]).await;
    ci.first_attempt(&id).await;
    ci.upload(0..25).await;
    let status = ci.delivered(&id, 26).await;
    let sizes: Vec<usize> = inbox.received().iter().map(|r| r.events().len()).collect();
    assert!(sizes.iter().all(|n| (1..=10).contains(n)), "{sizes:?}");
    assert!(sizes.len() >= 4, "{sizes:?}");
    assert_eq!(status["delivered"].as_u64(), Some(sizes.len() as u64 - 1));
    let events = inbox.events();
    let consumers: Vec<&str> = events[2..]
        .iter()
        .map(|e| e["consumerId"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..25).map(|i| format!("consumer-{i}")).collect();
    assert_eq!(consumers, expected);
    ci.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_refused_delivery_is_resent_with_the_same_events_and_holds_later_ones_back() {
    let ci = Ci::start(SandboxConfig {
        webhook_retry_delay: Duration::from_millis(300),
        ..config()
    })
    .await;
    let (url, inbox) = receiver(&[500, 503], 200).await;
    let (id, secret) = ci.create_webhook(&url, &["CONSUMER_UPLOADED"]).await;
    // The upload is queued while the PING waits for its retry.
    ci.first_attempt(&id).await;
    ci.upload(0..1).await;
    let status = ci.delivered(&id, 2).await;
    assert_eq!(status["attempts"], 4, "{status}");
    assert_eq!(status["delivered"], 2, "{status}");
    assert_eq!(status["failed"], 0, "{status}");
    let received = inbox.received();
    let deliveries: Vec<Vec<Value>> = received.iter().map(Received::events).collect();
    assert_eq!(deliveries.len(), 4);
    // The PING three times (same id), then the upload: nothing overtook the retried PING.
    assert_eq!(deliveries[0], deliveries[1]);
    assert_eq!(deliveries[1], deliveries[2]);
    assert_eq!(types_of(&deliveries[0]), ["PING"]);
    assert_eq!(types_of(&deliveries[3]), ["CONSUMER_UPLOADED"]);
    // Every attempt is signed afresh and verifies.
    let verifier = Verifier::new(secret.as_str());
    for delivery in &received {
        verifier.verify(&delivery.headers, &delivery.body).unwrap();
    }
    ci.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_delivery_is_dropped_after_the_last_attempt() {
    let ci = Ci::start(SandboxConfig {
        webhook_max_attempts: 3,
        webhook_retry_delay: Duration::from_millis(5),
        ..config()
    })
    .await;
    let (url, inbox) = receiver(&[], 500).await;
    let (id, _) = ci.create_webhook(&url, &["*"]).await;
    let status = poll(&ci.status_url(&id), |s| s["failed"] == 1).await;
    assert_eq!(status["attempts"], 3, "{status}");
    assert_eq!(status["delivered"], 0, "{status}");
    assert_eq!(status["eventsDelivered"], 0, "{status}");
    assert_eq!(status["queued"], 0, "{status}");
    assert_eq!(status["inFlight"], false, "{status}");
    let pings: Vec<Vec<Value>> = inbox.received().iter().map(Received::events).collect();
    assert_eq!(pings.len(), 3);
    assert!(pings.iter().all(|p| *p == pings[0]));
    ci.sandbox.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_receiver_counts_as_a_failed_attempt() {
    let ci = Ci::start(SandboxConfig {
        webhook_max_attempts: 2,
        ..config()
    })
    .await;
    // A port that was bound, then closed: every connection is refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    let (id, _) = ci.create_webhook(&closed, &["*"]).await;
    let status = poll(&ci.status_url(&id), |s| s["failed"] == 1).await;
    assert_eq!(status["attempts"], 2, "{status}");
    ci.sandbox.shutdown().await;
}

#[tokio::test]
async fn fault_injected_resends_deliver_the_same_events_again() {
    let ci = Ci::start(resending(CI)).await;
    let (url, inbox) = receiver(&[], 200).await;
    let (id, secret) = ci.create_webhook(&url, &["*"]).await;
    ci.upload(0..1).await;
    // Every delivery answered 200 is resent once: each event arrives twice.
    let status = ci.delivered(&id, 8).await;
    assert!(status["resent"].as_u64() > Some(0), "{status}");
    assert_eq!(status["resent"], status["delivered"].as_u64().unwrap() / 2);
    let events = inbox.events();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for id in ids_of(&events) {
        *seen.entry(id).or_default() += 1;
    }
    assert_eq!(seen.len(), 4, "{events:?}");
    assert!(seen.values().all(|n| *n == 2), "{seen:?}");
    let verifier = Verifier::new(secret.as_str());
    for delivery in inbox.received() {
        verifier.verify(&delivery.headers, &delivery.body).unwrap();
    }
    ci.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_deleted_webhook_gets_nothing_more() {
    let ci = Ci::start(SandboxConfig {
        webhook_retry_delay: Duration::from_millis(100),
        ..config()
    })
    .await;
    let (url, inbox) = receiver(&[], 500).await;
    let (id, _) = ci.create_webhook(&url, &["*"]).await;
    ci.first_attempt(&id).await;
    let deleted = ci
        .http
        .delete(ci.url(&format!("/webhooks/{id}")))
        .bearer_auth(&ci.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    let before = inbox.received().len();
    ci.upload(0..1).await;
    let gone = ci
        .http
        .get(ci.status_url(&id))
        .header(KEY_HEADER, SANDBOX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    // Past the retries the PING would have had, and the upload's delivery.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(inbox.received().len(), before);
    ci.sandbox.shutdown().await;
}

#[tokio::test]
async fn deliveries_stop_with_the_sandbox() {
    let ci = Ci::start(config()).await;
    let (url, inbox) = receiver(&[], 500).await;
    let (id, _) = ci.create_webhook(&url, &["*"]).await;
    ci.first_attempt(&id).await;
    ci.sandbox.shutdown().await;
    // A retry already in flight may still land; nothing after it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopped = inbox.received().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(inbox.received().len(), stopped);
}

#[tokio::test]
async fn the_delivery_status_of_an_unknown_webhook_is_a_404_problem() {
    let ci = Ci::start(config()).await;
    let answer = ci
        .http
        .get(ci.status_url("no-such-webhook"))
        .header(KEY_HEADER, SANDBOX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
    let problem: Value = answer.json().await.unwrap();
    assert_eq!(problem["title"], "Not Found");
    ci.sandbox.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// BiQ approved-changes callbacks

struct Biq {
    sandbox: Sandbox,
    http: reqwest::Client,
}

impl Biq {
    async fn start(config: SandboxConfig) -> Biq {
        Biq {
            sandbox: Sandbox::start(keyed(config)).await.unwrap(),
            http: http(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/sandbox/tenants/{}{path}",
            self.sandbox.url(BIQ),
            credentials::BIQ_TENANT_ID
        )
    }

    async fn register(&self, url: &str) -> String {
        let answer = self
            .http
            .post(self.url("/callbacks"))
            .header(KEY_HEADER, SANDBOX_KEY)
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 201);
        let registered: Value = answer.json().await.unwrap();
        assert_eq!(registered["url"], url);
        registered["id"].as_str().unwrap().to_string()
    }

    async fn script(&self, script: Value) -> Value {
        let answer = self
            .http
            .post(self.url("/script"))
            .header(KEY_HEADER, SANDBOX_KEY)
            .json(&script)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        answer.json().await.unwrap()
    }

    /// Waits until the callback has nothing pending and `done` holds; its status.
    async fn settled(&self, callback: &str, done: impl Fn(&Value) -> bool) -> Value {
        poll(&self.url(&format!("/callbacks/{callback}/calls")), |s| {
            s["pending"] == false && done(s)
        })
        .await
    }
}

#[tokio::test]
async fn a_callback_is_called_with_get_after_approved_changes() {
    let biq = Biq::start(config()).await;
    let (url, inbox) = receiver(&[], 200).await;
    let id = biq.register(&url).await;
    let idle = biq.settled(&id, |_| true).await;
    assert_eq!(idle["calls"], 0, "nothing called before a change: {idle}");
    let scripted = biq
        .script(json!({"count": 3, "eventType": "name-change"}))
        .await;
    assert_eq!(scripted["approvedChanges"].as_array().unwrap().len(), 3);
    let status = biq.settled(&id, |s| s["succeeded"] == 1).await;
    assert_eq!(
        status["calls"], 1,
        "one call for the three changes: {status}"
    );
    assert_eq!(status["failed"], 0);
    let received = inbox.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, Method::GET);
    assert!(received[0].body.is_empty());
    // A notification alone calls nothing.
    biq.script(json!({"count": 1, "eventType": "person-deceased"}))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let status = biq.settled(&id, |_| true).await;
    assert_eq!(status["calls"], 1, "{status}");
    biq.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_refused_callback_is_retried() {
    let biq = Biq::start(config()).await;
    let (url, inbox) = receiver(&[500, 502], 200).await;
    let id = biq.register(&url).await;
    biq.script(json!({"count": 1, "eventType": "address-change"}))
        .await;
    let status = biq.settled(&id, |s| s["succeeded"] == 1).await;
    assert_eq!(status["calls"], 3, "{status}");
    assert_eq!(status["failed"], 0, "{status}");
    assert!(inbox.received().iter().all(|r| r.method == Method::GET));
    biq.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_callback_that_keeps_failing_is_dropped_after_the_last_attempt() {
    let biq = Biq::start(SandboxConfig {
        webhook_max_attempts: 2,
        ..config()
    })
    .await;
    let (url, inbox) = receiver(&[], 503).await;
    let id = biq.register(&url).await;
    biq.script(json!({"count": 2, "eventType": "email-change"}))
        .await;
    let status = biq.settled(&id, |s| s["failed"] == 1).await;
    assert_eq!(status["calls"], 2, "{status}");
    assert_eq!(status["succeeded"], 0, "{status}");
    assert_eq!(inbox.received().len(), 2);
    biq.sandbox.shutdown().await;
}

#[tokio::test]
async fn fault_injected_resends_call_a_callback_once_more() {
    let biq = Biq::start(resending(BIQ)).await;
    let (url, inbox) = receiver(&[], 200).await;
    let id = biq.register(&url).await;
    biq.script(json!({"count": 3, "eventType": "phone-change"}))
        .await;
    let status = biq.settled(&id, |s| s["succeeded"] == 2).await;
    assert_eq!(status["resent"], 1, "{status}");
    assert_eq!(status["calls"], 2, "{status}");
    assert_eq!(inbox.received().len(), 2);
    biq.sandbox.shutdown().await;
}

#[tokio::test]
async fn callbacks_are_registered_and_deleted_per_tenant() {
    let biq = Biq::start(config()).await;
    let bad = biq
        .http
        .post(biq.url("/callbacks"))
        .header(KEY_HEADER, SANDBOX_KEY)
        .json(&json!({"url": "ftp://example.invalid/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let garbled = biq
        .http
        .post(biq.url("/callbacks"))
        .header(KEY_HEADER, SANDBOX_KEY)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status().as_u16(), 400);
    let (url, inbox) = receiver(&[], 200).await;
    let id = biq.register(&url).await;
    let other_tenant = format!(
        "{}/sandbox/tenants/another-tenant/callbacks/{id}",
        biq.sandbox.url(BIQ)
    );
    let refused = biq
        .http
        .delete(&other_tenant)
        .header(KEY_HEADER, SANDBOX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 404);
    let deleted = biq
        .http
        .delete(biq.url(&format!("/callbacks/{id}")))
        .header(KEY_HEADER, SANDBOX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let again = biq
        .http
        .delete(biq.url(&format!("/callbacks/{id}")))
        .header(KEY_HEADER, SANDBOX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 404);
    let calls = biq
        .http
        .get(biq.url(&format!("/callbacks/{id}/calls")))
        .header(KEY_HEADER, SANDBOX_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(calls.status().as_u16(), 404);
    biq.script(json!({"count": 1, "eventType": "name-change"}))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        inbox.received().is_empty(),
        "a deleted callback is not called"
    );
    biq.sandbox.shutdown().await;
}
