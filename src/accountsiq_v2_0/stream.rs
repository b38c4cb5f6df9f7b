//! Incremental reads of the AccountsIQ customer ledger through v2.0, as a resumable stream
//! over [`Session::call_send`] (the `Send` form of [`Session::call`]): the same contract as v1.1's
//! `customers_changed` of v1.1 (see its module
//! docs for the cursor and the clock margin).
//!
//! ```no_run
//! # async fn demo(session: customer_data::accountsiq_v2_0::Session) -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::accountsiq_v2_0::stream::{DEFAULT_CLOCK_MARGIN, customers_changed};
//! use futures_util::TryStreamExt;
//!
//! let mut changed = customers_changed(&session, None, DEFAULT_CLOCK_MARGIN).items();
//! while let Some(customer) = changed.try_next().await? {
//!     println!("{:?}", customer.code);
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Session, types};
use crate::accountsiq::stream::whole_read;
pub use crate::accountsiq::stream::{DEFAULT_CLOCK_MARGIN, Items, Pages, StreamError};
use crate::runtime::paginate;
use crate::runtime::soap::XsDateTime;

/// The customers written at or after `since` (`None`: every customer), in AccountsIQ's
/// order; the resume cursor is where the next read starts.
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
            let request = types::GetCustomersBy {
                // v2.0 authenticates in the AiqSoapHeader, not with a token element.
                token: None,
                query: Some(types::WSGetCustomersByQuery {
                    emails: None,
                    from_last_modified_date_in_utc: since.map(XsDateTime::from),
                }),
            };
            let customers = session
                .call_send(move |client| {
                    let request = request.clone();
                    Box::pin(async move { client.get_customers_by(&request).await })
                })
                .await
                .map_err(StreamError::Call)?;
            let customers = customers.map(|list| list.customer).unwrap_or_default();
            Ok(whole_read(customers, started, clock_margin))
        }
    })
}
