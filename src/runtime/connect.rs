//! Why a client could not be set up.

use std::fmt;

use super::config::ConfigError;

/// Setting up a client failed; nothing was sent yet. Never contains a secret.
#[derive(Debug)]
pub enum ConnectError {
    /// The HTTP client could not be built (TLS setup).
    Http(reqwest::Error),
    /// The configuration (e.g. from the environment) is incomplete or unusable.
    Config(ConfigError),
    /// The client certificate or key for mutual TLS is unusable.
    ClientIdentity(String),
    /// The service requires mutual TLS over HTTPS and no client certificate was given.
    MissingClientIdentity { service: &'static str },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Http(e) => write!(f, "cannot build the HTTP client: {e}"),
            ConnectError::Config(e) => write!(f, "{e}"),
            ConnectError::ClientIdentity(reason) => {
                write!(f, "unusable client certificate or key: {reason}")
            }
            ConnectError::MissingClientIdentity { service } => write!(
                f,
                "{service} requires mutual TLS: give a client certificate and key (PEM)"
            ),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Http(e) => Some(e),
            ConnectError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for ConnectError {
    fn from(e: reqwest::Error) -> Self {
        ConnectError::Http(e)
    }
}

impl From<ConfigError> for ConnectError {
    fn from(e: ConfigError) -> Self {
        ConnectError::Config(e)
    }
}

/// Settings every `connect` accepts beside credentials.
///
/// ```
/// use std::time::Duration;
/// use customer_data::runtime::{ConnectOptions, retry::RetryPolicy};
/// let options = ConnectOptions {
///     retry: RetryPolicy::default().with_max_attempts(6),
///     timeout: Some(Duration::from_secs(30)),
///     ..ConnectOptions::default()
/// };
/// # use customer_data::runtime::ServiceRules;
/// # static RULES: ServiceRules = ServiceRules::empty("example");
/// assert_eq!(options.layer(&RULES).retry_policy().max_attempts(), 6);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// The HTTP client to use (proxies, timeouts, a client certificate); by default one from
    /// [`super::http::client_builder`].
    pub http: Option<reqwest::Client>,
    /// When tokens are renewed ahead of expiry.
    pub refresh: super::auth::RefreshPolicy,
    /// How calls are retried (see [`super::retry`]).
    pub retry: super::retry::RetryPolicy,
    /// The time each attempt may take; `None`: the HTTP client's own timeout.
    pub timeout: Option<std::time::Duration>,
}

impl ConnectOptions {
    /// A layer for the service that declares `rules` (its `SERVICE_RULES`) with these
    /// options' retry policy and timeout.
    pub fn layer(&self, rules: &'static super::ServiceRules) -> super::Layer {
        self.configure(super::Layer::new(rules))
    }

    /// `layer` with these options' retry policy and timeout.
    pub fn configure(&self, layer: super::Layer) -> super::Layer {
        let layer = layer.with_retry(self.retry.clone());
        match self.timeout {
            Some(timeout) => layer.with_timeout(timeout),
            None => layer,
        }
    }

    /// The configured HTTP client, or the default one.
    pub fn http_client(&self) -> Result<reqwest::Client, ConnectError> {
        match &self.http {
            Some(http) => Ok(http.clone()),
            None => Ok(super::http::default_client()?),
        }
    }
}
