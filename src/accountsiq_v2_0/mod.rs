//! AccountsIQ web services v2.0 (SOAP 1.1), generated from the vendor's WSDL
//! (`specs/accountsiq_v2_0.wsdl`, every operation). Authenticate with [`Client::token_get`]
//! (client id and secret), renew with [`Client::token_refresh`]; every call then carries the
//! `AiqSoapHeader` (entity and access token) set with [`Client::set_soap_header`].
//!
//! [`stream`] reads the customers changed since a persisted instant (`GetCustomersBy` with
//! `FromLastModifiedDateInUTC`) as a resumable stream.

generated_module!("accountsiq_v2_0");

pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use crate::runtime::auth::{
    self, AuthError, ExposeSecret, SecretString, Token, TokenCache, TokenSource,
};
use crate::runtime::layer::BoxFuture;
use crate::runtime::{ConfigError, ConnectError, ConnectOptions, config, soap};

pub use crate::accountsiq::{AccountsIqError, Endpoint, Region};

/// A v2.0 client for `endpoint`, over the shared HTTP stack, without tokens (see
/// [`Session`] for calls that need them).
pub fn connect(endpoint: &Endpoint) -> Result<Client, ConnectError> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new(endpoint.url(ASMX), http))
}

/// The slug of this service.
pub const SLUG: &str = "accountsiq_v2_0";

/// The access-token lifetime assumed: the sources do not document one. A shorter real
/// lifetime costs one replay (`HasExpired` renews the token and repeats the call).
pub const ASSUMED_ACCESS_LIFETIME: Duration = Duration::from_secs(3600);

/// Result codes that mean "this access token is no good": renew and replay once.
pub const RENEW_CODES: &[&str] = &[
    "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED",
    "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID",
];

/// An integration application's client id and secret, and the entity to work on.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
    /// The entity (company) id sent in every `AiqSoapHeader`.
    pub entity: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("entity", &self.entity)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        entity: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            entity: entity.into(),
        }
    }

    /// From `AIQ_CLIENT_ID`, `AIQ_CLIENT_SECRET` and `AIQ_COMPANY_ID` (the entity).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::new(
            config::required("AIQ_CLIENT_ID")?,
            config::required("AIQ_CLIENT_SECRET")?,
            config::required("AIQ_COMPANY_ID")?,
        ))
    }
}

/// TokenRefresh with the last refresh token when there is one, else (or when the refresh is
/// refused) TokenGet.
struct IntegrationApp {
    client: Client,
    client_id: String,
    client_secret: SecretString,
}

impl IntegrationApp {
    fn token(
        access: Option<String>,
        refresh: Option<String>,
        previous: Option<&Token>,
    ) -> Result<Token, AuthError> {
        let access = access
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::Malformed("no AccessToken in the answer".into()))?;
        Ok(Token {
            value: access.into(),
            expires_at: auth::expiry(ASSUMED_ACCESS_LIFETIME),
            refresh: refresh
                .filter(|t| !t.is_empty())
                .map(SecretString::from)
                .or_else(|| previous.and_then(|p| p.refresh.clone())),
        })
    }
}

impl TokenSource for IntegrationApp {
    async fn fetch(&self, previous: Option<&Token>) -> Result<Token, AuthError> {
        if let Some(refresh) = previous.and_then(|p| p.refresh.as_ref()) {
            let request = types::TokenRefresh {
                client_id: Some(self.client_id.clone()),
                client_secret: Some(self.client_secret.expose_secret().to_string()),
                refresh_token: Some(refresh.expose_secret().to_string()),
            };
            match self.client.token_refresh(&request).await {
                Ok(Some(answer)) => {
                    return Self::token(answer.access_token, answer.refresh_token, previous);
                }
                Ok(None) => {}
                Err(error) => {
                    let error = soap::auth_error(error, "TokenRefresh");
                    if !matches!(error, AuthError::Rejected { .. }) {
                        return Err(error);
                    }
                    // An expired or revoked refresh token: start over with TokenGet.
                    tracing::debug!(%error, "refresh refused; falling back to TokenGet");
                }
            }
        }
        let request = types::TokenGet {
            client_id: Some(self.client_id.clone()),
            client_secret: Some(self.client_secret.expose_secret().to_string()),
        };
        let answer = self
            .client
            .token_get(&request)
            .await
            .map_err(|e| soap::auth_error(e, "TokenGet"))?
            .ok_or_else(|| AuthError::Malformed("TokenGet answered no tokens".into()))?;
        Self::token(answer.access_token, answer.refresh_token, None)
    }
}

