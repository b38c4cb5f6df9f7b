//! Property-based fuzzing (proptest) of what a webhook receiver reads from the network: the
//! signature verifier and the event decoder must turn any input into a value or a typed error,
//! never a panic, and must never accept what was not signed.
//!
//! Each property runs `FUZZ_CASES` cases (default 4,000; CI uses the default). Each test
//! prints `figure fuzz_executions_<name> <n>` with the number of inputs it ran.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use customer_data::consumer_intelligence::webhook::{
    DecodeError, Receiver, Rejection, SIGNATURE_HEADER, TIMESTAMP_HEADER, TYPED_EVENT_TYPES,
    Verifier, WebhookEvent, WebhookSecret, decode_events, sign,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000)
}

/// Runs `property` over `strategy` for `cases()` inputs, counting them, and reports the count.
fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let executions = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |input| {
        executions.fetch_add(1, Ordering::Relaxed);
        property(input)
    });
    if let Err(failure) = result {
        panic!("{name}: {failure}");
    }
    let ran = executions.load(Ordering::Relaxed);
    println!("figure fuzz_executions_{name} {ran}");
    assert!(ran >= u64::from(cases()), "{name} ran only {ran} inputs");
}

const NOW: u64 = 1_795_255_200;

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Header-ish bytes: mostly printable, sometimes anything.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[0-9]{0,14}".prop_map(String::into_bytes),
        "(sha256=)?[0-9a-fA-F]{60,68}".prop_map(String::into_bytes),
        "[A-Za-z0-9+/=_-]{40,48}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

#[test]
fn the_verifier_never_panics_and_never_accepts_an_unsigned_delivery() {
    let verifier = Verifier::new("fuzz-secret");
    fuzz(
        "verifier_arbitrary",
        (
            header_bytes(),
            header_bytes(),
            proptest::collection::vec(any::<u8>(), 0..256),
        ),
        |(timestamp, signature, body)| {
            let result = verifier.verify_values(&timestamp, &signature, &body, at(NOW));
            // Random bytes forging an HMAC-SHA256 would be a break of SHA-256, not luck.
            prop_assert!(result.is_err(), "accepted an unsigned delivery");
            Ok(())
        },
    );
}

#[test]
fn any_change_to_a_signed_delivery_is_rejected() {
    let secret = WebhookSecret::new("fuzz-secret");
    let verifier = Verifier::new(secret.clone());
    fuzz(
        "verifier_tampering",
        (
            proptest::collection::vec(any::<u8>(), 1..256),
            any::<prop::sample::Index>(),
            1u8..=255,
            0u64..1_000,
        ),
        |(body, at_index, flip, skew)| {
            let timestamp = NOW.to_string();
            let signature = sign(&secret, &timestamp, &body);
            // The genuine delivery verifies within the tolerance.
            prop_assert!(
                verifier
                    .verify_values(
                        timestamp.as_bytes(),
                        signature.as_bytes(),
                        &body,
                        at(NOW + skew % 300)
                    )
                    .is_ok()
            );
            // One byte of the body changed: refused as a mismatch.
            let mut tampered = body.clone();
            let i = at_index.index(tampered.len());
            tampered[i] ^= flip;
            prop_assert_eq!(
                verifier.verify_values(
                    timestamp.as_bytes(),
                    signature.as_bytes(),
                    &tampered,
                    at(NOW)
                ),
                Err(Rejection::SignatureMismatch)
            );
            // Another timestamp with the same signature: refused as a mismatch.
            let moved = (NOW + 1 + skew).to_string();
            prop_assert_eq!(
                verifier.verify_values(moved.as_bytes(), signature.as_bytes(), &body, at(NOW)),
                Err(Rejection::SignatureMismatch)
            );
            // Authentic but too old: refused as stale.
            prop_assert_eq!(
                verifier
                    .verify_values(
                        timestamp.as_bytes(),
                        signature.as_bytes(),
                        &body,
                        at(NOW + 301 + skew)
                    )
                    .map_err(|r| r.reason()),
                Err("stale_timestamp")
            );
            Ok(())
        },
    );
}

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Event-shaped JSON: the members real events have, with right or wrong values.
fn event_like() -> impl Strategy<Value = Value> {
    let event_type = prop_oneof![
        prop::sample::select(TYPED_EVENT_TYPES.to_vec()).prop_map(Value::from),
        "[A-Z_*]{0,12}".prop_map(Value::String),
        json(),
    ];
    let members = proptest::collection::btree_map(
        prop::sample::select(vec![
            "consumerId",
            "consumerIds",
            "market",
            "gedi",
            "source",
            "sources",
            "previous",
            "replacedBy",
            "jsonPointers",
            "changedId",
            "variable",
            "phase",
            "trigger",
            "probability",
            "withinEstimatedDays",
            "timestamp",
            "extra",
        ]),
        prop_oneof![
            json(),
            Just(Value::from("SE")),
            Just(Value::from("2026-11-21T10:00:00Z")),
            Just(serde_json::json!(["c1", "c2"])),
            Just(serde_json::json!({"gedi": "g", "source": "SPAR"})),
        ],
        0..10,
    );
    (
        prop_oneof![".{0,10}".prop_map(Value::String), json()],
        event_type,
        members,
    )
        .prop_map(|(id, event_type, members)| {
            let mut object = serde_json::Map::new();
            object.insert("id".into(), id);
            object.insert("type".into(), event_type);
            for (k, v) in members {
                object.insert(k.to_string(), v);
            }
            Value::Object(object)
        })
}

