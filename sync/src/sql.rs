//! The store's logic, once for both databases: every statement is portable SQL written with
//! `?N` placeholders (PostgreSQL's driver rewrites them to `$N`), run through [`Sql`], which
//! each driver implements over its connection and its transaction. What stays per driver is
//! connection handling, migration bookkeeping and locking ([`Driver::write`]): SQLite takes the
//! database's write lock (an IMMEDIATE transaction), PostgreSQL an advisory lock on the change's
//! key.

use std::sync::{Arc, LazyLock, Mutex};

use crate::{
    ChangeOutcome, ChangeRef, Column, Customer, FlowStatus, LoggedChange, Notification,
    PassOutcome, PendingUpload, StoreError, UPLOAD_TARGETS,
};

/// The migrations, in order, shared by both databases.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_flows.sql"),
];

/// The migrations a database with `applied` of them still needs, each with the schema version
/// it makes (1 for the first); refused when the database is newer than this library.
pub fn migrations_after(applied: i64) -> Result<Vec<(i32, &'static str)>, StoreError> {
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {applied} is newer than this library's {}",
            MIGRATIONS.len()
        )));
    }
    Ok((applied..MIGRATIONS.len())
        .map(|index| {
            (
                i32::try_from(index + 1).unwrap_or(i32::MAX),
                MIGRATIONS[index],
            )
        })
        .collect())
}

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// Text.
    Text(&'a str),
    /// An integer (PostgreSQL's driver narrows it for an `INTEGER` column).
    Int(i64),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(text: &'a str) -> Self {
        Value::Text(text)
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(text: Option<&'a str>) -> Self {
        text.map_or(Value::Null, Value::Text)
    }
}

impl From<i64> for Value<'_> {
    fn from(number: i64) -> Self {
        Value::Int(number)
    }
}

/// The cells of one result row.
pub trait Cells {
    /// The text (or NULL) in column `index`.
    fn text(&self, index: usize) -> Result<Option<String>, StoreError>;
    /// The integer (or NULL) in column `index`.
    fn int(&self, index: usize) -> Result<Option<i64>, StoreError>;
}

/// Called for each row of a query.
pub type OnRow<'r> = &'r mut dyn FnMut(&dyn Cells) -> Result<(), StoreError>;

/// A statement's parameters.
pub type Params<'a> = &'a [Value<'a>];

/// A transaction that runs portable statements (`?N` placeholders), each prepared once per
/// connection. Dropped without [`Sql::commit`], it rolls back.
pub trait Sql {
    /// Runs a statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, StoreError>;
    /// Runs a query, handing each row to `each`.
    fn query(&mut self, sql: &str, params: Params<'_>, each: OnRow<'_>) -> Result<(), StoreError>;
    /// Commits.
    fn commit(self) -> Result<(), StoreError>
    where
        Self: Sized;
}

/// What a transaction locks beyond what its statements lock.
#[derive(Debug, Clone, Copy)]
pub enum Lock<'a> {
    /// Nothing: it only reads.
    Read,
    /// It writes: SQLite takes the database's write lock at once (no upgrade to fail later).
    Write,
    /// It applies a change: the change's key too, before the log is read, so a second writer
    /// of the same change waits and then finds it logged.
    // Only PostgreSQL reads the key (SQLite's write lock covers every key).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Change {
        /// See [`ChangeRef::source`].
        source: &'a str,
        /// See [`ChangeRef::change_id`].
        change_id: &'a str,
    },
}

/// A driver's connection, shared by a store's clones, used by blocking calls ([`run`]).
/// `Debug` shows nothing of it (a connection string may hold a password).
pub struct Handle<C>(Arc<Mutex<C>>);

impl<C> Handle<C> {
    /// Shares `connection`.
    pub fn new(connection: C) -> Self {
        Handle(Arc::new(Mutex::new(connection)))
    }
}

impl<C> Clone for Handle<C> {
    fn clone(&self) -> Self {
        Handle(Arc::clone(&self.0))
    }
}

impl<C> std::fmt::Debug for Handle<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handle(..)")
    }
}

