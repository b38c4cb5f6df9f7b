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

/// Against the sandbox twins: log in with `biq_auth`, script changes through the sandbox-only
/// route, and read them with the generated AlertChanges client.
mod twin {
    use std::collections::HashSet;

    use chrono::{DateTime, TimeZone, Utc};
    use customer_data::biq_alert_changes::{Client, EventPayload, TypedPayload, types};
    use customer_data_sandbox::{Sandbox, SandboxConfig, credentials};
    use serde_json::Value;

    const TENANT: &str = credentials::BIQ_TENANT_ID;

    struct Twin {
        sandbox: Sandbox,
        client: Client,
        /// The shadow sources (private, business).
        sources: Vec<i32>,
    }

    async fn start() -> Twin {
        // `Client::new` (below) builds its HTTP stack directly: install TLS first.
        customer_data::runtime::http::ensure_crypto_provider();
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let auth = customer_data::biq_auth::Client::new(
            &sandbox.url("biq_auth"),
            customer_data::runtime::Layer::new("biq_auth"),
        );
        let token = auth
            .login()
            .body(customer_data::biq_auth::types::LoginRequest {
                apikey: credentials::BIQ_API_KEY.into(),
            })
            .send()
            .await
            .unwrap()
            .into_inner()
            .access_token;
        let http = crate::common::bearer_http(&token);
        let shadow = customer_data::biq_customer_shadow::Client::new_with_client(
            &sandbox.url("biq_customer_shadow"),
            http.clone(),
            customer_data::runtime::Layer::new("biq_customer_shadow"),
        );
        let sources = shadow
            .list_shadow_sources()
            .tenant_id(TENANT)
            .send()
            .await
            .unwrap()
            .iter()
            .filter_map(|s| s.id)
            .collect();
        let client = Client::new_with_client(
            &sandbox.url("biq_alert_changes"),
            http,
            customer_data::runtime::Layer::new("biq_alert_changes"),
        );
        Twin {
            sandbox,
            client,
            sources,
        }
    }

    /// What one call of the sandbox-only script route emitted.
    struct Scripted {
        approved_changes: Vec<types::ApprovedChange>,
        notifications: Vec<types::Notification>,
    }

    async fn script(twin: &Twin, request: Value) -> Scripted {
        let response = customer_data::runtime::http::default_client()
            .unwrap()
            .post(format!(
                "{}/sandbox/tenants/{TENANT}/script",
                twin.sandbox.url("biq_alert_changes")
            ))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        Scripted {
            approved_changes: serde_json::from_value(body["approvedChanges"].clone()).unwrap(),
            notifications: serde_json::from_value(body["notifications"].clone()).unwrap(),
        }
    }

