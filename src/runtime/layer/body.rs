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
/// does not read the body a second time). This runs on every call, so the answer's headers
/// and extensions are moved, not copied, a body that came in one chunk is kept as it came,
/// and its URL is kept (rebuilding an answer without one would parse a placeholder URL).
pub(crate) async fn whole(
    mut response: reqwest::Response,
) -> Result<reqwest::Response, reqwest::Error> {
    let body = match response.chunk().await? {
        None => bytes::Bytes::new(),
        Some(first) => match response.chunk().await? {
            None => first,
            Some(second) => {
                let mut all = bytes::BytesMut::from(&first[..]);
                all.extend_from_slice(&second);
                while let Some(more) = response.chunk().await? {
                    all.extend_from_slice(&more);
                }
                all.freeze()
            }
        },
    };
    let mut answer = ::http::Response::new(());
    *answer.status_mut() = response.status();
    *answer.version_mut() = response.version();
    *answer.headers_mut() = std::mem::take(response.headers_mut());
    *answer.extensions_mut() = std::mem::take(response.extensions_mut());
    answer
        .extensions_mut()
        .extend(url_extension(response.url().clone()));
    let (parts, ()) = answer.into_parts();
    Ok(answer_from_parts(parts, body))
}

/// Extensions holding `url` as reqwest's own record of an answer's URL (its type is private:
/// only its response builder can write it).
fn url_extension(url: reqwest::Url) -> ::http::Extensions {
    use reqwest::ResponseBuilderExt;
    let mut builder = ::http::response::Builder::new().url(url);
    builder
        .extensions_mut()
        .map(std::mem::take)
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuilt_answer_keeps_its_url_and_body() {
        let url = reqwest::Url::parse("https://api.example.com/v3/consumers?pageSize=10").unwrap();
        let (mut parts, ()) = ::http::Response::builder()
            .status(503)
            .body(())
            .unwrap()
            .into_parts();
        parts.extensions.extend(url_extension(url.clone()));
        let answer = answer_from_parts(parts, bytes::Bytes::from_static(b"busy"));
        assert_eq!(answer.url(), &url);
        assert_eq!(answer.status(), 503);
        assert_eq!(raw_body(&answer), b"busy");
    }
}
