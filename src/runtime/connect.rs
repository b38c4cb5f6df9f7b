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
    /// A URL is plain `http` to a host other than this machine: credentials would travel in
    /// cleartext (allow it for a test proxy with [`ConnectOptions::allow_cleartext`]).
    Cleartext { host: String },
    /// A URL does not parse (`what` names which one).
    InvalidUrl { what: &'static str, reason: String },
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
            ConnectError::Cleartext { host } => write!(
                f,
                "refusing plain http to {host}: credentials would travel in cleartext (use \
                 https, or ConnectOptions::allow_cleartext for a test proxy)"
            ),
            ConnectError::InvalidUrl { what, reason } => {
                write!(f, "the {what} is unusable: {reason}")
            }
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
    /// The bounds of every call: operation deadline, largest answer, slowest body.
    pub limits: super::limits::Limits,
    /// Allow plain `http` to hosts other than this machine (a test proxy of your own). Off:
    /// such URLs are refused, since tokens and secrets would travel in cleartext.
    pub allow_cleartext: bool,
    /// Roots trusted besides the system's (a private PKI, common for mutual TLS). Used when
    /// the client is built here, not for a given [`ConnectOptions::http`].
    pub root_certificates: Vec<reqwest::Certificate>,
}

impl ConnectOptions {
    /// A layer for the service that declares `rules` (its `SERVICE_RULES`) with these
    /// options' retry policy and timeout.
    pub fn layer(&self, rules: &'static super::ServiceRules) -> super::Layer {
        self.configure(super::Layer::new(rules))
    }

    /// `layer` with these options' retry policy, timeout, limits and cleartext rule.
    pub fn configure(&self, layer: super::Layer) -> super::Layer {
        let layer = layer
            .with_retry(self.retry.clone())
            .with_limits(self.limits)
            .allow_cleartext(self.allow_cleartext);
        match self.timeout {
            Some(timeout) => layer.with_timeout(timeout),
            None => layer,
        }
    }

    /// The configured HTTP client, or one from [`ConnectOptions::client_builder`].
    pub fn http_client(&self) -> Result<reqwest::Client, ConnectError> {
        match &self.http {
            Some(http) => Ok(http.clone()),
            None => Ok(self.client_builder().build()?),
        }
    }

    /// [`super::http::client_builder`] trusting [`ConnectOptions::root_certificates`] too.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        super::http::client_builder().tls_certs_merge(self.root_certificates.iter().cloned())
    }

    /// Refuses `url` (named `what` in the error) when it is unparsable, or plain `http` to a
    /// host other than this machine and cleartext is not allowed. Checked when a client is
    /// set up, so a misconfiguration fails before the first call.
    pub fn check_url(&self, what: &'static str, url: &str) -> Result<(), ConnectError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| ConnectError::InvalidUrl {
            what,
            reason: e.to_string(),
        })?;
        match super::layer::cleartext_host(&parsed) {
            Some(host) if !self.allow_cleartext => Err(ConnectError::Cleartext { host }),
            _ => Ok(()),
        }
    }
}
