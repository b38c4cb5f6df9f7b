//! Table test: every BiQ event type in the spec's `x-biq-event-payloads` changes exactly the
//! columns BiQ's demo change reader changes (ChangeReader/Program.cs, `HandleOneChange`, demo
//! revision b70a67a552d5eedcd3abcf1292911fadd1e5af3c), to the `proposed*` value, and nothing
//! else. The spec is read here, so a new vendor type fails until it is added to `EXPECTED`.

use std::collections::BTreeMap;

use customer_data::biq_alert_changes::types::ApprovedChange;
use customer_data_sync::biq::{BiqTableMapping, apply_approved_change};
use customer_data_sync::sqlite::SqliteStore;
use customer_data_sync::{Applied, ChangeOutcome, Column, Customer, Store};
use serde_json::{Value, json};

/// Where an expected column value comes from.
enum From {
    /// A member of the generated payload DTO (dotted path).
    Payload(&'static str),
    /// Each of the 14 address columns from this address member of the payload.
    Address(&'static str),
    /// A constant.
    Literal(&'static str),
}

/// What the demo does for an event type.
enum Expect {
    /// Updates the existing row: these columns (plus changed_at/by and latest change id).
    Update(&'static [(&'static str, From)]),
    /// Updates extra data with the proposed map (plus changed_at/by and latest change id).
    MergeExtraData,
    /// Inserts a new row with these columns (plus created/changed at/by, latest change id).
    Create(&'static [(&'static str, From)]),
    /// Changes nothing (the demo's `default: return`).
    Nothing,
}

use From::{Address, Literal, Payload};

const NAME: &[(&str, From)] = &[("name", Payload("proposedName"))];
const ADDRESS: &[(&str, From)] = &[("", Address("proposedAddress"))];
const NAME_AND_ADDRESS: &[(&str, From)] = &[
    ("name", Payload("proposedName")),
    ("", Address("proposedAddress")),
];
const PERSON: &[(&str, From)] = &[
    ("category", Literal("Residential")),
    ("active", Payload("active")),
    ("", Address("address")),
    ("birth_date", Payload("birthDate")),
    ("care_of", Payload("careOf")),
    ("attention", Payload("attention")),
    ("cpr", Payload("cpr")),
    ("email", Payload("email")),
    ("name", Payload("name")),
    ("phone1", Payload("phone1")),
    ("phone2", Payload("phone2")),
    ("po_box", Payload("poBox")),
    ("secondary_cpr", Payload("secondaryContactCprNumber")),
    ("secondary_email", Payload("secondaryContactEmail")),
    ("secondary_name", Payload("secondaryContactName")),
    ("secondary_phone1", Payload("secondaryContactPhoneNumber1")),
    ("secondary_phone2", Payload("secondaryContactPhoneNumber2")),
    ("extra_data", Payload("extraData")),
];
const COMPANY: &[(&str, From)] = &[
    ("category", Literal("Enterprise")),
    ("active", Payload("active")),
    ("", Address("address")),
    ("care_of", Payload("careOf")),
    ("attention", Payload("attention")),
    ("cvr", Payload("cvr")),
    ("p_number", Payload("pnr")),
    ("email", Payload("email")),
    ("name", Payload("name")),
    ("phone1", Payload("phone1")),
    ("phone2", Payload("phone2")),
    ("po_box", Payload("poBox")),
    ("extra_data", Payload("extraData")),
];

