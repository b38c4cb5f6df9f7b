//! `cargo bench --bench sync`: BiQ approved changes (name changes on existing customers)
//! applied through `customer-data-sync`'s `Store::apply` with the BiQ mapping
//! (`biq::apply_approved_change`), against a raw loop of the same SQL statements in the same
//! run: the driver directly (rusqlite / postgres), statements prepared once, one transaction
//! per change (lock, log read, row read, row write, the two outbox rows, log entry, cursor).
//!
//! 1. `sync_apply_ratio_sqlite`: changes per second into SQLite (a temp file, WAL) through the
//!    store over the raw loop's: the median over 21 pairs of rounds of 5,000 changes (store
//!    first, then raw first, in turn). Target >= 0.8.
//! 2. `sync_apply_ratio_postgres`: the same into PostgreSQL at
//!    `CUSTOMER_DATA_SYNC_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//!    a fresh database each, 11 pairs of rounds of 1,000 changes; `skipped` with the reason
//!    when no server is reachable.
//! 3. `sync_peak_rss_1m_changes_mib`: the process's peak RSS (`VmHWM`, reset through
//!    `/proc/self/clear_refs` first) while 1,000,000 changes are applied into SQLite through
//!    the store. Target < 64.
//!
//! Prints `figure <name> <value>` lines. `SYNC_BENCH_RSS_CHANGES` shortens the RSS run.

use std::time::Instant;

use customer_data::biq_alert_changes::types::ApprovedChange;
use customer_data_sync::biq::{BiqTableMapping, apply_approved_change};
use customer_data_sync::postgres::{PostgresStore, postgres};
use customer_data_sync::sqlite::{SqliteStore, rusqlite};
use customer_data_sync::{Applied, ChangeOutcome, Column, Customer, Store};

/// Customers the changes rename, round robin.
const CUSTOMERS: u32 = 1_000;
const SQLITE_ROUND: u32 = 5_000;
const SQLITE_PAIRS: u32 = 21;
const POSTGRES_ROUND: u32 = 1_000;
const POSTGRES_PAIRS: u32 = 11;
const RSS_CHANGES: u32 = 1_000_000;

fn customer_number(i: u32) -> String {
    format!("C-{:06}", i % CUSTOMERS)
}

fn customers() -> Vec<Customer> {
    (0..CUSTOMERS)
        .map(|i| Customer {
            customer_number: customer_number(i),
            name: Some(format!("customer {i}")),
            street: Some("Vestergade".to_string()),
            house_number: Some(format!("{}", i % 90 + 1)),
            postal_code: Some("8000".to_string()),
            postal_city: Some("Aarhus C".to_string()),
            email: Some(format!("c{i}@example.com")),
            active: Some("true".to_string()),
            ..Customer::default()
        })
        .collect()
}

/// Name change number `i` (ids unique per `i`; rounds use disjoint ranges).
fn name_change(i: u32) -> ApprovedChange {
    serde_json::from_value(serde_json::json!({
        "id": format!("60000000-0000-4000-8000-{i:012}"),
        "customerNumber": customer_number(i),
        "eventType": "name-change",
        "approved": "2024-06-02T10:00:00+00:00",
        "approvedBy": "approver",
        "payload": {"p": {"proposedName": format!("name {i}")}},
        "committed": format!("2024-06-02T10:00:00.{:06}+00:00", i % 1_000_000),
    }))
    .expect("a valid change")
}

fn changes(range: std::ops::Range<u32>) -> Vec<ApprovedChange> {
    range.map(name_change).collect()
}

/// What the raw loops take from a change: exactly what the BiQ mapping uses for a name change.
struct RawChange {
    id: String,
    cursor: String,
    customer_number: String,
    proposed_name: Option<String>,
    event_type: Option<String>,
}

fn raw(change: &ApprovedChange) -> RawChange {
    RawChange {
        id: change.id.expect("an id").to_string(),
        cursor: change.committed.expect("committed").to_rfc3339(),
        customer_number: change.customer_number.clone().expect("a customer"),
        proposed_name: change
            .payload
            .as_ref()
            .and_then(|p| p["p"]["proposedName"].as_str())
            .map(str::to_string),
        event_type: change.event_type.clone(),
    }
}

