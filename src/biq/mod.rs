//! What the three BiQ Alert services share: where they run ([`Environment`]) and the api-key
//! session whose JWT authenticates the CustomerShadow and AlertChanges clients ([`Session`]).
//! The slug modules use this one; it uses only the generated auth client
//! ([`crate::biq_auth`]), so the BiQ modules form no cycle.

use std::sync::Arc;
use std::time::Duration;

use crate::biq_auth::{Client, SERVICE_RULES as AUTH_RULES, types};
use crate::runtime::auth::{
    self, AuthError, ExposeSecret, SecretString, Token, TokenCache, TokenSource,
};
use crate::runtime::layer::{Authorize, HeaderAuth, Scheme};
use crate::runtime::{ConfigError, ConnectError, ConnectOptions, Layer, config, jwt};

/// Where the three BiQ Alert services run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    Production,
    PreProduction,
    /// Base URLs of your own (a local twin, a proxy).
    Custom {
        auth: String,
        customer_shadow: String,
        alert_changes: String,
    },
}

impl Environment {
    /// Base URL of the auth service.
    pub fn auth_url(&self) -> &str {
        match self {
            Environment::Production => "https://auth-api.idq.dk",
            Environment::PreProduction => "https://preprod.search-auth.biq.dk",
            Environment::Custom { auth, .. } => auth,
        }
    }

    /// Base URL of the CustomerShadow service.
    pub fn customer_shadow_url(&self) -> &str {
        match self {
            Environment::Production => "https://alert.biq.dk",
            Environment::PreProduction => "https://preprod.alert.biq.dk",
            Environment::Custom {
                customer_shadow, ..
            } => customer_shadow,
        }
    }

    /// Base URL of the AlertChanges service.
    pub fn alert_changes_url(&self) -> &str {
        match self {
            Environment::Production => "https://alert-changes.biq.dk",
            Environment::PreProduction => "https://preprod.alert-changes.biq.dk",
            Environment::Custom { alert_changes, .. } => alert_changes,
        }
    }
}

impl Environment {
    /// From `BIQ_ENVIRONMENT` (`production`, the default, or `preproduction`), or
    /// `BIQ_AUTH_URL`, `BIQ_CUSTOMER_SHADOW_URL` and `BIQ_ALERT_CHANGES_URL` together.
    pub fn from_env() -> Result<Self, ConfigError> {
        if let Some(auth) = config::var("BIQ_AUTH_URL") {
            return Ok(Environment::Custom {
                auth,
                customer_shadow: config::required("BIQ_CUSTOMER_SHADOW_URL")?,
                alert_changes: config::required("BIQ_ALERT_CHANGES_URL")?,
            });
        }
        match config::var("BIQ_ENVIRONMENT").as_deref() {
            None | Some("production") => Ok(Environment::Production),
            Some("preproduction") => Ok(Environment::PreProduction),
            Some(other) => Err(ConfigError::Invalid {
                name: "BIQ_ENVIRONMENT",
                reason: format!("`{other}` is neither `production` nor `preproduction`"),
            }),
        }
    }
}

/// The api key -> JWT flow: `login` with the key; the JWT's `exp` says when to renew.
struct ApiKeyLogin {
    client: Client,
    api_key: SecretString,
    /// Lifetime assumed when the JWT has no `exp` (BiQ does not document one).
    fallback_lifetime: Duration,
}

impl TokenSource for ApiKeyLogin {
    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, AuthError> {
        let answer = self
            .client
            .login()
            .body(types::LoginRequest {
                apikey: self.api_key.expose_secret().to_string(),
            })
            .send()
            .await;
        let answer = answer.map_err(|e| e.into_auth_error("login"))?.into_inner();
        let claims = jwt::claims(&answer.access_token)?;
        let expires_at =
            jwt::expires_at(&claims).unwrap_or_else(|| auth::expiry(self.fallback_lifetime));
        Ok(Token {
            value: answer.access_token.into(),
            expires_at,
            refresh: None,
        })
    }
}

