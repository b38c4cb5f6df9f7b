//! The embedded SQLite store: a file path (or `:memory:`), WAL journal, foreign keys on, a
//! busy timeout. One connection behind a mutex; every call blocks in place on a multi-threaded
//! runtime (`block_in_place`) and runs on tokio's blocking pool on a current-thread one. The
//! store's logic is shared with PostgreSQL (`sql.rs`); here are the connection, the
//! migrations' bookkeeping (`PRAGMA user_version`) and the lock (an IMMEDIATE transaction).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};

/// The driver, for mappings onto your own schema ([`SqliteTx::connection`]).
pub use rusqlite;

use crate::StoreError;
use crate::sql::{self, Cells, Handle, Lock, OnRow, Params, Sql, Value};

/// How long a call waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Statements kept prepared per connection (rusqlite's default, 16, is fewer than the store
/// uses, which would prepare some again on every change).
const STATEMENT_CACHE: usize = 64;

fn db(error: rusqlite::Error) -> StoreError {
    StoreError::Database(error.to_string())
}

/// A [`Store`](crate::Store) in one SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    connection: Handle<Connection>,
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
            connection: Handle::new(connection),
        })
    }

    fn open_blocking(path: &Path) -> Result<Connection, StoreError> {
        let mut connection = Connection::open(path).map_err(db)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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
        for (version, migration) in sql::migrations_after(applied)? {
            let tx = connection.transaction().map_err(db)?;
            tx.execute_batch(migration).map_err(db)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(db)?;
            tx.commit().map_err(db)?;
        }
        Ok(connection)
    }

    /// The journal mode in effect (`wal` for a file; `memory` for `:memory:`).
    pub async fn journal_mode(&self) -> Result<String, StoreError> {
        sql::run(self, |c| {
            c.pragma_query_value(None, "journal_mode", |row| row.get(0))
                .map_err(db)
        })
        .await
    }
}

/// A mutation's view of the open SQLite transaction: our table through
/// [`CustomerTable`](crate::CustomerTable), and the connection itself for a user's own schema
/// (same transaction).
pub struct SqliteTx<'t> {
    tx: rusqlite::Transaction<'t>,
}

impl<'t> SqliteTx<'t> {
    /// The connection, inside the change's transaction: whatever runs here commits or rolls
    /// back with the change. Do not commit or begin transactions on it.
    pub fn connection(&self) -> &Connection {
        &self.tx
    }

    /// Begins a transaction. A write is IMMEDIATE: it takes the database's write lock before
    /// reading (the log), so two writers cannot both see a change as new; that lock covers a
    /// change's key too.
    fn begin(connection: &'t mut Connection, lock: Lock<'_>) -> Result<Self, StoreError> {
        let behavior = match lock {
            Lock::Read => rusqlite::TransactionBehavior::Deferred,
            Lock::Write | Lock::Change { .. } => rusqlite::TransactionBehavior::Immediate,
        };
        let tx = connection.transaction_with_behavior(behavior).map_err(db)?;
        Ok(SqliteTx { tx })
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Int(number) => ValueRef::Integer(number),
        }))
    }
}

impl Cells for rusqlite::Row<'_> {
    fn text(&self, index: usize) -> Result<Option<String>, StoreError> {
        self.get(index).map_err(db)
    }

    fn int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        self.get(index).map_err(db)
    }
}

impl Sql for SqliteTx<'_> {
    fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().map_err(db)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        let changed = self
            .tx
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(params)))
            .map_err(db)?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }

    fn query(&mut self, sql: &str, params: Params<'_>, each: OnRow<'_>) -> Result<(), StoreError> {
        let mut statement = self.tx.prepare_cached(sql).map_err(db)?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            each(row)?;
        }
        Ok(())
    }
}

sql::store_impl!(SqliteStore, SqliteTx, Connection, connection);
