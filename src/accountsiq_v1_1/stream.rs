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

use super::{AccountsIqError, Session, types};
use crate::runtime::paginate::{self, Page};
use crate::runtime::soap::XsDateTime;

/// Why an AccountsIQ stream stopped: the call's error (after the session's own re-login).
pub type StreamError = paginate::StreamError<AccountsIqError>;

/// Reads of an AccountsIQ ledger, resumable at a `FromLastModifiedDateInUTC` instant.
pub type Pages<T> = paginate::Pages<T, DateTime<Utc>, AccountsIqError>;

/// Items of an AccountsIQ read, one by one.
pub type Items<T> = paginate::Items<T, DateTime<Utc>, AccountsIqError>;

/// A margin for clocks a little apart; each read then repeats the last second of the one
/// before.
pub const DEFAULT_CLOCK_MARGIN: Duration = Duration::from_secs(1);

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

/// One whole incremental read as the only page; the next read starts `clock_margin` before
/// `started`.
pub(crate) fn whole_read<T>(
    items: Vec<T>,
    started: DateTime<Utc>,
    clock_margin: Duration,
) -> Page<T, DateTime<Utc>> {
    let margin = chrono::TimeDelta::from_std(clock_margin).unwrap_or(chrono::TimeDelta::MAX);
    let next = started
        .checked_sub_signed(margin)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    Page::last(items, Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_read_starts_a_margin_before_this_one() {
        let started = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let page = whole_read(vec![1, 2], started, Duration::from_secs(1));
        assert_eq!(
            page.cursor(),
            Some(&(started - chrono::TimeDelta::seconds(1)))
        );
        assert!(!page.has_more());
        let page = whole_read(Vec::<u8>::new(), started, Duration::MAX);
        assert_eq!(page.cursor(), Some(&DateTime::<Utc>::MIN_UTC));
    }
}
