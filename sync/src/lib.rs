//! Keep your own customer table in step with the vendors (issue 18): a transactional store,
//! the flows that fill it and send it, and the runner that keeps them going, built on the
//! public API of `customer-data` only.
//!
//! - [`Store`]: read/write customers, and [`Store::apply`], which in ONE transaction skips a
//!   change already in the log, runs the mutation, logs the change and moves the flow's cursor
//!   (any failure rolls everything back: the cursor never moves without its change).
//! - [`ChangeMapping`]: the trait a mutation goes through. [`biq::BiqTableMapping`] maps BiQ
//!   approved changes onto our [`Customer`] table; a user with their own schema implements it
//!   over the same transaction instead (for SQLite, [`sqlite::SqliteTx::connection`]).
//! - [`sqlite::SqliteStore`]: the embedded default (a file path or `:memory:`).
//! - `postgres::PostgresStore` (feature `postgres`): the same store on PostgreSQL, for several
//!   instances, with the same migration files.
//! - [`flow`]: the [`flow::Flow`] trait and [`flow::run`] (passes under a lease in the store,
//!   backoff on errors, status), and the flows: [`biq_customer_shadow`] (shadow writer and
//!   reconciler), [`biq_alert_changes`] (change reader, notification reader),
//!   [`consumer_intelligence`] (consumer uploader, person-feed reader, webhook trigger).
//!
//! # Driver
//! `rusqlite` with SQLite compiled in (`bundled`): zero setup, no system library, and a small
//! compile cost on a 2-core machine, where `sqlx` brings its macro and async-driver stack for
//! both databases. Measured cold (`cargo build --timings`, shared 2-core machine, load 4-6):
//! the whole crate with `customer-data` 83 s, of which SQLite's build script 13.6 s, `rusqlite`
//! 2.1 s and this crate 1.3 s; the `postgres` feature adds 49 s on top. SQLite's
//! API is blocking, so calls block in place on a multi-threaded runtime (`block_in_place`) and
//! run on tokio's blocking pool otherwise. The migrations in `migrations/` are
//! portable SQL (TEXT, INTEGER and BIGINT), so PostgreSQL runs the same files: with the `postgres`
//! crate (the blocking client over `tokio-postgres`, run the same way), behind the same
//! [`Store`] trait and opt-in, so SQLite users do not compile it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

pub mod biq;
pub mod biq_alert_changes;
pub mod biq_customer_shadow;
pub mod consumer_intelligence;
pub mod flow;
#[cfg(feature = "postgres")]
pub mod postgres;
mod sql;
pub mod sqlite;

