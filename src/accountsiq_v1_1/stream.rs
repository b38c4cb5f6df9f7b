//! Incremental reads of the AccountsIQ customer ledger as a resumable stream, over the
//! session's calls ([`Session::call_send`], the `Send` form of [`Session::call`]) and built on [`crate::runtime::paginate`].
//!
//! AccountsIQ has no paging for customers; what it has is `GetCustomersBy` with
//! `FromLastModifiedDateInUTC`: every customer written at or after that instant, in one
//! answer. [`customers_changed`] reads that answer as a one-page stream whose cursor is the
//! `FromLastModifiedDateInUTC` of the next read: the instant this read started (by the
//! client's clock, before the request left) minus a `clock_margin`. The `Customer` records
//! carry no modification time, so the client's clock is all there is; the margin covers a
//! client clock running ahead of AccountsIQ's. A customer written while a read runs, or
//! within the margin, is read again next time: at least once, never lost. Deleted customers
//! do not show (AccountsIQ keeps no tombstone).
//!
//! ```no_run
//! # async fn demo(session: customer_data::accountsiq_v1_1::Session) -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::accountsiq_v1_1::stream::{DEFAULT_CLOCK_MARGIN, customers_changed};
//! use futures_util::TryStreamExt;
//!
//! let last_run: Option<chrono::DateTime<chrono::Utc>> = None; // persisted by the last run
//! let mut changed = customers_changed(&session, last_run, DEFAULT_CLOCK_MARGIN).items();
//! while let Some(customer) = changed.try_next().await? {
//!     println!("{:?} {:?}", customer.code, customer.name);
//! }
//! let next_run = changed.resume_cursor(); // persist it
//! # let _ = next_run;
//! # Ok(()) }
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::accountsiq::stream::whole_read;
pub use crate::accountsiq::stream::{DEFAULT_CLOCK_MARGIN, Items, Pages, StreamError};

use super::{Session, types};
use crate::runtime::paginate;
use crate::runtime::soap::XsDateTime;

/// The customers written at or after `since` (`None`: every customer), in AccountsIQ's
/// order; the resume cursor is where the next read starts (see the module docs).
pub fn customers_changed(
    session: &Session,
    since: Option<DateTime<Utc>>,
    clock_margin: Duration,
) -> Pages<types::Customer> {
    let session = session.clone();
    paginate::paginate(since, move |since: Option<DateTime<Utc>>| {
        let session = session.clone();
        async move {
            let started = Utc::now();
            let query = types::WSGetCustomersByQuery {
                emails: None,
                from_last_modified_date_in_utc: since.map(XsDateTime::from),
            };
            let customers = session
                .call_send(move |client, token| {
                    let request = types::GetCustomersBy {
                        token: Some(token),
                        query: Some(query.clone()),
                    };
                    Box::pin(async move { client.get_customers_by(&request).await })
                })
                .await
                .map_err(StreamError::Call)?;
            let customers = customers.map(|list| list.customer).unwrap_or_default();
            Ok(whole_read(customers, started, clock_margin))
        }
    })
}