/// One database driver: its connection and its transactions, in which every statement of the
/// store runs.
pub trait Driver: Send + Sync + 'static {
    /// The connection.
    type Connection: Send + 'static;
    /// A transaction, as the store's statements and the mutations see it.
    type Tx<'t>: Sql;
    /// The shared connection.
    fn handle(&self) -> &Handle<Self::Connection>;
    /// Begins a transaction holding `lock`.
    fn begin<'c>(c: &'c mut Self::Connection, lock: Lock<'_>) -> Result<Self::Tx<'c>, StoreError>;
}

/// Runs `work` in a transaction holding `lock`; commits when it returns `Ok`, rolls back
/// otherwise (the transaction is dropped).
pub fn transaction<D: Driver, T>(
    connection: &mut D::Connection,
    lock: Lock<'_>,
    work: impl FnOnce(&mut D::Tx<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut tx = D::begin(connection, lock)?;
    let result = work(&mut tx)?;
    tx.commit()?;
    Ok(result)
}

/// Runs `work` with the driver's connection, blocking: in place on a multi-threaded runtime
/// (`block_in_place`: the runtime moves its other tasks to another thread), on the blocking
/// pool otherwise. In place saves two thread hand-offs per call, which on a busy machine cost
/// more than a whole SQLite transaction (each waits for a core).
pub async fn run<D, T, F>(driver: &D, work: F) -> Result<T, StoreError>
where
    D: Driver,
    T: Send + 'static,
    F: FnOnce(&mut D::Connection) -> Result<T, StoreError> + Send + 'static,
{
    let connection = Arc::clone(&driver.handle().0);
    let locked = move || {
        // A panic elsewhere while holding the lock leaves no open transaction (both drivers
        // roll back on drop), so the connection is still consistent.
        let mut guard = connection.lock().unwrap_or_else(|e| e.into_inner());
        work(&mut guard)
    };
    let multi_threaded = tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
        runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
    });
    if multi_threaded {
        tokio::task::block_in_place(locked)
    } else {
        tokio::task::spawn_blocking(locked)
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// Runs `work` in a read transaction.
pub async fn read<D, T, F>(driver: &D, work: F) -> Result<T, StoreError>
where
    D: Driver,
    T: Send + 'static,
    F: for<'t> FnOnce(&mut D::Tx<'t>) -> Result<T, StoreError> + Send + 'static,
{
    run(driver, move |c| transaction::<D, T>(c, Lock::Read, work)).await
}

/// Runs `work` in a write transaction.
pub async fn write<D, T, F>(driver: &D, work: F) -> Result<T, StoreError>
where
    D: Driver,
    T: Send + 'static,
    F: for<'t> FnOnce(&mut D::Tx<'t>) -> Result<T, StoreError> + Send + 'static,
{
    run(driver, move |c| transaction::<D, T>(c, Lock::Write, work)).await
}

fn customer_columns() -> String {
    let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    format!("customer_number, extra_data, {}", names.join(", "))
}

static SELECT_CUSTOMER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM customer WHERE customer_number = ?1",
        customer_columns()
    )
});

static SELECT_CUSTOMERS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM customer ORDER BY customer_number",
        customer_columns()
    )
});

static UPSERT_CUSTOMER: LazyLock<String> = LazyLock::new(|| {
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
        customer_columns(),
        placeholders.join(", "),
        updates.join(", ")
    )
});

fn required_text(cells: &dyn Cells, index: usize) -> Result<String, StoreError> {
    cells
        .text(index)?
        .ok_or_else(|| StoreError::Corrupt(format!("column {index} is NULL")))
}

fn count(cells: &dyn Cells, index: usize) -> Result<u64, StoreError> {
    Ok(u64::try_from(cells.int(index)?.unwrap_or(0)).unwrap_or(0))
}