/// The claims BiQ puts the tenant ids in: `tenatIds` as the vendor page spells it, and the
/// probably intended `tenantIds`.
pub const TENANT_CLAIMS: [&str; 2] = ["tenatIds", "tenantIds"];

/// One BiQ api key, logged in on demand: the JWT is shared by the CustomerShadow and
/// AlertChanges clients made from it, renewed before `exp` and after a 401.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use customer_data::biq::{Environment, Session};
/// let session = Session::new(Environment::Production, "my-api-key")?;
/// let tenant = session.tenant_id().await?;
/// let shadow = session.customer_shadow()?;
/// let sources = shadow.list_shadow_sources().tenant_id(&tenant).send().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    environment: Environment,
    http: reqwest::Client,
    cache: Arc<TokenCache<ApiKeyLogin>>,
    auth: Arc<dyn Authorize>,
    tenant: Option<String>,
    /// Retry policy and timeout for the BiQ clients of this session.
    options: ConnectOptions,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for `api_key` in `environment`; nothing is sent until the first call.
    pub fn new(environment: Environment, api_key: impl Into<String>) -> Result<Self, ConnectError> {
        Self::with_options(
            environment,
            SecretString::from(api_key.into()),
            &ConnectOptions::default(),
        )
    }

    /// [`Session::new`] with options (HTTP client, refresh policy).
    pub fn with_options(
        environment: Environment,
        api_key: SecretString,
        options: &ConnectOptions,
    ) -> Result<Self, ConnectError> {
        options.check_url("auth URL", environment.auth_url())?;
        let http = options.http_client()?;
        let source = ApiKeyLogin {
            client: Client::new_with_client(
                environment.auth_url(),
                http.clone(),
                options.layer(&AUTH_RULES),
            ),
            api_key,
            fallback_lifetime: Duration::from_secs(3600),
        };
        let cache = Arc::new(TokenCache::new(source, options.refresh));
        let auth: Arc<dyn Authorize> = Arc::new(HeaderAuth::new(cache.clone(), Scheme::Bearer));
        Ok(Self {
            environment,
            http,
            cache,
            auth,
            tenant: None,
            options: ConnectOptions {
                http: None,
                ..options.clone()
            },
        })
    }

    /// From `BIQ_API_KEY`, optional `BIQ_TENANT_ID` (see [`Session::with_tenant`]) and
    /// [`Environment::from_env`].
    pub fn from_env() -> Result<Self, ConnectError> {
        let session = Self::new(Environment::from_env()?, config::required("BIQ_API_KEY")?)?;
        Ok(match config::var("BIQ_TENANT_ID") {
            Some(tenant) => session.with_tenant(tenant),
            None => session,
        })
    }

    /// Picks the tenant [`Session::tenant_id`] answers when the JWT names several.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The environment the session talks to.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The tenant ids the JWT names (logging in if needed).
    pub async fn tenant_ids(&self) -> Result<Vec<String>, AuthError> {
        let token = self.cache.token().await?;
        Ok(jwt::strings(
            &jwt::claims(token.value.expose_secret())?,
            &TENANT_CLAIMS,
        ))
    }

    /// The tenant id to use: the one the JWT names, or the one chosen with
    /// [`Session::with_tenant`] (which the JWT must name).
    pub async fn tenant_id(&self) -> Result<String, AuthError> {
        let tenants = self.tenant_ids().await?;
        if let Some(chosen) = &self.tenant {
            return if tenants.contains(chosen) {
                Ok(chosen.clone())
            } else {
                Err(AuthError::Rejected {
                    status: None,
                    detail: format!("tenant `{chosen}` is not among the token's tenants"),
                })
            };
        }
        match tenants.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(AuthError::Malformed("the JWT names no tenant".into())),
            _ => Err(AuthError::Malformed(format!(
                "the JWT names {} tenants: choose one with Session::with_tenant",
                tenants.len()
            ))),
        }
    }

    /// The layer that authenticates calls with this session (for the other BiQ clients).
    pub fn layer(&self, rules: &'static crate::runtime::ServiceRules) -> Layer {
        self.options
            .layer(rules)
            .with_shared_auth(self.auth.clone())
    }

    /// The HTTP client the session uses.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}
