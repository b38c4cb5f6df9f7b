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
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// The HTTP client to use (proxies, timeouts, a client certificate); by default one from
    /// [`super::http::client_builder`].
    pub http: Option<reqwest::Client>,
    /// When tokens are renewed ahead of expiry.
    pub refresh: super::auth::RefreshPolicy,
}

impl ConnectOptions {
    /// The configured HTTP client, or the default one.
    pub fn http_client(&self) -> Result<reqwest::Client, ConnectError> {
        match &self.http {
            Some(http) => Ok(http.clone()),
            None => Ok(super::http::default_client()?),
        }
    }
}
