//! The whole body of an answer: read by the layer before the decision to retry (a body cut
//! short is retried, not handed to the decoder), kept beside the answer as [`RawBody`] so the
//! decoder and the errors reuse it rather than reading it again.

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::runtime::limits::MinThroughput;
use crate::runtime::transport::TransportError;

/// The whole body of an answer, kept beside it (in the response's extensions) so an error can
/// show it even after the body was handed on.
#[derive(Debug, Clone)]
pub struct RawBody(pub bytes::Bytes);

/// The bounds the body is read within.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    pub max_bytes: u64,
    pub min_throughput: Option<MinThroughput>,
}

/// The answer with its whole body read (a body cut short is an error here, where it can be
/// retried), the body also kept as [`RawBody`] (for an error to show it, and so the decoder
/// does not read the body a second time). This runs on every call, so the answer's headers
/// and extensions are moved, not copied, a body that came in one chunk is kept as it came,
/// and its URL is kept (rebuilding an answer without one would parse a placeholder URL).
///
/// Bounded: an announced `Content-Length` over `limits.max_bytes` is refused before reading,
/// and reading stops as soon as the body grows past it; a body slower than
/// `limits.min_throughput` ends as stalled.
pub(crate) async fn whole(
    mut response: reqwest::Response,
    limits: BodyLimits,
) -> Result<reqwest::Response, TransportError> {
    let too_large = |declared| TransportError::TooLarge {
        limit: limits.max_bytes,
        declared,
    };
    if let Some(declared) = response.content_length()
        && declared > limits.max_bytes
    {
        return Err(too_large(Some(declared)));
    }
    let mut pace = limits.min_throughput.map(Pace::new);
    let mut first: Option<bytes::Bytes> = None;
    let mut all: Option<bytes::BytesMut> = None;
    let mut length = 0u64;
    loop {
        let chunk = match &mut pace {
            None => response.chunk().await,
            Some(pace) => loop {
                // A chunk already buffered needs no timer (the common case: a small answer
                // that came with its head). `chunk` is cancel-safe: dropping a pending read,
                // or a window's end, only ends the wait, not the read.
                if let Some(chunk) = futures_util::FutureExt::now_or_never(response.chunk()) {
                    break chunk;
                }
                match tokio::time::timeout_at(pace.window_end, response.chunk()).await {
                    Ok(chunk) => break chunk,
                    Err(_) => pace.window_ended()?,
                }
            },
        }
        .map_err(TransportError::from_reqwest)?;
        let Some(chunk) = chunk else { break };
        length = length.saturating_add(chunk.len() as u64);
        if length > limits.max_bytes {
            return Err(too_large(None));
        }
        if let Some(pace) = &mut pace {
            pace.received(chunk.len() as u64)?;
        }
        match (&mut first, &mut all) {
            (None, _) => first = Some(chunk),
            (Some(head), None) => {
                let mut joined = bytes::BytesMut::from(&head[..]);
                joined.extend_from_slice(&chunk);
                all = Some(joined);
            }
            (Some(_), Some(joined)) => joined.extend_from_slice(&chunk),
        }
    }
    let body = match (first, all) {
        (_, Some(joined)) => joined.freeze(),
        (Some(only), None) => only,
        (None, None) => bytes::Bytes::new(),
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

/// The minimum-throughput guard: the bytes of the current window and when it ends.
struct Pace {
    guard: MinThroughput,
    need: u64,
    window_end: Instant,
    in_window: u64,
}

impl Pace {
    fn new(guard: MinThroughput) -> Self {
        Self {
            guard,
            need: guard.bytes_per_window(),
            window_end: Instant::now() + guard.window,
            in_window: 0,
        }
    }

    /// `n` more bytes arrived: a window that brought enough starts the next one early.
    fn received(&mut self, n: u64) -> Result<(), TransportError> {
        self.in_window = self.in_window.saturating_add(n);
        if Instant::now() >= self.window_end {
            self.window_ended()?;
        }
        Ok(())
    }

    /// The window is over: it brought enough, or the body stalled.
    fn window_ended(&mut self) -> Result<(), TransportError> {
        if self.in_window < self.need.max(1) {
            return Err(TransportError::Stalled {
                received: self.in_window,
                window: self.guard.window,
                minimum_bytes_per_second: self.guard.bytes_per_second,
            });
        }
        self.in_window = 0;
        self.window_end = Instant::now() + self.guard.window;
        Ok(())
    }
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