fn read_customer(cells: &dyn Cells) -> Result<Customer, StoreError> {
    let mut customer = Customer {
        customer_number: required_text(cells, 0)?,
        ..Customer::default()
    };
    for (index, column) in Column::ALL.iter().enumerate() {
        customer.set(*column, cells.text(index + 2)?);
    }
    if let Some(extra) = cells.text(1)? {
        // The parser's message may quote a stored value: only where it failed is kept.
        customer.extra_data = serde_json::from_str(&extra).map_err(|e| {
            StoreError::Corrupt(format!(
                "extra_data of customer {} is not a JSON object of strings (line {}, column {})",
                customer.customer_number,
                e.line(),
                e.column()
            ))
        })?;
    }
    Ok(customer)
}

/// Every row of a query, read by `read`.
fn rows<T>(
    c: &mut (impl Sql + ?Sized),
    sql: &str,
    params: &[Value<'_>],
    read: impl Fn(&dyn Cells) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut found = Vec::new();
    c.query(sql, params, &mut |cells| {
        found.push(read(cells)?);
        Ok(())
    })?;
    Ok(found)
}

/// The first row of a query, if any.
fn first_row<T>(
    c: &mut (impl Sql + ?Sized),
    sql: &str,
    params: &[Value<'_>],
    read: impl Fn(&dyn Cells) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut found = None;
    c.query(sql, params, &mut |cells| {
        if found.is_none() {
            found = Some(read(cells)?);
        }
        Ok(())
    })?;
    Ok(found)
}

/// The customer with this number, if any.
pub fn customer(c: &mut (impl Sql + ?Sized), number: &str) -> Result<Option<Customer>, StoreError> {
    first_row(c, &SELECT_CUSTOMER, &[number.into()], read_customer)
}

/// Every customer, ordered by number.
pub fn customers(c: &mut (impl Sql + ?Sized)) -> Result<Vec<Customer>, StoreError> {
    rows(c, &SELECT_CUSTOMERS, &[], read_customer)
}

/// Inserts or replaces the row and makes it pending for every writer.
pub fn put_customer(c: &mut (impl Sql + ?Sized), customer: &Customer) -> Result<(), StoreError> {
    let extra = if customer.extra_data.is_empty() {
        None
    } else {
        Some(
            serde_json::to_string(&customer.extra_data)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        )
    };
    let mut values: Vec<Value<'_>> = Vec::with_capacity(Column::ALL.len() + 2);
    values.push(customer.customer_number.as_str().into());
    values.push(extra.as_deref().into());
    values.extend(
        Column::ALL
            .iter()
            .map(|column| Value::from(customer.get(*column))),
    );
    c.execute(&UPSERT_CUSTOMER, &values)?;
    mark_pending(c, &customer.customer_number, false)
}

/// Makes the customer's current state pending for every writer (`deleted`: send a delete).
fn mark_pending(
    c: &mut (impl Sql + ?Sized),
    number: &str,
    deleted: bool,
) -> Result<(), StoreError> {
    for target in UPLOAD_TARGETS {
        c.execute(
            "INSERT INTO pending_upload (target, customer_number, version, deleted)
             VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (target, customer_number) DO UPDATE
             SET version = pending_upload.version + 1, deleted = excluded.deleted",
            &[(*target).into(), number.into(), i64::from(deleted).into()],
        )?;
    }
    Ok(())
}

/// Deletes the row (pending as a delete for every writer); `false` when there was none.
pub fn delete_customer(c: &mut (impl Sql + ?Sized), number: &str) -> Result<bool, StoreError> {
    let deleted = c.execute(
        "DELETE FROM customer WHERE customer_number = ?1",
        &[number.into()],
    )?;
    if deleted > 0 {
        mark_pending(c, number, true)?;
    }
    Ok(deleted > 0)
}

/// Records a notification once per source and id.
pub fn put_notification(c: &mut (impl Sql + ?Sized), n: &Notification) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO notification (source, notification_id, event_type, customer_number, committed, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (source, notification_id) DO NOTHING",
        &[
            n.source.as_str().into(),
            n.notification_id.as_str().into(),
            n.event_type.as_deref().into(),
            n.customer_number.as_deref().into(),
            n.committed.as_deref().into(),
            n.payload.as_deref().into(),
        ],
    )?;
    Ok(())
}

/// The log entry of a change, if it was handled.
pub fn logged_change(
    c: &mut (impl Sql + ?Sized),
    source: &str,
    change_id: &str,
) -> Result<Option<LoggedChange>, StoreError> {
    first_row(
        c,
        "SELECT flow, event_type, outcome, detail, customer_number FROM change_log
         WHERE source = ?1 AND change_id = ?2",
        &[source.into(), change_id.into()],
        |row| {
            Ok(LoggedChange {
                flow: required_text(row, 0)?,
                event_type: row.text(1)?,
                outcome: required_text(row, 2)?,
                detail: row.text(3)?,
                customer_number: row.text(4)?,
            })
        },
    )
}

/// Number of changes in the log.
pub fn logged_change_count(c: &mut (impl Sql + ?Sized)) -> Result<u64, StoreError> {
    first_row(c, "SELECT COUNT(*) FROM change_log", &[], |row| {
        count(row, 0)
    })
    .map(Option::unwrap_or_default)
}

/// The cursor of a flow.
pub fn cursor(c: &mut (impl Sql + ?Sized), flow: &str) -> Result<Option<String>, StoreError> {
    first_row(
        c,
        "SELECT cursor FROM flow_cursor WHERE flow = ?1",
        &[flow.into()],
        |row| required_text(row, 0),
    )
}

/// Inside the change's transaction (its key already locked): skips a change already logged,
/// otherwise runs the mutation, logs the change and moves the flow's cursor.
pub fn apply<X: Sql + ?Sized>(
    tx: &mut X,
    change: &ChangeRef,
    mutation: impl FnOnce(&mut X) -> Result<ChangeOutcome, StoreError>,
) -> Result<crate::Applied, StoreError> {
    if let Some(entry) = logged_change(tx, &change.source, &change.change_id)? {
        return Ok(crate::Applied::AlreadyLogged(entry));
    }
    let outcome = mutation(tx)?;
    let (detail, customer_number) = match &outcome {
        ChangeOutcome::Applied { customer_number } => (None, Some(customer_number.as_str())),
        ChangeOutcome::NotApplied { reason } => (Some(reason.as_str()), None),
        ChangeOutcome::Unknown { event_type } => (Some(event_type.as_str()), None),
    };
    tx.execute(
        "INSERT INTO change_log (source, change_id, flow, event_type, outcome, detail, customer_number)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            change.source.as_str().into(),
            change.change_id.as_str().into(),
            change.flow.as_str().into(),
            change.event_type.as_deref().into(),
            outcome.as_str().into(),
            detail.into(),
            customer_number.into(),
        ],
    )?;
    set_cursor(tx, &change.flow, &change.cursor)?;
    Ok(crate::Applied::Now(outcome))
}

