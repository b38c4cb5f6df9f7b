//! Dun & Bradstreet (Bisnode) Consumer Intelligence V3: find and get persons, upload and
//! delete consumers, read the subscribed-person and audit-event feeds, manage webhooks.
//!
//! The client, its builders and [`types`] are generated from
//! `specs/consumer_intelligence.yaml` (checked in as `generated/consumer_intelligence.rs`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::consumer_intelligence::{Environment, connect};
//! let client = connect(Environment::Sandbox)?;
//! let page = client.list_consumers().page_size(100).send().await?;
//! for consumer in &page.data {
//!     println!("{} {:?}", consumer.consumer_id, consumer.state);
//! }
//! # Ok(()) }
//! ```

generated_module!("consumer_intelligence");

/// Production API base URL.
pub const PRODUCTION_URL: &str = "https://api.bisnode.com/consumer-intelligence/v3";
/// Sandbox API base URL (mocked persons; credentials are per environment).
pub const SANDBOX_URL: &str = "https://sandbox-api.bisnode.com/consumer-intelligence/v3";
/// Production OAuth2 token URL (client credentials, scope `bci`).
pub const PRODUCTION_TOKEN_URL: &str = "https://login.bisnode.com/as/token.oauth2";
/// Sandbox OAuth2 token URL.
pub const SANDBOX_TOKEN_URL: &str = "https://login.bisnode.com/sandbox/v1/token.oauth2";

/// Where the client talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    Production,
    Sandbox,
    /// Any other base URL (a local twin, a proxy), with its token URL.
    Custom {
        base_url: String,
        token_url: String,
    },
}

impl Environment {
    /// The API base URL.
    pub fn base_url(&self) -> &str {
        match self {
            Environment::Production => PRODUCTION_URL,
            Environment::Sandbox => SANDBOX_URL,
            Environment::Custom { base_url, .. } => base_url,
        }
    }

    /// The OAuth2 token URL.
    pub fn token_url(&self) -> &str {
        match self {
            Environment::Production => PRODUCTION_TOKEN_URL,
            Environment::Sandbox => SANDBOX_TOKEN_URL,
            Environment::Custom { token_url, .. } => token_url,
        }
    }
}

/// A client for `environment` over the shared HTTP stack (`runtime::http`).
pub fn connect(environment: Environment) -> Result<Client, reqwest::Error> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(environment.base_url(), http))
}
