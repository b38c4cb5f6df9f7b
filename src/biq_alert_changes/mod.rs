//! BiQ Alert AlertChanges: the approved-changes and notifications feeds about your customers.
//!
//! Items carry an `event_type` string and a `payload` whose shape depends on it.
//! [`EventPayload::decode`] (or `.typed_payload()` on an item) turns that into a typed value;
//! an event type this crate does not know, or a payload that does not fit, is kept as raw JSON
//! in [`EventPayload::Unknown`]: a feed never fails because BiQ added something.

generated_module!("biq_alert_changes");

mod payload;

pub use payload::{EVENT_PAYLOADS, EventPayload, TypedPayload};

/// A client for the AlertChanges service of `environment`, over the shared HTTP stack.
pub fn connect(environment: &crate::biq_auth::Environment) -> Result<Client, reqwest::Error> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(
        environment.alert_changes_url(),
        http,
    ))
}
