//! The Consumer Intelligence flows against the in-process sandbox: the uploader (customers ->
//! consumers, deletes, skips), the subscribed-person feed written back to the rows (exactly
//! once, resumable mid-page), faults, and the webhook trigger; and the member mappings of
//! both directions, member by member.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use customer_data::consumer_intelligence::stream::{self, PageSize};
use customer_data::consumer_intelligence::webhook::{Receiver, Verifier};
use customer_data::consumer_intelligence::{
    Client, Credentials, Environment, SLUG, connect, connect_with, types,
};
use customer_data::runtime::ConnectOptions;
use customer_data::runtime::retry::RetryPolicy;
use customer_data_sandbox::synthetic::{Person, population};
use customer_data_sandbox::{Faults, Sandbox, SandboxConfig, credentials};
use customer_data_sync::consumer_intelligence::{
    CHANGED_BY, ConsumerIntelligenceSettings, ConsumerUploader, FLOWS, FeedReport, GEDI_MEMBER,
    PERSON_FEED_FLOW, PersonFeedReader, UPLOAD_TARGET, UPLOADER_FLOW, UploadReport, apply_person,
    consumer_id, consumer_of, customer_number_of, map_person,
};
use customer_data_sync::flow::{self, Flow, FlowError, NoProgress, Progress, RunEnd, RunOptions};
use customer_data_sync::sqlite::SqliteStore;
use customer_data_sync::{ChangeOutcome, Customer, CustomerTable, Notification, Store, StoreError};
use futures_util::TryStreamExt;
use serde_json::json;

/// The sandbox's default seed: the register is `population(SEED, 200)`.
const SEED: u64 = 42;

fn client_with_secret(sandbox: &Sandbox, secret: &str) -> Client {
    let base_url = sandbox.url(SLUG);
    connect(
        Environment::Custom {
            token_url: format!("{base_url}/oauth/token"),
            base_url,
        },
        Credentials::new(credentials::CONSUMER_INTELLIGENCE_CLIENT_ID, secret),
    )
    .expect("the client builds")
}

fn client(sandbox: &Sandbox) -> Client {
    client_with_secret(sandbox, credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET)
}

fn settings(sandbox: &Sandbox, page_size: i64) -> ConsumerIntelligenceSettings {
    ConsumerIntelligenceSettings::new(client(sandbox), "DK")
        .unwrap()
        .with_page_size(page_size)
        .unwrap()
}

async fn memory_store() -> SqliteStore {
    SqliteStore::open(":memory:").await.expect("store")
}

/// A local customer with everything we know of a register person.
fn customer_of_person(number: &str, person: &Person) -> Customer {
    Customer {
        customer_number: number.to_string(),
        name: Some(person.full_name()),
        cpr: Some(person.legal_id.clone()),
        birth_date: Some(person.birth_date.to_string()),
        street: Some(person.street.clone()),
        house_number: Some(person.street_number.to_string()),
        postal_code: Some(person.postal_code.clone()),
        postal_city: Some(person.city.clone()),
        country_code: Some(person.market.to_string()),
        phone1: Some(person.phone.clone()),
        ..Customer::default()
    }
}

fn bare(number: &str) -> Customer {
    Customer {
        customer_number: number.to_string(),
        ..Customer::default()
    }
}

/// Every consumer on the twin, by consumer id (read with the library's own stream).
/// Tried again on an error: the faults test reads through injected faults too.
async fn consumers_on_twin(client: &Client) -> BTreeMap<String, types::ConsumerDto> {
    for _ in 0..20 {
        let read = stream::consumers(client, PageSize::new(1000).unwrap(), None, None)
            .items()
            .try_collect::<Vec<_>>()
            .await;
        if let Ok(consumers) = read {
            return consumers
                .into_iter()
                .map(|c| (c.consumer_id.clone(), c))
                .collect();
        }
    }
    panic!("the consumers could not be listed");
}

/// The whole subscribed-person feed, read independently of the flow.
async fn feed_on_twin(client: &Client) -> Vec<types::SubscribedPersonDto> {
    stream::subscribed_persons(client, PageSize::new(1000).unwrap(), None)
        .items()
        .try_collect()
        .await
        .expect("read the feed")
}

