//! The embedded SQLite store: a file path (or `:memory:`), WAL journal, foreign keys on, a
//! busy timeout. One connection behind a mutex; every call runs on tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

/// The driver, for mappings onto your own schema ([`SqliteTx::connection`]).
pub use rusqlite;

use crate::{
    Applied, ChangeOutcome, ChangeRef, Column, Customer, CustomerTable, FlowStatus, LoggedChange,
    Notification, PassOutcome, PendingUpload, Store, StoreError, UPLOAD_TARGETS,
};

/// The migrations, in order (`PRAGMA user_version` counts those applied).
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_flows.sql"),
];

/// How long a call waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn db(error: rusqlite::Error) -> StoreError {
    StoreError::Database(error.to_string())
}

/// A [`Store`] in one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` (`:memory:` for a private in-memory
    /// one) and runs the migrations not yet applied.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let connection = tokio::task::spawn_blocking(move || Self::open_blocking(&path))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(SqliteStore {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    fn open_blocking(path: &Path) -> Result<Connection, StoreError> {
        let mut connection = Connection::open(path).map_err(db)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        // WAL: readers do not block the writer. NORMAL sync in WAL mode never loses a commit
        // to a process crash; a power cut may lose the last commits, but whole (row, log and
        // cursor together), so those changes are fetched and applied again: still once.
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(db)?;
        let applied: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(db)?;
        let applied = usize::try_from(applied).unwrap_or(0);
        if applied > MIGRATIONS.len() {
            return Err(StoreError::Corrupt(format!(
                "database schema version {applied} is newer than this library's {}",
                MIGRATIONS.len()
            )));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            let tx = connection.transaction().map_err(db)?;
            tx.execute_batch(sql).map_err(db)?;
            tx.pragma_update(None, "user_version", (index + 1) as i64)
                .map_err(db)?;
            tx.commit().map_err(db)?;
        }
        Ok(connection)
    }

    /// The journal mode in effect (`wal` for a file; `memory` for `:memory:`).
    pub async fn journal_mode(&self) -> Result<String, StoreError> {
        self.run(|c| {
            c.pragma_query_value(None, "journal_mode", |row| row.get(0))
                .map_err(db)
        })
        .await
    }

    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            // A panic elsewhere while holding the lock leaves no open transaction (rusqlite
            // rolls back on drop), so the connection is still consistent.
            let mut guard = connection.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// A mutation's view of the open SQLite transaction: our table through [`CustomerTable`], and
/// the connection itself for a user's own schema (same transaction).
pub struct SqliteTx<'t> {
    connection: &'t Connection,
}

impl SqliteTx<'_> {
    /// The connection, inside the change's transaction: whatever runs here commits or rolls
    /// back with the change. Do not commit or begin transactions on it.
    pub fn connection(&self) -> &Connection {
        self.connection
    }
}

fn select_sql() -> String {
    let columns: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    format!(
        "SELECT customer_number, extra_data, {} FROM customer",
        columns.join(", ")
    )
}

fn read_customer(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Customer, Option<String>)> {
    let mut customer = Customer {
        customer_number: row.get(0)?,
        ..Customer::default()
    };
    let extra: Option<String> = row.get(1)?;
    for (index, column) in Column::ALL.iter().enumerate() {
        customer.set(*column, row.get(index + 2)?);
    }
    Ok((customer, extra))
}

fn with_extra_data(
    (mut customer, extra): (Customer, Option<String>),
) -> Result<Customer, StoreError> {
    if let Some(extra) = extra {
        customer.extra_data = serde_json::from_str(&extra).map_err(|e| {
            StoreError::Corrupt(format!(
                "extra_data of customer {} is not a JSON object of strings: {e}",
                customer.customer_number
            ))
        })?;
    }
    Ok(customer)
}

fn get_customer(c: &Connection, number: &str) -> Result<Option<Customer>, StoreError> {
    let row = c
        .query_row(
            &format!("{} WHERE customer_number = ?1", select_sql()),
            params![number],
            read_customer,
        )
        .optional()
        .map_err(db)?;
    row.map(with_extra_data).transpose()
}

