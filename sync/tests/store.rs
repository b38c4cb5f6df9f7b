//! The store's guarantees: a change applies exactly once, and a failing mutation leaves the
//! row, the log and the cursor as they were.

use customer_data::biq_alert_changes::types::ApprovedChange;
use customer_data_sync::biq::{BiqTableMapping, CHANGE_READER_FLOW, apply_approved_change};
use customer_data_sync::sqlite::SqliteStore;
use customer_data_sync::{
    Applied, ChangeMapping, ChangeOutcome, ChangeRef, Customer, CustomerTable, Store, StoreError,
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

#[tokio::test]
async fn the_same_change_applied_twice_changes_the_row_once_and_logs_it_once() {
    let store = SqliteStore::open(":memory:").await.unwrap();
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

#[tokio::test]
async fn a_mutation_failing_after_writing_leaves_row_log_and_cursor_as_they_were() {
    let store = SqliteStore::open(":memory:").await.unwrap();
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

#[tokio::test]
async fn a_failing_log_write_rolls_back_the_mutation_too() {
    // A user mapping (own schema, same transaction) that drops the log table: the log insert
    // then fails after the mutation wrote, and nothing may remain.
    let store = SqliteStore::open(":memory:").await.unwrap();
    let change = ChangeRef {
        flow: "own".to_string(),
        source: "test".to_string(),
        change_id: "1".to_string(),
        event_type: None,
        cursor: "c1".to_string(),
    };
    let result = store
        .apply(change, |tx| {
            tx.put_customer(&customer("C-9", "x"))?;
            tx.connection()
                .execute_batch("ALTER TABLE change_log RENAME TO change_log_gone")
                .map_err(|e| StoreError::Mutation(e.to_string()))?;
            Ok(ChangeOutcome::Applied {
                customer_number: "C-9".to_string(),
            })
        })
        .await;
    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
    assert!(store.customers().await.unwrap().is_empty());
    assert_eq!(store.cursor("own").await.unwrap(), None);
    assert_eq!(
        store.logged_change_count().await.unwrap(),
        0,
        "log table restored by rollback"
    );
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

#[tokio::test]
async fn a_change_without_committed_is_refused_with_a_typed_error_and_nothing_moves() {
    let store = SqliteStore::open(":memory:").await.unwrap();
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