macro_rules! customer_columns {
    ($($(#[$doc:meta])* $variant:ident $field:ident,)+) => {
        /// One row of the customer table: the members the vendors exchange (BiQ CustomerShadow's
        /// Customer, Contact and Address, flattened as BiQ's demo customer system stores them).
        /// Every member but the key is optional text; times are RFC 3339.
        ///
        /// `Debug` shows only the customer number: rows hold personal data (CPR numbers).
        #[derive(Clone, PartialEq, Eq, Default)]
        pub struct Customer {
            /// The key: the customer number.
            pub customer_number: String,
            $($(#[$doc])* pub $field: Option<String>,)+
            /// Extra data, member name -> value (stored as a JSON object).
            pub extra_data: BTreeMap<String, String>,
        }

        /// A column of [`Customer`] holding optional text (every column but the key and the
        /// extra data).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Column {
            $($(#[$doc])* $variant,)+
        }

        impl Column {
            /// Every text column, in table order.
            pub const ALL: &[Column] = &[$(Column::$variant,)+];

            /// The SQL column name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Column::$variant => stringify!($field),)+
                }
            }
        }

        impl Customer {
            /// The value of a text column.
            pub fn get(&self, column: Column) -> Option<&str> {
                match column {
                    $(Column::$variant => self.$field.as_deref(),)+
                }
            }

            /// Sets a text column.
            pub fn set(&mut self, column: Column, value: Option<String>) {
                match column {
                    $(Column::$variant => self.$field = value,)+
                }
            }
        }
    };
}

customer_columns! {
    /// Customer category (BiQ `CustomerCategoryText`).
    Category category,
    /// Name.
    Name name,
    /// c/o.
    CareOf care_of,
    /// Attention.
    Attention attention,
    /// CPR number (persons).
    Cpr cpr,
    /// Birth date as the vendor sends it.
    BirthDate birth_date,
    /// CVR number (companies).
    Cvr cvr,
    /// P-number (production unit).
    PNumber p_number,
    /// First phone number.
    Phone1 phone1,
    /// Second phone number.
    Phone2 phone2,
    /// E-mail.
    Email email,
    /// PO box.
    PoBox po_box,
    /// The address as one text (BiQ `CompositeOrig`).
    AddressComposite address_composite,
    /// Street.
    Street street,
    /// Street code.
    StreetCode street_code,
    /// House number.
    HouseNumber house_number,
    /// House letter.
    HouseLetter house_letter,
    /// Floor.
    Floor floor,
    /// Suite.
    Suite suite,
    /// Postal code.
    PostalCode postal_code,
    /// Postal city.
    PostalCity postal_city,
    /// Postal sub-city.
    PostalSubCity postal_sub_city,
    /// Municipality code.
    MunicipalityCode municipality_code,
    /// Country name.
    CountryName country_name,
    /// Country code.
    CountryCode country_code,
    /// DAR address id (a UUID).
    DarAddressId dar_address_id,
    /// Secondary contact: name.
    SecondaryName secondary_name,
    /// Secondary contact: CPR number.
    SecondaryCpr secondary_cpr,
    /// Secondary contact: first phone.
    SecondaryPhone1 secondary_phone1,
    /// Secondary contact: second phone.
    SecondaryPhone2 secondary_phone2,
    /// Secondary contact: e-mail.
    SecondaryEmail secondary_email,
    /// Active flag as the vendor sends it (text).
    Active active,
    /// When the row was created.
    CreatedAt created_at,
    /// Who created it.
    CreatedBy created_by,
    /// When it last changed.
    ChangedAt changed_at,
    /// Who changed it last.
    ChangedBy changed_by,
    /// The id of the last vendor change applied to it.
    LatestChangeId latest_change_id,
}

impl fmt::Debug for Customer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Customer")
            .field("customer_number", &self.customer_number)
            .finish_non_exhaustive()
    }
}

/// What a mapping did with one change; recorded in the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// The change was applied to this customer's row.
    Applied {
        /// The customer changed or created.
        customer_number: String,
    },
    /// A known change that changes nothing (e.g. for a customer no longer in the table).
    NotApplied {
        /// Why, for the log and the caller.
        reason: String,
    },
    /// An event type the mapping does not know: recorded, not applied, reported.
    Unknown {
        /// The vendor's event type.
        event_type: String,
    },
}

impl ChangeOutcome {
    /// The log's `outcome` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeOutcome::Applied { .. } => "applied",
            ChangeOutcome::NotApplied { .. } => "not_applied",
            ChangeOutcome::Unknown { .. } => "unknown",
        }
    }
}

/// One vendor change to apply with [`Store::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRef {
    /// The flow whose cursor moves (e.g. `biq-change-reader`).
    pub flow: String,
    /// Where the change comes from (e.g. `biq`); with `change_id` the log's key.
    pub source: String,
    /// The vendor's id of the change.
    pub change_id: String,
    /// The vendor's event type, for the log.
    pub event_type: Option<String>,
    /// The flow's cursor after this change.
    pub cursor: String,
}

/// A change as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    /// See [`ChangeRef::flow`].
    pub flow: String,
    /// See [`ChangeRef::event_type`].
    pub event_type: Option<String>,
    /// `applied`, `not_applied` or `unknown` ([`ChangeOutcome::as_str`]).
    pub outcome: String,
    /// The reason or event type of a change not applied.
    pub detail: Option<String>,
    /// The customer it applied to.
    pub customer_number: Option<String>,
}