fn put_customer(c: &Connection, customer: &Customer) -> Result<(), StoreError> {
    let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    let placeholders: Vec<String> = (3..names.len() + 3).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT OR REPLACE INTO customer (customer_number, extra_data, {}) VALUES (?1, ?2, {})",
        names.join(", "),
        placeholders.join(", ")
    );
    let extra = if customer.extra_data.is_empty() {
        None
    } else {
        Some(
            serde_json::to_string(&customer.extra_data)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        )
    };
    let mut values: Vec<Option<&str>> = vec![Some(&customer.customer_number), extra.as_deref()];
    values.extend(Column::ALL.iter().map(|column| customer.get(*column)));
    c.prepare_cached(&sql)
        .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(values)))
        .map_err(db)?;
    mark_pending(c, &customer.customer_number, false)
}

/// Makes the customer's current state pending for every writer (`deleted`: send a delete).
fn mark_pending(c: &Connection, number: &str, deleted: bool) -> Result<(), StoreError> {
    let mut statement = c
        .prepare_cached(
            "INSERT INTO pending_upload (target, customer_number, version, deleted)
             VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (target, customer_number) DO UPDATE
             SET version = pending_upload.version + 1, deleted = excluded.deleted",
        )
        .map_err(db)?;
    for target in UPLOAD_TARGETS {
        statement
            .execute(params![target, number, i64::from(deleted)])
            .map_err(db)?;
    }
    Ok(())
}

fn delete_customer(c: &Connection, number: &str) -> Result<bool, StoreError> {
    let deleted = c
        .execute(
            "DELETE FROM customer WHERE customer_number = ?1",
            params![number],
        )
        .map_err(db)?;
    if deleted > 0 {
        mark_pending(c, number, true)?;
    }
    Ok(deleted > 0)
}

fn put_notification(c: &Connection, n: &Notification) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO notification (source, notification_id, event_type, customer_number, committed, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (source, notification_id) DO NOTHING",
    )
    .and_then(|mut statement| {
        statement.execute(params![
            n.source,
            n.notification_id,
            n.event_type,
            n.customer_number,
            n.committed,
            n.payload
        ])
    })
    .map_err(db)?;
    Ok(())
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn logged(
    c: &Connection,
    source: &str,
    change_id: &str,
) -> Result<Option<LoggedChange>, StoreError> {
    c.query_row(
        "SELECT flow, event_type, outcome, detail, customer_number FROM change_log
         WHERE source = ?1 AND change_id = ?2",
        params![source, change_id],
        |row| {
            Ok(LoggedChange {
                flow: row.get(0)?,
                event_type: row.get(1)?,
                outcome: row.get(2)?,
                detail: row.get(3)?,
                customer_number: row.get(4)?,
            })
        },
    )
    .optional()
    .map_err(db)
}

impl CustomerTable for SqliteTx<'_> {
    fn customer(&mut self, customer_number: &str) -> Result<Option<Customer>, StoreError> {
        get_customer(self.connection, customer_number)
    }

    fn put_customer(&mut self, customer: &Customer) -> Result<(), StoreError> {
        put_customer(self.connection, customer)
    }

    fn delete_customer(&mut self, customer_number: &str) -> Result<bool, StoreError> {
        delete_customer(self.connection, customer_number)
    }

    fn put_notification(&mut self, notification: &Notification) -> Result<(), StoreError> {
        put_notification(self.connection, notification)
    }
}

impl Store for SqliteStore {
    type Tx<'t> = SqliteTx<'t>;

    async fn customer(&self, customer_number: &str) -> Result<Option<Customer>, StoreError> {
        let number = customer_number.to_string();
        self.run(move |c| get_customer(c, &number)).await
    }

    async fn customers(&self) -> Result<Vec<Customer>, StoreError> {
        self.run(|c| {
            let mut statement = c
                .prepare(&format!("{} ORDER BY customer_number", select_sql()))
                .map_err(db)?;
            let rows = statement
                .query_map([], read_customer)
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            rows.into_iter().map(with_extra_data).collect()
        })
        .await
    }

    async fn put_customer(&self, customer: Customer) -> Result<(), StoreError> {
        self.run(move |c| {
            // The row and its pending upload together.
            let tx = c.transaction().map_err(db)?;
            put_customer(&tx, &customer)?;
            tx.commit().map_err(db)
        })
        .await
    }

    async fn put_customers(&self, customers: Vec<Customer>) -> Result<(), StoreError> {
        self.run(move |c| {
            let tx = c.transaction().map_err(db)?;
            for customer in &customers {
                put_customer(&tx, customer)?;
            }
            tx.commit().map_err(db)
        })
        .await
    }