#[test]
fn the_decoder_turns_any_bytes_into_events_or_a_typed_error() {
    fuzz(
        "decoder_bytes",
        proptest::collection::vec(any::<u8>(), 0..512),
        |body| {
            if let Err(error) = decode_events(&body) {
                prop_assert!(!error.to_string().is_empty());
            }
            Ok(())
        },
    );
}

#[test]
fn the_decoder_turns_any_json_into_events_or_a_typed_error() {
    fuzz(
        "decoder_json",
        prop_oneof![
            json(),
            proptest::collection::vec(event_like(), 0..6).prop_map(Value::Array),
        ],
        |value| {
            let body =
                serde_json::to_vec(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
            match decode_events(&body) {
                Ok(events) => {
                    // Every decoded event has an id to de-duplicate on and keeps its type.
                    let items = value.as_array().map(Vec::len);
                    prop_assert_eq!(Some(events.len()), items);
                    for event in &events {
                        prop_assert!(!event.id().is_empty());
                        if let WebhookEvent::Unknown(unknown) = event {
                            prop_assert!(!TYPED_EVENT_TYPES.contains(&unknown.event_type.as_str()));
                        }
                    }
                }
                Err(DecodeError::NotAnArray) => prop_assert!(!value.is_array()),
                Err(DecodeError::Event { index, .. }) => {
                    prop_assert!(value.as_array().is_some_and(|items| index < items.len()))
                }
                Err(other) => prop_assert!(false, "valid JSON refused as {other:?}"),
            }
            Ok(())
        },
    );
}

#[test]
fn the_receiver_refuses_any_unsigned_delivery_without_calling_the_handler() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let receiver = Receiver::new(Verifier::new("fuzz-secret"), |_event| async {
        Err::<(), _>(std::io::Error::other("the handler must not be called"))
    });
    fuzz(
        "receiver",
        (
            header_bytes(),
            header_bytes(),
            proptest::collection::vec(any::<u8>(), 0..256),
        ),
        |(timestamp, signature, body)| {
            let mut headers = http::HeaderMap::new();
            if let Ok(value) = http::HeaderValue::from_bytes(&timestamp) {
                headers.insert(TIMESTAMP_HEADER, value);
            }
            if let Ok(value) = http::HeaderValue::from_bytes(&signature) {
                headers.insert(SIGNATURE_HEADER, value);
            }
            let outcome = runtime.block_on(receiver.receive(&headers, &body));
            prop_assert_eq!(
                outcome.status(),
                http::StatusCode::UNAUTHORIZED,
                "{:?}",
                outcome
            );
            Ok(())
        },
    );
}
