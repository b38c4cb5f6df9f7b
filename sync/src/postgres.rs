//! The PostgreSQL store (feature `postgres`): the same migrations and guarantees as SQLite, for
//! several instances sharing one database. Calls run on tokio's blocking pool.
//!
//! Exactly once across instances: [`Store::apply`] takes a transaction-scoped advisory lock on
//! the change's key before reading the log, so a second instance applying the same change waits
//! for the first and then finds it logged.

use std::sync::{Arc, Mutex};

/// The driver, for mappings onto your own schema ([`PostgresTx::transaction`]).
pub use postgres;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row};

use crate::{
    Applied, ChangeOutcome, ChangeRef, Column, Customer, CustomerTable, LoggedChange, Store,
    StoreError,
};

/// The migrations, in order (shared with SQLite).
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_init.sql")];

/// Key of the advisory lock held while migrating (any constant unique to this crate).
const MIGRATION_LOCK: i64 = 0x0c05_7d47_a000_0001;

fn db(error: postgres::Error) -> StoreError {
    // The error's Display is only "db error" for server errors: add the server's code and
    // message (never its detail, which may quote row values).
    match error.as_db_error() {
        Some(server) => StoreError::Database(format!(
            "{} ({}): {}",
            server.severity(),
            server.code().code(),
            server.message()
        )),
        None => StoreError::Database(error.to_string()),
    }
}

/// Owns the blocking client. The client's drop blocks on its own runtime, which panics inside
/// an async context, so it is dropped on a plain thread there.
struct ClientCell(Option<Client>);

impl Drop for ClientCell {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(client));
            } else {
                drop(client);
            }
        }
    }
}

/// A [`Store`] in one PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    client: Arc<Mutex<ClientCell>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: never shown.
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, without TLS) and runs the migrations
    /// not yet applied. Errors never repeat the URL (it may hold a password).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let url = url.to_string();
        let client = tokio::task::spawn_blocking(move || {
            let mut client = Client::connect(&url, NoTls).map_err(db)?;
            migrate(&mut client)?;
            Ok::<_, StoreError>(client)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(PostgresStore {
            client: Arc::new(Mutex::new(ClientCell(Some(client)))),
        })
    }

    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    {
        let client = Arc::clone(&self.client);
        tokio::task::spawn_blocking(move || {
            // An open transaction is rolled back when dropped, so a poisoned client is usable.
            let mut guard = client.lock().unwrap_or_else(|e| e.into_inner());
            match guard.0.as_mut() {
                Some(client) => work(client),
                None => Err(StoreError::Database("the connection is closed".to_string())),
            }
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(db)?;
    // Several instances may start at once: one migrates, the others wait and find it done.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY NOT NULL)",
    )
    .map_err(db)?;
    let applied: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(db)?
        .get(0);
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {applied} is newer than this library's {}",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(sql).map_err(db)?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)
}

/// A mutation's view of the open PostgreSQL transaction: our table through [`CustomerTable`],
/// and the transaction itself for a user's own schema.
pub struct PostgresTx<'t> {
    tx: postgres::Transaction<'t>,
}

impl<'t> PostgresTx<'t> {
    /// The change's transaction: whatever runs here commits or rolls back with the change.
    pub fn transaction(&mut self) -> &mut postgres::Transaction<'t> {
        &mut self.tx
    }
}

fn select_sql() -> String {
    let columns: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    format!(
        "SELECT customer_number, extra_data, {} FROM customer",
        columns.join(", ")
    )
}

fn read_customer(row: &Row) -> Result<Customer, StoreError> {
    let mut customer = Customer {
        customer_number: row.try_get(0).map_err(db)?,
        ..Customer::default()
    };
    for (index, column) in Column::ALL.iter().enumerate() {
        customer.set(*column, row.try_get(index + 2).map_err(db)?);
    }
    let extra: Option<String> = row.try_get(1).map_err(db)?;
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

fn get_customer(
    tx: &mut impl postgres::GenericClient,
    number: &str,
) -> Result<Option<Customer>, StoreError> {
    let sql = format!("{} WHERE customer_number = $1", select_sql());
    tx.query_opt(&sql, &[&number])
        .map_err(db)?
        .as_ref()
        .map(read_customer)
        .transpose()
}

fn put_customer(
    tx: &mut impl postgres::GenericClient,
    customer: &Customer,
) -> Result<(), StoreError> {
    let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    let placeholders: Vec<String> = (3..names.len() + 3).map(|i| format!("${i}")).collect();
    let updates: Vec<String> = std::iter::once("extra_data")
        .chain(names.iter().copied())
        .map(|name| format!("{name} = excluded.{name}"))
        .collect();
    let sql = format!(
        "INSERT INTO customer (customer_number, extra_data, {}) VALUES ($1, $2, {})
         ON CONFLICT (customer_number) DO UPDATE SET {}",
        names.join(", "),
        placeholders.join(", "),
        updates.join(", ")
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
    let params: Vec<&(dyn ToSql + Sync)> =
        values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    tx.execute(&sql, &params).map_err(db)?;
    Ok(())
}

fn logged(
    tx: &mut impl postgres::GenericClient,
    source: &str,
    change_id: &str,
) -> Result<Option<LoggedChange>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT flow, event_type, outcome, detail, customer_number FROM change_log
             WHERE source = $1 AND change_id = $2",
            &[&source, &change_id],
        )
        .map_err(db)?;
    row.map(|row| {
        Ok(LoggedChange {
            flow: row.try_get(0).map_err(db)?,
            event_type: row.try_get(1).map_err(db)?,
            outcome: row.try_get(2).map_err(db)?,
            detail: row.try_get(3).map_err(db)?,
            customer_number: row.try_get(4).map_err(db)?,
        })
    })
    .transpose()
}

