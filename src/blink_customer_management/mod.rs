//! SIX bLink Customer Management: customers, KYC, persons, contact details and addresses, as
//! SIX's implementation of the OpenWealth Customer Management API 1.2.1.
//!
//! Generated from the upstream OpenWealth document (kept byte for byte) plus the bLink overlay
//! `specs/blink_customer_management.overlay.yaml`, which adds the bLink headers, `/healthcheck`,
//! the OAuth2 scheme and fixes upstream defects. bLink's base URL depends on the provider and
//! your SIX onboarding, so it is a parameter. [`connect`] sends the bLink headers on every
//! call (`X-Correlation-ID` fresh per call, `User-Agent`, `X-CorAPI-Target-ID`,
//! `X-PSU-IP-Address`, `X-PSU-User-Agent` from [`Config`]); a call may still set any of them
//! itself. List operations page with `cursor`/`limit`, and the next cursor is the
//! `nextCursor` response header ([`next_cursor`]); [`stream`] reads a whole list as a
//! resumable stream of pages or items.

generated_module!("blink_customer_management");

pub mod stream;

use std::path::Path;
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::runtime::auth::{ExposeSecret, SecretSlice, TokenCache};
use crate::runtime::layer::{HeaderAuth, Scheme};
pub use crate::runtime::oauth2::Grant;
use crate::runtime::{ConfigError, ConnectError, ConnectOptions, Layer, config, oauth2};

/// The slug of this service.
pub const SLUG: &str = "blink_customer_management";

/// A client certificate and its private key (PEM) for bLink's mutual TLS. `Debug` never shows
/// the key.
#[derive(Clone)]
pub struct ClientIdentity {
    pem: SecretSlice<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIdentity(<redacted>)")
    }
}

impl ClientIdentity {
    /// From a PEM certificate (chain) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(certificate: &[u8], private_key: &[u8]) -> Result<Self, ConnectError> {
        let mut pem = certificate.to_vec();
        pem.push(b'\n');
        pem.extend_from_slice(private_key);
        let identity = Self { pem: pem.into() };
        // Parse now, so a bad file is reported at set-up and not at the first call.
        identity.reqwest()?;
        Ok(identity)
    }

    /// From the PEM files at `certificate` and `private_key`.
    pub fn from_files(
        certificate: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<Self, ConnectError> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|e| {
                ConnectError::ClientIdentity(format!(
                    "cannot read the {what} {}: {e}",
                    path.display()
                ))
            })
        };
        Self::from_pem(
            &read(certificate.as_ref(), "certificate")?,
            &read(private_key.as_ref(), "private key")?,
        )
    }

    fn reqwest(&self) -> Result<reqwest::Identity, ConnectError> {
        // reqwest's message describes the PEM structure, never its bytes.
        reqwest::Identity::from_pem(self.pem.expose_secret())
            .map_err(|e| ConnectError::ClientIdentity(e.to_string()))
    }
}

/// Everything a bLink connection needs. Start with [`Config::new`] and adjust the public
/// fields; [`Config::from_env`] reads the documented variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// The module's base URL (from your SIX onboarding).
    pub base_url: String,
    /// The token endpoint; `<base_url>/oauth/token` when `None`.
    pub token_url: Option<String>,
    /// Your bLink client id.
    pub client_id: String,
    /// The redirect URI registered for the consent flow.
    pub redirect_uri: String,
    /// The user (PSU) the consent was given by; bLink's token endpoint asks for it.
    pub username: String,
    /// The consent code, or a refresh token kept from an earlier run.
    pub grant: Grant,
    /// `X-CorAPI-Target-ID`: the provider (bank) the calls are for.
    pub target_id: String,
    /// `User-Agent`: your software's name and version.
    pub user_agent: String,
    /// `X-PSU-IP-Address`: the end user's IP address, or `AUTO`.
    pub psu_ip_address: String,
    /// `X-PSU-User-Agent`: the end user's user agent, or `AUTO`.
    pub psu_user_agent: String,
    /// The client certificate for mutual TLS; required for `https` URLs.
    pub identity: Option<ClientIdentity>,
}

