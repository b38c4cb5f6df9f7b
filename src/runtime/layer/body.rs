//! The whole body of an answer: read by the layer before the decision to retry (a body cut
//! short is retried, not handed to the decoder), kept beside the answer as [`RawBody`] so the
//! decoder and the errors reuse it rather than reading it again.

use reqwest::header::HeaderMap;

/// The whole body of an answer, kept beside it (in the response's extensions) so an error can
/// show it even after the body was handed on.
#[derive(Debug, Clone)]
pub struct RawBody(pub bytes::Bytes);

/// The answer with its whole body read (a body cut short is an error here, where it can be
/// retried), the body also kept as [`RawBody`] (for an error to show it, and so the decoder
/// does not read the body a second time). The answer's parts are moved, not copied: this runs
/// on every call.
pub(crate) async fn whole(response: reqwest::Response) -> Result<reqwest::Response, reqwest::Error> {
    use http_body_util::BodyExt;
    let (parts, body) = ::http::Response::<reqwest::Body>::from(response).into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(answer_from_parts(parts, body))
}

/// An answer made from its parts and whole body, the body also kept as [`RawBody`].
pub(crate) fn answer_from_parts(
    mut parts: ::http::response::Parts,
    body: bytes::Bytes,
) -> reqwest::Response {
    parts.extensions.insert(RawBody(body.clone()));
    reqwest::Response::from(::http::Response::from_parts(parts, body))
}

/// The body the layer read (empty when it read none).
pub(crate) fn raw_body(response: &reqwest::Response) -> &[u8] {
    response
        .extensions()
        .get::<RawBody>()
        .map_or(&[][..], |body| &body.0[..])
}

/// A count the layer recorded in header `name`.
pub(crate) fn count_header(headers: &HeaderMap, name: &str) -> Option<u32> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

