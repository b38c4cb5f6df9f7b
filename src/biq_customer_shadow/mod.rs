//! BiQ Alert CustomerShadow: keep a shadow copy of your customers at BiQ (list shadow sources,
//! create, update and delete customers, list the tenant's shadow customers) so BiQ can watch
//! public registers for changes. [`stream::customers`] reads the whole list, as BiQ's demo does
//! for its daily reconciliation.

generated_module!("biq_customer_shadow");

pub mod stream;

/// The slug of this service.
pub const SLUG: &str = "biq_customer_shadow";

/// An authenticated CustomerShadow client of `session` (its JWT, renewed as needed).
pub fn connect(session: &crate::biq::Session) -> Result<Client, crate::runtime::ConnectError> {
    Ok(Client::new_with_client(
        session.environment().customer_shadow_url(),
        session.http().clone(),
        session.layer(&SERVICE_RULES),
    ))
}

impl crate::biq::Session {
    /// An authenticated CustomerShadow client of this session (see [`connect`]).
    pub fn customer_shadow(&self) -> Result<Client, crate::runtime::ConnectError> {
        connect(self)
    }
}

/// A client that sends no credentials (for tests of refusals).
pub fn connect_anonymous(
    environment: &crate::biq::Environment,
) -> Result<Client, crate::runtime::ConnectError> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(
        environment.customer_shadow_url(),
        http,
        crate::runtime::Layer::new(&SERVICE_RULES),
    ))
}