/// An authenticated v2.0 client: tokens from TokenGet, renewed with TokenRefresh (rotating
/// the refresh token) before they are assumed to expire and whenever a result says the token
/// expired or is invalid (the call is then replayed once); every call carries the
/// `AiqSoapHeader` with the entity and the current access token.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use customer_data::accountsiq_v2_0::{Credentials, Endpoint, Region, Session, types};
/// let session = Session::new(&Endpoint::Region(Region::Eu1), Credentials::from_env()?)?;
/// let active = session
///     .call(async |client| {
///         client.get_active_customer_list(&types::GetActiveCustomerList { token: None }).await
///     })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    client: Client,
    entity: String,
    cache: Arc<TokenCache<IntegrationApp>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("endpoint", &self.client.endpoint())
            .field("entity", &self.entity)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session at `endpoint`; nothing is sent until the first call.
    pub fn new(endpoint: &Endpoint, credentials: Credentials) -> Result<Self, ConnectError> {
        Self::with_options(endpoint, credentials, &ConnectOptions::default())
    }

    /// [`Session::new`] with options (HTTP client, refresh policy).
    pub fn with_options(
        endpoint: &Endpoint,
        credentials: Credentials,
        options: &ConnectOptions,
    ) -> Result<Self, ConnectError> {
        options.check_url("endpoint", &endpoint.url(ASMX))?;
        let client = Client::new(endpoint.url(ASMX), options.http_client()?)
            .with_layer(options.layer(&SERVICE_RULES));
        let source = IntegrationApp {
            client: client.clone(),
            client_id: credentials.client_id,
            client_secret: credentials.client_secret,
        };
        Ok(Self {
            client,
            entity: credentials.entity,
            cache: Arc::new(TokenCache::new(source, options.refresh)),
        })
    }

    /// From [`Endpoint::from_env`] and [`Credentials::from_env`].
    pub fn from_env() -> Result<Self, ConnectError> {
        Self::new(&Endpoint::from_env()?, Credentials::from_env()?)
    }

    /// The client without a SOAP header (for `TokenGet` and the endpoint URL).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `call` with a client whose `AiqSoapHeader` carries a live access token, replaying
    /// it once with a renewed token when the result says the token expired or is invalid.
    pub async fn call<T>(
        &self,
        mut call: impl AsyncFnMut(&Client) -> Result<T, AccountsIqError>,
    ) -> Result<T, AccountsIqError> {
        soap::with_token(&self.cache, needs_new_token, async |token| {
            call(&self.authorised_client(token)).await
        })
        .await
    }

    /// [`Session::call`] for a call that takes the client (its `AiqSoapHeader` set) by value
    /// and returns a boxed `Send` future: the whole call is then `Send` (a stream's page, a
    /// spawned task). An async closure handed to [`Session::call`] makes a future the compiler
    /// cannot prove `Send` (rust-lang/rust#110338), though nothing in it is shared.
    pub fn call_send<T: Send + 'static>(
        &self,
        call: impl Fn(Client) -> BoxFuture<'static, Result<T, AccountsIqError>> + Send + Sync + 'static,
    ) -> BoxFuture<'static, Result<T, AccountsIqError>> {
        // Owned, not borrowed: a borrow held by the closure is what defeats the `Send` proof.
        let session = self.clone();
        let cache = self.cache.clone();
        Box::pin(async move {
            soap::with_token(&cache, needs_new_token, move |token: &str| {
                call(session.authorised_client(token))
            })
            .await
        })
    }

    /// The client with the `AiqSoapHeader` for `token`.
    fn authorised_client(&self, token: &str) -> Client {
        let mut client = self.client.clone();
        client.set_soap_header(Some(types::AiqSoapHeader {
            entity: Some(self.entity.clone()),
            access_token: Some(token.to_string()),
        }));
        client
    }
}

/// The result says the access token expired (`HasExpired`) or is not (or no longer) valid.
pub fn needs_new_token(error: &AccountsIqError) -> bool {
    error.is_expired()
        || error
            .error_code()
            .is_some_and(|code| RENEW_CODES.contains(&code))
}

/// The service file of v2.0.
const ASMX: &str = "integration_2_0.asmx";
