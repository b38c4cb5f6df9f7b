//! Crash test: a child process (this test binary, re-invoked with an environment variable)
//! applies 10,000 BiQ changes to a SQLite file and is SIGKILLed at random moments several times,
//! each time restarted from its cursor. At the end the table equals the expected state and the
//! log holds each change once.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use customer_data::biq_alert_changes::types::ApprovedChange;
use customer_data_sync::biq::{
    BiqTableMapping, CHANGE_READER_FLOW, RowChange, apply_approved_change, map_change,
};
use customer_data_sync::sqlite::{SqliteStore, SqliteTx};
use customer_data_sync::{ChangeMapping, ChangeOutcome, Customer, Store, StoreError};
use serde_json::json;

const CHILD_DB: &str = "CUSTOMER_DATA_SYNC_CRASH_CHILD_DB";
const CHANGES: u32 = 10_000;
const KILLS: u32 = 8;

fn committed(i: u32) -> String {
    // One change per millisecond from a fixed start: the cursor orders like the changes.
    let start = chrono::DateTime::parse_from_rfc3339("2024-06-02T10:00:00+00:00").unwrap();
    (start + chrono::Duration::milliseconds(i64::from(i)))
        .with_timezone(&chrono::Utc)
        .to_rfc3339()
}

/// Change `i`: every tenth creates a person, the others rename the latest person.
fn change(i: u32) -> ApprovedChange {
    let id = format!("40000000-0000-4000-8000-{i:012}");
    let owner = format!("40000000-0000-4000-8000-{:012}", i / 10 * 10);
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
        "approved": committed(i),
        "approvedBy": "approver",
        "payload": payload,
        "committed": committed(i),
    }))
    .unwrap()
}

/// Our table through [`BiqTableMapping`], plus a user table (same transaction) counting how
/// often each change ran: a second application, which the column values alone would not show,
/// shows there.
struct CountingMapping;

impl<'t> ChangeMapping<SqliteTx<'t>> for CountingMapping {
    type Change = ApprovedChange;
    fn apply(
        &self,
        tx: &mut SqliteTx<'t>,
        change: &ApprovedChange,
    ) -> Result<ChangeOutcome, StoreError> {
        let id = change.id.map(|id| id.to_string());
        tx.connection()
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS applied_count (change_id TEXT PRIMARY KEY, times INTEGER NOT NULL)",
            )
            .and_then(|()| {
                tx.connection().execute(
                    "INSERT INTO applied_count (change_id, times) VALUES (?1, 1)
                     ON CONFLICT (change_id) DO UPDATE SET times = times + 1",
                    [id],
                )
            })
            .map_err(|e| StoreError::Mutation(e.to_string()))?;
        BiqTableMapping.apply(tx, change)
    }
}

/// The child: resume after the flow's cursor and apply the rest.
#[tokio::test]
async fn crash_child_process_entry() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return; // Only does work when started by `killed_many_times_the_store_ends_exactly_right`.
    };
    let store = SqliteStore::open(&path).await.unwrap();
    let cursor = store.cursor(CHANGE_READER_FLOW).await.unwrap();
    let first = match cursor {
        None => 0,
        Some(cursor) => (0..CHANGES)
            .find(|i| committed(*i) > cursor)
            .unwrap_or(CHANGES),
    };
    for i in first..CHANGES {
        apply_approved_change(&store, CountingMapping, change(i))
            .await
            .unwrap();
    }
}

fn expected_rows() -> Vec<Customer> {
    let mut rows: BTreeMap<String, Customer> = BTreeMap::new();
    for i in 0..CHANGES {
        match map_change(&change(i)) {
            RowChange::Create(row) => {
                rows.insert(row.customer_number.clone(), *row);
            }
            RowChange::Update {
                customer_number,
                changes,
            } => {
                let row = rows.get_mut(&customer_number).expect("created before");
                RowChange::apply_to(&changes, row);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    rows.into_values().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_many_times_the_store_ends_exactly_right() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.sqlite");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash test seed {seed}");
    let mut random = seed | 1;
    let mut next_delay = || {
        // xorshift: no extra dependency for a few random delays.
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        Duration::from_millis(50 + random % 400)
    };
    let child = || {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child_process_entry", "--test-threads=1"])
            .env(CHILD_DB, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    };
    let mut killed_mid_run = 0;
    let mut progress = Vec::new();
    let started = Instant::now();
    for _ in 0..KILLS {
        let mut process = child();
        std::thread::sleep(next_delay());
        if process.try_wait().unwrap().is_none() {
            process.kill().unwrap(); // SIGKILL on Unix
            killed_mid_run += 1;
        }
        let status = process.wait().unwrap();
        assert!(
            status.success() || status.code().is_none(),
            "child failed: {status}"
        );
        let store = SqliteStore::open(&path).await.unwrap();
        progress.push(store.logged_change_count().await.unwrap());
    }
    let status = child().wait().unwrap();
    assert!(status.success(), "final run failed: {status}");
    println!(
        "killed {killed_mid_run} times mid-run; logged after each kill: {progress:?}; {:?} in all",
        started.elapsed()
    );
    assert!(
        killed_mid_run >= 3,
        "too few kills landed mid-run: {killed_mid_run}"
    );

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store.logged_change_count().await.unwrap(),
        u64::from(CHANGES)
    );
    for i in [0, 1, CHANGES / 2, CHANGES - 1] {
        let id = format!("40000000-0000-4000-8000-{i:012}");
        assert_eq!(
            store
                .logged_change("biq", &id)
                .await
                .unwrap()
                .map(|e| e.outcome),
            Some("applied".to_string())
        );
    }
    assert_eq!(
        store.cursor(CHANGE_READER_FLOW).await.unwrap(),
        Some(committed(CHANGES - 1))
    );
    let connection = customer_data_sync::sqlite::rusqlite::Connection::open(&path).unwrap();
    let (distinct, most, total): (i64, i64, i64) = connection
        .query_row(
            "SELECT COUNT(*), MAX(times), SUM(times) FROM applied_count",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (distinct, most, total),
        (i64::from(CHANGES), 1, i64::from(CHANGES)),
        "a change ran twice"
    );
    let rows = store.customers().await.unwrap();
    let expected = expected_rows();
    assert_eq!(rows.len(), expected.len());
    assert!(
        rows == expected,
        "the table differs from the expected state"
    );
}