impl CustomerTable for PostgresTx<'_> {
    fn customer(&mut self, customer_number: &str) -> Result<Option<Customer>, StoreError> {
        get_customer(&mut self.tx, customer_number)
    }

    fn put_customer(&mut self, customer: &Customer) -> Result<(), StoreError> {
        put_customer(&mut self.tx, customer)
    }

    fn delete_customer(&mut self, customer_number: &str) -> Result<bool, StoreError> {
        let deleted = self
            .tx
            .execute(
                "DELETE FROM customer WHERE customer_number = $1",
                &[&customer_number],
            )
            .map_err(db)?;
        Ok(deleted > 0)
    }
}

impl Store for PostgresStore {
    type Tx<'t> = PostgresTx<'t>;

    async fn customer(&self, customer_number: &str) -> Result<Option<Customer>, StoreError> {
        let number = customer_number.to_string();
        self.run(move |c| get_customer(c, &number)).await
    }

    async fn customers(&self) -> Result<Vec<Customer>, StoreError> {
        self.run(|c| {
            c.query(&format!("{} ORDER BY customer_number", select_sql()), &[])
                .map_err(db)?
                .iter()
                .map(read_customer)
                .collect()
        })
        .await
    }

    async fn put_customer(&self, customer: Customer) -> Result<(), StoreError> {
        self.run(move |c| put_customer(c, &customer)).await
    }

    async fn cursor(&self, flow: &str) -> Result<Option<String>, StoreError> {
        let flow = flow.to_string();
        self.run(move |c| {
            c.query_opt("SELECT cursor FROM flow_cursor WHERE flow = $1", &[&flow])
                .map_err(db)?
                .map(|row| row.try_get(0).map_err(db))
                .transpose()
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
            let count: i64 = c
                .query_one("SELECT COUNT(*) FROM change_log", &[])
                .map_err(db)?
                .get(0);
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn apply<M>(&self, change: ChangeRef, mutation: M) -> Result<Applied, StoreError>
    where
        M: for<'t> FnOnce(&mut PostgresTx<'t>) -> Result<ChangeOutcome, StoreError>
            + Send
            + 'static,
    {
        self.run(move |c| {
            let mut tx = c.transaction().map_err(db)?;
            // Serialise instances on this change's key; the log read below then sees the
            // other's commit (READ COMMITTED takes a new snapshot per statement).
            // (A hash collision only makes two different changes wait for each other.)
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
                &[&change.source, &change.change_id],
            )
            .map_err(db)?;
            if let Some(entry) = logged(&mut tx, &change.source, &change.change_id)? {
                return Ok(Applied::AlreadyLogged(entry));
            }
            // Dropping the transaction on any error below rolls everything back.
            let mut view = PostgresTx { tx };
            let outcome = mutation(&mut view)?;
            let mut tx = view.tx;
            let (detail, customer_number) = match &outcome {
                ChangeOutcome::Applied { customer_number } => {
                    (None, Some(customer_number.as_str()))
                }
                ChangeOutcome::NotApplied { reason } => (Some(reason.as_str()), None),
                ChangeOutcome::Unknown { event_type } => (Some(event_type.as_str()), None),
            };
            tx.execute(
                "INSERT INTO change_log (source, change_id, flow, event_type, outcome, detail, customer_number)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &change.source,
                    &change.change_id,
                    &change.flow,
                    &change.event_type,
                    &outcome.as_str(),
                    &detail,
                    &customer_number,
                ],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO flow_cursor (flow, cursor) VALUES ($1, $2)
                 ON CONFLICT (flow) DO UPDATE SET cursor = excluded.cursor",
                &[&change.flow, &change.cursor],
            )
            .map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(Applied::Now(outcome))
        })
        .await
    }
}
