//! The store's guarantees: a change applies exactly once, and a failing mutation leaves the
//! row, the log and the cursor as they were. The generic bodies run on SQLite and, when a
//! server is reachable, on PostgreSQL (`on_both_stores!`, tests/common).

mod common;

use customer_data::biq_alert_changes::types::ApprovedChange;
use customer_data_sync::biq::{BiqTableMapping, CHANGE_READER_FLOW, apply_approved_change};
use customer_data_sync::sqlite::{SqliteStore, SqliteTx};
use customer_data_sync::{
    Applied, ChangeMapping, ChangeOutcome, ChangeRef, Customer, CustomerTable, Notification, Store,
    StoreError,
};
use serde_json::json;

fn customer(number: &str, name: &str) -> Customer {
    Customer {
        customer_number: number.to_string(),
        name: Some(name.to_string()),
        ..Customer::default()
    }
}

fn name_change(id: u32, customer: &str, name: &str, committed_second: u32) -> ApprovedChange {
    serde_json::from_value(json!({
        "id": format!("30000000-0000-4000-8000-{id:012}"),
        "customerNumber": customer,
        "eventType": "name-change",
        "approved": "2024-06-02T10:00:00+00:00",
        "payload": {"p": {"proposedName": name}},
        "committed": format!("2024-06-02T10:00:{committed_second:02}+00:00"),
    }))
    .unwrap()
}

on_both_stores!(
    the_same_change_applied_twice_changes_the_row_once_and_logs_it_once,
    a_mutation_failing_after_writing_leaves_row_log_and_cursor_as_they_were,
    a_change_without_committed_is_refused_with_a_typed_error_and_nothing_moves,
    a_notification_is_recorded_once_and_listed_in_committed_order,
    put_customers_writes_all_rows_in_one_go_and_reads_back_every_member,
);

async fn the_same_change_applied_twice_changes_the_row_once_and_logs_it_once<S: Store>(store: S) {
    store.put_customer(customer("C-1", "Old")).await.unwrap();
    let first = apply_approved_change(&store, BiqTableMapping, name_change(1, "C-1", "New", 1))
        .await
        .unwrap();
    assert!(
        matches!(first, Applied::Now(ChangeOutcome::Applied { .. })),
        "{first:?}"
    );
    // Between the two, a local edit: a second apply of the same change must not undo it.
    store
        .put_customer(customer("C-1", "Edited locally"))
        .await
        .unwrap();
    let second = apply_approved_change(&store, BiqTableMapping, name_change(1, "C-1", "New", 1))
        .await
        .unwrap();
    assert!(
        matches!(second, Applied::AlreadyLogged(ref e) if e.outcome == "applied"),
        "{second:?}"
    );
    let row = store.customer("C-1").await.unwrap().unwrap();
    assert_eq!(row.name.as_deref(), Some("Edited locally"));
    assert_eq!(store.logged_change_count().await.unwrap(), 1);
}

/// A mapping that writes the row, then fails: the write must not survive.
struct FailsAfterWriting;

impl<Tx: CustomerTable + ?Sized> ChangeMapping<Tx> for FailsAfterWriting {
    type Change = ApprovedChange;
    fn apply(&self, tx: &mut Tx, change: &ApprovedChange) -> Result<ChangeOutcome, StoreError> {
        BiqTableMapping.apply(tx, change)?;
        tx.put_customer(&customer("C-other", "written before the failure"))?;
        Err(StoreError::Mutation("injected failure".to_string()))
    }
}

async fn a_mutation_failing_after_writing_leaves_row_log_and_cursor_as_they_were<S: Store>(
    store: S,
) {
    store.put_customer(customer("C-1", "Old")).await.unwrap();
    apply_approved_change(&store, BiqTableMapping, name_change(1, "C-1", "First", 1))
        .await
        .unwrap();
    let rows_before = store.customers().await.unwrap();
    let cursor_before = store.cursor(CHANGE_READER_FLOW).await.unwrap();

    let failed = apply_approved_change(
        &store,
        FailsAfterWriting,
        name_change(2, "C-1", "Second", 2),
    )
    .await;
    assert!(matches!(failed, Err(StoreError::Mutation(_))), "{failed:?}");

    assert!(
        store.customers().await.unwrap() == rows_before,
        "rows changed"
    );
    assert_eq!(
        store.cursor(CHANGE_READER_FLOW).await.unwrap(),
        cursor_before
    );
    assert_eq!(
        cursor_before.as_deref(),
        Some("2024-06-02T10:00:01+00:00"),
        "the first change moved the cursor"
    );
    assert_eq!(store.logged_change_count().await.unwrap(), 1);
    assert!(
        store
            .logged_change("biq", "30000000-0000-4000-8000-000000000002")
            .await
            .unwrap()
            .is_none()
    );
    // And the change is not lost: applied again with a working mapping, it runs.
    let retried =
        apply_approved_change(&store, BiqTableMapping, name_change(2, "C-1", "Second", 2))
            .await
            .unwrap();
    assert!(matches!(
        retried,
        Applied::Now(ChangeOutcome::Applied { .. })
    ));
    assert_eq!(
        store
            .customer("C-1")
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("Second")
    );
}

