//! Streams over the bLink list operations (`cursor` / `limit`; the next cursor is the
//! `nextCursor` response header, absent or empty on the last page), built on
//! [`crate::runtime::paginate`]: [`customers`], [`persons`] and [`contact_details`].
//!
//! Each gives a [`Pages`] stream (`.items()` flattens it) that ends after the page without a
//! next cursor. A failed call ends the stream with
//! [`StreamError::Call`](crate::runtime::paginate::StreamError::Call) (the bLink error, with
//! its `X-Correlation-ID`); the resume cursor still names the last page handed out in full.
//! A `nextCursor` that is not text is [`StreamError::MissingCursor`](
//! crate::runtime::paginate::StreamError::MissingCursor), never taken for the end of the list.
//!
//! ```no_run
//! # async fn demo(client: customer_data::blink_customer_management::Client)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::blink_customer_management::stream::{Limit, customers};
//! use futures_util::TryStreamExt;
//!
//! let mut all = customers(&client, Limit::new(100).unwrap(), None).items();
//! while let Some(customer) = all.try_next().await? {
//!     println!("{:?}", customer.customer_identification);
//! }
//! # Ok(()) }
//! ```

// `StreamError::Call` carries the generated client's error (with the whole answer) unchanged,
// as the client's own calls return it; boxing it would only add an allocation per error.
#![allow(clippy::result_large_err)]

use super::{Client, Error, ResponseValue, types};
use crate::runtime::paginate::{self, Cursor, Page};

/// Items per page (`limit`, at least 1; a provider may serve fewer).
pub type Limit = std::num::NonZeroU32;

/// Why a bLink stream stopped: a failed call, or an unreadable `nextCursor`.
pub type StreamError = paginate::StreamError<Error<types::CommonErrorResponse>>;

/// Pages of a bLink list, resumable at a [`Cursor`].
pub type Pages<T> = paginate::Pages<T, Cursor, Error<types::CommonErrorResponse>>;

/// Items of a bLink list, one by one.
pub type Items<T> = paginate::Items<T, Cursor, Error<types::CommonErrorResponse>>;

/// The response headers that may carry the next cursor: OpenWealth's `nextCursor`, and
/// `X-Next-Cursor`, which other bLink modules use (unverified for this one; see the spec).
const NEXT_CURSOR_HEADERS: [&str; 2] = ["nextCursor", "X-Next-Cursor"];

/// Every customer (`getCustomers`), from `resume_from` (`None`: the first).
pub fn customers(
    client: &Client,
    limit: Limit,
    resume_from: Option<Cursor>,
) -> Pages<types::Customer> {
    let client = client.clone();
    paginate::paginate(resume_from, move |cursor: Option<Cursor>| {
        let client = client.clone();
        async move {
            let mut request = client.get_customers().limit(limit);
            if let Some(cursor) = cursor {
                request = request.cursor(cursor.as_str());
            }
            page(request.send().await)
        }
    })
}

/// Every person (`getPersons`), from `resume_from` (`None`: the first).
pub fn persons(client: &Client, limit: Limit, resume_from: Option<Cursor>) -> Pages<types::Person> {
    let client = client.clone();
    paginate::paginate(resume_from, move |cursor: Option<Cursor>| {
        let client = client.clone();
        async move {
            let mut request = client.get_persons().limit(limit);
            if let Some(cursor) = cursor {
                request = request.cursor(cursor.as_str());
            }
            page(request.send().await)
        }
    })
}

/// The contact details of the person `person_id` (`getContactDetailsByPersonId`), from
/// `resume_from` (`None`: the first).
pub fn contact_details(
    client: &Client,
    person_id: impl Into<String>,
    limit: Limit,
    resume_from: Option<Cursor>,
) -> Pages<types::ContactDetails> {
    let client = client.clone();
    let person_id = person_id.into();
    paginate::paginate(resume_from, move |cursor: Option<Cursor>| {
        let client = client.clone();
        let person_id = person_id.clone();
        async move {
            let mut request = client
                .get_contact_details_by_person_id()
                .person_id(person_id)
                .limit(limit);
            if let Some(cursor) = cursor {
                request = request.cursor(cursor.as_str());
            }
            page(request.send().await)
        }
    })
}

/// A list answer as a page: more follow when a next cursor is given.
fn page<T>(
    answer: Result<ResponseValue<Vec<T>>, Error<types::CommonErrorResponse>>,
) -> Result<Page<T, Cursor>, StreamError> {
    let answer = answer.map_err(StreamError::Call)?;
    let next = next_page_cursor(answer.headers())?;
    let items = answer.into_inner();
    Ok(match next {
        Some(cursor) => Page::more(items, cursor),
        None => Page::last(items, None),
    })
}

/// The next page's cursor: `None` when no header carries one or it is empty (the last page),
/// an error when one does but it is not a cursor (stopping beats silently ending the list).
fn next_page_cursor(headers: &reqwest::header::HeaderMap) -> Result<Option<Cursor>, StreamError> {
    let Some((name, value)) = NEXT_CURSOR_HEADERS
        .iter()
        .find_map(|name| headers.get(*name).map(|value| (*name, value)))
    else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    let unusable = |reason: String| {
        StreamError::MissingCursor(format!("the {name} response header is unusable: {reason}"))
    };
    let text = value
        .to_str()
        .map_err(|_| unusable("not ASCII text".into()))?;
    Cursor::new(text)
        .map(Some)
        .map_err(|e| unusable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn the_next_cursor_header_absent_or_empty_ends_and_garbage_is_an_error() {
        let mut headers = HeaderMap::new();
        assert!(matches!(next_page_cursor(&headers), Ok(None)));
        headers.insert("nextCursor", HeaderValue::from_static(""));
        assert!(matches!(next_page_cursor(&headers), Ok(None)));
        headers.insert("nextCursor", HeaderValue::from_static("abc"));
        assert_eq!(next_page_cursor(&headers).unwrap().unwrap().as_str(), "abc");
        headers.insert("nextCursor", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        assert!(matches!(
            next_page_cursor(&headers),
            Err(StreamError::MissingCursor(_))
        ));
        let mut other = HeaderMap::new();
        other.insert("x-next-cursor", HeaderValue::from_static("def"));
        assert_eq!(next_page_cursor(&other).unwrap().unwrap().as_str(), "def");
    }
}