    async fn delete_customer(&self, customer_number: &str) -> Result<bool, StoreError> {
        let number = customer_number.to_string();
        self.run(move |c| {
            let tx = c.transaction().map_err(db)?;
            let deleted = delete_customer(&tx, &number)?;
            tx.commit().map_err(db)?;
            Ok(deleted)
        })
        .await
    }

    async fn pending_uploads(
        &self,
        target: &str,
        limit: u32,
    ) -> Result<Vec<PendingUpload>, StoreError> {
        let target = target.to_string();
        self.run(move |c| {
            let tx = c.transaction().map_err(db)?;
            let pending = {
                let mut statement = tx
                    .prepare_cached(
                        "SELECT customer_number, version, deleted FROM pending_upload
                         WHERE target = ?1 ORDER BY version, customer_number LIMIT ?2",
                    )
                    .map_err(db)?;
                statement
                    .query_map(params![target, i64::from(limit)], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, i64>(2)? != 0,
                        ))
                    })
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?
            };
            let mut uploads = Vec::with_capacity(pending.len());
            for (customer_number, version, deleted) in pending {
                let customer = if deleted {
                    None
                } else {
                    get_customer(&tx, &customer_number)?
                };
                uploads.push(PendingUpload {
                    customer_number,
                    version,
                    customer,
                });
            }
            Ok(uploads)
        })
        .await
    }

    async fn pending_upload_count(&self, target: &str) -> Result<u64, StoreError> {
        let target = target.to_string();
        self.run(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM pending_upload WHERE target = ?1",
                params![target],
                |row| row.get(0),
            )
            .map(count)
            .map_err(db)
        })
        .await
    }

    async fn upload_done(
        &self,
        target: &str,
        customer_number: &str,
        version: i64,
    ) -> Result<bool, StoreError> {
        let (target, number) = (target.to_string(), customer_number.to_string());
        self.run(move |c| {
            c.execute(
                "DELETE FROM pending_upload
                 WHERE target = ?1 AND customer_number = ?2 AND version = ?3",
                params![target, number, version],
            )
            .map(|deleted| deleted > 0)
            .map_err(db)
        })
        .await
    }

    async fn record_pass(
        &self,
        flow: &str,
        at: &str,
        outcome: PassOutcome,
    ) -> Result<(), StoreError> {
        let (flow, at) = (flow.to_string(), at.to_string());
        self.run(move |c| {
            match outcome {
                PassOutcome::Succeeded { items } => c.execute(
                    "INSERT INTO flow_status (flow, passes, items, failures, last_success_at)
                     VALUES (?1, 1, ?2, 0, ?3)
                     ON CONFLICT (flow) DO UPDATE SET passes = flow_status.passes + 1,
                     items = flow_status.items + excluded.items,
                     last_success_at = excluded.last_success_at",
                    params![flow, i64::try_from(items).unwrap_or(i64::MAX), at],
                ),
                PassOutcome::Failed { error } => c.execute(
                    "INSERT INTO flow_status (flow, passes, items, failures, last_error, last_error_at)
                     VALUES (?1, 1, 0, 1, ?2, ?3)
                     ON CONFLICT (flow) DO UPDATE SET passes = flow_status.passes + 1,
                     failures = flow_status.failures + 1,
                     last_error = excluded.last_error, last_error_at = excluded.last_error_at",
                    params![flow, error, at],
                ),
            }
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn flow_statuses(&self) -> Result<Vec<FlowStatus>, StoreError> {
        self.run(|c| {
            let mut statement = c
                .prepare(
                    "SELECT f.flow, s.passes, s.items, s.failures, s.last_success_at,
                            s.last_error, s.last_error_at, k.cursor, l.holder, l.expires_at
                     FROM (SELECT flow FROM flow_status UNION SELECT flow FROM flow_cursor
                           UNION SELECT flow FROM flow_lease) f
                     LEFT JOIN flow_status s ON s.flow = f.flow
                     LEFT JOIN flow_cursor k ON k.flow = f.flow
                     LEFT JOIN flow_lease l ON l.flow = f.flow
                     ORDER BY f.flow",
                )
                .map_err(db)?;
            statement
                .query_map([], |row| {
                    let holder: Option<String> = row.get(8)?;
                    let expires: Option<i64> = row.get(9)?;
                    Ok(FlowStatus {
                        flow: row.get(0)?,
                        passes: count(row.get::<_, Option<i64>>(1)?.unwrap_or(0)),
                        items: count(row.get::<_, Option<i64>>(2)?.unwrap_or(0)),
                        failures: count(row.get::<_, Option<i64>>(3)?.unwrap_or(0)),
                        last_success_at: row.get(4)?,
                        last_error: row.get(5)?,
                        last_error_at: row.get(6)?,
                        cursor: row.get(7)?,
                        lease: holder.zip(expires),
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
        .await
    }

    async fn try_lease(
        &self,
        flow: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let (flow, holder) = (flow.to_string(), holder.to_string());
        self.run(move |c| {
            c.execute(
                "INSERT INTO flow_lease (flow, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (flow) DO UPDATE SET holder = excluded.holder,
                 expires_at = excluded.expires_at
                 WHERE flow_lease.holder = excluded.holder OR flow_lease.expires_at <= ?4",
                params![flow, holder, now_ms.saturating_add(ttl_ms), now_ms],
            )
            .map(|changed| changed > 0)
            .map_err(db)
        })
        .await
    }

    async fn release_lease(&self, flow: &str, holder: &str) -> Result<(), StoreError> {
        let (flow, holder) = (flow.to_string(), holder.to_string());
        self.run(move |c| {
            c.execute(
                "DELETE FROM flow_lease WHERE flow = ?1 AND holder = ?2",
                params![flow, holder],
            )
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn notifications(&self) -> Result<Vec<Notification>, StoreError> {
        self.run(|c| {
            let mut statement = c
                .prepare(
                    "SELECT source, notification_id, event_type, customer_number, committed, payload
                     FROM notification ORDER BY committed, source, notification_id",
                )
                .map_err(db)?;
            statement
                .query_map([], |row| {
                    Ok(Notification {
                        source: row.get(0)?,
                        notification_id: row.get(1)?,
                        event_type: row.get(2)?,
                        customer_number: row.get(3)?,
                        committed: row.get(4)?,
                        payload: row.get(5)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
        .await
    }

    async fn cursor(&self, flow: &str) -> Result<Option<String>, StoreError> {
        let flow = flow.to_string();
        self.run(move |c| {
            c.query_row(
                "SELECT cursor FROM flow_cursor WHERE flow = ?1",
                params![flow],
                |row| row.get(0),
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn logged_change(
        &self,
        source: &str,
        change_id: &str,
    ) -> Result<Option<LoggedChange>, StoreError> {
        let (source, change_id) = (source.to_string(), change_id.to_string());
        self.run(move |c| logged(c, &source, &change_id)).await
    }

    async fn logged_change_count(&self) -> Result<u64, StoreError> {
        self.run(|c| {
            c.query_row("SELECT COUNT(*) FROM change_log", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(db)
        })
        .await
    }

    async fn apply<M>(&self, change: ChangeRef, mutation: M) -> Result<Applied, StoreError>
    where
        M: for<'t> FnOnce(&mut SqliteTx<'t>) -> Result<ChangeOutcome, StoreError> + Send + 'static,
    {
        self.run(move |c| {
            // IMMEDIATE: take the write lock before reading the log, so two writers cannot
            // both see the change as new.
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db)?;
            if let Some(entry) = logged(&tx, &change.source, &change.change_id)? {
                return Ok(Applied::AlreadyLogged(entry));
            }
            // Dropping `tx` on any error below rolls everything back.
            let outcome = mutation(&mut SqliteTx { connection: &tx })?;
            let (detail, customer_number) = match &outcome {
                ChangeOutcome::Applied { customer_number } => (None, Some(customer_number.as_str())),
                ChangeOutcome::NotApplied { reason } => (Some(reason.as_str()), None),
                ChangeOutcome::Unknown { event_type } => (Some(event_type.as_str()), None),
            };
            tx.execute(
                "INSERT INTO change_log (source, change_id, flow, event_type, outcome, detail, customer_number)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    change.source,
                    change.change_id,
                    change.flow,
                    change.event_type,
                    outcome.as_str(),
                    detail,
                    customer_number
                ],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO flow_cursor (flow, cursor) VALUES (?1, ?2)
                 ON CONFLICT (flow) DO UPDATE SET cursor = excluded.cursor",
                params![change.flow, change.cursor],
            )
            .map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(Applied::Now(outcome))
        })
        .await
    }
}
