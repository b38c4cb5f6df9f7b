//! Shared by the store tests: a fresh store of each kind, and `on_both_stores!`, which runs a
//! test body (`async fn body<S: Store>(store: S)`) on SQLite always and on PostgreSQL when
//! `CUSTOMER_DATA_SYNC_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! is reachable, each test in its own database; otherwise the PostgreSQL run prints
//! `SKIPPED: <reason>` and passes.
#![allow(dead_code)]

use customer_data_sync::sqlite::SqliteStore;
use customer_data_sync::{ChangeOutcome, ChangeRef, Customer, CustomerTable, Store, StoreError};

/// A private in-memory SQLite store.
pub async fn sqlite_store() -> SqliteStore {
    SqliteStore::open(":memory:").await.expect("open SQLite")
}

/// The server the PostgreSQL tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("CUSTOMER_DATA_SYNC_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A new, empty database on the test server for one test (any earlier one of the same name
/// dropped first), or why there is none (no server reachable).
#[cfg(feature = "postgres")]
pub async fn fresh_postgres_database(test: &str) -> Result<String, String> {
    use customer_data_sync::postgres::postgres;
    use std::sync::atomic::{AtomicU32, Ordering};

    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin = postgres_admin_url();
    // Test names outgrow PostgreSQL's 63-byte identifiers: a short prefix, the process and a
    // counter keep names unique across the test binaries running at once.
    let prefix: String = test
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect::<String>()
        .to_ascii_lowercase();
    let name = format!(
        "cds_{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let created = tokio::task::spawn_blocking({
        let name = name.clone();
        move || -> Result<(), postgres::Error> {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)?;
            client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
            client.batch_execute(&format!("CREATE DATABASE {name}"))
        }
    })
    .await
    .expect("the database task");
    if let Err(error) = created {
        return Err(format!(
            "no PostgreSQL server reachable at CUSTOMER_DATA_SYNC_POSTGRES_URL (or the default): {error}"
        ));
    }
    let mut url = postgres_admin_url();
    let slash = url.rfind('/').expect("a database in the URL");
    url.truncate(slash + 1);
    url.push_str(&name);
    Ok(url)
}

/// A store in a fresh database, or `None` after printing `SKIPPED: <reason>`.
#[cfg(feature = "postgres")]
pub async fn postgres_store(test: &str) -> Option<customer_data_sync::postgres::PostgresStore> {
    match fresh_postgres_database(test).await {
        Ok(url) => Some(
            customer_data_sync::postgres::PostgresStore::connect(&url)
                .await
                .expect("connect to the fresh database"),
        ),
        Err(reason) => {
            println!("SKIPPED: {test} on PostgreSQL: {reason}");
            None
        }
    }
}

/// `on_both_stores!(body, ...)`: for each `async fn body<S: Store>(store: S)` in this file, a
/// test `sqlite::body` and a test `postgres::body`.
#[macro_export]
macro_rules! on_both_stores {
    ($($body:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    super::$body(super::common::sqlite_store().await).await;
                }
            )+
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $body() {
                    if let Some(store) = super::common::postgres_store(stringify!($body)).await {
                        super::$body(store).await;
                    }
                }
            )+
        }
    };
}

/// A mutation of the user's own (same transaction) writes our table, then `break_log` breaks
/// the log table: the log insert then fails after the mutation wrote, and nothing may remain
/// (the log table is back too).
pub async fn a_failing_log_write_rolls_back_the_mutation_too<S, B>(store: &S, break_log: B)
where
    S: Store,
    B: for<'t> FnOnce(&mut S::Tx<'t>) -> Result<(), StoreError> + Send + 'static,
{
    let change = ChangeRef {
        flow: "own".to_string(),
        source: "test".to_string(),
        change_id: "1".to_string(),
        event_type: None,
        cursor: "c1".to_string(),
    };
    let result = store
        .apply(change, move |tx| {
            tx.put_customer(&Customer {
                customer_number: "C-9".to_string(),
                ..Customer::default()
            })?;
            break_log(tx)?;
            Ok(ChangeOutcome::Applied {
                customer_number: "C-9".to_string(),
            })
        })
        .await;
    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
    assert!(store.customers().await.unwrap().is_empty());
    assert_eq!(store.cursor("own").await.unwrap(), None);
    assert_eq!(
        store
            .pending_upload_count("biq-customer-shadow")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.logged_change_count().await.unwrap(),
        0,
        "log table restored by rollback"
    );
}
