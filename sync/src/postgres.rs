//! The PostgreSQL store (feature `postgres`): the same migrations, statements and guarantees
//! as SQLite (the logic is shared, `sql.rs`), for several instances sharing one database. Calls
//! block as SQLite's do (see `sqlite`); each statement is prepared once per connection and kept.
//!
//! Exactly once across instances: [`Store::apply`](crate::Store::apply) takes a
//! transaction-scoped advisory lock on the change's key before reading the log, so a second
//! instance applying the same change waits for the first and then finds it logged.

use std::collections::HashMap;

/// The driver, for mappings onto your own schema ([`PostgresTx::transaction`]).
pub use postgres;
use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, NoTls, Statement};

use crate::StoreError;
use crate::sql::{self, Cells, Handle, Lock, OnRow, Params, Sql, Value};

use session::Session;

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

mod session {
    use super::*;

    /// The connection and its prepared statements (by their portable SQL text).
    pub struct Session {
        pub(super) client: Option<Client>,
        pub(super) statements: HashMap<String, Statement>,
    }

    /// The blocking client's drop blocks on its own runtime, which panics inside an async
    /// context, so there it is dropped on a plain thread.
    impl Drop for Session {
        fn drop(&mut self) {
            if let Some(client) = self.client.take() {
                if tokio::runtime::Handle::try_current().is_ok() {
                    std::thread::spawn(move || drop(client));
                } else {
                    drop(client);
                }
            }
        }
    }
}

/// A [`Store`](crate::Store) in one PostgreSQL database. `Debug` shows nothing of the
/// connection (its string may hold a password).
#[derive(Clone, Debug)]
pub struct PostgresStore {
    session: Handle<Session>,
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
            session: Handle::new(Session {
                client: Some(client),
                statements: HashMap::new(),
            }),
        })
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
    for (version, migration) in sql::migrations_after(applied.into())? {
        tx.batch_execute(migration).map_err(db)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)
}

/// A mutation's view of the open PostgreSQL transaction: our table through
/// [`CustomerTable`](crate::CustomerTable), and the transaction itself for a user's own schema.
pub struct PostgresTx<'t> {
    tx: postgres::Transaction<'t>,
    statements: &'t mut HashMap<String, Statement>,
}

impl<'t> PostgresTx<'t> {
    /// The change's transaction: whatever runs here commits or rolls back with the change.
    pub fn transaction(&mut self) -> &mut postgres::Transaction<'t> {
        &mut self.tx
    }

    /// Begins a transaction; for a change, takes a transaction-scoped advisory lock on its key
    /// first: a second instance applying it waits, then its log read sees this one's commit
    /// (READ COMMITTED takes a new snapshot per statement). A hash collision only makes two
    /// different changes wait for each other.
    fn begin(session: &'t mut Session, lock: Lock<'_>) -> Result<Self, StoreError> {
        let client = session.client.as_mut().ok_or_else(closed)?;
        let mut tx = PostgresTx {
            tx: client.transaction().map_err(db)?,
            statements: &mut session.statements,
        };
        if let Lock::Change { source, change_id } = lock {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext(?1), hashtext(?2))",
                &[source.into(), change_id.into()],
            )?;
        }
        Ok(tx)
    }
}

/// `?N` placeholders as PostgreSQL's `$N` (the store's statements hold no `?` elsewhere).
fn dollar_placeholders(sql: &str) -> String {
    sql.replace('?', "$")
}

/// The statement for `sql`, prepared on first use (one round trip) and kept.
fn prepared(
    client: &mut impl GenericClient,
    statements: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, StoreError> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(&dollar_placeholders(sql)).map_err(db)?;
    statements.insert(sql.to_string(), statement.clone());
    Ok(statement)
}

/// A parameter typed as the server expects it (an `INTEGER` column takes 32 bits).
enum Param<'a> {
    Text(Option<&'a str>),
    Int4(Option<i32>),
    Int8(Option<i64>),
}

fn typed_params<'a>(values: &[Value<'a>], types: &[Type]) -> Result<Vec<Param<'a>>, StoreError> {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let int4 = types.get(index) == Some(&Type::INT4);
            Ok(match *value {
                Value::Text(text) => Param::Text(Some(text)),
                Value::Int(number) if int4 => {
                    Param::Int4(Some(i32::try_from(number).map_err(|_| {
                        StoreError::Database(format!(
                            "parameter {} is out of range for an INTEGER column",
                            index + 1
                        ))
                    })?))
                }
                Value::Int(number) => Param::Int8(Some(number)),
                Value::Null if int4 => Param::Int4(None),
                Value::Null if types.get(index) == Some(&Type::INT8) => Param::Int8(None),
                Value::Null => Param::Text(None),
            })
        })
        .collect()
}

fn as_sql<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|param| match param {
            Param::Text(text) => text as &(dyn ToSql + Sync),
            Param::Int4(number) => number as &(dyn ToSql + Sync),
            Param::Int8(number) => number as &(dyn ToSql + Sync),
        })
        .collect()
}

impl Cells for postgres::Row {
    fn text(&self, index: usize) -> Result<Option<String>, StoreError> {
        self.try_get(index).map_err(db)
    }

    fn int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.columns().get(index).map(|column| column.type_()) {
            Some(&Type::INT4) => Ok(self
                .try_get::<_, Option<i32>>(index)
                .map_err(db)?
                .map(i64::from)),
            Some(&Type::INT2) => Ok(self
                .try_get::<_, Option<i16>>(index)
                .map_err(db)?
                .map(i64::from)),
            _ => self.try_get(index).map_err(db),
        }
    }
}

fn closed() -> StoreError {
    StoreError::Database("the connection is closed".to_string())
}

impl Sql for PostgresTx<'_> {
    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        let statement = prepared(&mut self.tx, self.statements, sql)?;
        let params = typed_params(params, statement.params())?;
        self.tx.execute(&statement, &as_sql(&params)).map_err(db)
    }

    fn query(&mut self, sql: &str, params: Params<'_>, each: OnRow<'_>) -> Result<(), StoreError> {
        let statement = prepared(&mut self.tx, self.statements, sql)?;
        let params = typed_params(params, statement.params())?;
        let rows = self.tx.query(&statement, &as_sql(&params)).map_err(db)?;
        rows.iter().try_for_each(|row| each(row))
    }

    fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().map_err(db)
    }
}

sql::store_impl!(PostgresStore, PostgresTx, Session, session);
