//! Webhook and callback receivers over real HTTP: Consumer Intelligence deliveries signed here
//! (tampering, wrong secrets, stale and missing headers, each refused with its reason; handler
//! failures and resends; racing duplicates) and, further down, end to end with the sandbox,
//! which delivers real signed webhooks and BiQ callbacks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
