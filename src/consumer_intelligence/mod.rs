//! Dun & Bradstreet (Bisnode) Consumer Intelligence V3: find and get persons, upload and
//! delete consumers, read the subscribed-person and audit-event feeds, manage webhooks.
//!
//! The client, its builders and [`types`] are generated from
//! `specs/consumer_intelligence.yaml` (checked in as `generated/consumer_intelligence.rs`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::consumer_intelligence::{Credentials, Environment, connect};
//! let client = connect(Environment::Sandbox, Credentials::from_env()?)?;
//! let page = client.list_consumers().page_size(100).send().await?;
//! for consumer in &page.data {
//!     println!("{} {:?}", consumer.consumer_id, consumer.state);
//! }
//! # Ok(()) }
//! ```
//!
//! Every list is also a resumable stream of pages and of items: see [`stream`].

generated_module!("consumer_intelligence");

pub mod bulk;
pub mod stream;
pub mod webhook;

use std::sync::Arc;

use crate::runtime::auth::{SecretString, TokenCache};
use crate::runtime::layer::{HeaderAuth, Scheme};
use crate::runtime::{ConfigError, ConnectError, ConnectOptions, Layer, config, oauth2};

/// The slug of this service.
pub const SLUG: &str = "consumer_intelligence";

/// The OAuth2 scope of the API.
pub const SCOPE: &str = "bci";

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

/// OAuth2 client credentials of one Consumer Intelligence environment (each environment
/// issues its own). `Debug` shows the id, never the secret.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl Credentials {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
        }
    }

    /// From `CI_CLIENT_ID` and `CI_CLIENT_SECRET`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::new(
            config::required("CI_CLIENT_ID")?,
            config::required("CI_CLIENT_SECRET")?,
        ))
    }
}

impl Environment {
    /// From `CI_ENVIRONMENT` (`production` or `sandbox`, the default), or `CI_BASE_URL` and
    /// `CI_TOKEN_URL` together for any other deployment.
    pub fn from_env() -> Result<Self, ConfigError> {
        if let Some(base_url) = config::var("CI_BASE_URL") {
            return Ok(Environment::Custom {
                base_url,
                token_url: config::required("CI_TOKEN_URL")?,
            });
        }
        match config::var("CI_ENVIRONMENT").as_deref() {
            None | Some("sandbox") => Ok(Environment::Sandbox),
            Some("production") => Ok(Environment::Production),
            Some(other) => Err(ConfigError::Invalid {
                name: "CI_ENVIRONMENT",
                reason: format!("`{other}` is neither `production` nor `sandbox`"),
            }),
        }
    }
}

/// An authenticated client for `environment`: tokens are fetched (client credentials, scope
/// `bci`), cached, renewed before they expire and after a 401, without the caller's help.
pub fn connect(environment: Environment, credentials: Credentials) -> Result<Client, ConnectError> {
    connect_with(environment, credentials, &ConnectOptions::default())
}

/// [`connect`] with options (HTTP client, refresh policy).
pub fn connect_with(
    environment: Environment,
    credentials: Credentials,
    options: &ConnectOptions,
) -> Result<Client, ConnectError> {
    options.check_url("base URL", environment.base_url())?;
    options.check_url("token URL", environment.token_url())?;
    let http = options.http_client()?;
    let source = oauth2::ClientCredentials::new(
        oauth2::TokenEndpoint::new(http.clone(), environment.token_url()).with_options(options),
        credentials.client_id,
        credentials.client_secret,
        Some(SCOPE.to_string()),
    );
    let cache = Arc::new(TokenCache::new(source, options.refresh));
    let layer = options
        .layer(&SERVICE_RULES)
        .with_auth(HeaderAuth::new(cache, Scheme::Bearer));
    Ok(Client::new_with_client(environment.base_url(), http, layer))
}

/// [`connect`] with the environment and credentials from the environment variables
/// (`CI_CLIENT_ID`, `CI_CLIENT_SECRET`, optional `CI_ENVIRONMENT` or `CI_BASE_URL` +
/// `CI_TOKEN_URL`).
pub fn connect_from_env() -> Result<Client, ConnectError> {
    connect(Environment::from_env()?, Credentials::from_env()?)
}

/// A client that sends no credentials (for recorded fixtures and tests of refusals).
pub fn connect_anonymous(environment: &Environment) -> Result<Client, ConnectError> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(
        environment.base_url(),
        http,
        Layer::new(&SERVICE_RULES),
    ))
}
