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
/// use customer_data::runtime::{Error, OptionalResponse};
/// use progenitor_client::ResponseValue;
/// // `answer` is what a generated call's `.send().await` returns, e.g. a search that answers
/// // 204 when nothing matched.
/// fn report<T: std::fmt::Debug, E>(
///     answer: Result<ResponseValue<T>, Error<E>>,
/// ) -> Result<(), Error<E>> {
///     match answer.optional()? {
///         Some(found) => println!("matched {:?}", found.into_inner()),
///         None => println!("nothing matched (204)"),
///     }
///     Ok(())
/// }
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