/// The result of [`Store::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The change ran now, with this outcome (logged, cursor moved).
    Now(ChangeOutcome),
    /// The change was already in the log: nothing ran, nothing moved.
    AlreadyLogged(LoggedChange),
}

/// A store failure. Carries no row data.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed an operation.
    Database(String),
    /// A stored value that cannot be read back (e.g. extra data that is not a JSON object).
    Corrupt(String),
    /// The mutation failed; the transaction was rolled back.
    Mutation(String),
    /// A vendor change that cannot be applied exactly once (e.g. no id or no `committed`
    /// time to resume from); nothing was written.
    InvalidChange(String),
    /// The blocking task running the database call did not finish.
    Task(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Database(e) => write!(f, "database error: {e}"),
            StoreError::Corrupt(e) => write!(f, "stored value cannot be read: {e}"),
            StoreError::Mutation(e) => write!(f, "change not applied (rolled back): {e}"),
            StoreError::InvalidChange(e) => write!(f, "change refused: {e}"),
            StoreError::Task(e) => write!(f, "database task failed: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The vendors a local write is sent to: each has its own outbox ([`Store::pending_uploads`]).
/// A write to the customer table makes the customer pending for every one of them.
pub const UPLOAD_TARGETS: &[&str] = &["biq-customer-shadow", "consumer-intelligence"];

/// A customer whose local state a writer has not sent yet (see
/// [`Store::pending_uploads`]). Every write to the customer table (local, imported, or a vendor
/// change applied) makes its customer pending again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The customer.
    pub customer_number: String,
    /// Counts the writes; [`Store::upload_done`] clears the entry only while it is unchanged.
    pub version: i64,
    /// The row to send; `None`: the customer was deleted locally (send a delete).
    pub customer: Option<Customer>,
}

/// How one pass of a flow ended, for [`Store::record_pass`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassOutcome {
    /// The pass read everything there was and handled `items` of it.
    Succeeded {
        /// Items handled (applied, recorded, sent).
        items: u64,
    },
    /// The pass stopped at an error (already free of secrets and row data).
    Failed {
        /// The error, as `sync status` shows it.
        error: String,
    },
}

/// What `sync status` shows of one flow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowStatus {
    /// The flow's name.
    pub flow: String,
    /// Passes run (succeeded and failed).
    pub passes: u64,
    /// Items handled over all passes.
    pub items: u64,
    /// Passes that failed.
    pub failures: u64,
    /// When the last pass succeeded (RFC 3339).
    pub last_success_at: Option<String>,
    /// The last error (kept after later successes; compare the times).
    pub last_error: Option<String>,
    /// When it happened (RFC 3339).
    pub last_error_at: Option<String>,
    /// Where the flow resumes.
    pub cursor: Option<String>,
    /// The instance holding the flow's lease, and until when (ms since the Unix epoch).
    pub lease: Option<(String, i64)>,
}

/// A notification read from a vendor feed (e.g. BiQ's `deceased`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Where it comes from (e.g. `biq`).
    pub source: String,
    /// The vendor's id.
    pub notification_id: String,
    /// The vendor's event type.
    pub event_type: Option<String>,
    /// The customer it concerns.
    pub customer_number: Option<String>,
    /// When the vendor committed it (RFC 3339).
    pub committed: Option<String>,
    /// The vendor's payload, as JSON text.
    pub payload: Option<String>,
}

/// Our customer table, as a mutation sees it inside a transaction.
pub trait CustomerTable {
    /// The customer with this number, if any.
    fn customer(&mut self, customer_number: &str) -> Result<Option<Customer>, StoreError>;
    /// Inserts or replaces the whole row.
    fn put_customer(&mut self, customer: &Customer) -> Result<(), StoreError>;
    /// Deletes the row; `false` when there was none.
    fn delete_customer(&mut self, customer_number: &str) -> Result<bool, StoreError>;
    /// Records a vendor notification (once per source and id: a second one with the same key
    /// is ignored).
    fn put_notification(&mut self, notification: &Notification) -> Result<(), StoreError>;
}