// The store's statements, as the raw loops run them (`?N` for SQLite, `$N` for PostgreSQL).
const LOGGED: &str = "SELECT flow, event_type, outcome, detail, customer_number FROM change_log
         WHERE source = ?1 AND change_id = ?2";
const PENDING: &str = "INSERT INTO pending_upload (target, customer_number, version, deleted)
             VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (target, customer_number) DO UPDATE
             SET version = pending_upload.version + 1, deleted = excluded.deleted";
const LOG: &str =
    "INSERT INTO change_log (source, change_id, flow, event_type, outcome, detail, customer_number)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const CURSOR: &str = "INSERT INTO flow_cursor (flow, cursor) VALUES (?1, ?2)
         ON CONFLICT (flow) DO UPDATE SET cursor = excluded.cursor";
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext(?1), hashtext(?2))";
const TARGETS: [&str; 2] = ["biq-customer-shadow", "consumer-intelligence"];

fn column_list() -> String {
    let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    format!("customer_number, extra_data, {}", names.join(", "))
}

fn select_customer() -> String {
    format!(
        "SELECT {} FROM customer WHERE customer_number = ?1",
        column_list()
    )
}

fn upsert_customer() -> String {
    let placeholders: Vec<String> = (1..=Column::ALL.len() + 2)
        .map(|i| format!("?{i}"))
        .collect();
    let updates: Vec<String> = std::iter::once("extra_data")
        .chain(Column::ALL.iter().map(|c| c.name()))
        .map(|name| format!("{name} = excluded.{name}"))
        .collect();
    format!(
        "INSERT INTO customer ({}) VALUES ({})
         ON CONFLICT (customer_number) DO UPDATE SET {}",
        column_list(),
        placeholders.join(", "),
        updates.join(", ")
    )
}

/// Where `name` is in a selected row (after the number and the extra data).
fn name_cell() -> usize {
    2 + Column::ALL
        .iter()
        .position(|c| *c == Column::Name)
        .expect("a name column")
}

fn dollars(sql: &str) -> String {
    sql.replace('?', "$")
}

/// Changes per second through the store, from a task on the runtime's workers (as a flow runs).
async fn store_round<S: Store + Clone + 'static>(store: &S, changes: Vec<ApprovedChange>) -> f64 {
    let store = store.clone();
    tokio::spawn(async move {
        let count = changes.len();
        let started = Instant::now();
        for change in changes {
            let applied = apply_approved_change(&store, BiqTableMapping, change)
                .await
                .expect("applied");
            assert!(matches!(
                applied,
                Applied::Now(ChangeOutcome::Applied { .. })
            ));
        }
        count as f64 / started.elapsed().as_secs_f64()
    })
    .await
    .expect("the store round")
}

/// Changes per second through rusqlite directly.
fn sqlite_raw_round(connection: &mut rusqlite::Connection, changes: &[ApprovedChange]) -> f64 {
    let (select, upsert) = (select_customer(), upsert_customer());
    let started = Instant::now();
    for change in changes {
        let change = raw(change);
        let tx = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        let logged = tx
            .prepare_cached(LOGGED)
            .unwrap()
            .exists(rusqlite::params!["biq", change.id])
            .unwrap();
        assert!(!logged);
        let mut row: Vec<Option<String>> = tx
            .prepare_cached(&select)
            .unwrap()
            .query_row([&change.customer_number], |row| {
                (0..Column::ALL.len() + 2).map(|i| row.get(i)).collect()
            })
            .unwrap();
        row[name_cell()] = change.proposed_name.clone();
        tx.prepare_cached(&upsert)
            .unwrap()
            .execute(rusqlite::params_from_iter(&row))
            .unwrap();
        for target in TARGETS {
            tx.prepare_cached(PENDING)
                .unwrap()
                .execute(rusqlite::params![target, change.customer_number, 0i64])
                .unwrap();
        }
        tx.prepare_cached(LOG)
            .unwrap()
            .execute(rusqlite::params![
                "biq",
                change.id,
                "biq-change-reader",
                change.event_type,
                "applied",
                None::<String>,
                change.customer_number
            ])
            .unwrap();
        tx.prepare_cached(CURSOR)
            .unwrap()
            .execute(rusqlite::params!["biq-change-reader", change.cursor])
            .unwrap();
        tx.commit().unwrap();
    }
    changes.len() as f64 / started.elapsed().as_secs_f64()
}

