//! What only PostgreSQL has (feature `postgres`): several instances on one database. Two
//! processes applying the same changes at once apply each once; two flow runners on one flow
//! never run passes at once, and the standby takes over after the holder died. Plus rollback
//! through the user's own transaction and errors that never quote the URL. Runs against
//! `CUSTOMER_DATA_SYNC_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! each test creates its own database there. Without a reachable server each test prints
//! `SKIPPED: <reason>` and passes. (The store's other tests run here too: tests/store.rs and
//! tests/flow_store.rs.)
#![cfg(feature = "postgres")]

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use customer_data::biq_alert_changes::types::ApprovedChange;
use customer_data_sync::biq::{
    BiqTableMapping, CHANGE_READER_FLOW, RowChange, apply_approved_change, map_change,
};
use customer_data_sync::flow::{
    self, BoxFuture, Flow, FlowError, NoProgress, Progress, RunEnd, RunOptions,
};
use customer_data_sync::postgres::{PostgresStore, PostgresTx, postgres};
use customer_data_sync::{
    Applied, ChangeMapping, ChangeOutcome, Customer, CustomerTable, Store, StoreError,
};
use serde_json::json;

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

/// A fresh database for one test, or `None` with `SKIPPED: <reason>` printed.
async fn fresh_database(test: &str) -> Option<String> {
    match common::fresh_postgres_database(test).await {
        Ok(url) => Some(url),
        Err(reason) => {
            println!("SKIPPED: {test}: {reason}");
            None
        }
    }
}

async fn create_applied_count(url: &str) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .batch_execute(
                "CREATE TABLE applied_count (change_id TEXT PRIMARY KEY, times INTEGER NOT NULL)",
            )
            .unwrap();
    })
    .await
    .unwrap();
}

/// Writes the user's own table, then renames our log table.
fn count_then_rename_the_log_table(tx: &mut PostgresTx<'_>) -> Result<(), StoreError> {
    tx.transaction()
        .batch_execute(
            "INSERT INTO applied_count VALUES ('1', 1);
             ALTER TABLE change_log RENAME TO change_log_gone",
        )
        .map_err(|e| StoreError::Mutation(e.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_log_write_rolls_back_the_users_own_writes_too() {
    let Some(url) = fresh_database("logwrite").await else {
        return;
    };
    create_applied_count(&url).await;
    let store = PostgresStore::connect(&url).await.unwrap();
    common::a_failing_log_write_rolls_back_the_mutation_too(
        &store,
        count_then_rename_the_log_table,
    )
    .await;
    let own_rows: i64 = tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .query_one("SELECT COUNT(*) FROM applied_count", &[])
            .unwrap()
            .get(0)
    })
    .await
    .unwrap();
    assert_eq!(own_rows, 0, "the user's own write survived the rollback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_never_quote_the_url_or_its_password() {
    for url in [
        // Nothing listens on port 1.
        "postgres://someone:s3cret-pw@127.0.0.1:1/somedb",
        // Not a port.
        "postgres://someone:s3cret-pw@127.0.0.1:port-s3cret-pw/somedb",
        "not a url s3cret-pw",
    ] {
        let error = PostgresStore::connect(url).await.unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(matches!(error, StoreError::Database(_)), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("someone"), "{shown}");
    }
}

const TWO_INSTANCES_CHILD_URL: &str = "CUSTOMER_DATA_SYNC_TWO_INSTANCES_CHILD_URL";
const TWO_INSTANCES_CHANGES: u32 = 2_000;

/// The child of `two_processes_applying_the_same_changes_at_once_apply_each_once`: applies
/// every change and prints how many it applied itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_child_process_entry() {
    let Ok(url) = std::env::var(TWO_INSTANCES_CHILD_URL) else {
        return; // Only does work when started by the test below.
    };
    let store = PostgresStore::connect(&url).await.unwrap();
    let mut applied_here = 0;
    for i in 0..TWO_INSTANCES_CHANGES {
        if let Applied::Now(_) = apply_approved_change(&store, CountingMapping, change(i))
            .await
            .unwrap()
        {
            applied_here += 1;
        }
    }
    println!("APPLIED_HERE {applied_here}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_applying_the_same_changes_at_once_apply_each_once() {
    let Some(url) = fresh_database("twoprocs").await else {
        return;
    };
    // Migrated and the user table made before the children race.
    let store = PostgresStore::connect(&url).await.unwrap();
    create_applied_count(&url).await;
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "two_instances_child_process_entry",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(TWO_INSTANCES_CHILD_URL, &url)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "child failed: {}", output.status);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let count: u32 = stdout
            .lines()
            // The harness may print its own text before ours on the line.
            .find_map(|line| line.split("APPLIED_HERE ").nth(1))
            .and_then(|count| count.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no count from the child: {stdout}"));
        applied.push(count);
    }
    println!("the two processes applied {applied:?}");
    assert_eq!(applied.iter().sum::<u32>(), TWO_INSTANCES_CHANGES);

    let (distinct, most, total): (i64, i32, i64) = tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
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
        (
            i64::from(TWO_INSTANCES_CHANGES),
            1,
            i64::from(TWO_INSTANCES_CHANGES)
        ),
        "a change ran twice"
    );
    assert_eq!(
        store.logged_change_count().await.unwrap(),
        u64::from(TWO_INSTANCES_CHANGES)
    );
    assert!(store.customers().await.unwrap() == expected_rows(TWO_INSTANCES_CHANGES));
}