/// The demo's mapping, event type by event type (Program.cs `HandleOneChange` switch).
fn expected(event_type: &str) -> Option<Expect> {
    use Expect::*;
    Some(match event_type {
        "new-person" => Create(PERSON),
        "new-company" => Create(COMPANY),
        "name-change"
        | "name-change-at-subscription-start"
        | "name-correction"
        | "name-correction-at-subscription-start" => Update(NAME),
        "address-change"
        | "address-change-at-subscription-start"
        | "address-correction"
        | "address-correction-at-subscription-start"
        | "address-correction-before-subscription-start" => Update(ADDRESS),
        "name-and-address-change"
        | "name-and-address-change-at-subscription-start"
        | "name-and-address-correction"
        | "name-and-address-correction-at-subscription-start" => Update(NAME_AND_ADDRESS),
        "care-of-change" | "care-of-change-at-subscription-start" => {
            Update(&[("care_of", Payload("proposedCareOf"))])
        }
        "attention-change" | "attention-at-subscription-start" => {
            Update(&[("attention", Payload("proposedAttention"))])
        }
        "cpr-number-change" => Update(&[("cpr", Payload("proposedCprNumber"))]),
        "cvr-number-change" => Update(&[("cvr", Payload("proposedCvrNumber"))]),
        "p-number-change" => Update(&[("p_number", Payload("proposedPNumber"))]),
        "email-change" | "email-change-at-subscription-start" => {
            Update(&[("email", Payload("proposedEmail"))])
        }
        "phone-change" | "phone-change-at-subscription-start" => {
            Update(&[("phone1", Payload("proposedPhoneNumber"))])
        }
        "phone-2-change" | "phone-2-change-at-subscription-start" => {
            Update(&[("phone2", Payload("proposedPhoneNumber"))])
        }
        "secondary-contact-name-change" => Update(&[("secondary_name", Payload("proposedName"))]),
        "secondary-contact-email-change" => {
            Update(&[("secondary_email", Payload("proposedEmail"))])
        }
        "secondary-contact-cpr-number-change" => {
            Update(&[("secondary_cpr", Payload("proposedCprNumber"))])
        }
        "secondary-contact-phone-change" => {
            Update(&[("secondary_phone1", Payload("proposedPhoneNumber"))])
        }
        "secondary-contact-phone-2-change" => {
            Update(&[("secondary_phone2", Payload("proposedPhoneNumber"))])
        }
        "po-box-change" => Update(&[("po_box", Payload("proposedPoBox"))]),
        "extra-data-change" => MergeExtraData,
        // MapCustomerCategory: "Enterprise" -> "erhverv" (the test payload proposes Enterprise).
        "customer-category-change" => Update(&[("category", Literal("erhverv"))]),
        // Notifications; the change reader's switch has no case for them.
        "person-deceased" => Nothing,
        _ => return None,
    })
}

const ADDRESS_MEMBERS: &[(&str, &str)] = &[
    ("address_composite", "compositeOrig"),
    ("street", "street"),
    ("street_code", "streetCode"),
    ("house_number", "houseNumber"),
    ("house_letter", "houseLetter"),
    ("floor", "floor"),
    ("suite", "suite"),
    ("postal_code", "postalCode"),
    ("postal_city", "postalCity"),
    ("postal_sub_city", "postalSubCity"),
    ("municipality_code", "municipalityCode"),
    ("country_name", "countryName"),
    ("country_code", "countryCode"),
    ("dar_address_id", "darAddressId"),
];

fn spec() -> serde_yaml::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../specs/biq_alert_changes.yaml"
    );
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("spec readable")).expect("yaml")
}

/// A value for every member of `schema`, each distinct (strings are their own path).
fn sample(spec: &serde_yaml::Value, schema: &serde_yaml::Value, path: &str, n: &mut u32) -> Value {
    let schemas = &spec["components"]["schemas"];
    let reference = schema["$ref"]
        .as_str()
        .or_else(|| schema["allOf"][0]["$ref"].as_str());
    if let Some(reference) = reference {
        let name = reference.rsplit('/').next().unwrap();
        return sample(spec, &schemas[name], path, n);
    }
    *n += 1;
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("string"), Some("uuid")) => json!(format!("00000000-0000-4000-8000-{:012}", *n)),
        (Some("string"), Some("date-time")) => {
            json!(format!("2024-06-{:02}T09:30:01+02:00", *n % 28 + 1))
        }
        (Some("string"), _) if path.ends_with("proposedCustomerCategory") => json!("Enterprise"),
        (Some("string"), _) => json!(path),
        (Some("integer"), _) => json!(*n),
        (Some("boolean"), _) => json!(true),
        (Some("object") | None, _) => match schema["properties"].as_mapping() {
            Some(properties) => {
                let mut object = serde_json::Map::new();
                for (name, member) in properties {
                    let name = name.as_str().unwrap();
                    let member_path = if path.is_empty() {
                        name.to_string()
                    } else {
                        format!("{path}.{name}")
                    };
                    object.insert(name.to_string(), sample(spec, member, &member_path, n));
                }
                Value::Object(object)
            }
            // A map (extra data): one member that is new and one that overwrites an old one.
            None => json!({ format!("{path}.key"): format!("{path}.value"), "shared": path }),
        },
        other => panic!("no sample for {other:?} at {path}"),
    }
}

