//! Fault injection, per twin, seeded and deterministic: the n-th request a twin receives gets
//! the same fate in every run with the same seed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What can go wrong, as probabilities per request (0.0 = never).
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    pub seed: u64,
    /// Answer 429 with `Retry-After: retry_after_secs`.
    pub rate_limited: f64,
    pub retry_after_secs: u64,
    /// Answer 500, 502, 503 or 504 (uniformly).
    pub server_error: f64,
    /// Delay the answer by `latency`.
    pub slow: f64,
    pub latency: Duration,
    /// Drop the connection without an answer.
    pub reset: f64,
    /// Send the real answer's headers, then only half its body, then drop the connection.
    pub truncated: f64,
    /// Not per request but per outgoing call the twin makes (Consumer Intelligence webhook
    /// deliveries, BiQ approved-changes callbacks): after a call was answered 200, make the
    /// same call once more, 0-200 ms later, as vendors that deliver "at least once" do (a
    /// webhook resend carries the same events, ids included, freshly signed). Drawn from its
    /// own generator seeded from `seed`.
    pub webhook_resend: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            seed: 0,
            rate_limited: 0.0,
            retry_after_secs: 1,
            server_error: 0.0,
            slow: 0.0,
            latency: Duration::from_millis(200),
            reset: 0.0,
            truncated: 0.0,
            webhook_resend: 0.0,
        }
    }
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Self {
        Self::default()
    }
}

/// The fate of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Serve,
    RateLimited,
    ServerError(u16),
    Slow,
    Reset,
    Truncated,
}

/// How a twin words an injected refusal (429, or 500, 502, 503, 504): given the status, the
/// answer in its vendor's error shape. The injector adds `Retry-After` to a 429 itself.
pub type FaultAnswer = fn(StatusCode) -> Response;

/// The default [`FaultAnswer`]: a plain-text body naming the fault injection.
pub fn plain_answer(status: StatusCode) -> Response {
    let text = if status == StatusCode::TOO_MANY_REQUESTS {
        "rate limited (sandbox fault injection)"
    } else {
        "server error (sandbox fault injection)"
    };
    (status, text).into_response()
}

/// Draws fates from a seeded generator, in request order.
#[derive(Clone)]
pub struct FaultInjector {
    faults: Faults,
    rng: Arc<Mutex<ChaCha8Rng>>,
    answer: FaultAnswer,
}

impl FaultInjector {
    pub fn new(faults: Faults) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(faults.seed);
        Self {
            faults,
            rng: Arc::new(Mutex::new(rng)),
            answer: plain_answer,
        }
    }

    /// The same injector, wording its refusals with `answer` (a twin whose vendor documents
    /// an error body, so that an injected 429 or 5xx looks like the vendor's).
    pub fn answering(mut self, answer: FaultAnswer) -> Self {
        self.answer = answer;
        self
    }

    /// The next request's fate.
    pub fn next_fate(&self) -> Fate {
        let f = &self.faults;
        let mut rng = match self.rng.lock() {
            Ok(rng) => rng,
            // A panic elsewhere must not stop the twin; the generator state is still valid.
            Err(poisoned) => poisoned.into_inner(),
        };
        let roll: f64 = rng.random();
        let mut edge = 0.0;
        for (p, fate) in [
            (f.rate_limited, Fate::RateLimited),
            (f.server_error, Fate::ServerError(0)),
            (f.slow, Fate::Slow),
            (f.reset, Fate::Reset),
            (f.truncated, Fate::Truncated),
        ] {
            edge += p;
            if roll < edge {
                return match fate {
                    Fate::ServerError(_) => {
                        Fate::ServerError([500, 502, 503, 504][rng.random_range(0..4)])
                    }
                    other => other,
                };
            }
        }
        Fate::Serve
    }
}

/// Marks an answer whose bytes fault injection decided (a 429 or 5xx instead of the twin's
/// answer, a reset, a body cut short), in the response's extensions: the exchange recording
/// (`crate::record`) flags it `injected`. A `Slow` answer is the twin's own, only later, and
/// is not marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injected(pub Fate);

/// The middleware: applies the next fate to each request.
pub async fn inject(
    State(injector): State<FaultInjector>,
    request: Request,
    next: Next,
) -> Response {
    let fate = injector.next_fate();
    let mut response = apply(&injector, fate, request, next).await;
    if !matches!(fate, Fate::Serve | Fate::Slow) {
        response.extensions_mut().insert(Injected(fate));
    }
    response
}

async fn apply(injector: &FaultInjector, fate: Fate, request: Request, next: Next) -> Response {
    match fate {
        Fate::Serve => next.run(request).await,
        Fate::RateLimited => {
            let mut response = (injector.answer)(StatusCode::TOO_MANY_REQUESTS);
            if let Ok(value) = HeaderValue::from_str(&injector.faults.retry_after_secs.to_string())
            {
                response.headers_mut().insert("retry-after", value);
            }
            response
        }
        Fate::ServerError(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (injector.answer)(status)
        }
        Fate::Slow => {
            tokio::time::sleep(injector.faults.latency).await;
            next.run(request).await
        }
        Fate::Reset => broken_body_with(Response::new(Body::empty()), bytes::Bytes::new()),
        Fate::Truncated => {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => {
                    let mut response = Response::from_parts(parts, Body::empty());
                    if let Ok(length) = HeaderValue::from_str(&bytes.len().to_string()) {
                        response.headers_mut().insert("content-length", length);
                    }
                    let half = bytes.slice(..bytes.len() / 2);
                    broken_body_with(response, half)
                }
                Err(_) => broken_body_with(
                    Response::from_parts(parts, Body::empty()),
                    bytes::Bytes::new(),
                ),
            }
        }
    }
}

/// A response whose body errors after `prefix`: hyper then drops the connection mid-answer.
fn broken_body_with(response: Response, prefix: bytes::Bytes) -> Response {
    let (parts, _) = response.into_parts();
    let stream = futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>(prefix),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox fault injection",
        )),
    ]);
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_fates() {
        let faults = Faults {
            seed: 7,
            rate_limited: 0.2,
            server_error: 0.2,
            reset: 0.02,
            truncated: 0.01,
            ..Faults::default()
        };
        let a: Vec<Fate> = {
            let i = FaultInjector::new(faults.clone());
            (0..1000).map(|_| i.next_fate()).collect()
        };
        let b: Vec<Fate> = {
            let i = FaultInjector::new(faults.clone());
            (0..1000).map(|_| i.next_fate()).collect()
        };
        assert_eq!(a, b);
        let limited = a.iter().filter(|f| **f == Fate::RateLimited).count();
        assert!((150..250).contains(&limited), "{limited}");
        assert!(a.iter().any(|f| matches!(f, Fate::ServerError(502))));
    }

    #[test]
    fn no_faults_means_every_request_is_served() {
        let injector = FaultInjector::new(Faults::none());
        assert!((0..1000).all(|_| injector.next_fate() == Fate::Serve));
    }
}