/// Changes per second through the postgres client directly, statements prepared once.
fn postgres_raw_round(client: &mut postgres::Client, changes: &[ApprovedChange]) -> f64 {
    let prepare = |client: &mut postgres::Client, sql: &str| client.prepare(&dollars(sql)).unwrap();
    let lock = prepare(client, LOCK);
    let logged = prepare(client, LOGGED);
    let select = prepare(client, &select_customer());
    let upsert = prepare(client, &upsert_customer());
    let pending = prepare(client, PENDING);
    let log = prepare(client, LOG);
    let cursor = prepare(client, CURSOR);
    let started = Instant::now();
    for change in changes {
        let change = raw(change);
        let mut tx = client.transaction().unwrap();
        tx.execute(&lock, &[&"biq", &change.id]).unwrap();
        assert!(
            tx.query_opt(&logged, &[&"biq", &change.id])
                .unwrap()
                .is_none()
        );
        let found = tx.query_one(&select, &[&change.customer_number]).unwrap();
        let mut row: Vec<Option<String>> =
            (0..Column::ALL.len() + 2).map(|i| found.get(i)).collect();
        row[name_cell()] = change.proposed_name.clone();
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = row
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        tx.execute(&upsert, &params).unwrap();
        for target in TARGETS {
            tx.execute(&pending, &[&target, &change.customer_number, &0i32])
                .unwrap();
        }
        tx.execute(
            &log,
            &[
                &"biq",
                &change.id,
                &"biq-change-reader",
                &change.event_type,
                &"applied",
                &None::<String>,
                &change.customer_number,
            ],
        )
        .unwrap();
        tx.execute(&cursor, &[&"biq-change-reader", &change.cursor])
            .unwrap();
        tx.commit().unwrap();
    }
    changes.len() as f64 / started.elapsed().as_secs_f64()
}