async fn wait_identified(client: &Client, count: usize) {
    for _ in 0..200 {
        let identified = consumers_on_twin(client)
            .await
            .values()
            .filter(|c| c.state == Some(types::ConsumerStateTypeDto::Identified))
            .count();
        if identified >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the consumers were never identified");
}

async fn ci_token(sandbox: &Sandbox) -> String {
    let token: serde_json::Value = customer_data::runtime::http::default_client()
        .unwrap()
        .post(format!("{}/oauth/token", sandbox.url(SLUG)))
        .basic_auth(
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
            Some(credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_string()
}

/// Moves a register person to another address (sandbox-only route); returns the new person.
async fn move_person(sandbox: &Sandbox, gedi: &str) -> types::PersonDto {
    let answer = customer_data::runtime::http::default_client()
        .unwrap()
        .post(format!(
            "{}/sandbox/persons/{gedi}/change",
            sandbox.url(SLUG)
        ))
        .header(
            customer_data_sandbox::sandbox_only::KEY_HEADER,
            sandbox.sandbox_key(),
        )
        .bearer_auth(ci_token(sandbox).await)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    answer.json().await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// The uploader

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_uploader_makes_customers_consumers_deletes_the_deleted_and_then_sends_nothing() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let store = memory_store().await;
    let people = population(SEED, 3);
    for (i, person) in people.iter().enumerate() {
        store
            .put_customer(customer_of_person(&format!("C-{i}"), person))
            .await
            .unwrap();
    }
    let uploader = ConsumerUploader::new(settings(&sandbox, 100));

    let report = uploader.upload_pass(&store, &NoProgress).await.unwrap();
    assert_eq!(
        report,
        UploadReport {
            uploaded: 3,
            ..UploadReport::default()
        }
    );
    let twin = consumers_on_twin(&client(&sandbox)).await;
    assert_eq!(twin.keys().collect::<Vec<_>>(), ["C-0", "C-1", "C-2"]);
    for (i, person) in people.iter().enumerate() {
        let consumer = &twin[&format!("C-{i}")];
        let data = consumer.data.as_ref().expect("data");
        assert_eq!(consumer.market.as_deref(), Some(person.market));
        assert_eq!(
            data.legal_id.as_deref().map(String::as_str),
            Some(person.legal_id.as_str())
        );
        assert_eq!(
            data.first_name.as_deref().map(String::as_str),
            Some(person.first_name.as_str())
        );
        assert_eq!(
            data.family_name.as_deref().map(String::as_str),
            Some(person.family_name.as_str())
        );
        assert_eq!(data.date_of_birth, Some(person.birth_date));
        assert_eq!(
            data.street_name.as_deref().map(String::as_str),
            Some(person.street.as_str())
        );
    }
    assert_eq!(store.pending_upload_count(UPLOAD_TARGET).await.unwrap(), 0);

    assert!(store.delete_customer("C-1").await.unwrap());
    let report = uploader.upload_pass(&store, &NoProgress).await.unwrap();
    assert_eq!(
        report,
        UploadReport {
            deleted: 1,
            ..UploadReport::default()
        }
    );
    let twin = consumers_on_twin(&client(&sandbox)).await;
    assert_eq!(twin.keys().collect::<Vec<_>>(), ["C-0", "C-2"]);

    let calls = sandbox.requests(SLUG, "/consumers");
    let report = uploader.upload_pass(&store, &NoProgress).await.unwrap();
    assert_eq!(report, UploadReport::default());
    assert_eq!(
        sandbox.requests(SLUG, "/consumers"),
        calls,
        "a call was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_that_cannot_be_a_consumer_is_skipped_reported_and_not_tried_again() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let store = memory_store().await;
    let person = &population(SEED, 1)[0];
    store
        .put_customers(vec![
            customer_of_person("C-ok", person),
            // A number the id pattern does not allow: escaped, still uploaded.
            customer_of_person("K 17/3", person),
            Customer {
                name: Some("Solo".into()),
                ..bare("C-nameless")
            },
            Customer {
                name: Some("Firma ApS".into()),
                cvr: Some("12345678".into()),
                ..bare("C-company")
            },
        ])
        .await
        .unwrap();
    let uploader = ConsumerUploader::new(settings(&sandbox, 100));

    let report = uploader.upload_pass(&store, &NoProgress).await.unwrap();
    assert_eq!(report.uploaded, 2);
    let skipped: BTreeMap<&str, &str> = report
        .skipped
        .iter()
        .map(|s| (s.customer_number.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped.keys().copied().collect::<Vec<_>>(),
        ["C-company", "C-nameless"]
    );
    assert!(skipped["C-company"].contains("company"), "{skipped:?}");
    assert!(
        skipped["C-nameless"].contains("nothing to identify"),
        "{skipped:?}"
    );
    // Reasons name members, never values.
    assert!(!skipped["C-company"].contains("12345678"));
    let twin = consumers_on_twin(&client(&sandbox)).await;
    assert_eq!(twin.keys().collect::<Vec<_>>(), ["C-ok", "K@2017@2F3"]);

    assert_eq!(store.pending_upload_count(UPLOAD_TARGET).await.unwrap(), 0);
    let report = uploader.upload_pass(&store, &NoProgress).await.unwrap();
    assert_eq!(
        report,
        UploadReport::default(),
        "a skipped customer was tried again"
    );

    // Written again (now a consumer): it is sent.
    store
        .put_customer(customer_of_person("C-nameless", person))
        .await
        .unwrap();
    let report = uploader.upload_pass(&store, &NoProgress).await.unwrap();
    assert_eq!((report.uploaded, report.skipped.len()), (1, 0));
}

/// A stand-in for the vendor that refuses (400 Constraint Violation) every upload batch holding
/// a consumer id with `bad` in it, and records the ids of the batches it accepts.
async fn picky_vendor() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let accepted: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let seen = accepted.clone();
    let token = axum::routing::post(|| async {
        axum::Json(
            json!({"access_token": "t", "expires_in": 3600, "token_type": "bearer", "scope": "bci"}),
        )
    });
    let upload = axum::routing::post(move |body: axum::Json<Vec<types::UploadConsumerDto>>| {
        let seen = seen.clone();
        async move {
            let ids: Vec<String> = body.0.iter().map(|c| c.consumer_id.to_string()).collect();
            match ids.iter().position(|id| id.contains("bad")) {
                Some(i) => (
                    axum::http::StatusCode::BAD_REQUEST,
                    [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
                    json!({"type": "about:blank", "title": "Constraint Violation", "status": 400,
                        "detail": "Request body contains one or more errors",
                        "violations": [{"field": format!("[{i}].consumerId"), "message": "refused"}]})
                    .to_string(),
                ),
                None => {
                    seen.lock().unwrap().extend(ids);
                    (
                        axum::http::StatusCode::ACCEPTED,
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        String::new(),
                    )
                }
            }
        }
    });
    let base = serve(
        axum::Router::new()
            .route("/oauth/token", token)
            .route("/consumers", upload),
    )
    .await;
    (base, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_sent_again_one_by_one_and_only_the_refused_consumer_is_skipped() {
    let (base_url, accepted) = picky_vendor().await;
    let client = connect(
        Environment::Custom {
            token_url: format!("{base_url}/oauth/token"),
            base_url,
        },
        Credentials::new("id", "secret"),
    )
    .unwrap();
    let store = memory_store().await;
    let person = &population(SEED, 1)[0];
    store
        .put_customers(
            ["C-1", "bad-2", "C-3"]
                .iter()
                .map(|n| customer_of_person(n, person))
                .collect(),
        )
        .await
        .unwrap();
    let uploader = ConsumerUploader::new(ConsumerIntelligenceSettings::new(client, "DK").unwrap());
    let report = uploader.upload_pass(&store, &NoProgress).await.unwrap();
    assert_eq!(report.uploaded, 2, "{report:?}");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert_eq!(report.skipped[0].customer_number, "bad-2");
    assert_eq!(
        report.skipped[0].reason,
        "uploadConsumers: HTTP 400 Constraint Violation (violations: [0].consumerId)"
    );
    let mut sent = accepted.lock().unwrap().clone();
    sent.sort();
    assert_eq!(sent, ["C-1", "C-3"]);
    assert_eq!(store.pending_upload_count(UPLOAD_TARGET).await.unwrap(), 0);
}

#[test]
fn consumer_ids_are_the_customer_numbers_or_their_escapes_and_map_back() {
    for (number, id) in [
        ("C-1", "C-1"),
        ("a_b-9", "a_b-9"),
        ("K 17/3", "K@2017@2F3"),
        ("a@b", "a@40b"),
        ("_x", "@5Fx"),
        ("Åse", "@C3@85se"),
    ] {
        assert_eq!(consumer_id(number).unwrap().as_str(), id, "{number}");
        assert_eq!(customer_number_of(id).as_deref(), Some(number), "{id}");
    }
    assert!(consumer_id("").is_err());
    assert!(consumer_id(&"9".repeat(251)).is_err());
    // Ids the escape would not write are not ours.
    assert_eq!(customer_number_of("@41"), None);
    assert_eq!(customer_number_of("a@4"), None);
    assert_eq!(customer_number_of("a@zz"), None);
}

fn s(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str)
}

#[test]
fn a_customer_becomes_a_consumer_member_by_member() {
    let market: types::Market = "DK".parse().unwrap();
    let customer = Customer {
        customer_number: "C-7".into(),
        name: Some("Anna Marie Jensen".into()),
        cpr: Some("010203-1234".into()),
        birth_date: Some("2003-02-01T00:00:00".into()),
        street: Some("Vestergade".into()),
        house_number: Some("12".into()),
        house_letter: Some("B".into()),
        floor: Some("2".into()),
        suite: Some("tv".into()),
        postal_code: Some("8000".into()),
        postal_city: Some("Aarhus C".into()),
        address_composite: Some("Vestergade 12B, 2. tv, 8000 Aarhus C".into()),
        phone1: Some("+4512345678".into()),
        country_code: Some("se".into()),
        email: Some("not-sent@example.invalid".into()),
        ..Customer::default()
    };
    let dto = consumer_of(&customer, &market).unwrap();
    assert_eq!(dto.consumer_id.as_str(), "C-7");
    assert_eq!(
        dto.market.as_str(),
        "SE",
        "the row's country code, upper-cased"
    );
    let d = &dto.data;
    assert_eq!(s(d.legal_id.as_deref()), Some("010203-1234"));
    assert_eq!(s(d.first_name.as_deref()), Some("Anna Marie"));
    assert_eq!(s(d.family_name.as_deref()), Some("Jensen"));
    assert_eq!(d.date_of_birth, chrono::NaiveDate::from_ymd_opt(2003, 2, 1));
    assert_eq!(s(d.street_name.as_deref()), Some("Vestergade"));
    assert_eq!(s(d.street_number.as_deref()), Some("12B"));
    assert_eq!(s(d.floor.as_deref()), Some("2"));
    assert_eq!(s(d.apartment.as_deref()), Some("tv"));
    assert_eq!(s(d.postal_code.as_deref()), Some("8000"));
    assert_eq!(s(d.city.as_deref()), Some("Aarhus C"));
    assert_eq!(
        s(d.full_address.as_deref()),
        Some("Vestergade 12B, 2. tv, 8000 Aarhus C")
    );
    assert_eq!(s(d.phone_number.as_deref()), Some("+4512345678"));
    assert_eq!(
        (
            d.entrance.is_none(),
            d.gender.is_none(),
            d.year_of_birth.is_none()
        ),
        (true, true, true)
    );

    // No usable country code: the default market.
    let elsewhere = Customer {
        country_code: Some("208".into()),
        ..customer.clone()
    };
    assert_eq!(
        consumer_of(&elsewhere, &market).unwrap().market.as_str(),
        "DK"
    );
    // Names with a birth date identify without a CPR number; a name alone does not.
    let no_cpr = Customer {
        cpr: None,
        ..customer.clone()
    };
    assert!(consumer_of(&no_cpr, &market).is_ok());
    let name_only = Customer {
        birth_date: None,
        ..no_cpr
    };
    assert!(consumer_of(&name_only, &market).is_err());
    // A member over the vendor's 250 characters: skipped, naming the member.
    let long = Customer {
        street: Some("x".repeat(251)),
        ..customer
    };
    let reason = consumer_of(&long, &market).unwrap_err();
    assert!(reason.contains("streetName"), "{reason}");
}

// ---------------------------------------------------------------------------------------------
// The person feed

fn synthetic_sandbox_config(persons: u64) -> SandboxConfig {
    SandboxConfig {
        consumer_intelligence_synthetic_persons: Some(persons),
        ..SandboxConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_persons_land_on_their_rows_once_and_a_second_pass_applies_nothing() {
    let sandbox = Sandbox::start(synthetic_sandbox_config(25)).await.unwrap();
    let store = memory_store().await;
    // Customers of persons 1..=20; persons 21..=25 are not ours.
    store
        .put_customers((1..=20).map(|k| bare(&format!("synthetic-{k}"))).collect())
        .await
        .unwrap();
    let reader = PersonFeedReader::new(settings(&sandbox, 10));

    let report = reader.feed_pass(&store, &NoProgress).await.unwrap();
    assert_eq!(
        report,
        FeedReport {
            applied: 20,
            not_applied: 5,
            already_logged: 0
        }
    );
    assert_eq!(store.logged_change_count().await.unwrap(), 25);
    let feed = feed_on_twin(&client(&sandbox)).await;
    assert_eq!(feed.len(), 25);
    for item in &feed {
        let gedi = item.gedi.clone().unwrap();
        let k = gedi.strip_prefix("gedi-synthetic-").unwrap();
        let row = store.customer(&format!("synthetic-{k}")).await.unwrap();
        let logged = store
            .logged_change(
                "consumer-intelligence",
                &format!(
                    "{gedi}@{}",
                    item.extra["changedTimestamp"].as_str().unwrap()
                ),
            )
            .await
            .unwrap()
            .expect("logged");
        match row {
            Some(row) => {
                assert_eq!(
                    row.name.as_deref(),
                    item.extra["shortenedFullName"].as_str()
                );
                assert_eq!(row.extra_data.get(GEDI_MEMBER), Some(&gedi));
                assert_eq!(row.changed_by.as_deref(), Some(CHANGED_BY));
                assert_eq!(logged.outcome, "applied");
            }
            None => assert_eq!(logged.outcome, "not_applied"),
        }
    }
    let cursor = store
        .cursor(PERSON_FEED_FLOW)
        .await
        .unwrap()
        .expect("a cursor");

    let report = reader.feed_pass(&store, &NoProgress).await.unwrap();
    assert_eq!(report, FeedReport::default());
    assert_eq!(store.logged_change_count().await.unwrap(), 25);
    assert_eq!(store.cursor(PERSON_FEED_FLOW).await.unwrap(), Some(cursor));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_feed_stores_the_token_of_its_empty_page() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let store = memory_store().await;
    let reader = PersonFeedReader::new(settings(&sandbox, 10));
    assert_eq!(
        reader.feed_pass(&store, &NoProgress).await.unwrap(),
        FeedReport::default()
    );
    let cursor = store
        .cursor(PERSON_FEED_FLOW)
        .await
        .unwrap()
        .expect("the empty page's token");
    let expected = stream::subscribed_persons(&client(&sandbox), PageSize::new(10).unwrap(), None);
    let mut pages = expected;
    while pages.try_next().await.unwrap().is_some() {}
    assert_eq!(
        Some(cursor.as_str()),
        pages.resume_cursor().map(|c| c.as_str())
    );
    // Read again from it: nothing new, nothing logged twice.
    let logged = store.logged_change_count().await.unwrap();
    assert_eq!(
        reader.feed_pass(&store, &NoProgress).await.unwrap(),
        FeedReport::default()
    );
    assert_eq!(store.logged_change_count().await.unwrap(), logged);
}

/// Crashes the pass (a panic, which drops it where it stands) once `crash_at` persons were
/// handled: nothing after the last one reported is started.
struct CrashAt {
    handled: AtomicU64,
    crash_at: u64,
}

impl Progress for CrashAt {
    fn advanced(&self, _flow: &str, items: u64) {
        let now = self.handled.fetch_add(items, Ordering::SeqCst) + items;
        if now >= self.crash_at {
            panic!("simulated crash after {now} persons");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_cut_mid_page_resumes_there_and_applies_each_change_once() {
    let sandbox = Sandbox::start(synthetic_sandbox_config(25)).await.unwrap();
    let store = Arc::new(memory_store().await);
    store
        .put_customers((1..=25).map(|k| bare(&format!("synthetic-{k}"))).collect())
        .await
        .unwrap();
    let reader = PersonFeedReader::new(settings(&sandbox, 10));

    // A crash after 13 persons, in the middle of the second page.
    let crashed = {
        let (reader, store) = (reader.clone(), store.clone());
        tokio::spawn(async move {
            let crash = CrashAt {
                handled: AtomicU64::new(0),
                crash_at: 13,
            };
            reader.feed_pass(store.as_ref(), &crash).await
        })
        .await
    };
    assert!(crashed.is_err_and(|e| e.is_panic()));
    let logged = store.logged_change_count().await.unwrap();
    assert_eq!(logged, 13);
    let cursor = store
        .cursor(PERSON_FEED_FLOW)
        .await
        .unwrap()
        .expect("a cursor");
    // Mid-page: the cursor is the token the second page was asked with (after 10 persons).
    let mut pages = stream::subscribed_persons(&client(&sandbox), PageSize::new(10).unwrap(), None);
    pages.try_next().await.unwrap();
    assert_eq!(
        Some(cursor.as_str()),
        pages.resume_cursor().map(|c| c.as_str())
    );

    // The restart reads that page again; the log skips what was applied.
    let report = reader.feed_pass(store.as_ref(), &NoProgress).await.unwrap();
    // Page 2 again (the 3 applied before the crash are skipped), then page 3.
    assert_eq!(
        (report.already_logged, report.applied),
        (3, 12),
        "{report:?}"
    );
    assert_eq!(store.logged_change_count().await.unwrap(), 25);
    for k in 1..=25 {
        let row = store
            .customer(&format!("synthetic-{k}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.changed_by.as_deref(), Some(CHANGED_BY), "synthetic-{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_consumers_get_their_persons_members_and_a_person_change_lands_once() {
    let sandbox = Sandbox::start(SandboxConfig {
        consumer_intelligence_identify_delay: Duration::from_millis(50),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let store = memory_store().await;
    let people = population(SEED, 3);
    // We know only the CPR number and the country of each.
    for (i, person) in people.iter().enumerate() {
        store
            .put_customer(Customer {
                cpr: Some(person.legal_id.clone()),
                country_code: Some(person.market.to_string()),
                ..bare(&format!("C-{i}"))
            })
            .await
            .unwrap();
    }
    let settings = settings(&sandbox, 10);
    ConsumerUploader::new(settings.clone())
        .upload_pass(&store, &NoProgress)
        .await
        .unwrap();
    wait_identified(&settings.client, 3).await;
    let reader = PersonFeedReader::new(settings);
    let report = reader.feed_pass(&store, &NoProgress).await.unwrap();
    assert_eq!(report.applied, 3, "{report:?}");
    for (i, person) in people.iter().enumerate() {
        let row = store.customer(&format!("C-{i}")).await.unwrap().unwrap();
        assert_eq!(row.name, Some(person.full_name()));
        assert_eq!(row.birth_date, Some(person.birth_date.to_string()));
        assert_eq!(row.cpr.as_deref(), Some(person.legal_id.as_str()));
        assert_eq!(row.street.as_deref(), Some(person.street.as_str()));
        assert_eq!(row.house_number, Some(person.street_number.to_string()));
        assert_eq!(
            row.postal_code.as_deref(),
            Some(person.postal_code.as_str())
        );
        assert_eq!(row.postal_city.as_deref(), Some(person.city.as_str()));
        assert_eq!(row.country_code.as_deref(), Some(person.market));
        assert_eq!(row.phone1.as_deref(), Some(person.phone.as_str()));
        assert_eq!(row.extra_data.get(GEDI_MEMBER), Some(&format!("gedi-{i}")));
    }
    let logged = store.logged_change_count().await.unwrap();

    let moved = move_person(&sandbox, "gedi-1").await;
    let new_street = moved.addresses[0]["streetName"]
        .as_str()
        .unwrap()
        .to_string();
    let report = reader.feed_pass(&store, &NoProgress).await.unwrap();
    assert_eq!(report.applied, 1, "{report:?}");
    let row = store.customer("C-1").await.unwrap().unwrap();
    assert_eq!(row.street, Some(new_street));
    assert_eq!(
        row.postal_code.as_deref(),
        moved.addresses[0]["postalCode"].as_str()
    );
    assert_eq!(store.logged_change_count().await.unwrap(), logged + 1);
    assert_eq!(
        reader.feed_pass(&store, &NoProgress).await.unwrap(),
        FeedReport::default()
    );
}

// ---------------------------------------------------------------------------------------------
// Faults, flow::run

fn fast_run() -> RunOptions {
    RunOptions {
        once: true,
        max_failures: 100,
        retry: RetryPolicy::default()
            .with_backoff(Duration::from_millis(5), Duration::from_millis(50)),
        ..RunOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_faults_run_once_uploads_and_applies_everything_exactly_once() {
    let faults = Faults {
        seed: 11,
        // 20% of the calls, as in the crash test: 429, 5xx, resets, cut bodies.
        rate_limited: 0.05,
        retry_after_secs: 0,
        server_error: 0.1,
        reset: 0.03,
        truncated: 0.02,
        ..Faults::none()
    };
    let sandbox = Sandbox::start(
        SandboxConfig {
            consumer_intelligence_identify_delay: Duration::from_millis(50),
            ..synthetic_sandbox_config(100)
        }
        .with_faults(SLUG, faults),
    )
    .await
    .unwrap();
    let store = memory_store().await;
    let people = population(SEED, 5);
    let mut customers: Vec<Customer> = (1..=100).map(|k| bare(&format!("synthetic-{k}"))).collect();
    customers.extend(
        people
            .iter()
            .enumerate()
            .map(|(i, p)| customer_of_person(&format!("C-{i}"), p)),
    );
    store.put_customers(customers).await.unwrap();
    // A client that does not retry by itself: every injected fault fails the call, so passes
    // fail and `run` resumes them from the store.
    let base_url = sandbox.url(SLUG);
    let no_retries = connect_with(
        Environment::Custom {
            token_url: format!("{base_url}/oauth/token"),
            base_url,
        },
        Credentials::new(
            credentials::CONSUMER_INTELLIGENCE_CLIENT_ID,
            credentials::CONSUMER_INTELLIGENCE_CLIENT_SECRET,
        ),
        &ConnectOptions {
            retry: RetryPolicy::none(),
            ..ConnectOptions::default()
        },
    )
    .unwrap();
    let settings = ConsumerIntelligenceSettings::new(no_retries, "DK")
        .unwrap()
        .with_page_size(2)
        .unwrap();
    let reading = client(&sandbox);
    let uploader: Box<dyn Flow<SqliteStore>> = Box::new(ConsumerUploader::new(settings.clone()));
    let end = flow::run(
        &store,
        uploader.as_ref(),
        &fast_run(),
        &NoProgress,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(matches!(end, RunEnd::Done { .. }), "{end:?}");
    // The synthetic customers are not consumers; the five persons are.
    assert_eq!(store.pending_upload_count(UPLOAD_TARGET).await.unwrap(), 0);
    let twin = consumers_on_twin(&reading).await;
    // The bare synthetic rows have nothing to identify them by: skipped, not consumers.
    assert_eq!(twin.len(), 5, "{:?}", twin.keys());
    wait_identified(&reading, 5).await;

    let reader: Box<dyn Flow<SqliteStore>> = Box::new(PersonFeedReader::new(settings.clone()));
    let end = flow::run(
        &store,
        reader.as_ref(),
        &fast_run(),
        &NoProgress,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(matches!(end, RunEnd::Done { .. }), "{end:?}");
    assert_eq!(store.logged_change_count().await.unwrap(), 105);
    for row in store.customers().await.unwrap() {
        assert_eq!(
            row.changed_by.as_deref(),
            Some(CHANGED_BY),
            "{}",
            row.customer_number
        );
    }
    let status = store.flow_statuses().await.unwrap();
    assert_eq!(status.len(), 2, "{status:?}");
    // Passes did fail and were resumed (the faults reached the flows: with ~60 calls at 20%,
    // none failing is about a one-in-100,000 draw).
    assert!(
        status.iter().map(|s| s.failures).sum::<u64>() > 0,
        "{status:?}"
    );
    assert!(
        status.iter().all(|s| s.last_success_at.is_some()),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_fatal_and_the_error_holds_no_secret() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let store = memory_store().await;
    store
        .put_customer(customer_of_person("C-0", &population(SEED, 1)[0]))
        .await
        .unwrap();
    let wrong =
        ConsumerIntelligenceSettings::new(client_with_secret(&sandbox, "wrong-secret-xyz"), "DK")
            .unwrap();
    let shown = format!("{wrong:?}");
    assert!(
        shown.contains("DK") && !shown.contains("wrong-secret-xyz"),
        "{shown}"
    );

    match ConsumerUploader::new(wrong.clone())
        .upload_pass(&store, &NoProgress)
        .await
    {
        Err(FlowError::Fatal(text)) => {
            assert!(
                text.contains("uploadConsumers") && !text.contains("wrong-secret-xyz"),
                "{text}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.pending_upload_count(UPLOAD_TARGET).await.unwrap(),
        1,
        "nothing was sent"
    );
    match PersonFeedReader::new(wrong)
        .feed_pass(&store, &NoProgress)
        .await
    {
        Err(FlowError::Fatal(text)) => assert!(text.contains("listSubscribedPersons"), "{text}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(FLOWS, [UPLOADER_FLOW, PERSON_FEED_FLOW]);
}

// ---------------------------------------------------------------------------------------------
// The webhook trigger

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

async fn passes(store: &SqliteStore) -> u64 {
    store
        .flow_statuses()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.flow == PERSON_FEED_FLOW)
        .map_or(0, |s| s.passes)
}

async fn wait_for<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_wakes_the_person_feed_long_before_its_next_poll() {
    let sandbox = Sandbox::start(SandboxConfig {
        consumer_intelligence_identify_delay: Duration::from_millis(50),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let store = Arc::new(memory_store().await);
    let person = &population(SEED, 1)[0];
    store
        .put_customer(customer_of_person("C-0", person))
        .await
        .unwrap();
    let settings = settings(&sandbox, 10);
    ConsumerUploader::new(settings.clone())
        .upload_pass(store.as_ref(), &NoProgress)
        .await
        .unwrap();
    wait_identified(&settings.client, 1).await;

    // The endpoint answers 503 until the webhook's secret is known (the twin resends).
    let reader = PersonFeedReader::new(settings.clone());
    let trigger = reader.trigger();
    let slot: Arc<OnceLock<Receiver>> = Arc::default();
    let route_slot = slot.clone();
    let route = axum::routing::post(
        move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let slot = route_slot.clone();
            async move {
                match slot.get() {
                    Some(receiver) => receiver.receive(&headers, &body).await.status(),
                    None => axum::http::StatusCode::SERVICE_UNAVAILABLE,
                }
            }
        },
    );
    let url = format!(
        "{}/hook",
        serve(axum::Router::new().route("/hook", route)).await
    );
    let created = settings
        .client
        .create_webhook()
        .body(types::CreateWebhookDto {
            url,
            events: vec![types::WebhookEventTypeDto::X],
            description: Some("person feed trigger".into()),
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(
        slot.set(trigger.receiver(Verifier::new(created.secret.clone())))
            .is_ok()
    );

    // The loop: one pass now, then only when woken (the poll is a minute away).
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = {
        let store = store.clone();
        tokio::spawn(async move {
            let flow: Box<dyn Flow<SqliteStore>> =
                Box::new(reader.triggered(Duration::from_secs(60)));
            let options = RunOptions {
                idle_wait: Duration::ZERO,
                ..RunOptions::default()
            };
            flow::run(
                store.as_ref(),
                flow.as_ref(),
                &options,
                &NoProgress,
                async {
                    let _ = stopped.await;
                },
            )
            .await
        })
    };
    wait_for("the first pass writes the person", || async {
        store
            .customer("C-0")
            .await
            .unwrap()
            .is_some_and(|row| row.extra_data.contains_key(GEDI_MEMBER))
    })
    .await;
    // Let the deliveries of the earlier events (and the passes they woke) settle.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = passes(&store).await;

    let moved = move_person(&sandbox, "gedi-0").await;
    let new_street = moved.addresses[0]["streetName"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(
        "the PERSON_CHANGED webhook wakes a pass that writes it",
        || async {
            store
                .customer("C-0")
                .await
                .unwrap()
                .unwrap()
                .street
                .as_deref()
                == Some(new_street.as_str())
        },
    )
    .await;
    // The first pass was over long before the change, and the next poll is a minute away:
    // only a woken pass can have written it (its record follows the write).
    wait_for("the woken pass is recorded", || async {
        passes(&store).await > before
    })
    .await;

    let _ = stop.send(());
    assert_eq!(runner.await.unwrap().unwrap(), RunEnd::Stopped);
}

// ---------------------------------------------------------------------------------------------
// Person -> row, member by member (pure)

/// A feed item shaped as the twin serves it (the person document plus the feed's members).
fn item(members: serde_json::Value) -> types::SubscribedPersonDto {
    let mut base = json!({
        "gedi": "gedi-9",
        "consumerIds": ["C-9"],
        "market": "DK",
        "changedTimestamp": "2026-01-02T03:04:05.123Z",
    });
    for (k, v) in members.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::from_value(base).unwrap()
}

/// An in-memory table for [`apply_person`].
#[derive(Default)]
struct Table(HashMap<String, Customer>, u32);

impl CustomerTable for Table {
    fn customer(&mut self, number: &str) -> Result<Option<Customer>, StoreError> {
        Ok(self.0.get(number).cloned())
    }
    fn put_customer(&mut self, customer: &Customer) -> Result<(), StoreError> {
        self.1 += 1;
        self.0
            .insert(customer.customer_number.clone(), customer.clone());
        Ok(())
    }
    fn delete_customer(&mut self, number: &str) -> Result<bool, StoreError> {
        Ok(self.0.remove(number).is_some())
    }
    fn put_notification(&mut self, _: &Notification) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Row `C-9` (as given) after applying `members`.
fn written(row: Customer, members: serde_json::Value) -> Customer {
    let mut table = Table::default();
    table.0.insert("C-9".into(), row);
    apply_person(&mut table, &map_person(&item(members))).unwrap();
    table.0.remove("C-9").unwrap()
}

fn row() -> Customer {
    Customer {
        name: Some("Old Name".into()),
        birth_date: Some("1970-01-01".into()),
        cpr: Some("old-cpr".into()),
        phone1: Some("+451".into()),
        street: Some("Old Street".into()),
        house_number: Some("1".into()),
        postal_code: Some("1000".into()),
        postal_city: Some("Oldtown".into()),
        country_code: Some("DK".into()),
        country_name: Some("Danmark".into()),
        address_composite: Some("Old Street 1, 1000 Oldtown".into()),
        dar_address_id: Some("0a3f50a0-0000-0000-0000-000000000000".into()),
        email: Some("kept@example.invalid".into()),
        ..bare("C-9")
    }
}

#[test]
fn member_name_is_the_shortened_full_name_else_the_first_names_and_family_name() {
    let r = written(
        row(),
        json!({"shortenedFullName": "Eva Lund", "firstNames": ["X"], "familyName": "Y"}),
    );
    assert_eq!(r.name.as_deref(), Some("Eva Lund"));
    let r = written(
        row(),
        json!({"firstNames": ["Eva", "Maria"], "familyName": "Lund"}),
    );
    assert_eq!(r.name.as_deref(), Some("Eva Maria Lund"));
    let r = written(
        row(),
        json!({"preferredFirstName": "Evi", "firstNames": ["Eva"], "familyName": "Lund"}),
    );
    assert_eq!(r.name.as_deref(), Some("Evi Lund"));
    let r = written(row(), json!({"birthDate": "1980-05-06"}));
    assert_eq!(r.name.as_deref(), Some("Old Name"), "absent: kept");
}

#[test]
fn member_birth_date_only_when_known_to_the_day() {
    let r = written(
        row(),
        json!({"birthDate": "1980-05-06", "birthDatePrecision": "DAY"}),
    );
    assert_eq!(r.birth_date.as_deref(), Some("1980-05-06"));
    let r = written(row(), json!({"birthDate": "1980-05-06"}));
    assert_eq!(r.birth_date.as_deref(), Some("1980-05-06"));
    let r = written(
        row(),
        json!({"birthDate": "1980-01-01", "birthDatePrecision": "YEAR"}),
    );
    assert_eq!(
        r.birth_date.as_deref(),
        Some("1970-01-01"),
        "a year is not a date"
    );
}

#[test]
fn member_cpr_is_the_legal_id_identity_number() {
    let r = written(row(), json!({"legalId": {"identityNumber": "0102031234"}}));
    assert_eq!(r.cpr.as_deref(), Some("0102031234"));
    let r = written(row(), json!({"legalId": {}}));
    assert_eq!(r.cpr.as_deref(), Some("old-cpr"));
}

#[test]
fn member_phone1_is_the_first_phone_number() {
    let r = written(
        row(),
        json!({"phoneNumbers": [{"number": "+4599"}, {"number": "+4588"}]}),
    );
    assert_eq!(r.phone1.as_deref(), Some("+4599"));
}

#[test]
fn member_address_replaces_the_old_one_and_clears_what_named_the_old_one() {
    let r = written(
        row(),
        json!({"addresses": [{"streetName": "Ny Gade", "streetNumber": "12B", "floor": "3",
            "apartment": "th", "postalCode": "8000", "city": "Aarhus C", "country": "SE"}]}),
    );
    assert_eq!(r.street.as_deref(), Some("Ny Gade"));
    assert_eq!(r.house_number.as_deref(), Some("12"));
    assert_eq!(r.house_letter.as_deref(), Some("B"));
    assert_eq!(r.floor.as_deref(), Some("3"));
    assert_eq!(r.suite.as_deref(), Some("th"));
    assert_eq!(r.postal_code.as_deref(), Some("8000"));
    assert_eq!(r.postal_city.as_deref(), Some("Aarhus C"));
    assert_eq!(r.country_code.as_deref(), Some("SE"));
    assert_eq!(
        r.country_name, None,
        "another country: its name is not known"
    );
    assert_eq!((r.address_composite, r.dar_address_id), (None, None));
    assert_eq!(r.email.as_deref(), Some("kept@example.invalid"));
}

#[test]
fn member_address_that_is_the_same_changes_nothing() {
    let mut table = Table::default();
    table.0.insert(
        "C-9".into(),
        Customer {
            extra_data: [(GEDI_MEMBER.to_string(), "gedi-9".to_string())].into(),
            ..row()
        },
    );
    let same = map_person(&item(
        json!({"addresses": [{"streetName": "Old Street", "streetNumber": "1",
        "postalCode": "1000", "city": "Oldtown", "country": "DK"}]}),
    ));
    let outcome = apply_person(&mut table, &same).unwrap();
    assert!(
        matches!(outcome, ChangeOutcome::NotApplied { .. }),
        "{outcome:?}"
    );
    assert_eq!(table.1, 0, "a row that holds the values is not written");
    assert!(table.0["C-9"].address_composite.is_some());
}

#[test]
fn member_gedi_and_the_change_stamp_of_a_written_row() {
    let r = written(row(), json!({"familyName": "Lund"}));
    assert_eq!(
        r.extra_data.get(GEDI_MEMBER).map(String::as_str),
        Some("gedi-9")
    );
    assert_eq!(r.changed_at.as_deref(), Some("2026-01-02T03:04:05.123Z"));
    assert_eq!(r.changed_by.as_deref(), Some(CHANGED_BY));
    assert_eq!(
        r.latest_change_id.as_deref(),
        Some("gedi-9@2026-01-02T03:04:05.123Z")
    );
}

#[test]
fn the_change_id_is_gedi_at_changed_time_else_updated_time_else_a_stable_hash() {
    assert_eq!(
        map_person(&item(json!({}))).change_id,
        "gedi-9@2026-01-02T03:04:05.123Z"
    );
    let mut no_time = item(json!({"metadata": {"updatedTimestamp": "2025-05-05T00:00:00Z"}}));
    no_time.extra.remove("changedTimestamp");
    assert_eq!(
        map_person(&no_time).change_id,
        "gedi-9@2025-05-05T00:00:00Z"
    );
    no_time.extra.remove("metadata");
    let hashed = map_person(&no_time).change_id;
    assert!(hashed.starts_with("gedi-9#"), "{hashed}");
    assert_eq!(
        map_person(&no_time.clone()).change_id,
        hashed,
        "equal on a replay"
    );
    no_time.extra.insert("familyName".into(), json!("Other"));
    assert_ne!(map_person(&no_time).change_id, hashed);
}

#[test]
fn a_person_of_several_customers_writes_each_and_persons_not_ours_are_not_applied() {
    let mut table = Table::default();
    table.0.insert("C-1".into(), bare("C-1"));
    table.0.insert("K 2".into(), bare("K 2"));
    let update = map_person(&item(
        json!({"consumerIds": ["C-1", "K@202", "C-gone", "@41"], "familyName": "Lund"}),
    ));
    assert_eq!(update.customer_numbers, ["C-1", "K 2", "C-gone"]);
    assert_eq!(update.foreign_consumer_ids, 1);
    assert_eq!(
        apply_person(&mut table, &update).unwrap(),
        ChangeOutcome::Applied {
            customer_number: "C-1".into()
        }
    );
    assert_eq!(table.0["K 2"].name.as_deref(), Some("Lund"));
    let stranger = map_person(&item(json!({"consumerIds": ["C-gone"]})));
    assert!(matches!(
        apply_person(&mut table, &stranger).unwrap(),
        ChangeOutcome::NotApplied { .. }
    ));
}
