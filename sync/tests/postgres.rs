//! The store on PostgreSQL (feature `postgres`): exactly once, rollback, and two instances
//! applying the same changes at once. Runs against `CUSTOMER_DATA_SYNC_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test creates its own database there.
//! Without a reachable server each test prints why it skipped and passes.
#![cfg(feature = "postgres")]

use std::collections::BTreeMap;

use customer_data::biq_alert_changes::types::ApprovedChange;
use customer_data_sync::biq::{
    BiqTableMapping, CHANGE_READER_FLOW, RowChange, apply_approved_change, map_change,
};
use customer_data_sync::postgres::{PostgresStore, PostgresTx, postgres};
use customer_data_sync::{
    Applied, ChangeMapping, ChangeOutcome, Customer, CustomerTable, Store, StoreError,
};
use serde_json::json;

fn admin_url() -> String {
    std::env::var("CUSTOMER_DATA_SYNC_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A fresh database for one test, or `None` (with the reason printed) without a server.
async fn fresh_database(test: &str) -> Option<String> {
    let admin = admin_url();
    let name = format!("cds_{test}_{}", std::process::id());
    let created = tokio::task::spawn_blocking({
        let name = name.clone();
        move || -> Result<(), postgres::Error> {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)?;
            client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
            client.batch_execute(&format!("CREATE DATABASE {name}"))
        }
    })
    .await
    .unwrap();
    match created {
        Ok(()) => {}
        Err(error) => {
            println!(
                "SKIPPED {test}: no PostgreSQL server reachable at CUSTOMER_DATA_SYNC_POSTGRES_URL (or the default): {error}"
            );
            return None;
        }
    }
    let mut url = admin_url();
    let slash = url.rfind('/').expect("a database in the URL");
    url.truncate(slash + 1);
    url.push_str(&name);
    Some(url)
}

fn change(i: u32) -> ApprovedChange {
    let id = format!("50000000-0000-4000-8000-{i:012}");
    let owner = format!("50000000-0000-4000-8000-{:012}", i / 10 * 10);
    let (event_type, payload) = if i.is_multiple_of(10) {
        (
            "new-person",
            json!({"p": {"name": format!("person {i}"), "cpr": format!("{i:010}")}}),
        )
    } else {
        (
            "name-change",
            json!({"p": {"proposedName": format!("name {i}")}}),
        )
    };
    serde_json::from_value(json!({
        "id": id,
        "customerNumber": owner,
        "eventType": event_type,
        "approved": "2024-06-02T10:00:00+00:00",
        "approvedBy": "approver",
        "payload": payload,
        "committed": format!("2024-06-02T10:{:02}:{:02}+00:00", i / 60 % 60, i % 60),
    }))
    .unwrap()
}

fn expected_rows(changes: u32) -> Vec<Customer> {
    let mut rows: BTreeMap<String, Customer> = BTreeMap::new();
    for i in 0..changes {
        match map_change(&change(i)) {
            RowChange::Create(row) => {
                rows.insert(row.customer_number.clone(), *row);
            }
            RowChange::Update {
                customer_number,
                changes,
            } => {
                RowChange::apply_to(&changes, rows.get_mut(&customer_number).unwrap());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    rows.into_values().collect()
}

/// Our table plus a user table in the same transaction counting each change's runs.
struct CountingMapping;

impl<'t> ChangeMapping<PostgresTx<'t>> for CountingMapping {
    type Change = ApprovedChange;
    fn apply(
        &self,
        tx: &mut PostgresTx<'t>,
        change: &ApprovedChange,
    ) -> Result<ChangeOutcome, StoreError> {
        let id = change.id.map(|id| id.to_string());
        tx.transaction()
            .execute(
                "INSERT INTO applied_count (change_id, times) VALUES ($1, 1)
                 ON CONFLICT (change_id) DO UPDATE SET times = applied_count.times + 1",
                &[&id],
            )
            .map_err(|e| StoreError::Mutation(e.to_string()))?;
        BiqTableMapping.apply(tx, change)
    }
}

struct FailsAfterWriting;

impl<Tx: CustomerTable + ?Sized> ChangeMapping<Tx> for FailsAfterWriting {
    type Change = ApprovedChange;
    fn apply(&self, tx: &mut Tx, change: &ApprovedChange) -> Result<ChangeOutcome, StoreError> {
        BiqTableMapping.apply(tx, change)?;
        Err(StoreError::Mutation("injected failure".to_string()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_applies_once_and_rolls_back_a_failing_mutation() {
    let Some(url) = fresh_database("once").await else {
        return;
    };
    let store = PostgresStore::connect(&url).await.unwrap();
    // Connecting again runs no migration twice.
    let store_again = PostgresStore::connect(&url).await.unwrap();

    for _ in 0..2 {
        apply_approved_change(&store, BiqTableMapping, change(0))
            .await
            .unwrap();
    }
    let second = apply_approved_change(&store_again, BiqTableMapping, change(0))
        .await
        .unwrap();
    assert!(matches!(second, Applied::AlreadyLogged(_)), "{second:?}");
    assert_eq!(store.logged_change_count().await.unwrap(), 1);

    let rows_before = store.customers().await.unwrap();
    let cursor_before = store.cursor(CHANGE_READER_FLOW).await.unwrap();
    let failed = apply_approved_change(&store, FailsAfterWriting, change(1)).await;
    assert!(matches!(failed, Err(StoreError::Mutation(_))), "{failed:?}");
    assert!(store.customers().await.unwrap() == rows_before);
    assert_eq!(
        store.cursor(CHANGE_READER_FLOW).await.unwrap(),
        cursor_before
    );
    assert_eq!(store.logged_change_count().await.unwrap(), 1);
    assert!(store.customers().await.unwrap() == expected_rows(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_instances_applying_the_same_changes_apply_each_once() {
    const CHANGES: u32 = 1_000;
    let Some(url) = fresh_database("two").await else {
        return;
    };
    let first = PostgresStore::connect(&url).await.unwrap();
    let second = PostgresStore::connect(&url).await.unwrap();
    let mut client = tokio::task::spawn_blocking({
        let url = url.clone();
        move || postgres::Client::connect(&url, postgres::NoTls).unwrap()
    })
    .await
    .unwrap();
    client = tokio::task::spawn_blocking(move || {
        client
            .batch_execute(
                "CREATE TABLE applied_count (change_id TEXT PRIMARY KEY, times INTEGER NOT NULL)",
            )
            .unwrap();
        client
    })
    .await
    .unwrap();

    let run = |store: PostgresStore| async move {
        let mut now = 0;
        for i in 0..CHANGES {
            if let Applied::Now(_) = apply_approved_change(&store, CountingMapping, change(i))
                .await
                .unwrap()
            {
                now += 1;
            }
        }
        now
    };
    let (a, b) = tokio::join!(tokio::spawn(run(first.clone())), tokio::spawn(run(second)));
    let (a, b) = (a.unwrap(), b.unwrap());
    println!("instance one applied {a}, instance two {b}");
    assert_eq!(a + b, CHANGES);

    let (distinct, most, total): (i64, i32, i64) = tokio::task::spawn_blocking(move || {
        let row = client
            .query_one(
                "SELECT COUNT(*), MAX(times), SUM(times) FROM applied_count",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    })
    .await
    .unwrap();
    assert_eq!(
        (distinct, most, total),
        (i64::from(CHANGES), 1, i64::from(CHANGES))
    );
    assert_eq!(
        first.logged_change_count().await.unwrap(),
        u64::from(CHANGES)
    );
    assert!(first.customers().await.unwrap() == expected_rows(CHANGES));
}