/// Sets the cursor of a flow.
pub fn set_cursor(
    tx: &mut (impl Sql + ?Sized),
    flow: &str,
    cursor: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO flow_cursor (flow, cursor) VALUES (?1, ?2)
         ON CONFLICT (flow) DO UPDATE SET cursor = excluded.cursor",
        &[flow.into(), cursor.into()],
    )?;
    Ok(())
}

/// Up to `limit` pending uploads of `target` (run in a transaction: the list and the rows
/// agree).
pub fn pending_uploads(
    tx: &mut (impl Sql + ?Sized),
    target: &str,
    limit: u32,
) -> Result<Vec<PendingUpload>, StoreError> {
    let pending = rows(
        tx,
        "SELECT customer_number, version, deleted FROM pending_upload
         WHERE target = ?1 ORDER BY version, customer_number LIMIT ?2",
        &[target.into(), i64::from(limit).into()],
        |row| {
            Ok((
                required_text(row, 0)?,
                row.int(1)?.unwrap_or(0),
                row.int(2)?.unwrap_or(0) != 0,
            ))
        },
    )?;
    let mut uploads = Vec::with_capacity(pending.len());
    for (customer_number, version, deleted) in pending {
        let customer = if deleted {
            None
        } else {
            customer(tx, &customer_number)?
        };
        uploads.push(PendingUpload {
            customer_number,
            version,
            customer,
        });
    }
    Ok(uploads)
}

