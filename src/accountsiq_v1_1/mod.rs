//! AccountsIQ web services v1.1 (SOAP 1.1), generated from the vendor's WSDL
//! (`specs/accountsiq_v1_1.wsdl`, every operation). Authenticate with [`Client::login`]
//! (company id, partner key, user key): the session token it returns (valid 20 minutes) is the
//! `token` element of every other request. Results wrapped in AccountsIQ's `WSResult*`
//! envelope come back as `Result<T, AccountsIqError>` with the vendor's codes kept; a session
//! that expired reports [`AccountsIqError::is_expired`].
//!
//! [`stream`] reads the customers changed since a persisted instant (`GetCustomersBy` with
//! `FromLastModifiedDateInUTC`) as a resumable stream.

generated_module!("accountsiq_v1_1");

pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use crate::runtime::auth::{
    self, AuthError, ExposeSecret, SecretString, Token, TokenCache, TokenSource,
};
use crate::runtime::layer::BoxFuture;
use crate::runtime::{ConfigError, ConnectError, ConnectOptions, config, soap};

pub use crate::accountsiq::{AccountsIqError, Endpoint, Region};

/// A v1.1 client for `endpoint`, over the shared HTTP stack, without a session (see
/// [`Session`] for calls that need one).
pub fn connect(endpoint: &Endpoint) -> Result<Client, ConnectError> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new(endpoint.url(ASMX), http))
}

/// The slug of this service.
pub const SLUG: &str = "accountsiq_v1_1";

/// The documented session lifetime.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(20 * 60);

/// The three keys of `Login`. `Debug` shows the company id only.
#[derive(Clone)]
pub struct Credentials {
    /// The entity (company) id.
    pub company_id: String,
    /// The integrator key AccountsIQ issued to you.
    pub partner_key: SecretString,
    /// The per-user, per-entity key.
    pub user_key: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("company_id", &self.company_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn new(
        company_id: impl Into<String>,
        partner_key: impl Into<String>,
        user_key: impl Into<String>,
    ) -> Self {
        Self {
            company_id: company_id.into(),
            partner_key: SecretString::from(partner_key.into()),
            user_key: SecretString::from(user_key.into()),
        }
    }

    /// From `AIQ_COMPANY_ID`, `AIQ_PARTNER_KEY` and `AIQ_USER_KEY`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::new(
            config::required("AIQ_COMPANY_ID")?,
            config::required("AIQ_PARTNER_KEY")?,
            config::required("AIQ_USER_KEY")?,
        ))
    }
}

/// `Login` as a token flow.
struct Login {
    client: Client,
    credentials: Credentials,
}

impl TokenSource for Login {
    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, AuthError> {
        let request = types::Login {
            company_id: Some(self.credentials.company_id.clone()),
            partner_key: Some(self.credentials.partner_key.expose_secret().to_string()),
            user_key: Some(self.credentials.user_key.expose_secret().to_string()),
        };
        let token = self
            .client
            .login(&request)
            .await
            .map_err(|e| soap::auth_error(e, "Login"))?
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::Rejected {
                status: None,
                detail: "Login answered no session token".into(),
            })?;
        Ok(Token {
            value: token.into(),
            expires_at: auth::expiry(SESSION_LIFETIME),
            refresh: None,
        })
    }
}

/// A logged-in v1.1 client: the session token is fetched on first use, renewed before its
/// 20 minutes run out, and when a result says `HasExpired` the call is replayed once after
/// a new `Login`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use customer_data::accountsiq_v1_1::{Credentials, Endpoint, Region, Session, types};
/// let session = Session::new(&Endpoint::Region(Region::Eu1), Credentials::from_env()?)?;
/// let customers = session
///     .call(async |client, token| {
///         client.get_customer_list(&types::GetCustomerList { token: Some(token.into()) }).await
///     })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    client: Client,
    cache: Arc<TokenCache<Login>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("endpoint", &self.client.endpoint())
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
        let source = Login {
            client: client.clone(),
            credentials,
        };
        Ok(Self {
            client,
            cache: Arc::new(TokenCache::new(source, options.refresh)),
        })
    }

    /// From [`Endpoint::from_env`] and [`Credentials::from_env`].
    pub fn from_env() -> Result<Self, ConnectError> {
        Self::new(&Endpoint::from_env()?, Credentials::from_env()?)
    }

    /// The client (for calls that take no token).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `call` with the client and a live session token, replaying it once after a new
    /// `Login` when the result says `HasExpired`.
    pub async fn call<T>(
        &self,
        mut call: impl AsyncFnMut(&Client, &str) -> Result<T, AccountsIqError>,
    ) -> Result<T, AccountsIqError> {
        soap::with_token(&self.cache, AccountsIqError::is_expired, async |token| {
            call(&self.client, token).await
        })
        .await
    }

    /// [`Session::call`] for a call that takes the client and the token by value and returns
    /// a boxed `Send` future: the whole call is then `Send` (a stream's page, a spawned task).
    /// An async closure handed to [`Session::call`] makes a future the compiler cannot prove
    /// `Send` (rust-lang/rust#110338), though nothing in it is shared.
    pub fn call_send<T: Send + 'static>(
        &self,
        call: impl Fn(Client, String) -> BoxFuture<'static, Result<T, AccountsIqError>>
        + Send
        + Sync
        + 'static,
    ) -> BoxFuture<'static, Result<T, AccountsIqError>> {
        // Owned, not borrowed: a borrow held by the closure is what defeats the `Send` proof.
        let client = self.client.clone();
        let cache = self.cache.clone();
        Box::pin(async move {
            soap::with_token(&cache, AccountsIqError::is_expired, move |token: &str| {
                call(client.clone(), token.to_string())
            })
            .await
        })
    }
}

/// The service file of v1.1.
const ASMX: &str = "integration_1_1.asmx";