fn rename_the_log_table(tx: &mut SqliteTx<'_>) -> Result<(), StoreError> {
    tx.connection()
        .execute_batch("ALTER TABLE change_log RENAME TO change_log_gone")
        .map_err(|e| StoreError::Mutation(e.to_string()))
}

#[tokio::test]
async fn a_failing_log_write_rolls_back_the_mutation_too() {
    // (On PostgreSQL in tests/postgres.rs, with a user table written too.)
    let store = SqliteStore::open(":memory:").await.unwrap();
    common::a_failing_log_write_rolls_back_the_mutation_too(&store, rename_the_log_table).await;
}

#[tokio::test]
async fn a_file_database_uses_wal_and_keeps_data_and_schema_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers.sqlite");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.journal_mode().await.unwrap(), "wal");
        store.put_customer(customer("C-1", "Kept")).await.unwrap();
    }
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        reopened
            .customer("C-1")
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("Kept")
    );
}

#[tokio::test]
async fn debug_output_shows_no_personal_data() {
    let mut row = customer("C-1", "Jens Hansen");
    row.cpr = Some("0101011234".to_string());
    let shown = format!("{row:?}");
    assert!(
        !shown.contains("0101011234") && !shown.contains("Jens"),
        "{shown}"
    );
}

async fn a_change_without_committed_is_refused_with_a_typed_error_and_nothing_moves<S: Store>(
    store: S,
) {
    store.put_customer(customer("C-1", "Old")).await.unwrap();
    let mut change = name_change(7, "C-1", "New", 7);
    change.committed = None;
    let refused = apply_approved_change(&store, BiqTableMapping, change).await;
    assert!(
        matches!(refused, Err(StoreError::InvalidChange(_))),
        "{refused:?}"
    );
    assert_eq!(store.logged_change_count().await.unwrap(), 0);
    assert_eq!(store.cursor(CHANGE_READER_FLOW).await.unwrap(), None);
    assert_eq!(
        store
            .customer("C-1")
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("Old")
    );
}

fn notification(id: &str, committed: &str) -> Notification {
    Notification {
        source: "biq".to_string(),
        notification_id: id.to_string(),
        event_type: Some("deceased".to_string()),
        customer_number: Some("C-1".to_string()),
        committed: Some(committed.to_string()),
        payload: Some(format!(r#"{{"id":"{id}"}}"#)),
    }
}

async fn a_notification_is_recorded_once_and_listed_in_committed_order<S: Store>(store: S) {
    let change = |id: &str| ChangeRef {
        flow: "biq-notification-reader".to_string(),
        source: "biq".to_string(),
        change_id: id.to_string(),
        event_type: Some("deceased".to_string()),
        cursor: id.to_string(),
    };
    for (id, committed) in [
        ("n-2", "2024-06-02T10:00:02+00:00"),
        ("n-1", "2024-06-02T10:00:01+00:00"),
    ] {
        let recorded = notification(id, committed);
        store
            .apply(change(id), move |tx| {
                tx.put_notification(&recorded)?;
                Ok(ChangeOutcome::NotApplied {
                    reason: "recorded".to_string(),
                })
            })
            .await
            .unwrap();
    }
    // The same notification through another change id: recorded once.
    let again = notification("n-1", "2024-06-02T10:00:01+00:00");
    store
        .apply(change("n-1-again"), move |tx| {
            tx.put_notification(&again)?;
            Ok(ChangeOutcome::NotApplied {
                reason: "recorded".to_string(),
            })
        })
        .await
        .unwrap();
    let listed = store.notifications().await.unwrap();
    assert_eq!(
        listed,
        [
            notification("n-1", "2024-06-02T10:00:01+00:00"),
            notification("n-2", "2024-06-02T10:00:02+00:00")
        ]
    );
}

async fn put_customers_writes_all_rows_in_one_go_and_reads_back_every_member<S: Store>(store: S) {
    let mut full = customer("C-2", "Full");
    for (index, column) in customer_data_sync::Column::ALL.iter().enumerate() {
        full.set(*column, Some(format!("value {index}")));
    }
    full.extra_data
        .insert("segment".to_string(), "retail".to_string());
    let rows = vec![
        customer("C-1", "One"),
        full.clone(),
        customer("C-3", "Three"),
    ];
    store.put_customers(rows.clone()).await.unwrap();
    assert!(store.customers().await.unwrap() == rows, "rows differ");
    assert!(store.customer("C-2").await.unwrap() == Some(full));
    assert!(store.customer("C-4").await.unwrap().is_none());
}
