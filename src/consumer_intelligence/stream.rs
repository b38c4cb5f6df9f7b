//! Streams over the Consumer Intelligence lists (`pageToken` / `nextPageToken`), built on
//! [`crate::runtime::paginate`].
//!
//! - [`subscribed_persons`] and [`audit_events`] are **feeds**: the service returns a token
//!   with every page, also with the empty page at the end, and that token later yields what
//!   changed since. The stream ends at the first empty page; its
//!   [`resume_cursor`](Items::resume_cursor) is then the token to persist, and a stream started
//!   from it in a later run yields only what changed in between.
//! - [`consumers`] is a plain list: it ends at the page whose token is null.
//!
//! Each gives a [`Pages`] stream (`.items()` flattens it). A failed call ends the stream with
//! [`StreamError::Call`](crate::runtime::paginate::StreamError::Call); the resume cursor still
//! names the last page handed out in full, so nothing is lost.
//!
//! ```no_run
//! # async fn demo(client: customer_data::consumer_intelligence::Client, saved: Option<String>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::consumer_intelligence::stream::{PageSize, subscribed_persons};
//! use customer_data::runtime::Cursor;
//! use futures_util::TryStreamExt;
//!
//! // The cursor persisted by the last run (None on the first run: the whole feed).
//! let resume: Option<Cursor> = saved.as_deref().map(str::parse).transpose()?;
//! let mut persons = subscribed_persons(&client, PageSize::try_from(500)?, resume).items();
//! while let Some(person) = persons.try_next().await? {
//!     println!("changed: {:?}", person.gedi);
//! }
//! if let Some(cursor) = persons.resume_cursor() {
//!     println!("persist {cursor} and resume from it next time");
//! }
//! # Ok(()) }
//! ```

// `StreamError::Call` carries the generated client's error (with the whole answer) unchanged,
// as the client's own calls return it; boxing it would only add an allocation per error.
#![allow(clippy::result_large_err)]

use chrono::NaiveDate;

use super::{Client, Error, types};
use crate::runtime::paginate::{self, Cursor, Page};

/// The page size of every Consumer Intelligence list (`pageSize`, 1..=1000).
pub type PageSize = crate::runtime::BoundedInt<1, 1000>;

/// Why a Consumer Intelligence stream stopped: a failed call (its typed RFC 7807 problem
/// included), or an answer without the token the list needs.
pub type StreamError = paginate::StreamError<Error<types::Problem>>;

/// Pages of a Consumer Intelligence list, resumable at a [`Cursor`] (a `pageToken`).
pub type Pages<T> = paginate::Pages<T, Cursor, Error<types::Problem>>;

/// Items of a Consumer Intelligence list, one by one.
pub type Items<T> = paginate::Items<T, Cursor, Error<types::Problem>>;

/// The subscribed-person feed (`listSubscribedPersons`): persons in the order they last
/// changed, from `resume_from` (`None`: the start of the feed). Ends at the first empty page;
/// the resume cursor is then the token that yields what changes next.
pub fn subscribed_persons(
    client: &Client,
    page_size: PageSize,
    resume_from: Option<Cursor>,
) -> Pages<types::SubscribedPersonDto> {
    persons_feed(client, page_size, resume_from, None)
}

/// The subscribed-person feed from the persons changed on or after `from_date` (UTC): the
/// first page is asked for with `fromDate` (the API refuses it together with a token), the
/// following ones with their tokens. Use it when no cursor was persisted yet.
pub fn subscribed_persons_since(
    client: &Client,
    page_size: PageSize,
    from_date: NaiveDate,
) -> Pages<types::SubscribedPersonDto> {
    persons_feed(client, page_size, None, Some(from_date))
}

fn persons_feed(
    client: &Client,
    page_size: PageSize,
    resume_from: Option<Cursor>,
    from_date: Option<NaiveDate>,
) -> Pages<types::SubscribedPersonDto> {
    let client = client.clone();
    paginate::paginate(resume_from, move |cursor: Option<Cursor>| {
        let client = client.clone();
        async move {
            let request = client.list_subscribed_persons().page_size(page_size);
            let request = match (cursor, from_date) {
                (Some(cursor), _) => request.page_token(cursor.as_str()),
                (None, Some(date)) => request.from_date(date),
                (None, None) => request,
            };
            let page = request
                .send()
                .await
                .map_err(StreamError::Call)?
                .into_inner();
            feed_page(page.data, page.next_page_token, "listSubscribedPersons")
        }
    })
}

/// The audit-event feed (`listAuditEvents`): every event in the order it happened, from
/// `resume_from` (`None`: the first event). Ends at the first empty page; the resume cursor
/// is then the token that yields the events that happen next.
pub fn audit_events(
    client: &Client,
    page_size: PageSize,
    resume_from: Option<Cursor>,
) -> Pages<types::AuditEventDto> {
    let client = client.clone();
    paginate::paginate(resume_from, move |cursor: Option<Cursor>| {
        let client = client.clone();
        async move {
            let request = client.list_audit_events().page_size(page_size);
            let request = match cursor {
                Some(cursor) => request.page_token(cursor.as_str()),
                None => request,
            };
            let page = request
                .send()
                .await
                .map_err(StreamError::Call)?
                .into_inner();
            feed_page(page.data, page.next_page_token, "listAuditEvents")
        }
    })
}

/// The uploaded consumers (`listConsumers`), optionally only those in `state`, from
/// `resume_from` (`None`: the first). Ends at the page whose `nextPageToken` is null.
pub fn consumers(
    client: &Client,
    page_size: PageSize,
    state: Option<types::ConsumerStateTypeDto>,
    resume_from: Option<Cursor>,
) -> Pages<types::ConsumerDto> {
    let client = client.clone();
    paginate::paginate(resume_from, move |cursor: Option<Cursor>| {
        let client = client.clone();
        // Each page's call owns its filter (an open enum: not Copy).
        let state = state.clone();
        async move {
            let mut request = client.list_consumers().page_size(page_size);
            if let Some(cursor) = cursor {
                request = request.page_token(cursor.as_str());
            }
            if let Some(state) = state {
                request = request.state(state);
            }
            let page = request
                .send()
                .await
                .map_err(StreamError::Call)?
                .into_inner();
            Ok(match page.next_page_token {
                Some(token) => Page::more(page.data, token_cursor(token, "listConsumers")?),
                None => Page::last(page.data, None),
            })
        }
    })
}

/// A feed page: always a token (a page without one is an answer the feed cannot go on from);
/// the feed ends at its first empty page, whose token is where to resume later.
fn feed_page<T>(
    data: Vec<T>,
    token: Option<String>,
    operation: &str,
) -> Result<Page<T, Cursor>, StreamError> {
    let Some(token) = token else {
        return Err(StreamError::MissingCursor(format!(
            "{operation} answered a page without nextPageToken (this feed always has one)"
        )));
    };
    let cursor = token_cursor(token, operation)?;
    Ok(if data.is_empty() {
        Page::last(data, Some(cursor))
    } else {
        Page::more(data, cursor)
    })
}

fn token_cursor(token: String, operation: &str) -> Result<Cursor, StreamError> {
    Cursor::new(token).map_err(|e| {
        StreamError::MissingCursor(format!(
            "{operation} answered an unusable nextPageToken: {e}"
        ))
    })
}
