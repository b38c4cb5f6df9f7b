//! BiQ Alert authorisation: exchange the api key for a JWT (`login`). The session that keeps
//! the JWT for the CustomerShadow and AlertChanges clients is `biq::Session`, in the vendor
//! module shared by the three BiQ slugs (which uses this one, not the other way round).
//!
//! The seed page says `GET /api/Auth/login`; BiQ's own demo code POSTs `{"apikey": ...}`. We
//! follow the code (see `specs/README.md`).

generated_module!("biq_auth");

use crate::runtime::{ConnectError, Layer};

/// The slug of this service.
pub const SLUG: &str = "biq_auth";

/// A client for the auth service at `base_url` (e.g. `biq::Environment::auth_url()`); it
/// needs no credentials: its `login` is how
/// credentials are had.
pub fn connect(base_url: &str) -> Result<Client, ConnectError> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(
        base_url,
        http,
        Layer::new(&SERVICE_RULES),
    ))
}
