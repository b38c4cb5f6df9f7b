//! Receiving Consumer Intelligence webhooks safely: verify the signature and timestamp,
//! decode the events, de-duplicate them, and hand them to your code.
//!
//! * [`Verifier`] checks `ci-signature-timestamp` / `ci-signature-sha256` (HMAC-SHA256 with
//!   the webhook's secret, constant-time comparison, a 5-minute tolerance by default), with a
//!   typed [`Rejection`] for every refusal. **The signed string is unconfirmed**: see
//!   [`signature`] and check it against the `PING` delivery with [`check_construction`].
//! * [`decode_events`] turns the delivered JSON array into [`WebhookEvent`]s (one variant per
//!   event type, plus `Unknown` that keeps the whole JSON).
//! * [`crate::runtime::dedup`] remembers which event ids were handled (in memory by default,
//!   or your own store), because the vendor resends deliveries.
//! * [`Receiver`] does all of it for one endpoint and answers 200 only after your handler
//!   succeeded for every event of the delivery; with the `webhooks` feature it is an axum
//!   route ([`Receiver::into_route`]).
//!
//! The vendor's delivery contract is described in `specs/consumer_intelligence.yaml` (API
//! description) and `specs/README.md`.

pub mod event;
mod receiver;
pub mod signature;

pub use crate::runtime::receive::HandlerError;
pub use event::{
    DecodeError, EventError, TYPED_EVENT_TYPES, UnknownEvent, WebhookEvent, decode_events,
};
pub use receiver::{Outcome, Receiver, Refusal};
pub use signature::{
    Construction, ConstructionCheck, DEFAULT_TOLERANCE, Rejection, SIGNATURE_HEADER,
    TIMESTAMP_HEADER, Verified, Verifier, WebhookSecret, check_construction, sign, sign_with,
};
