//! One webhook endpoint: verify, decode, de-duplicate, hand over, and answer.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::event::{DecodeError, WebhookEvent, decode_events};
use super::signature::{Rejection, Verifier};
use crate::runtime::dedup::{Dedup, Once, OnceError, SeenStore};
use crate::runtime::receive::{Handler, HandlerError};

type RefusalHook = Arc<dyn Fn(&Refusal) + Send + Sync>;

/// Why a delivery was refused before any event reached the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The signature or timestamp did not verify.
    Unverified(Rejection),
    /// Verified, but the body is not a decodable array of events.
    Undecodable(DecodeError),
    /// The body is larger than the receiver's limit.
    TooLarge { limit: usize },
}

impl Refusal {
    /// A stable name: the [`Rejection::reason`], the [`DecodeError::reason`], or `too_large`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Unverified(rejection) => rejection.reason(),
            Refusal::Undecodable(error) => error.reason(),
            Refusal::TooLarge { .. } => "too_large",
        }
    }

    /// The HTTP status to answer: 401 unverified, 400 undecodable, 413 too large.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Refusal::Unverified(_) => http::StatusCode::UNAUTHORIZED,
            Refusal::Undecodable(_) => http::StatusCode::BAD_REQUEST,
            Refusal::TooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unverified(rejection) => write!(f, "unverified delivery: {rejection}"),
            Refusal::Undecodable(error) => write!(f, "undecodable delivery: {error}"),
            Refusal::TooLarge { limit } => write!(f, "the delivery exceeds {limit} bytes"),
        }
    }
}

impl std::error::Error for Refusal {}

/// What became of one delivery.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Every event was handled now or before: answer 200.
    Accepted {
        /// Events handed to the handler by this delivery.
        handled: usize,
        /// Events skipped because they were handled before (resends).
        duplicates: usize,
    },
    /// Refused before any event was handled (401 / 400 / 413).
    Refused(Refusal),
    /// The handler failed (or panicked) on `event_id`: answer 500 so the vendor resends. The
    /// events before it are done and will be skipped then; this one and the rest are not.
    HandlerFailed {
        event_id: String,
        error: HandlerError,
    },
    /// `event_id` is being handled by another request right now (a resend racing the first
    /// delivery): answer 503 so the vendor resends later.
    Busy { event_id: String },
    /// The de-duplication store failed at `event_id`: answer 503.
    StoreFailed {
        event_id: String,
        error: HandlerError,
    },
}

impl Outcome {
    /// The HTTP status to answer: 200 only for [`Outcome::Accepted`].
    pub fn status(&self) -> http::StatusCode {
        match self {
            Outcome::Accepted { .. } => http::StatusCode::OK,
            Outcome::Refused(refusal) => refusal.status(),
            Outcome::HandlerFailed { .. } => http::StatusCode::INTERNAL_SERVER_ERROR,
            Outcome::Busy { .. } | Outcome::StoreFailed { .. } => {
                http::StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// A short text for the answer's body (reasons only: no secret, no payload).
    pub fn message(&self) -> String {
        match self {
            Outcome::Accepted {
                handled,
                duplicates,
            } => format!("accepted: {handled} handled, {duplicates} already handled"),
            Outcome::Refused(refusal) => format!("{}: {refusal}", refusal.reason()),
            Outcome::HandlerFailed { event_id, .. } => {
                format!("handler_failed: event {event_id} was not handled; resend")
            }
            Outcome::Busy { event_id } => {
                format!("busy: event {event_id} is being handled; resend later")
            }
            Outcome::StoreFailed { event_id, .. } => {
                format!("store_failed: event {event_id}; resend later")
            }
        }
    }
}

/// One webhook endpoint. It verifies the delivery ([`Verifier`]), decodes it
/// ([`decode_events`]), and hands each event, in order, to the handler unless its id was
/// handled before ([`Dedup`]); it answers 200 only when every event of the delivery is handled
/// (now or earlier), so the vendor resends whatever failed.
///
/// A handler error or panic stops the delivery at that event (answer 500); a resend starts
/// again there, since the events before it are remembered as done. Handing events over
/// exactly once holds as long as the [`SeenStore`] remembers (in memory by default: see
/// [`crate::runtime::dedup::InMemorySeen`]).
///
/// ```no_run
/// # #[cfg(feature = "webhooks")]
/// # async fn demo() -> std::io::Result<()> {
/// use customer_data::consumer_intelligence::webhook::{Receiver, Verifier, WebhookEvent};
///
/// let verifier = Verifier::new(std::env::var("CI_WEBHOOK_SECRET").unwrap_or_default());
/// let receiver = Receiver::new(verifier, |event: WebhookEvent| async move {
///     match event {
///         WebhookEvent::PersonChanged(change) => println!("{} changed", change.gedi),
///         other => println!("{} {}", other.event_type(), other.id()),
///     }
///     Ok::<(), std::io::Error>(())
/// });
/// let app = axum::Router::new().route("/hooks/consumer-intelligence", receiver.into_route());
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Clone)]
pub struct Receiver {
    verifier: Verifier,
    dedup: Dedup,
    handler: Handler<WebhookEvent>,
    body_limit: usize,
    on_refusal: Option<RefusalHook>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("verifier", &self.verifier)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Largest body accepted by default (the vendor states no batch size).
    pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;

