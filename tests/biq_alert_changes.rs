//! BiQ Alert AlertChanges: the seed's feeds, every payload type, and the guarantee that an
//! event type or payload we do not know still decodes with its raw JSON kept.
#![cfg(feature = "biq-alert-changes")]

mod common;

use customer_data::biq_alert_changes::{EVENT_PAYLOADS, EventPayload, TypedPayload, types};
use serde_json::Value;

const SLUG: &str = "biq_alert_changes";

#[test]
fn every_seed_operation_is_generated() {
    common::assert_seed_operations(
        SLUG,
        &[
            (
                "GET /tenants/{tenantid}/notifications",
                "list_notifications: GET /tenants/{tenantId}/notifications (",
            ),
            (
                "GET /tenants/{tenantid}/approved-changes",
                "list_approved_changes: GET /tenants/{tenantId}/approved-changes (",
            ),
        ],
    );
    // The demo's feed and bookmark operations (not in the seed) are generated too.
    let surface = common::surface_operations(SLUG).join("\n");
    for method in [
        "next_approved_changes: ",
        "next_notifications: ",
        "get_approved_changes_bookmark: ",
        "put_approved_changes_bookmark: ",
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

/// The decoder's table is the spec's `x-biq-event-payloads`, entry for entry (in any order).
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
    let (mut in_code, mut in_spec) = (in_code, in_spec);
    in_code.sort();
    in_spec.sort();
    assert_eq!(in_code, in_spec);
}

/// The member names of every payload DTO, as BiQ's demo (b70a67a) declares them, copied from
/// `reference/biq-alert/NOTES.md` (Addendum), NOT derived from our types.
const NOTES_MEMBERS: &[(&str, &[&str])] = &[
    (
        "CreatePersonPayload",
        &[
            "Name",
            "BirthDate",
            "Address",
            "Cpr",
            "CareOf",
            "Attention",
            "Email",
            "Phone1",
            "Phone2",
            "SecondaryContactName",
            "SecondaryContactEmail",
            "SecondaryContactPhoneNumber1",
            "SecondaryContactPhoneNumber2",
            "SecondaryContactCprNumber",
            "PoBox",
            "ExtraData",
            "Active",
        ],
    ),
    (
        "CreateCompanyPayload",
        &[
            "Name",
            "Address",
            "Cvr",
            "Pnr",
            "CareOf",
            "Attention",
            "Email",
            "Phone1",
            "Phone2",
            "PoBox",
            "ExtraData",
            "Active",
        ],
    ),
    (
        "NameChangePayload",
        &["ProposedName", "ExistingName", "Address", "NameChangeDate"],
    ),
    (
        "AddressChangePayload",
        &[
            "Name",
            "ProposedAddress",
            "ExistingAddress",
            "AddressChangeDate",
        ],
    ),
    (
        "NameAndAddressChangePayload",
        &[
            "ProposedName",
            "ExistingName",
            "ProposedAddress",
            "ExistingAddress",
            "NameChangeDate",
            "AddressChangeDate",
        ],
    ),
    (
        "CareOfChangePayload",
        &["ExistingCareOf", "ProposedCareOf", "CareOfChangeDate"],
    ),
    (
        "AttentionChangePayload",
        &[
            "ExistingAttention",
            "ProposedAttention",
            "AttentionChangeDate",
        ],
    ),
    (
        "CprNumberChangePayload",
        &[
            "ExistingCprNumber",
            "ProposedCprNumber",
            "CprNumberChangeDate",
        ],
    ),
    (
        "CvrNumberChangePayload",
        &[
            "ExistingCvrNumber",
            "ProposedCvrNumber",
            "CvrNumberChangeDate",
        ],
    ),
    (
        "PNumberChangePayload",
        &["ExistingPNumber", "ProposedPNumber", "PNumberChangeDate"],
    ),
    (
        "EmailChangePayload",
        &["ExistingEmail", "ProposedEmail", "EmailChangeDate"],
    ),
    (
        "PhoneNumberChangePayload",
        &[
            "ExistingPhoneNumber",
            "ProposedPhoneNumber",
            "PhoneNumberChangeDate",
        ],
    ),
    (
        "PoBoxChangePayload",
        &["ExistingPoBox", "ProposedPoBox", "PoBoxChangeDate"],
    ),
    (
        "ExtraDataChangePayload",
        &[
            "ExistingExtraData",
            "ProposedExtraData",
            "ExtraDataChangeDate",
        ],
    ),
    (
        "CustomerCategoryChangePayload",
        &[
            "ExistingCustomerCategory",
            "ProposedCustomerCategory",
            "CustomerCategoryChangeDate",
        ],
    ),
    ("PersonDeceasedPayload", &["DeceasedDate"]),
];

/// The Address members of the notes (both DTO folders).
const NOTES_ADDRESS: &[&str] = &[
    "CompositeOrig",
    "Street",
    "StreetCode",
    "HouseNumber",
    "HouseLetter",
    "Floor",
    "Suite",
    "PostalCode",
    "PostalCity",
    "PostalSubCity",
    "MunicipalityCode",
    "CountryCode",
    "CountryName",
    "DarAddressId",
];

fn notes_members(dto: &str) -> &'static [&'static str] {
    NOTES_MEMBERS
        .iter()
        .find(|(name, _)| *name == dto)
        .unwrap_or_else(|| panic!("{dto} is not in the notes"))
        .1
}