/// How many customers wait to be sent to `target`.
pub fn pending_upload_count(c: &mut (impl Sql + ?Sized), target: &str) -> Result<u64, StoreError> {
    first_row(
        c,
        "SELECT COUNT(*) FROM pending_upload WHERE target = ?1",
        &[target.into()],
        |row| count(row, 0),
    )
    .map(Option::unwrap_or_default)
}

/// Clears the entry if it is still at `version`.
pub fn upload_done(
    c: &mut (impl Sql + ?Sized),
    target: &str,
    number: &str,
    version: i64,
) -> Result<bool, StoreError> {
    c.execute(
        "DELETE FROM pending_upload WHERE target = ?1 AND customer_number = ?2 AND version = ?3",
        &[target.into(), number.into(), version.into()],
    )
    .map(|deleted| deleted > 0)
}

/// Counts a pass of `flow`.
pub fn record_pass(
    c: &mut (impl Sql + ?Sized),
    flow: &str,
    at: &str,
    outcome: &PassOutcome,
) -> Result<(), StoreError> {
    match outcome {
        PassOutcome::Succeeded { items } => c.execute(
            "INSERT INTO flow_status (flow, passes, items, failures, last_success_at)
             VALUES (?1, 1, ?2, 0, ?3)
             ON CONFLICT (flow) DO UPDATE SET passes = flow_status.passes + 1,
             items = flow_status.items + excluded.items,
             last_success_at = excluded.last_success_at",
            &[
                flow.into(),
                i64::try_from(*items).unwrap_or(i64::MAX).into(),
                at.into(),
            ],
        ),
        PassOutcome::Failed { error } => c.execute(
            "INSERT INTO flow_status (flow, passes, items, failures, last_error, last_error_at)
             VALUES (?1, 1, 0, 1, ?2, ?3)
             ON CONFLICT (flow) DO UPDATE SET passes = flow_status.passes + 1,
             failures = flow_status.failures + 1,
             last_error = excluded.last_error, last_error_at = excluded.last_error_at",
            &[flow.into(), error.as_str().into(), at.into()],
        ),
    }
    .map(|_| ())
}

/// Every flow's status, ordered by name.
pub fn flow_statuses(c: &mut (impl Sql + ?Sized)) -> Result<Vec<FlowStatus>, StoreError> {
    rows(
        c,
        "SELECT f.flow, s.passes, s.items, s.failures, s.last_success_at,
                s.last_error, s.last_error_at, k.cursor, l.holder, l.expires_at
         FROM (SELECT flow FROM flow_status UNION SELECT flow FROM flow_cursor
               UNION SELECT flow FROM flow_lease) f
         LEFT JOIN flow_status s ON s.flow = f.flow
         LEFT JOIN flow_cursor k ON k.flow = f.flow
         LEFT JOIN flow_lease l ON l.flow = f.flow
         ORDER BY f.flow",
        &[],
        |row| {
            Ok(FlowStatus {
                flow: required_text(row, 0)?,
                passes: count(row, 1)?,
                items: count(row, 2)?,
                failures: count(row, 3)?,
                last_success_at: row.text(4)?,
                last_error: row.text(5)?,
                last_error_at: row.text(6)?,
                cursor: row.text(7)?,
                lease: row.text(8)?.zip(row.int(9)?),
            })
        },
    )
}

/// Takes or renews the lease in one statement (see [`crate::Store::try_lease`]).
pub fn try_lease(
    c: &mut (impl Sql + ?Sized),
    flow: &str,
    holder: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<bool, StoreError> {
    c.execute(
        "INSERT INTO flow_lease (flow, holder, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (flow) DO UPDATE SET holder = excluded.holder,
         expires_at = excluded.expires_at
         WHERE flow_lease.holder = excluded.holder OR flow_lease.expires_at <= ?4",
        &[
            flow.into(),
            holder.into(),
            now_ms.saturating_add(ttl_ms).into(),
            now_ms.into(),
        ],
    )
    .map(|changed| changed > 0)
}

/// Gives the lease up if `holder` has it.
pub fn release_lease(
    c: &mut (impl Sql + ?Sized),
    flow: &str,
    holder: &str,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM flow_lease WHERE flow = ?1 AND holder = ?2",
        &[flow.into(), holder.into()],
    )
    .map(|_| ())
}