    fn long_ago() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()
    }

    /// Follows next-approved-changes from `from` as the demo does (`from` = the last item's
    /// `committed`, until `more` is false); returns the items and the number of calls.
    async fn follow_approved_changes(
        twin: &Twin,
        source: i32,
        mut from: DateTime<Utc>,
    ) -> (Vec<types::ApprovedChange>, usize, DateTime<Utc>) {
        let (mut items, mut calls) = (Vec::new(), 0);
        loop {
            let batch = twin
                .client
                .next_approved_changes()
                .tenant_id(TENANT)
                .shadow_source_id(source)
                .body(types::NextRequest { from })
                .send()
                .await
                .unwrap()
                .into_inner();
            calls += 1;
            if let Some(last) = batch.approved_changes.last() {
                from = last.committed.expect("committed");
            }
            let more = batch.more;
            items.extend(batch.approved_changes);
            if !more {
                return (items, calls, from);
            }
            assert!(calls < 100, "the feed does not end");
        }
    }

    /// Every scripted approved change shows up exactly once, in commit order, when the feed
    /// is followed across pages with `from`/`more`; later changes continue from the bookmark.
    #[tokio::test]
    async fn a_scripted_change_shows_up_exactly_once_across_pages() {
        let twin = start().await;
        let source = twin.sources[0];
        let scripted = script(
            &twin,
            serde_json::json!({"count": 130, "eventType": "address-change", "shadowSourceId": source}),
        )
        .await;
        assert_eq!(scripted.approved_changes.len(), 130);
        let committed: Vec<_> = scripted
            .approved_changes
            .iter()
            .map(|c| c.committed.unwrap())
            .collect();
        assert!(
            committed.windows(2).all(|w| w[0] < w[1]),
            "committed increases"
        );

        let (read, calls, bookmark) = follow_approved_changes(&twin, source, long_ago()).await;
        assert_eq!(calls, 3, "130 items in pages of 50");
        let ids: Vec<_> = read.iter().map(|c| c.id.unwrap()).collect();
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            ids.len(),
            "an item was read twice"
        );
        let expected: Vec<_> = scripted
            .approved_changes
            .iter()
            .map(|c| c.id.unwrap())
            .collect();
        assert_eq!(ids, expected);
        assert_eq!(read, scripted.approved_changes);

        // Nothing new: one empty batch.
        let (none, calls, _) = follow_approved_changes(&twin, source, bookmark).await;
        assert!(none.is_empty() && calls == 1);
        // One more change: exactly that one.
        let one = script(
            &twin,
            serde_json::json!({"count": 1, "eventType": "name-change", "shadowSourceId": source}),
        )
        .await;
        let (next, _, _) = follow_approved_changes(&twin, source, bookmark).await;
        assert_eq!(next, one.approved_changes);
        // The other shadow source's feed has none of them.
        let (other, _, _) = follow_approved_changes(&twin, twin.sources[1], long_ago()).await;
        assert!(other.is_empty());

        // Notifications page the same way.
        let deceased = script(
            &twin,
            serde_json::json!({"count": 60, "eventType": "person-deceased", "shadowSourceId": source}),
        )
        .await;
        assert_eq!(deceased.notifications.len(), 60);
        let first = twin
            .client
            .next_notifications()
            .tenant_id(TENANT)
            .shadow_source_id(source)
            .body(types::NextRequest { from: long_ago() })
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(first.more);
        assert_eq!(first.notifications.len(), 50);
        let second = twin
            .client
            .next_notifications()
            .tenant_id(TENANT)
            .shadow_source_id(source)
            .body(types::NextRequest {
                from: first.notifications.last().unwrap().committed.unwrap(),
            })
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(!second.more);
        let all: Vec<_> = first
            .notifications
            .into_iter()
            .chain(second.notifications)
            .collect();
        assert_eq!(all, deceased.notifications);
        twin.sandbox.shutdown().await;
    }

    /// Payloads are built from the spec's payload types: each decodes as its event type's
    /// `EventPayload` variant, on items read through the feeds.
    #[tokio::test]
    async fn scripted_payloads_decode_as_their_event_payload_variant() {
        let twin = start().await;
        let private = twin.sources[0];
        for event_type in [
            "name-change",
            "name-correction",
            "address-change",
            "address-correction",
            "name-and-address-change",
            "care-of-change",
            "attention-change",
            "email-change",
            "phone-change",
            "phone-2-change",
            "customer-category-change",
            "person-deceased",
            "person-formerly-deceased",
        ] {
            script(
                &twin,
                serde_json::json!({"count": 1, "eventType": event_type, "shadowSourceId": private}),
            )
            .await;
        }
        let changes = twin
            .client
            .list_approved_changes()
            .tenant_id(TENANT)
            .send()
            .await
            .unwrap()
            .into_inner();
        let notifications = twin
            .client
            .list_notifications()
            .tenant_id(TENANT)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!((changes.len(), notifications.len()), (11, 2));
        for change in &changes {
            let typed = change.typed_payload();
            assert!(
                !matches!(typed, EventPayload::Unknown { .. }),
                "{change:?} -> {typed:?}"
            );
            assert_eq!(change.payload.len(), 1, "a single-member container");
            assert_eq!(change.shadow_source_id, Some(private));
        }
        match changes[0].typed_payload() {
            EventPayload::NameChange(name) => {
                let (existing, proposed) =
                    (name.existing_name.unwrap(), name.proposed_name.unwrap());
                assert_ne!(existing, proposed);
                assert!(name.name_change_date.is_some());
            }
            other => panic!("{other:?}"),
        }
        match changes[2].typed_payload() {
            EventPayload::AddressChange(address) => {
                assert!(address.existing_address.is_some());
                assert!(address.proposed_address.unwrap().postal_code.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            changes[4].typed_payload(),
            EventPayload::NameAndAddressChange(_)
        ));
        match notifications[0].typed_payload() {
            EventPayload::PersonDeceased(deceased) => assert!(deceased.deceased_date.is_some()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            notifications[1].typed_payload(),
            EventPayload::PersonFormerlyDeceased(_)
        ));

        // Without an event type the generator draws a mix, still typed.
        let mixed = script(&twin, serde_json::json!({"count": 40})).await;
        assert_eq!(mixed.approved_changes.len() + mixed.notifications.len(), 40);
        assert!(
            mixed
                .approved_changes
                .iter()
                .all(|c| !matches!(c.typed_payload(), EventPayload::Unknown { .. }))
        );
        // An event type the generator does not emit: 400.
        let refused = customer_data::runtime::http::default_client()
            .unwrap()
            .post(format!(
                "{}/sandbox/tenants/{TENANT}/script",
                twin.sandbox.url("biq_alert_changes")
            ))
            .json(&serde_json::json!({"eventType": "moon-landing"}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 400);
        twin.sandbox.shutdown().await;
    }

    /// The same seed scripts the same changes (ids, customers, payloads).
    #[tokio::test]
    async fn the_generator_is_seeded() {
        let mut runs = Vec::new();
        for _ in 0..2 {
            let twin = start().await;
            let scripted = script(&twin, serde_json::json!({"count": 20})).await;
            let strip = |mut c: types::ApprovedChange| {
                (c.committed, c.created, c.approved) = (None, None, None);
                c.payload.values_mut().for_each(|p| {
                    if let Some(p) = p.as_object_mut() {
                        p.remove("nameChangeDate");
                        p.remove("addressChangeDate");
                    }
                });
                c
            };
            runs.push(
                scripted
                    .approved_changes
                    .into_iter()
                    .map(strip)
                    .collect::<Vec<_>>(),
            );
            twin.sandbox.shutdown().await;
        }
        assert!(!runs[0].is_empty());
        assert_eq!(runs[0], runs[1]);
    }

    /// The server-side bookmark: 404 until stored, then what was stored.
    #[tokio::test]
    async fn the_bookmark_round_trips() {
        let twin = start().await;
        let absent = twin
            .client
            .get_approved_changes_bookmark()
            .tenant_id(TENANT)
            .send()
            .await
            .unwrap_err();
        assert_eq!(absent.status().map(|s| s.as_u16()), Some(404));

        let scripted = script(
            &twin,
            serde_json::json!({"count": 3, "eventType": "email-change"}),
        )
        .await;
        let bookmark = types::Bookmark {
            bookmark: scripted.approved_changes[2].committed.unwrap(),
            extra: Default::default(),
        };
        let stored = twin
            .client
            .put_approved_changes_bookmark()
            .tenant_id(TENANT)
            .body(bookmark.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(stored.status().as_u16(), 204);
        let read = twin
            .client
            .get_approved_changes_bookmark()
            .tenant_id(TENANT)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read, bookmark);

        // The feeds refuse a missing token and another tenant.
        let anonymous = Client::new(
            &twin.sandbox.url("biq_alert_changes"),
            customer_data::runtime::Layer::new("biq_alert_changes"),
        );
        let refused = anonymous
            .list_approved_changes()
            .tenant_id(TENANT)
            .send()
            .await
            .unwrap_err();
        assert_eq!(refused.status().map(|s| s.as_u16()), Some(401));
        let forbidden = twin
            .client
            .get_approved_changes_bookmark()
            .tenant_id("another-tenant")
            .send()
            .await
            .unwrap_err();
        assert_eq!(forbidden.status().map(|s| s.as_u16()), Some(403));
        twin.sandbox.shutdown().await;
    }
}
