//! Reading generated results: an empty success status (e.g. `204 No Content` beside a typed
//! `200`) as `None`. The generator supports one success body type per operation, so the
//! normalise stage moves such statuses aside and the client reports them as
//! `Error::UnexpectedResponse`; this puts them back in the caller's terms.

use progenitor_client::ResponseValue;

use super::error::Error;
use reqwest::StatusCode;

/// Turns an empty success answer into `Ok(None)`.
///
/// ```no_run
/// # async fn demo(client: &customer_data::consumer_intelligence::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use customer_data::runtime::OptionalResponse;
/// use customer_data::consumer_intelligence::types::ConsumerDataDto;
/// let query = ConsumerDataDto::builder().legal_id(Some("198001022386".parse()?));
/// let found = client.find_person().market("SE").body(query).send().await.optional()?;
/// match found {
///     Some(person) => println!("matched {:?}", person.into_inner().family_name),
///     None => println!("no person matched (204)"),
/// }
/// # Ok(()) }
/// ```
// The error is the generated client's own (`runtime::Error`), returned unchanged.
#[allow(clippy::result_large_err)]
pub trait OptionalResponse<T, E> {
    /// `Ok(None)` for a 2xx answer without a body that the client did not expect
    /// (204, 205, or `Content-Length: 0`); everything else unchanged.
    fn optional(self) -> Result<Option<ResponseValue<T>>, Error<E>>;
}

impl<T, E> OptionalResponse<T, E> for Result<ResponseValue<T>, Error<E>> {
    fn optional(self) -> Result<Option<ResponseValue<T>>, Error<E>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(Error::UnexpectedResponse(response)) if is_empty_success(&response) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

fn is_empty_success(response: &reqwest::Response) -> bool {
    let status = response.status();
    status.is_success()
        && (status == StatusCode::NO_CONTENT
            || status == StatusCode::RESET_CONTENT
            || response.content_length() == Some(0))
}
