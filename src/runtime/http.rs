//! The one place an HTTP client is built, so every service gets the same TLS setup and
//! timeouts.
//!
//! TLS: rustls with the *ring* crypto provider. reqwest 0.13's default provider is aws-lc-rs,
//! whose C build (aws-lc-sys) is ~45 s of a ~58 s cold build on our 2-core machines and needs
//! cmake-class tooling; ring builds in seconds, is pure Rust + small asm, and is a supported
//! rustls provider. reqwest uses the process-wide default provider, so we install ring as the
//! default only if the process has none yet: an application that chose its own provider keeps it.
//!
//! An application that builds its own `reqwest::Client` in the same process should build it
//! with [`client_builder`] (or call [`ensure_crypto_provider`] first): with reqwest's
//! `rustls-no-provider` feature, a client built before any provider is installed panics.

use std::time::Duration;

/// Default time to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time for a whole request, as progenitor's own default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Makes sure rustls has a crypto provider; idempotent and cheap after the first call.
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A `reqwest::ClientBuilder` with our TLS provider in place, default timeouts, and
/// redirects off: a redirect would re-send credentials (and, on 307/308, the body with an api
/// key or an OAuth form) to wherever the server points. The layer reports a 3xx as
/// [`TransportError::Redirected`](super::transport::TransportError::Redirected). A client you
/// build yourself should turn redirects off too.
pub fn client_builder() -> reqwest::ClientBuilder {
    ensure_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .timeout(DEFAULT_REQUEST_TIMEOUT)
        .user_agent(concat!("customer-data/", env!("CARGO_PKG_VERSION")))
}

/// Builds the default HTTP client.
pub fn default_client() -> Result<reqwest::Client, reqwest::Error> {
    client_builder().build()
}
