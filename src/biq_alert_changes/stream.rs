//! Streams over the BiQ AlertChanges feeds of one shadow source, built on
//! [`crate::runtime::paginate`]: [`approved_changes`] and [`notifications`].
//!
//! BiQ pages by time: `next-*` answers the items `committed` after `from` (a batch, and
//! `more` when further items wait), and the next `from` is the `committed` of the last item
//! read: that timestamp is the cursor. The stream ends at the batch with `more` false; its
//! resume cursor is then the bookmark to persist, locally or on BiQ's side with
//! [`store_bookmark`] (read back with [`stored_bookmark`]), and a stream from it yields only
//! what was committed since. A stream started from `None` sends the Unix epoch as `from`
//! (what to send first is not documented): the whole feed. A `null` batch (the vendor's DTO
//! allows it) reads as an empty one, and an item without a payload (e.g. anonymised) is handed
//! out like any other: the cursor only needs its `committed`.
//!
//! The server-side bookmark is one per tenant (BiQ keeps it for the approved-changes feed), while
//! the `next-*` calls are per shadow source: store it only once every source you read has been
//! read up to it.
//!
//! ```no_run
//! # async fn demo(session: customer_data::biq::Session) -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::biq_alert_changes::{connect, stream};
//! use futures_util::TryStreamExt;
//!
//! let client = connect(&session)?;
//! let tenant = session.tenant_id().await?;
//! let from = stream::stored_bookmark(&client, &tenant).await?;
//! let mut changes = stream::approved_changes(&client, &tenant, 101, from).items();
//! while let Some(change) = changes.try_next().await? {
//!     println!("{:?} {:?}", change.event_type, change.committed);
//! }
//! if let Some(&bookmark) = changes.resume_cursor() {
//!     stream::store_bookmark(&client, &tenant, bookmark).await?;
//! }
//! # Ok(()) }
//! ```

// `StreamError::Call` carries the generated client's error (with the whole answer) unchanged,
// as the client's own calls return it; boxing it would only add an allocation per error.
#![allow(clippy::result_large_err)]

use chrono::{DateTime, Utc};

use super::{Client, Error, types};
use crate::runtime::paginate::{self, Page};

/// Why a BiQ feed stream stopped: a failed call, a batch whose last item has no `committed`
/// timestamp, or a batch that says `more` but holds nothing.
pub type StreamError = paginate::StreamError<Error<()>>;

/// Batches of a BiQ feed, resumable at a `committed` timestamp.
pub type Pages<T> = paginate::Pages<T, DateTime<Utc>, Error<()>>;

/// Items of a BiQ feed, one by one.
pub type Items<T> = paginate::Items<T, DateTime<Utc>, Error<()>>;

/// The approved changes of `shadow_source_id` committed after `from` (`None`: all of them).
pub fn approved_changes(
    client: &Client,
    tenant_id: impl Into<String>,
    shadow_source_id: i32,
    from: Option<DateTime<Utc>>,
) -> Pages<types::ApprovedChange> {
    let client = client.clone();
    let tenant_id = tenant_id.into();
    paginate::paginate(from, move |asked: Option<DateTime<Utc>>| {
        let client = client.clone();
        let tenant_id = tenant_id.clone();
        async move {
            let batch = client
                .next_approved_changes()
                .tenant_id(tenant_id)
                .shadow_source_id(shadow_source_id)
                .body(types::NextRequest {
                    from: asked.unwrap_or(DateTime::UNIX_EPOCH),
                })
                .send()
                .await
                .map_err(StreamError::Call)?
                .into_inner();
            batch_page(
                batch.approved_changes.unwrap_or_default(),
                batch.more,
                asked,
                |change| change.committed,
                "nextApprovedChanges",
            )
        }
    })
}

/// The notifications of `shadow_source_id` committed after `from` (`None`: all of them).
pub fn notifications(
    client: &Client,
    tenant_id: impl Into<String>,
    shadow_source_id: i32,
    from: Option<DateTime<Utc>>,
) -> Pages<types::Notification> {
    let client = client.clone();
    let tenant_id = tenant_id.into();
    paginate::paginate(from, move |asked: Option<DateTime<Utc>>| {
        let client = client.clone();
        let tenant_id = tenant_id.clone();
        async move {
            let batch = client
                .next_notifications()
                .tenant_id(tenant_id)
                .shadow_source_id(shadow_source_id)
                .body(types::NextRequest {
                    from: asked.unwrap_or(DateTime::UNIX_EPOCH),
                })
                .send()
                .await
                .map_err(StreamError::Call)?
                .into_inner();
            batch_page(
                batch.notifications.unwrap_or_default(),
                batch.more,
                asked,
                |notification| notification.committed,
                "nextNotifications",
            )
        }
    })
}

/// A batch as a page: its cursor is the `committed` of its last item (an empty batch stays
/// where it was asked).
fn batch_page<T>(
    items: Vec<T>,
    more: bool,
    asked: Option<DateTime<Utc>>,
    committed: fn(&T) -> Option<DateTime<Utc>>,
    operation: &str,
) -> Result<Page<T, DateTime<Utc>>, StreamError> {
    let cursor = match items.last() {
        None => asked,
        Some(last) => Some(committed(last).ok_or_else(|| {
            StreamError::MissingCursor(format!(
                "{operation}: the batch's last item has no `committed` timestamp to go on from"
            ))
        })?),
    };
    match (more, cursor) {
        (true, Some(cursor)) => Ok(Page::more(items, cursor)),
        // More announced, nothing handed out and nowhere to go on from.
        (true, None) => Err(StreamError::Stalled),
        (false, cursor) => Ok(Page::last(items, cursor)),
    }
}

/// The server-side approved-changes bookmark of `tenant_id`; `None` when none is stored (BiQ
/// answers 404).
pub async fn stored_bookmark(
    client: &Client,
    tenant_id: &str,
) -> Result<Option<DateTime<Utc>>, Error<()>> {
    match client
        .get_approved_changes_bookmark()
        .tenant_id(tenant_id)
        .send()
        .await
    {
        Ok(answer) => Ok(Some(answer.into_inner().bookmark)),
        Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stores `bookmark` (a stream's resume cursor) as the server-side approved-changes bookmark
/// of `tenant_id`.
pub async fn store_bookmark(
    client: &Client,
    tenant_id: &str,
    bookmark: DateTime<Utc>,
) -> Result<(), Error<()>> {
    client
        .put_approved_changes_bookmark()
        .tenant_id(tenant_id)
        .body(types::Bookmark {
            bookmark,
            extra: Default::default(),
        })
        .send()
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn the_cursor_is_the_last_committed_and_an_empty_batch_stays_put() {
        let committed = |n: &Option<DateTime<Utc>>| *n;
        let page = batch_page(vec![Some(at(1)), Some(at(5))], true, None, committed, "t").unwrap();
        assert_eq!((page.cursor(), page.has_more()), (Some(&at(5)), true));
        let page = batch_page(vec![], false, Some(at(5)), committed, "t").unwrap();
        assert_eq!((page.cursor(), page.has_more()), (Some(&at(5)), false));
        let missing = batch_page(vec![Some(at(1)), None], true, None, committed, "t");
        assert!(matches!(missing, Err(StreamError::MissingCursor(_))));
        let stalled = batch_page(Vec::new(), true, None, committed, "t");
        assert!(matches!(stalled, Err(StreamError::Stalled)));
    }
}
