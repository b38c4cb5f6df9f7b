//! The tenant's shadow customers as a stream ([`customers`]), over
//! [`crate::runtime::paginate`]: what BiQ's demo (ced18a1) reads for its daily reconciliation
//! (every local customer missing in the shadow is created, every shadow customer no longer
//! yours is deleted with `delete_customer`).
//!
//! `GET /tenants/{tenantId}/customers?page&pageSize` pages by number (from 0); each page says
//! `totalItems`. As in the demo, pages are read until `totalItems` customers have been read (an
//! empty page also ends the list, so a shrinking shadow cannot loop). The list spans every
//! shadow source of the tenant; filter by `shadow_source_id` yourself, as the demo does.
//!
//! ```no_run
//! # async fn demo(session: customer_data::biq::Session) -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::biq_customer_shadow::{connect, stream};
//! use futures_util::TryStreamExt;
//!
//! let client = connect(&session)?;
//! let tenant = session.tenant_id().await?;
//! let mut customers = stream::customers(&client, &tenant, 500).items();
//! while let Some(customer) = customers.try_next().await? {
//!     println!("{:?} in {:?}", customer.customer_number, customer.shadow_source_id);
//! }
//! # Ok(()) }
//! ```

// As in the AlertChanges streams: the generated client's error is carried unchanged.
#![allow(clippy::result_large_err)]

use std::num::NonZeroU32;

use super::{Client, Error, types};
use crate::runtime::paginate::{self, Page};

/// Where the list goes on: the next page number and how many customers were read before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// The page to ask for next (from 0).
    pub page: i32,
    /// Customers read on the pages before it.
    pub read: u64,
}

/// Why the list stopped: a failed call, or a page number past `i32`.
pub type StreamError = paginate::StreamError<Error<()>>;

/// Pages of the tenant's shadow customers.
pub type Pages = paginate::Pages<types::CustomerInfo, Position, Error<()>>;

/// The tenant's shadow customers, `page_size` per call (0 is read as 1).
pub fn customers(client: &Client, tenant_id: impl Into<String>, page_size: u32) -> Pages {
    let client = client.clone();
    let tenant_id = tenant_id.into();
    let page_size = NonZeroU32::new(page_size).unwrap_or(NonZeroU32::MIN);
    paginate::paginate(None, move |asked: Option<Position>| {
        let client = client.clone();
        let tenant_id = tenant_id.clone();
        async move {
            let at = asked.unwrap_or(Position { page: 0, read: 0 });
            let page = client
                .list_customers()
                .tenant_id(tenant_id)
                .page(at.page)
                .page_size(page_size)
                .send()
                .await
                .map_err(StreamError::Call)?
                .into_inner();
            next_page(at, page)
        }
    })
}

/// One answer as a page: more follow while fewer than `totalItems` were read and the page was
/// not empty.
fn next_page(
    at: Position,
    page: types::ShadowCustomersPage,
) -> Result<Page<types::CustomerInfo, Position>, StreamError> {
    let items = page.customers.unwrap_or_default();
    let read = at.read + items.len() as u64;
    let total = u64::try_from(page.total_items).unwrap_or(0);
    if items.is_empty() || read >= total {
        return Ok(Page::last(items, None));
    }
    let next = at.page.checked_add(1).ok_or_else(|| {
        StreamError::MissingCursor("listCustomers: page number past i32::MAX".to_string())
    })?;
    Ok(Page::more(items, Position { page: next, read }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(numbers: &[&str], total: i32) -> types::ShadowCustomersPage {
        types::ShadowCustomersPage {
            customers: Some(
                numbers
                    .iter()
                    .map(|n| types::CustomerInfo {
                        customer_number: Some(n.to_string()),
                        shadow_source_id: Some(1),
                        extra: Default::default(),
                    })
                    .collect(),
            ),
            total_items: total,
            extra: Default::default(),
        }
    }

    #[test]
    fn reads_until_total_items_or_an_empty_page() {
        let start = Position { page: 0, read: 0 };
        let first = next_page(start, page(&["a", "b"], 3)).unwrap();
        assert!(first.has_more());
        assert_eq!(first.cursor(), Some(&Position { page: 1, read: 2 }));
        let second = next_page(Position { page: 1, read: 2 }, page(&["c"], 3)).unwrap();
        assert!(!second.has_more());
        let empty = next_page(Position { page: 1, read: 2 }, page(&[], 9)).unwrap();
        assert!(!empty.has_more());
        let null = types::ShadowCustomersPage {
            customers: None,
            total_items: 5,
            extra: Default::default(),
        };
        assert!(!next_page(start, null).unwrap().has_more());
    }
}