/// Every notification, in the order the vendor committed them.
pub fn notifications(c: &mut (impl Sql + ?Sized)) -> Result<Vec<Notification>, StoreError> {
    rows(
        c,
        "SELECT source, notification_id, event_type, customer_number, committed, payload
         FROM notification ORDER BY committed, source, notification_id",
        &[],
        |row| {
            Ok(Notification {
                source: required_text(row, 0)?,
                notification_id: required_text(row, 1)?,
                event_type: row.text(2)?,
                customer_number: row.text(3)?,
                committed: row.text(4)?,
                payload: row.text(5)?,
            })
        },
    )
}

/// Implements [`Driver`] for a store (its connection in field `field`; `Tx::begin` begins a
/// transaction), [`crate::CustomerTable`] for its transaction view and [`crate::Store`], through
/// the functions above: `store_impl!(Store, Tx, Connection, field)`.
macro_rules! store_impl {
    ($store:ident, $tx:ident, $connection:ty, $field:ident) => {
        impl $crate::sql::Driver for $store {
            type Connection = $connection;
            type Tx<'t> = $tx<'t>;

            fn handle(&self) -> &$crate::sql::Handle<$connection> {
                &self.$field
            }

            fn begin<'c>(
                c: &'c mut $connection,
                lock: $crate::sql::Lock<'_>,
            ) -> Result<$tx<'c>, $crate::StoreError> {
                $tx::begin(c, lock)
            }
        }

        impl $crate::CustomerTable for $tx<'_> {
            fn customer(
                &mut self,
                customer_number: &str,
            ) -> Result<Option<$crate::Customer>, $crate::StoreError> {
                $crate::sql::customer(self, customer_number)
            }

            fn put_customer(
                &mut self,
                customer: &$crate::Customer,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::put_customer(self, customer)
            }

            fn delete_customer(
                &mut self,
                customer_number: &str,
            ) -> Result<bool, $crate::StoreError> {
                $crate::sql::delete_customer(self, customer_number)
            }

            fn put_notification(
                &mut self,
                notification: &$crate::Notification,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::put_notification(self, notification)
            }
        }

        impl $crate::Store for $store {
            type Tx<'t> = $tx<'t>;

            async fn customer(
                &self,
                customer_number: &str,
            ) -> Result<Option<$crate::Customer>, $crate::StoreError> {
                let number = customer_number.to_string();
                $crate::sql::read(self, move |tx| $crate::sql::customer(tx, &number)).await
            }

            async fn customers(&self) -> Result<Vec<$crate::Customer>, $crate::StoreError> {
                $crate::sql::read(self, |tx| $crate::sql::customers(tx)).await
            }

            async fn put_customer(
                &self,
                customer: $crate::Customer,
            ) -> Result<(), $crate::StoreError> {
                // The row and its pending uploads together.
                $crate::sql::write(self, move |tx| $crate::sql::put_customer(tx, &customer)).await
            }

            async fn put_customers(
                &self,
                customers: Vec<$crate::Customer>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::write(self, move |tx| {
                    customers
                        .iter()
                        .try_for_each(|customer| $crate::sql::put_customer(tx, customer))
                })
                .await
            }

            async fn delete_customer(
                &self,
                customer_number: &str,
            ) -> Result<bool, $crate::StoreError> {
                let number = customer_number.to_string();
                $crate::sql::write(self, move |tx| $crate::sql::delete_customer(tx, &number)).await
            }

            async fn pending_uploads(
                &self,
                target: &str,
                limit: u32,
            ) -> Result<Vec<$crate::PendingUpload>, $crate::StoreError> {
                let target = target.to_string();
                // One transaction: the list and the rows agree.
                $crate::sql::read(self, move |tx| {
                    $crate::sql::pending_uploads(tx, &target, limit)
                })
                .await
            }

            async fn pending_upload_count(&self, target: &str) -> Result<u64, $crate::StoreError> {
                let target = target.to_string();
                $crate::sql::read(self, move |tx| {
                    $crate::sql::pending_upload_count(tx, &target)
                })
                .await
            }

            async fn upload_done(
                &self,
                target: &str,
                customer_number: &str,
                version: i64,
            ) -> Result<bool, $crate::StoreError> {
                let (target, number) = (target.to_string(), customer_number.to_string());
                $crate::sql::write(self, move |tx| {
                    $crate::sql::upload_done(tx, &target, &number, version)
                })
                .await
            }

            async fn record_pass(
                &self,
                flow: &str,
                at: &str,
                outcome: $crate::PassOutcome,
            ) -> Result<(), $crate::StoreError> {
                let (flow, at) = (flow.to_string(), at.to_string());
                $crate::sql::write(self, move |tx| {
                    $crate::sql::record_pass(tx, &flow, &at, &outcome)
                })
                .await
            }

            async fn flow_statuses(&self) -> Result<Vec<$crate::FlowStatus>, $crate::StoreError> {
                $crate::sql::read(self, |tx| $crate::sql::flow_statuses(tx)).await
            }

            async fn try_lease(
                &self,
                flow: &str,
                holder: &str,
                now_ms: i64,
                ttl_ms: i64,
            ) -> Result<bool, $crate::StoreError> {
                let (flow, holder) = (flow.to_string(), holder.to_string());
                $crate::sql::write(self, move |tx| {
                    $crate::sql::try_lease(tx, &flow, &holder, now_ms, ttl_ms)
                })
                .await
            }

            async fn release_lease(
                &self,
                flow: &str,
                holder: &str,
            ) -> Result<(), $crate::StoreError> {
                let (flow, holder) = (flow.to_string(), holder.to_string());
                $crate::sql::write(self, move |tx| {
                    $crate::sql::release_lease(tx, &flow, &holder)
                })
                .await
            }

            async fn notifications(&self) -> Result<Vec<$crate::Notification>, $crate::StoreError> {
                $crate::sql::read(self, |tx| $crate::sql::notifications(tx)).await
            }

            async fn set_cursor(&self, flow: &str, cursor: &str) -> Result<(), $crate::StoreError> {
                let (flow, cursor) = (flow.to_string(), cursor.to_string());
                $crate::sql::write(self, move |tx| $crate::sql::set_cursor(tx, &flow, &cursor))
                    .await
            }

            async fn cursor(&self, flow: &str) -> Result<Option<String>, $crate::StoreError> {
                let flow = flow.to_string();
                $crate::sql::read(self, move |tx| $crate::sql::cursor(tx, &flow)).await
            }

            async fn logged_change(
                &self,
                source: &str,
                change_id: &str,
            ) -> Result<Option<$crate::LoggedChange>, $crate::StoreError> {
                let (source, change_id) = (source.to_string(), change_id.to_string());
                $crate::sql::read(self, move |tx| {
                    $crate::sql::logged_change(tx, &source, &change_id)
                })
                .await
            }

            async fn logged_change_count(&self) -> Result<u64, $crate::StoreError> {
                $crate::sql::read(self, |tx| $crate::sql::logged_change_count(tx)).await
            }

            async fn apply<M>(
                &self,
                change: $crate::ChangeRef,
                mutation: M,
            ) -> Result<$crate::Applied, $crate::StoreError>
            where
                M: for<'t> FnOnce(
                        &mut $tx<'t>,
                    ) -> Result<$crate::ChangeOutcome, $crate::StoreError>
                    + Send
                    + 'static,
            {
                $crate::sql::run(self, move |c| {
                    let lock = $crate::sql::Lock::Change {
                        source: &change.source,
                        change_id: &change.change_id,
                    };
                    $crate::sql::transaction::<$store, _>(c, lock, |tx| {
                        $crate::sql::apply(tx, &change, mutation)
                    })
                })
                .await
            }
        }
    };
}

pub(crate) use store_impl;