    /// A receiver handing every new event to `handler`, de-duplicating in memory.
    pub fn new<H, Fut, E>(verifier: Verifier, handler: H) -> Self
    where
        H: Fn(WebhookEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HandlerError>,
    {
        Self {
            verifier,
            dedup: Dedup::in_memory(),
            handler: Handler::new(handler),
            body_limit: Self::DEFAULT_BODY_LIMIT,
            on_refusal: None,
        }
    }

    /// De-duplicates with your own store (persistent, or shared between receivers).
    pub fn with_store(mut self, store: impl SeenStore) -> Self {
        self.dedup = Dedup::new(store);
        self
    }

    /// De-duplicates with a [`Dedup`] you already have.
    pub fn with_dedup(mut self, dedup: Dedup) -> Self {
        self.dedup = dedup;
        self
    }

    /// Refuses bodies larger than `limit` bytes (413).
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// Calls `hook` with every refusal (for metrics or alerts; a refusal is also traced at
    /// `warn`).
    pub fn on_refusal(mut self, hook: impl Fn(&Refusal) + Send + Sync + 'static) -> Self {
        self.on_refusal = Some(Arc::new(hook));
        self
    }

    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// Handles one delivery (its headers and raw body) and says what to answer; the
    /// framework-independent core of [`Receiver::into_route`].
    pub async fn receive(&self, headers: &http::HeaderMap, body: &[u8]) -> Outcome {
        if body.len() > self.body_limit {
            return self.refuse(Refusal::TooLarge {
                limit: self.body_limit,
            });
        }
        if let Err(rejection) = self.verifier.verify(headers, body) {
            return self.refuse(Refusal::Unverified(rejection));
        }
        let events = match decode_events(body) {
            Ok(events) => events,
            Err(error) => return self.refuse(Refusal::Undecodable(error)),
        };
        let (mut handled, mut duplicates) = (0, 0);
        for event in events {
            let event_id = event.id().to_string();
            // A panicking handler is a failed one: the id is released, the delivery answered
            // 500, and the process goes on.
            let done = self
                .dedup
                .once(&event_id, || self.handler.call(event))
                .await;
            match done {
                Ok(Once::Ran(())) => handled += 1,
                Ok(Once::AlreadyDone) => duplicates += 1,
                Ok(Once::InProgress) => return Outcome::Busy { event_id },
                Err(OnceError::Work(error)) => {
                    tracing::warn!(event_id = %event_id, error = %error, "webhook handler failed");
                    return Outcome::HandlerFailed { event_id, error };
                }
                Err(OnceError::Store(error)) => {
                    tracing::warn!(event_id = %event_id, error = %error, "webhook de-duplication store failed");
                    return Outcome::StoreFailed {
                        event_id,
                        error: Box::new(error),
                    };
                }
            }
        }
        Outcome::Accepted {
            handled,
            duplicates,
        }
    }

    fn refuse(&self, refusal: Refusal) -> Outcome {
        tracing::warn!(
            reason = refusal.reason(),
            "webhook delivery refused: {refusal}"
        );
        if let Some(hook) = &self.on_refusal {
            hook(&refusal);
        }
        Outcome::Refused(refusal)
    }
}

#[cfg(feature = "webhooks")]
mod axum_route {
    use axum::extract::Request;
    use axum::response::Response;
    use axum::routing::{MethodRouter, post};

    use super::{Outcome, Receiver, Refusal};
    use crate::runtime::receive::{answer, detached};

    impl Receiver {
        /// This receiver as an axum `POST` route. The delivery is handled in its own task,
        /// so a vendor hanging up mid-way does not cut a handler short.
        pub fn into_route<S>(self) -> MethodRouter<S>
        where
            S: Clone + Send + Sync + 'static,
        {
            post(move |request: Request| {
                let receiver = self.clone();
                async move { receiver.answer(request).await }
            })
        }

        async fn answer(self, request: Request) -> Response {
            let (parts, body) = request.into_parts();
            let body = match axum::body::to_bytes(body, self.body_limit).await {
                Ok(body) => body,
                Err(_) => {
                    let limit = self.body_limit;
                    return respond(&self.refuse(Refusal::TooLarge { limit }));
                }
            };
            let received = detached(async move { self.receive(&parts.headers, &body).await });
            match received.await {
                Ok(outcome) => respond(&outcome),
                Err(failed) => failed,
            }
        }
    }

    fn respond(outcome: &Outcome) -> Response {
        let retry_after = matches!(outcome, Outcome::Busy { .. } | Outcome::StoreFailed { .. });
        answer(
            outcome.status(),
            outcome.message(),
            retry_after.then_some(5),
        )
    }
}