/// How one vendor change becomes writes inside the store's transaction. Implement it over the
/// store's transaction type (e.g. [`sqlite::SqliteTx`]) to write your own schema instead of our
/// table; [`biq::BiqTableMapping`] is the one for our table.
pub trait ChangeMapping<Tx: ?Sized> {
    /// The vendor's change item.
    type Change;
    /// Writes `change` through `tx`. An error rolls the whole change back.
    fn apply(&self, tx: &mut Tx, change: &Self::Change) -> Result<ChangeOutcome, StoreError>;
}

/// A customer store with exactly-once change application.
pub trait Store: Send + Sync {
    /// The transaction a mutation runs in.
    type Tx<'t>: CustomerTable;

    /// The customer with this number, if any.
    fn customer(
        &self,
        customer_number: &str,
    ) -> impl Future<Output = Result<Option<Customer>, StoreError>> + Send;

    /// Every customer, ordered by number.
    fn customers(&self) -> impl Future<Output = Result<Vec<Customer>, StoreError>> + Send;

    /// Inserts or replaces a customer (outside any flow); the shadow writer then sends it.
    fn put_customer(
        &self,
        customer: Customer,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Inserts or replaces many customers in one transaction (e.g. an import).
    fn put_customers(
        &self,
        customers: Vec<Customer>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a customer (outside any flow); `false` when there was none. The shadow writer
    /// then sends the delete.
    fn delete_customer(
        &self,
        customer_number: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Up to `limit` customers whose current state was not sent to `target` (one of
    /// [`UPLOAD_TARGETS`]) yet, by version, then customer number.
    fn pending_uploads(
        &self,
        target: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PendingUpload>, StoreError>> + Send;

    /// How many customers wait to be sent to `target`.
    fn pending_upload_count(
        &self,
        target: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The customer's state at `version` was sent to `target`: clears its entry unless it was written again
    /// since (then `false`, and it stays pending).
    fn upload_done(
        &self,
        target: &str,
        customer_number: &str,
        version: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records how a pass of `flow` ended, `at` (RFC 3339).
    fn record_pass(
        &self,
        flow: &str,
        at: &str,
        outcome: PassOutcome,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The status of every flow that has run or has a cursor, ordered by name.
    fn flow_statuses(&self) -> impl Future<Output = Result<Vec<FlowStatus>, StoreError>> + Send;

    /// Takes or renews the lease on `flow` for `holder` until `now_ms + ttl_ms`, if it is free,
    /// expired or already `holder`'s (one statement: two instances cannot both get it).
    fn try_lease(
        &self,
        flow: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives the lease up if `holder` has it, so a standby takes over without waiting.
    fn release_lease(
        &self,
        flow: &str,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every notification recorded, in the order the vendor committed them.
    fn notifications(&self) -> impl Future<Output = Result<Vec<Notification>, StoreError>> + Send;

    /// Moves a flow's cursor where no change goes with it (e.g. a feed's position after a
    /// page with nothing new). A change's own cursor moves with it, in [`Store::apply`].
    fn set_cursor(
        &self,
        flow: &str,
        cursor: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The cursor of a flow, if it has moved yet.
    fn cursor(&self, flow: &str)
    -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// The log entry of a change, if it was handled.
    fn logged_change(
        &self,
        source: &str,
        change_id: &str,
    ) -> impl Future<Output = Result<Option<LoggedChange>, StoreError>> + Send;

    /// Number of changes in the log.
    fn logged_change_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// In ONE transaction: returns [`Applied::AlreadyLogged`] if `change` is in the log;
    /// otherwise runs `mutation`, logs the change with its outcome and sets the flow's cursor.
    /// Any error (from the mutation or the database) rolls all of it back.
    fn apply<M>(
        &self,
        change: ChangeRef,
        mutation: M,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send
    where
        M: for<'t> FnOnce(&mut Self::Tx<'t>) -> Result<ChangeOutcome, StoreError> + Send + 'static;
}
