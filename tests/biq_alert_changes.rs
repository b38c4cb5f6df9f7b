//! BiQ Alert AlertChanges: the seed's feeds, every payload type, and the guarantee that an
//! event type or payload we do not know still decodes with its raw JSON kept.
#![cfg(feature = "biq")]

mod common;

use customer_data::biq_alert_changes::{EVENT_PAYLOADS, EventPayload, TypedPayload, types};
use serde_json::{Map, Value};

const SLUG: &str = "biq_alert_changes";

#[test]
fn every_seed_operation_is_generated() {
    common::assert_seed_operations(
        SLUG,
        &[
            (
                "GET /tenants/{tenantid}/notifications",
                "GET /tenants/{tenantId}/notifications -> list_notifications(",
            ),
            (
                "GET /tenants/{tenantid}/approved-changes",
                "GET /tenants/{tenantId}/approved-changes -> list_approved_changes(",
            ),
        ],
    );
    // The demo's feed and bookmark operations (not in the seed) are generated too.
    let surface = common::surface_operations(SLUG).join("\n");
    for method in [
        "next_approved_changes(",
        "next_notifications(",
        "get_approved_changes_bookmark(",
        "put_approved_changes_bookmark(",
    ] {
        assert!(surface.contains(method), "{method} missing:\n{surface}");
    }
}

#[test]
fn feed_envelopes_round_trip() {
    common::assert_round_trip::<types::NextRequest>(SLUG, "next_request.json");
    common::assert_round_trip::<types::ApprovedChangesBatch>(SLUG, "approved_changes_batch.json");
    common::assert_round_trip::<types::NotificationsBatch>(SLUG, "notifications_batch.json");
    common::assert_round_trip::<types::Bookmark>(SLUG, "bookmark.json");
    common::assert_round_trip::<types::ApprovedChange>(
        SLUG,
        "approved_change_unknown_event_type.json",
    );
}

/// The decoder's table is the spec's `x-biq-event-payloads`, entry for entry.
#[test]
fn the_payload_table_is_the_specs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec =
        customer_data_codegen::load::load(&root.join("specs/biq_alert_changes.yaml")).unwrap();
    let in_spec: Vec<(String, String)> = spec.document["components"]["x-biq-event-payloads"]
        .as_object()
        .expect("x-biq-event-payloads")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let in_code: Vec<(String, String)> = EVENT_PAYLOADS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(in_code, in_spec);
}

fn wrapped(inner: Value) -> Map<String, Value> {
    let mut container = Map::new();
    container.insert("Payload".to_string(), inner);
    container
}

/// Every payload fixture decodes as its event type's variant, wrapped or not.
#[test]
fn every_known_event_type_decodes_to_its_typed_payload() {
    let dir = common::fixture_path(SLUG, "");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(event_type) = name
            .strip_prefix("payload_")
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let inner = common::fixture(SLUG, &name);
        let bare = inner.as_object().unwrap().clone();
        for payload in [wrapped(inner.clone()), bare] {
            let typed = EventPayload::decode(event_type, &payload);
            assert!(
                !matches!(typed, EventPayload::Unknown { .. }),
                "{event_type} did not decode as its payload type: {payload:?}"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 19, "one synthetic payload per payload schema");
}

#[test]
fn a_name_change_reads_as_a_name_change() {
    let inner = common::fixture(SLUG, "payload_name-change.json");
    match EventPayload::decode("name-change", &wrapped(inner)) {
        EventPayload::NameChange(change) => {
            assert_eq!(change.existing_name.as_deref(), Some("Mette Eksempel"));
            assert_eq!(
                change.proposed_name.as_deref(),
                Some("Mette Eksempel Prøvesen")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_event_type_never_fails_and_keeps_the_raw_payload() {
    let change: types::ApprovedChange = serde_json::from_value(common::fixture(
        SLUG,
        "approved_change_unknown_event_type.json",
    ))
    .unwrap();
    match change.typed_payload() {
        EventPayload::Unknown {
            event_type,
            payload,
        } => {
            assert_eq!(event_type, "some-future-event-type-this-spec-does-not-know");
            assert_eq!(payload, change.payload);
            assert_eq!(payload["SomethingNew"]["Number"], 3.5);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        change.extra["unexpectedTopLevelMember"]["kept"],
        "as an unknown member"
    );
}

#[test]
fn a_known_event_type_with_a_payload_that_does_not_fit_is_unknown_not_an_error() {
    let odd = wrapped(serde_json::json!({"existingName": 42}));
    assert_eq!(
        EventPayload::decode("name-change", &odd),
        EventPayload::Unknown {
            event_type: "name-change".into(),
            payload: odd.clone()
        }
    );
}