impl Config {
    /// A configuration with `AUTO` PSU headers, our user agent, no client certificate and
    /// the redirect URI `http://localhost/callback`.
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        username: impl Into<String>,
        target_id: impl Into<String>,
        grant: Grant,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            token_url: None,
            client_id: client_id.into(),
            redirect_uri: "http://localhost/callback".into(),
            username: username.into(),
            grant,
            target_id: target_id.into(),
            user_agent: concat!("customer-data/", env!("CARGO_PKG_VERSION")).into(),
            psu_ip_address: "AUTO".into(),
            psu_user_agent: "AUTO".into(),
            identity: None,
        }
    }

    /// From `BLINK_BASE_URL`, `BLINK_CLIENT_ID`, `BLINK_USERNAME`, `BLINK_TARGET_ID`,
    /// `BLINK_AUTHORIZATION_CODE` or `BLINK_REFRESH_TOKEN`, and optionally `BLINK_TOKEN_URL`,
    /// `BLINK_REDIRECT_URI`, `BLINK_CLIENT_CERT` + `BLINK_CLIENT_KEY` (PEM file paths).
    pub fn from_env() -> Result<Self, ConnectError> {
        let grant = match (
            config::var("BLINK_AUTHORIZATION_CODE"),
            config::var("BLINK_REFRESH_TOKEN"),
        ) {
            (_, Some(refresh)) => Grant::RefreshToken(refresh.into()),
            (Some(code), None) => Grant::AuthorizationCode(code.into()),
            (None, None) => return Err(ConfigError::Missing("BLINK_AUTHORIZATION_CODE").into()),
        };
        let mut config = Self::new(
            config::required("BLINK_BASE_URL")?,
            config::required("BLINK_CLIENT_ID")?,
            config::required("BLINK_USERNAME")?,
            config::required("BLINK_TARGET_ID")?,
            grant,
        );
        config.token_url = config::var("BLINK_TOKEN_URL");
        if let Some(uri) = config::var("BLINK_REDIRECT_URI") {
            config.redirect_uri = uri;
        }
        config.identity = match (
            config::var("BLINK_CLIENT_CERT"),
            config::var("BLINK_CLIENT_KEY"),
        ) {
            (Some(cert), Some(key)) => Some(ClientIdentity::from_files(cert, key)?),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::Missing("BLINK_CLIENT_KEY").into()),
            (None, Some(_)) => return Err(ConfigError::Missing("BLINK_CLIENT_CERT").into()),
        };
        Ok(config)
    }

    /// The bLink headers every call (and the token request) carries, except the
    /// correlation id, which is fresh per call.
    fn headers(&self) -> Result<HeaderMap, ConnectError> {
        let mut headers = HeaderMap::new();
        for (name, value, what) in [
            ("user-agent", &self.user_agent, "user_agent"),
            ("x-corapi-target-id", &self.target_id, "target_id"),
            ("x-psu-ip-address", &self.psu_ip_address, "psu_ip_address"),
            ("x-psu-user-agent", &self.psu_user_agent, "psu_user_agent"),
        ] {
            let value = HeaderValue::from_str(value).map_err(|_| {
                ConnectError::Config(ConfigError::Invalid {
                    name: what,
                    reason: "not a valid HTTP header value".into(),
                })
            })?;
            headers.insert(HeaderName::from_static(name), value);
        }
        Ok(headers)
    }
}

/// An authenticated bLink client: the consent code is exchanged once, access tokens are
/// renewed with the (rotating) refresh token before they expire and after a 401, every call
/// carries the bLink headers and a fresh `X-Correlation-ID` (named in errors), over mutual
/// TLS when the URL is `https`.
pub fn connect(config: Config) -> Result<Client, ConnectError> {
    connect_with(config, &ConnectOptions::default())
}

/// [`connect`] with options. A given `options.http` is used as it is (it must carry the
/// client certificate itself); the refresh policy applies.
pub fn connect_with(config: Config, options: &ConnectOptions) -> Result<Client, ConnectError> {
    options.check_url("base URL", &config.base_url)?;
    if let Some(token_url) = &config.token_url {
        options.check_url("token URL", token_url)?;
    }
    // As the URL parser reads the scheme: `HTTPS://` is https too.
    let secure = reqwest::Url::parse(&config.base_url).is_ok_and(|url| url.scheme() == "https");
    let http = match (&options.http, &config.identity) {
        (Some(http), _) => http.clone(),
        (None, Some(identity)) => options
            .client_builder()
            .identity(identity.reqwest()?)
            .build()?,
        (None, None) if secure => {
            return Err(ConnectError::MissingClientIdentity { service: SLUG });
        }
        // Plain HTTP: a local twin or a TLS-terminating proxy of your own (allowed with
        // `allow_cleartext` when it is not on this machine).
        (None, None) => options.http_client()?,
    };
    let headers = config.headers()?;
    let token_url = config
        .token_url
        .clone()
        .unwrap_or_else(|| format!("{}/oauth/token", config.base_url.trim_end_matches('/')));
    let source = oauth2::AuthorizationCode::new(
        oauth2::TokenEndpoint::new(http.clone(), token_url)
            .with_options(options)
            .with_headers(headers.clone())
            .with_correlation_id(HeaderName::from_static(CORRELATION_ID)),
        config.client_id,
        None,
        config.redirect_uri,
        config.grant,
        vec![("username".into(), config.username)],
    );
    let cache = Arc::new(TokenCache::new(source, options.refresh));
    let mut layer = options
        .layer(&SERVICE_RULES)
        .with_auth(HeaderAuth::new(cache, Scheme::Bearer))
        .with_correlation_id(HeaderName::from_static(CORRELATION_ID));
    for (name, value) in &headers {
        layer = layer.with_header(name.clone(), value.clone());
    }
    Ok(Client::new_with_client(&config.base_url, http, layer))
}

/// [`connect`] with [`Config::from_env`].
pub fn connect_from_env() -> Result<Client, ConnectError> {
    connect(Config::from_env()?)
}

/// A client that sends no credentials and no bLink headers (for fixtures and tests of
/// refusals).
pub fn connect_anonymous(base_url: &str) -> Result<Client, ConnectError> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(
        base_url,
        http,
        Layer::new(&SERVICE_RULES),
    ))
}

const CORRELATION_ID: &str = "x-correlation-id";

/// The cursor of the next page, from a list response's `nextCursor` header (`None` on the
/// last page, or when the header is not valid text).
pub fn next_cursor<T>(response: &ResponseValue<T>) -> Option<String> {
    response
        .headers()
        .get("nextCursor")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}
