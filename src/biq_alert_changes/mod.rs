//! BiQ Alert AlertChanges: the approved-changes and notifications feeds about your customers.
//!
//! Items carry an `event_type` string and a `payload` (null or any JSON) whose shape depends on
//! it. [`EventPayload::decode`] (or `.typed_payload()` on an item) turns that into a typed value
//! as BiQ's demo reader does; an absent payload, an unknown event type or a payload that does
//! not fit each have their own variant, kept as raw JSON: a feed never fails because BiQ added
//! something or anonymised an item.
//!
//! [`stream`] reads a feed (from/more, and the server-side bookmark) as a resumable stream.

generated_module!("biq_alert_changes");

pub mod callback;
mod payload;
pub mod stream;

pub use payload::{EVENT_PAYLOADS, EVENTS_WITHOUT_PAYLOAD, EventPayload, TypedPayload};

/// The slug of this service.
pub const SLUG: &str = "biq_alert_changes";

/// An authenticated AlertChanges client of `session` (its JWT, renewed as needed).
pub fn connect(session: &crate::biq::Session) -> Result<Client, crate::runtime::ConnectError> {
    Ok(Client::new_with_client(
        session.environment().alert_changes_url(),
        session.http().clone(),
        session.layer(&SERVICE_RULES),
    ))
}

impl crate::biq::Session {
    /// An authenticated AlertChanges client of this session (see [`connect`]).
    pub fn alert_changes(&self) -> Result<Client, crate::runtime::ConnectError> {
        connect(self)
    }
}

/// A client that sends no credentials (for tests of refusals).
pub fn connect_anonymous(
    environment: &crate::biq::Environment,
) -> Result<Client, crate::runtime::ConnectError> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(
        environment.alert_changes_url(),
        http,
        crate::runtime::Layer::new(&SERVICE_RULES),
    ))
}