/// Counts the passes running at this moment over every runner sharing it; a pass that starts
/// while another runs is an overlap.
#[derive(Default)]
struct PassesRunning {
    now: AtomicUsize,
    overlaps: AtomicUsize,
}

/// One pass in progress; ends when dropped (also when its runner is aborted mid-pass).
struct RunningPass<'a>(&'a PassesRunning);

impl<'a> RunningPass<'a> {
    fn start(running: &'a PassesRunning) -> Self {
        if running.now.fetch_add(1, Ordering::SeqCst) > 0 {
            running.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        RunningPass(running)
    }
}

impl Drop for RunningPass<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A flow whose passes take a while and record who ran them and when they started.
struct RecordingFlow {
    holder: &'static str,
    running: Arc<PassesRunning>,
    passes: Arc<Mutex<Vec<(&'static str, Instant)>>>,
}

const LEASE_TEST_FLOW: &str = "lease-test";

impl Flow<PostgresStore> for RecordingFlow {
    fn name(&self) -> &str {
        LEASE_TEST_FLOW
    }

    fn pass<'a>(
        &'a self,
        _store: &'a PostgresStore,
        _progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<u64, FlowError>> {
        Box::pin(async move {
            let _running = RunningPass::start(&self.running);
            self.passes
                .lock()
                .unwrap()
                .push((self.holder, Instant::now()));
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(1)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_runner_at_a_time_and_the_standby_takes_over_after_the_holder_died() {
    const TTL: Duration = Duration::from_millis(900);
    let Some(url) = fresh_database("lease").await else {
        return;
    };
    let running = Arc::new(PassesRunning::default());
    let passes = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut runners = BTreeMap::new();
    for holder in ["a", "b"] {
        // Two instances: each its own connection.
        let store = PostgresStore::connect(&url).await.unwrap();
        let flow = RecordingFlow {
            holder,
            running: Arc::clone(&running),
            passes: Arc::clone(&passes),
        };
        let stop = Arc::clone(&stop);
        let options = RunOptions {
            holder: holder.to_string(),
            lease_ttl: TTL,
            idle_wait: Duration::from_millis(10),
            ..RunOptions::default()
        };
        let task = tokio::spawn(async move {
            flow::run(&store, &flow, &options, &NoProgress, stop.notified()).await
        });
        runners.insert(holder, task);
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: Vec<_> = passes.lock().unwrap().clone();
    let holder = before.first().expect("a pass ran").0;
    assert!(
        before.iter().all(|(who, _)| *who == holder),
        "both ran passes while the lease was held"
    );
    assert!(before.len() >= 10, "only {} passes", before.len());

    // The holder dies: no release, its lease runs out.
    runners.remove(holder).unwrap().abort();
    let died = Instant::now();
    tokio::time::sleep(TTL * 3).await;

    let after: Vec<_> = passes.lock().unwrap().clone();
    let standby = if holder == "a" { "b" } else { "a" };
    let took_over = after
        .iter()
        .find(|(who, _)| *who == standby)
        .map(|(_, at)| *at)
        .expect("the standby took over");
    let waited = took_over.saturating_duration_since(died);
    println!("holder {holder} died; {standby} took over after {waited:?} (lease {TTL:?})");
    // The holder renewed at most a third of the lease before dying, so the lease outlived it by
    // at least two thirds; the standby tries every third.
    assert!(took_over > died);
    assert!(
        waited >= TTL * 2 / 3 - Duration::from_millis(50),
        "{waited:?}"
    );
    assert!(waited <= TTL * 4 / 3 + Duration::from_secs(2), "{waited:?}");
    assert!(
        after.iter().filter(|(who, _)| *who == standby).count() >= 10,
        "the standby does not go on"
    );
    assert_eq!(
        running.overlaps.load(Ordering::SeqCst),
        0,
        "passes overlapped"
    );

    stop.notify_waiters();
    let end = runners.remove(standby).unwrap().await.unwrap().unwrap();
    assert_eq!(end, RunEnd::Stopped);
}

/// Records, inside each change's transaction, the names of the statements the connection has
/// prepared (`pg_prepared_statements`), then applies the change to our table.
struct PreparedStatementNames(Arc<Mutex<Vec<Vec<String>>>>);

impl<'t> ChangeMapping<PostgresTx<'t>> for PreparedStatementNames {
    type Change = ApprovedChange;
    fn apply(
        &self,
        tx: &mut PostgresTx<'t>,
        change: &ApprovedChange,
    ) -> Result<ChangeOutcome, StoreError> {
        let names = tx
            .transaction()
            .query(
                // Not this query's own statement (prepared anew each time).
                "SELECT name FROM pg_prepared_statements
                 WHERE NOT from_sql AND statement NOT LIKE '%pg_prepared_statements%'
                 ORDER BY name",
                &[],
            )
            .map_err(|e| StoreError::Mutation(e.to_string()))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        self.0.lock().unwrap().push(names);
        BiqTableMapping.apply(tx, change)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_are_prepared_once_per_connection_and_kept() {
    let Some(url) = fresh_database("prepared").await else {
        return;
    };
    let store = PostgresStore::connect(&url).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..4 {
        let mapping = PreparedStatementNames(Arc::clone(&seen));
        apply_approved_change(&store, mapping, change(i))
            .await
            .unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    // From the third change on, every statement of an apply has been used before: the same
    // prepared statements, none prepared again (a new preparation gets a new name).
    assert!(!seen[2].is_empty(), "{seen:?}");
    assert_eq!(seen[2], seen[3], "statements prepared again");
}