/// The typed payload as JSON, and the DTO name of its variant.
fn typed_json(typed: &EventPayload) -> (&'static str, Value) {
    match typed {
        EventPayload::CreatePerson(p) => ("CreatePersonPayload", json(p)),
        EventPayload::CreateCompany(p) => ("CreateCompanyPayload", json(p)),
        EventPayload::NameChange(p) => ("NameChangePayload", json(p)),
        EventPayload::AddressChange(p) => ("AddressChangePayload", json(p)),
        EventPayload::NameAndAddressChange(p) => ("NameAndAddressChangePayload", json(p)),
        EventPayload::CareOfChange(p) => ("CareOfChangePayload", json(p)),
        EventPayload::AttentionChange(p) => ("AttentionChangePayload", json(p)),
        EventPayload::CprNumberChange(p) => ("CprNumberChangePayload", json(p)),
        EventPayload::CvrNumberChange(p) => ("CvrNumberChangePayload", json(p)),
        EventPayload::PNumberChange(p) => ("PNumberChangePayload", json(p)),
        EventPayload::EmailChange(p) => ("EmailChangePayload", json(p)),
        EventPayload::PhoneNumberChange(p) => ("PhoneNumberChangePayload", json(p)),
        EventPayload::PoBoxChange(p) => ("PoBoxChangePayload", json(p)),
        EventPayload::ExtraDataChange(p) => ("ExtraDataChangePayload", json(p)),
        EventPayload::CustomerCategoryChange(p) => ("CustomerCategoryChangePayload", json(p)),
        EventPayload::PersonDeceased(p) => ("PersonDeceasedPayload", json(p)),
        other => panic!("not a typed payload: {other:?}"),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

/// `typed` (our encoding: the spec's camelCase) holds exactly the notes' members of `dto`,
/// every one with a value, and nothing else (nothing left only in `extra`); each Address too.
fn assert_every_member_typed(dto: &str, typed: &Value) {
    let object = typed.as_object().unwrap();
    let expected: Vec<String> = notes_members(dto)
        .iter()
        .map(|m| m[..1].to_ascii_lowercase() + &m[1..])
        .collect();
    let mut keys: Vec<&String> = object.keys().collect();
    keys.sort();
    let mut want: Vec<&String> = expected.iter().collect();
    want.sort();
    assert_eq!(keys, want, "{dto}: typed members differ from the notes'");
    for (key, value) in object {
        assert!(!value.is_null(), "{dto}.{key} is empty");
        if key.ends_with("ddress") {
            let address: Vec<&String> = value.as_object().unwrap().keys().collect();
            assert_eq!(
                address.len(),
                NOTES_ADDRESS.len(),
                "{dto}.{key}: {address:?}"
            );
            for member in NOTES_ADDRESS {
                let camel = member[..1].to_ascii_lowercase() + &member[1..];
                assert!(
                    value.get(&camel).is_some_and(|v| !v.is_null()),
                    "{dto}.{key}.{camel} is empty"
                );
            }
        }
    }
}

/// Feed items with the raw payload replaced by the typed one.
fn typed_items<T: TypedPayload + Clone + serde::Serialize>(
    items: &[T],
) -> Vec<(Value, EventPayload)> {
    items
        .iter()
        .map(|item| {
            let mut raw = serde_json::to_value(item).unwrap();
            raw.as_object_mut().unwrap().remove("payload");
            (raw, item.typed_payload())
        })
        .collect()
}

/// The hand-written vendor corpus (tests/fixtures/biq_alert_changes/README.md): one approved
/// change per DTO, in PascalCase (the DTOs' own spelling) and in camelCase. Every item decodes,
/// every payload is typed with every member of the notes, nothing ends in `extra`.
#[test]
fn the_vendor_corpus_decodes_with_every_member_typed_in_both_casings() {
    let mut per_casing = Vec::new();
    for file in [
        "vendor_approved_changes.pascal.json",
        "vendor_approved_changes.camel.json",
    ] {
        let batch: types::ApprovedChangesBatch =
            serde_json::from_value(common::fixture(SLUG, file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!batch.more, "{file}");
        assert!(batch.extra.is_empty(), "{file}: {:?}", batch.extra);
        let changes = batch.approved_changes.unwrap();
        let mut dtos = Vec::new();
        for change in &changes {
            assert!(change.extra.is_empty(), "{file}: {:?}", change.extra);
            for member in [
                change.id.is_some(),
                change.shadow_source_id.is_some(),
                change.customer_number.is_some(),
                change.created.is_some(),
                change.created_by.is_some(),
                change.approved.is_some(),
                change.approved_by.is_some(),
                change.source.is_some(),
                change.event_type.is_some(),
                change.payload_version.is_some(),
                change.anonymized.is_some(),
                change.committed.is_some(),
            ] {
                assert!(
                    member,
                    "{file}: an ApprovedChange member is empty: {change:?}"
                );
            }
            let typed = change.typed_payload();
            let (dto, json) = typed_json(&typed);
            // The payload's container names the DTO in this corpus (any name would do).
            let container = change.payload.as_ref().unwrap().as_object().unwrap();
            assert!(
                container.keys().next().unwrap().eq_ignore_ascii_case(dto),
                "{file}: {:?} typed as {dto}",
                change.event_type
            );
            assert_every_member_typed(dto, &json);
            dtos.push(dto);
        }
        // One item per change DTO of the notes (all but PersonDeceasedPayload).
        let mut distinct = dtos.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), NOTES_MEMBERS.len() - 1, "{file}: {dtos:?}");
        per_casing.push(changes);
    }
    // Both casings read the same (the raw payload keeps the casing it came in; typed, the same).
    assert_eq!(typed_items(&per_casing[0]), typed_items(&per_casing[1]));
    // Vendor timestamps: 7 fraction digits and an offset.
    let first = &per_casing[0][0];
    assert_eq!(
        first.created.unwrap().to_rfc3339(),
        "2024-06-12T07:30:01.776650100+00:00"
    );
    // A .NET DateTime without offset stays the string the vendor wrote.
    match first.typed_payload() {
        EventPayload::CreatePerson(p) => {
            assert_eq!(p.birth_date.as_deref(), Some("1998-04-23T00:00:00"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn vendor_notifications_decode_in_both_casings() {
    let mut both = Vec::new();
    for file in [
        "vendor_notifications.pascal.json",
        "vendor_notifications.camel.json",
    ] {
        let batch: types::NotificationsBatch = serde_json::from_value(common::fixture(SLUG, file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let notifications = batch.notifications.unwrap();
        assert!(notifications.iter().all(|n| n.extra.is_empty()));
        let (dto, json) = typed_json(&notifications[0].typed_payload());
        assert_eq!(dto, "PersonDeceasedPayload");
        assert_every_member_typed(dto, &json);
        assert_eq!(
            json["deceasedDate"],
            Value::from("2024-06-10T00:00:00"),
            "a DateTime without offset is kept as written"
        );
        // person-formerly-deceased with a null payload: absent, not "untyped".
        assert_eq!(notifications[1].typed_payload(), EventPayload::Absent);
        assert_eq!(notifications[1].key, None);
        both.push(typed_items(&notifications));
    }
    assert_eq!(both[0], both[1]);
}

/// Nulls everywhere the DTOs allow them, a null payload (an anonymised item), a null batch: all
/// decode; a null payload is `Absent`, never confused with a payload that is not typed.
#[test]
fn nulls_everywhere_the_vendor_allows_them_decode() {
    for file in ["vendor_nulls.pascal.json", "vendor_nulls.camel.json"] {
        let batch: types::ApprovedChangesBatch =
            serde_json::from_value(common::fixture(SLUG, file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        let changes = batch.approved_changes.unwrap();
        assert_eq!(changes.len(), 4);
        assert!(changes.iter().all(|c| c.extra.is_empty()), "{file}");
        assert_eq!(changes[0].payload, None);
        assert_eq!(changes[0].anonymized, Some(true));
        assert_eq!(changes[0].typed_payload(), EventPayload::Absent);
        assert_eq!(changes[0].customer_number, None);
        assert_eq!(changes[1].event_type, None);
        assert_eq!(changes[1].committed, None);
        match changes[2].typed_payload() {
            EventPayload::CreatePerson(p) => {
                assert_eq!(p.name, None);
                assert!(p.extra.is_empty());
                let address = p.address.unwrap();
                assert_eq!(address.dar_address_id, None);
                assert!(address.extra.is_empty());
            }
            other => panic!("{other:?}"),
        }
        match changes[3].typed_payload() {
            EventPayload::ExtraDataChange(p) => {
                assert_eq!(p.existing_extra_data, None);
                assert!(p.extra.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
    let empty: types::ApprovedChangesBatch =
        serde_json::from_value(common::fixture(SLUG, "vendor_null_batch.pascal.json")).unwrap();
    assert_eq!((empty.approved_changes, empty.more), (None, false));
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
            assert_eq!(Some(&payload), change.payload.as_ref());
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
fn a_known_event_type_with_a_payload_that_does_not_fit_is_undecodable_not_an_error() {
    let odd = serde_json::json!({"Payload": {"existingName": 42}});
    match EventPayload::decode("name-change", Some(&odd)) {
        EventPayload::Undecodable {
            event_type,
            payload,
            error,
        } => {
            assert_eq!(event_type, "name-change");
            assert_eq!(payload, odd);
            assert!(!error.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        EventPayload::decode("name-change", Some(&serde_json::json!([1]))),
        EventPayload::NotAnObject(serde_json::json!([1]))
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
            customer_data::runtime::Layer::new(&customer_data::biq_auth::SERVICE_RULES),
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
            customer_data::runtime::Layer::new(&customer_data::biq_customer_shadow::SERVICE_RULES),
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
            customer_data::runtime::Layer::new(&customer_data::biq_alert_changes::SERVICE_RULES),
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
            .header(
                customer_data_sandbox::sandbox_only::KEY_HEADER,
                twin.sandbox.sandbox_key(),
            )
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
            let more = batch.more;
            let batch = batch.approved_changes.unwrap_or_default();
            if let Some(last) = batch.last() {
                from = last.committed.expect("committed");
            }
            items.extend(batch);
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
        let first = first.notifications.unwrap();
        assert_eq!(first.len(), 50);
        let second = twin
            .client
            .next_notifications()
            .tenant_id(TENANT)
            .shadow_source_id(source)
            .body(types::NextRequest {
                from: first.last().unwrap().committed.unwrap(),
            })
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(!second.more);
        let all: Vec<_> = first
            .into_iter()
            .chain(second.notifications.unwrap())
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
            "new-person",
            "new-company",
            "name-change-at-subscription-start",
            "cpr-number-change",
            "cvr-number-change",
            "p-number-change",
            "secondary-contact-name-change",
            "po-box-change",
            "extra-data-change",
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
        assert_eq!((changes.len(), notifications.len()), (20, 2));
        for change in &changes {
            let typed = change.typed_payload();
            assert!(
                !matches!(
                    typed,
                    EventPayload::Unknown { .. }
                        | EventPayload::Undecodable { .. }
                        | EventPayload::Absent
                        | EventPayload::NotAnObject(_)
                        | EventPayload::Untyped { .. }
                ),
                "{change:?} -> {typed:?}"
            );
            let container = change.payload.as_ref().and_then(Value::as_object).unwrap();
            assert_eq!(container.len(), 1, "a single-member container");
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
        // person-formerly-deceased: no payload DTO is known; the twin sends none.
        assert_eq!(notifications[1].typed_payload(), EventPayload::Absent);

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
            .header(
                customer_data_sandbox::sandbox_only::KEY_HEADER,
                twin.sandbox.sandbox_key(),
            )
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
                if let Some(Value::Object(container)) = c.payload.as_mut() {
                    container.values_mut().for_each(|p| {
                        if let Some(p) = p.as_object_mut() {
                            p.retain(|member, _| !member.ends_with("ChangeDate"));
                        }
                    });
                }
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
            customer_data::runtime::Layer::new(&customer_data::biq_alert_changes::SERVICE_RULES),
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

    /// An anonymised item (null payload) in the middle of the feed: the stream hands it out as
    /// `Absent` and moves past it to the items after it; an unknown event type still reads.
    #[tokio::test]
    async fn a_feed_moves_past_a_null_payload_item() {
        use futures_util::TryStreamExt;

        let twin = start().await;
        let source = twin.sources[0];
        let filter = |extra: Value| {
            let mut request = serde_json::json!({"count": 1, "eventType": "name-change", "shadowSourceId": source});
            request
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            request
        };
        script(&twin, filter(serde_json::json!({}))).await;
        let anonymised = script(&twin, filter(serde_json::json!({"anonymized": true}))).await;
        assert_eq!(anonymised.approved_changes[0].payload, None);
        script(&twin, filter(serde_json::json!({"count": 2}))).await;

        let mut items = customer_data::biq_alert_changes::stream::approved_changes(
            &twin.client,
            TENANT,
            source,
            None,
        )
        .items();
        let mut read = Vec::new();
        while let Some(change) = items.try_next().await.unwrap() {
            read.push(change);
        }
        assert_eq!(read.len(), 4, "{read:?}");
        let typed: Vec<EventPayload> = read.iter().map(|c| c.typed_payload()).collect();
        assert!(matches!(typed[0], EventPayload::NameChange(_)));
        assert_eq!(typed[1], EventPayload::Absent);
        assert_eq!(read[1].anonymized, Some(true));
        assert!(matches!(typed[2], EventPayload::NameChange(_)));
        assert!(matches!(typed[3], EventPayload::NameChange(_)));
        assert_eq!(items.resume_cursor(), read[3].committed.as_ref());
        twin.sandbox.shutdown().await;
    }
}