fn member<'v>(payload: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(payload, |value, name| &value[name])
}

/// Every column of a row by name (extra data as JSON), to compare whole rows.
fn row_map(customer: &Customer) -> BTreeMap<&'static str, Option<String>> {
    let mut map: BTreeMap<&'static str, Option<String>> = Column::ALL
        .iter()
        .map(|c| (c.name(), customer.get(*c).map(str::to_string)))
        .collect();
    map.insert("customer_number", Some(customer.customer_number.clone()));
    map.insert(
        "extra_data",
        Some(serde_json::to_string(&customer.extra_data).unwrap()),
    );
    map
}

fn old_row() -> Customer {
    let mut row = Customer {
        customer_number: "C-1".to_string(),
        ..Customer::default()
    };
    for column in Column::ALL {
        row.set(*column, Some(format!("old {}", column.name())));
    }
    row.extra_data = BTreeMap::from([
        ("kept".to_string(), "old kept".to_string()),
        ("shared".to_string(), "old shared".to_string()),
    ]);
    row
}

/// Expected (column -> value) for the listed sources.
fn expected_values(
    list: &[(&'static str, From)],
    payload: &Value,
) -> BTreeMap<&'static str, Option<String>> {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let mut out = BTreeMap::new();
    for (column, from) in list {
        match from {
            Payload(path) if *column == "extra_data" => {
                let map: BTreeMap<String, String> =
                    serde_json::from_value(member(payload, path).clone()).unwrap();
                out.insert("extra_data", Some(serde_json::to_string(&map).unwrap()));
            }
            Payload(path) => {
                out.insert(*column, text(member(payload, path)));
            }
            Literal(value) => {
                out.insert(*column, Some(value.to_string()));
            }
            Address(path) => {
                for (column, name) in ADDRESS_MEMBERS {
                    out.insert(*column, text(&member(payload, path)[*name]));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_changes_exactly_the_columns_the_demo_changes() {
    let spec = spec();
    let table = spec["components"]["x-biq-event-payloads"]
        .as_mapping()
        .expect("x-biq-event-payloads in the spec");
    assert!(
        table.len() >= 37,
        "the spec lists {} event types",
        table.len()
    );
    let mut failures = Vec::new();
    for (index, (event_type, dto)) in table.iter().enumerate() {
        let event_type = event_type.as_str().unwrap();
        let Some(expect) = expected(event_type) else {
            failures.push(format!(
                "{event_type}: not in the test's table (map it first)"
            ));
            continue;
        };
        let dto = dto.as_str().unwrap();
        let mut n = 0;
        let payload = sample(&spec, &spec["components"]["schemas"][dto], "", &mut n);
        let change_id = format!("10000000-0000-4000-8000-{index:012}");
        let change: ApprovedChange = serde_json::from_value(json!({
            "id": change_id,
            "shadowSourceId": 1,
            "customerNumber": "C-1",
            "created": "2024-06-01T08:00:00+00:00",
            "createdBy": "biq",
            "approved": "2024-06-02T10:00:00+00:00",
            "approvedBy": "approver",
            "eventType": event_type,
            "payloadVersion": 1,
            "payload": {"container": payload},
            "committed": "2024-06-02T10:00:01+00:00",
        }))
        .unwrap();

        let store = SqliteStore::open(":memory:").await.unwrap();
        store.put_customer(old_row()).await.unwrap();
        let applied = apply_approved_change(&store, BiqTableMapping, change)
            .await
            .unwrap();
        let rows = store.customers().await.unwrap();
        let approved = Some("2024-06-02T10:00:00+00:00".to_string());
        let mark = |mut values: BTreeMap<&'static str, Option<String>>, created: bool| {
            values.insert("changed_at", approved.clone());
            values.insert("changed_by", Some("approver".to_string()));
            values.insert("latest_change_id", Some(change_id.clone()));
            if created {
                values.insert("created_at", approved.clone());
                values.insert("created_by", Some("approver".to_string()));
            }
            values
        };
        let (before, after, want) = match expect {
            Expect::Nothing => {
                let unchanged = rows.len() == 1 && rows[0] == old_row();
                if !unchanged || !matches!(applied, Applied::Now(ChangeOutcome::NotApplied { .. }))
                {
                    failures.push(format!("{event_type}: expected no change, got {applied:?}"));
                }
                continue;
            }
            Expect::Create(list) => {
                let Some(new) = rows.iter().find(|r| r.customer_number == change_id) else {
                    failures.push(format!("{event_type}: no row created"));
                    continue;
                };
                let mut want = mark(expected_values(list, &payload), true);
                want.insert("customer_number", Some(change_id.clone()));
                want.entry("extra_data").or_insert(Some("{}".to_string()));
                // The old row must be untouched; the new row is compared against an empty one.
                if !rows.iter().any(|r| *r == old_row()) || rows.len() != 2 {
                    failures.push(format!("{event_type}: other rows changed"));
                }
                (row_map(&Customer::default()), row_map(new), want)
            }
            Expect::Update(list) => (
                row_map(&old_row()),
                row_map(&rows[0]),
                mark(expected_values(list, &payload), false),
            ),
            Expect::MergeExtraData => {
                let mut merged = old_row().extra_data;
                let proposed: BTreeMap<String, String> =
                    serde_json::from_value(payload["proposedExtraData"].clone()).unwrap();
                merged.extend(proposed);
                let mut want = BTreeMap::new();
                want.insert("extra_data", Some(serde_json::to_string(&merged).unwrap()));
                (row_map(&old_row()), row_map(&rows[0]), mark(want, false))
            }
        };
        // Compare the whole row: exactly the wanted columns differ, with the wanted values.
        for (column, value) in &after {
            let wanted = want.get(column).unwrap_or(&before[column]);
            if value != wanted {
                failures.push(format!(
                    "{event_type}: column {column} is {value:?}, expected {wanted:?}"
                ));
            }
        }
        for (column, value) in &want {
            if value.is_none() || value.as_deref() == before[column].as_deref() {
                failures.push(format!(
                    "{event_type}: the test sample does not change {column} (fix the sample)"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn an_unknown_event_type_is_logged_not_applied_and_reported() {
    let store = SqliteStore::open(":memory:").await.unwrap();
    store.put_customer(old_row()).await.unwrap();
    let change: ApprovedChange = serde_json::from_value(json!({
        "id": "20000000-0000-4000-8000-000000000001",
        "customerNumber": "C-1",
        "eventType": "brand-new-vendor-type",
        "payload": {"p": {"proposedName": "X"}},
        "committed": "2024-06-02T10:00:01+00:00",
    }))
    .unwrap();
    let applied = apply_approved_change(&store, BiqTableMapping, change)
        .await
        .unwrap();
    assert_eq!(
        applied,
        Applied::Now(ChangeOutcome::Unknown {
            event_type: "brand-new-vendor-type".to_string()
        })
    );
    assert!(store.customers().await.unwrap() == vec![old_row()]);
    let logged = store
        .logged_change("biq", "20000000-0000-4000-8000-000000000001")
        .await
        .unwrap()
        .expect("logged");
    assert_eq!(logged.outcome, "unknown");
    assert_eq!(logged.detail.as_deref(), Some("brand-new-vendor-type"));
    assert_eq!(
        store.cursor("biq-change-reader").await.unwrap().as_deref(),
        Some("2024-06-02T10:00:01+00:00")
    );
}

#[tokio::test]
async fn a_change_for_a_customer_not_in_the_table_is_logged_and_skipped() {
    let store = SqliteStore::open(":memory:").await.unwrap();
    let change: ApprovedChange = serde_json::from_value(json!({
        "id": "20000000-0000-4000-8000-000000000002",
        "customerNumber": "gone",
        "eventType": "name-change",
        "payload": {"p": {"proposedName": "X"}},
        "committed": "2024-06-02T10:00:01+00:00",
    }))
    .unwrap();
    let applied = apply_approved_change(&store, BiqTableMapping, change)
        .await
        .unwrap();
    assert!(
        matches!(applied, Applied::Now(ChangeOutcome::NotApplied { .. })),
        "{applied:?}"
    );
    assert!(store.customers().await.unwrap().is_empty());
}