/// `pairs` pairs of rounds of `round` changes each, store then raw and raw then store in turn,
/// over disjoint change ranges; the median of the pairs' ratios (store rate / raw rate), with
/// the spread. On a machine shared with builds single rounds vary by more than the target's
/// margin, so one pair proves little; the median of many does.
async fn compare<S: Store + Clone + 'static>(
    label: &str,
    store: &S,
    round: u32,
    pairs: u32,
    mut raw_round: impl FnMut(&[ApprovedChange]) -> f64,
) -> f64 {
    let mut ratios = Vec::new();
    let mut next = 0;
    let mut batch = || {
        next += 1;
        changes((next - 1) * round..next * round)
    };
    for pair in 0..pairs {
        let (through_store, through_raw) = if pair % 2 == 0 {
            let through_store = store_round(store, batch()).await;
            (through_store, raw_round(&batch()))
        } else {
            let through_raw = raw_round(&batch());
            (store_round(store, batch()).await, through_raw)
        };
        ratios.push(through_store / through_raw);
        println!(
            "{label} pair {pair}: store {through_store:.0} changes/s, raw {through_raw:.0} changes/s"
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "{label}: median of {pairs} pairs, min {:.3}, max {:.3}",
        ratios[0],
        ratios[ratios.len() - 1]
    );
    ratios[ratios.len() / 2]
}

/// A store and a raw connection on two SQLite files with the same customers.
async fn sqlite_ratio(dir: &std::path::Path) -> f64 {
    let store = SqliteStore::open(dir.join("store.sqlite")).await.unwrap();
    store.put_customers(customers()).await.unwrap();
    let raw_path = dir.join("raw.sqlite");
    SqliteStore::open(&raw_path)
        .await
        .unwrap()
        .put_customers(customers())
        .await
        .unwrap();
    let mut connection = rusqlite::Connection::open(&raw_path).unwrap();
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .unwrap();
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .unwrap();
    connection.set_prepared_statement_cache_capacity(64);
    compare("sqlite", &store, SQLITE_ROUND, SQLITE_PAIRS, |batch| {
        sqlite_raw_round(&mut connection, batch)
    })
    .await
}

fn postgres_admin_url() -> String {
    std::env::var("CUSTOMER_DATA_SYNC_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Two fresh databases (store, raw) with the same customers, or why not.
async fn postgres_ratio() -> Result<f64, String> {
    let admin = postgres_admin_url();
    let mut urls = Vec::new();
    for name in ["cds_bench_store", "cds_bench_raw"] {
        let server = admin.clone();
        tokio::task::spawn_blocking(move || -> Result<(), postgres::Error> {
            let mut client = postgres::Client::connect(&server, postgres::NoTls)?;
            client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
            client.batch_execute(&format!("CREATE DATABASE {name}"))
        })
        .await
        .unwrap()
        .map_err(|e| format!("no PostgreSQL server reachable at CUSTOMER_DATA_SYNC_POSTGRES_URL (or the default): {e}"))?;
        let slash = admin.rfind('/').ok_or("no database in the URL")?;
        urls.push(format!("{}{name}", &admin[..=slash]));
    }
    let store = PostgresStore::connect(&urls[0])
        .await
        .map_err(|e| e.to_string())?;
    store.put_customers(customers()).await.unwrap();
    PostgresStore::connect(&urls[1])
        .await
        .map_err(|e| e.to_string())?
        .put_customers(customers())
        .await
        .unwrap();
    let raw_url = urls[1].clone();
    // The blocking client runs its own runtime: kept on a plain thread.
    let (to_raw, batches) = std::sync::mpsc::channel::<Vec<ApprovedChange>>();
    let (to_bench, rates) = std::sync::mpsc::channel::<f64>();
    let raw_thread = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&raw_url, postgres::NoTls).unwrap();
        for batch in batches {
            to_bench
                .send(postgres_raw_round(&mut client, &batch))
                .unwrap();
        }
    });
    let ratio = compare(
        "postgres",
        &store,
        POSTGRES_ROUND,
        POSTGRES_PAIRS,
        |batch| {
            to_raw.send(batch.to_vec()).unwrap();
            rates.recv().unwrap()
        },
    )
    .await;
    drop(to_raw);
    raw_thread.join().unwrap();
    Ok(ratio)
}

fn status_kib(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Peak RSS in MiB over `count` changes applied into a fresh SQLite store.
async fn peak_rss_mib(dir: &std::path::Path, count: u32) -> f64 {
    let store = SqliteStore::open(dir.join("rss.sqlite")).await.unwrap();
    store.put_customers(customers()).await.unwrap();
    // Reset the high-water mark to the current RSS: the comparison rounds above are not counted.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let started = Instant::now();
    for i in 0..count {
        apply_approved_change(&store, BiqTableMapping, name_change(i))
            .await
            .unwrap();
    }
    assert_eq!(store.logged_change_count().await.unwrap(), u64::from(count));
    println!(
        "{count} changes into SQLite in {:.1?} ({:.0} changes/s)",
        started.elapsed(),
        f64::from(count) / started.elapsed().as_secs_f64()
    );
    status_kib("VmHWM:").expect("VmHWM in /proc/self/status") as f64 / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();

    let ratio = sqlite_ratio(dir.path()).await;
    println!("figure sync_apply_ratio_sqlite {ratio:.3}");

    match postgres_ratio().await {
        Ok(ratio) => println!("figure sync_apply_ratio_postgres {ratio:.3}"),
        Err(reason) => {
            println!("PostgreSQL: {reason}");
            println!("figure sync_apply_ratio_postgres skipped");
        }
    }

    let count = std::env::var("SYNC_BENCH_RSS_CHANGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(RSS_CHANGES);
    let peak = peak_rss_mib(dir.path(), count).await;
    if count == RSS_CHANGES {
        println!("figure sync_peak_rss_1m_changes_mib {peak:.1}");
    } else {
        println!("peak RSS over {count} changes: {peak:.1} MiB (not the 1,000,000 figure)");
    }
}
