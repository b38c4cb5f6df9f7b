//! OAuth 2.0 token endpoints (RFC 6749) as [`TokenSource`]s: client credentials (Consumer
//! Intelligence) and authorization code with refresh-token rotation (bLink).

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::auth::{AuthError, ExposeSecret, SecretString, Token, TokenSource};

/// A successful token answer (RFC 6749 §5.1). Deliberately not `Debug`: it holds secrets.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// An error answer (RFC 6749 §5.2); only these two members are ever reported.
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Where tokens come from and how the client authenticates there.
#[derive(Clone)]
pub struct TokenEndpoint {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    /// A header that gets a fresh UUID on every token request (bLink's X-Correlation-ID).
    correlation: Option<reqwest::header::HeaderName>,
    /// Used when the answer has no `expires_in`.
    default_lifetime: Duration,
    /// Retries and tracing, as for every API call. Only a client-credentials request is
    /// repeated after a lost answer: an authorization code is single-use and a refresh token
    /// may rotate, so repeating those could burn the grant.
    layer: super::Layer,
}

/// The layer's name for a token request of `grant_type` (`client_credentials` is retry-safe).
fn token_operation(form: &[(&str, &str)]) -> &'static str {
    match form.iter().find(|(key, _)| *key == "grant_type") {
        Some((_, "client_credentials")) => "token_client_credentials",
        Some((_, "authorization_code")) => "token_authorization_code",
        Some((_, "refresh_token")) => "token_refresh_token",
        _ => "token",
    }
}

/// The token requests' rules, by [`token_operation`]'s names (sorted, as lookups need).
static TOKEN_RULES: super::ServiceRules = super::ServiceRules {
    slug: "oauth2_token",
    operations: &[super::OperationRule {
        id: "token_client_credentials",
        retry_safe: Some(
            "a client-credentials grant only hands out a token; a second request gets another one",
        ),
        anonymous: false,
    }],
    final_answer: super::FinalAnswerRule::StatusDecides,
};

impl std::fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl TokenEndpoint {
    /// The token endpoint at `url`, reached with `http`.
    pub fn new(http: reqwest::Client, url: impl Into<String>) -> Self {
        Self {
            http,
            url: url.into(),
            headers: HeaderMap::new(),
            correlation: None,
            layer: super::Layer::new(&TOKEN_RULES),
            default_lifetime: Duration::from_secs(3600),
        }
    }

    /// Extra headers on every token request (bLink wants its headers there too).
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// Sends a fresh UUID in header `name` with every token request.
    pub fn with_correlation_id(mut self, name: reqwest::header::HeaderName) -> Self {
        self.correlation = Some(name);
        self
    }

    /// Token requests follow `options` as API calls do: retry policy, timeout, limits
    /// (operation deadline, answer size) and the cleartext rule.
    pub fn with_options(mut self, options: &super::ConnectOptions) -> Self {
        self.layer = options.configure(self.layer);
        self
    }

    /// The lifetime assumed when an answer has no `expires_in`.
    pub fn with_default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts a form; `basic` authenticates the client with HTTP Basic (RFC 6749 §2.3.1).
    async fn request(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &SecretString)>,
        previous_refresh: Option<&SecretString>,
    ) -> Result<Token, AuthError> {
        let mut request = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .form(form);
        if let Some(name) = &self.correlation {
            request = request.header(name, uuid::Uuid::new_v4().to_string());
        }
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret.expose_secret()));
        }
        // Transport errors name the URL, never the form (which holds the secrets).
        let transport =
            |e: reqwest::Error| AuthError::Transport(format!("{}: {}", self.url, e.without_url()));
        let request = request.build().map_err(transport)?;
        let response = self
            .layer
            .execute(&self.http, request, token_operation(form))
            .await
            .map_err(|failure| match failure {
                super::layer::CallFailure::Auth(e) => e,
                super::layer::CallFailure::Transport { attempts, source } => {
                    AuthError::Transport(format!(
                        "{}: no answer after {attempts} attempt(s): {}",
                        self.url, source
                    ))
                }
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?;
        // A busy endpoint is not a refusal of the credentials: nothing to remember.
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(AuthError::Transport(format!("{}: HTTP {status}", self.url)));
        }
        if status.is_server_error() {
            return Err(AuthError::Transport(format!("{}: HTTP {status}", self.url)));
        }
        if !status.is_success() {
            let detail = serde_json::from_slice::<ErrorAnswer>(&body)
                .ok()
                .and_then(|e| match (e.error, e.error_description) {
                    (Some(code), Some(text)) => Some(format!("{code}: {text}")),
                    (Some(code), None) => Some(code),
                    (None, text) => text,
                })
                .unwrap_or_else(|| "no OAuth error code in the answer".to_string());
            return Err(AuthError::Rejected {
                status: Some(status.as_u16()),
                detail,
            });
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            // serde's message names the missing or mistyped member, not its value.
            AuthError::Malformed(format!("{}: {e}", self.url))
        })?;
        if answer.access_token.is_empty() {
            return Err(AuthError::Malformed(format!(
                "{}: empty access_token",
                self.url
            )));
        }
        let lifetime = answer
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(self.default_lifetime);
        Ok(Token {
            value: answer.access_token.into(),
            expires_at: super::auth::expiry(lifetime),
            // Rotation: a new refresh token replaces the old one; without one, keep the old.
            refresh: answer
                .refresh_token
                .map(SecretString::from)
                .or_else(|| previous_refresh.cloned()),
        })
    }
}

/// The client-credentials grant (RFC 6749 §4.4) with HTTP Basic client authentication.
pub struct ClientCredentials {
    endpoint: TokenEndpoint,
    client_id: String,
    client_secret: SecretString,
    scope: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

impl ClientCredentials {
    pub fn new(
        endpoint: TokenEndpoint,
        client_id: impl Into<String>,
        client_secret: SecretString,
        scope: Option<String>,
    ) -> Self {
        Self {
            endpoint,
            client_id: client_id.into(),
            client_secret,
            scope,
        }
    }
}

impl TokenSource for ClientCredentials {
    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, AuthError> {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        self.endpoint
            .request(&form, Some((&self.client_id, &self.client_secret)), None)
            .await
    }
}

/// The authorization-code grant (RFC 6749 §4.1) followed by refresh tokens (§6), rotated
/// whenever the server hands out a new one. The code is single-use: once exchanged, only the
/// refresh token renews access; when that is refused too, the user must consent again.
pub struct AuthorizationCode {
    endpoint: TokenEndpoint,
    client_id: String,
    client_secret: Option<SecretString>,
    redirect_uri: String,
    extra: Vec<(String, String)>,
    /// The unused code, or a refresh token kept from an earlier run; taken at first use.
    start: Mutex<Option<Grant>>,
}

impl std::fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationCode")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// How an [`AuthorizationCode`] flow starts. `Debug` never shows the secret.
#[derive(Clone)]
pub enum Grant {
    /// The code from the consent redirect (single use).
    AuthorizationCode(SecretString),
    /// A refresh token persisted from an earlier run.
    RefreshToken(SecretString),
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Grant::AuthorizationCode(_) => "AuthorizationCode(<redacted>)",
            Grant::RefreshToken(_) => "RefreshToken(<redacted>)",
        })
    }
}

impl AuthorizationCode {
    /// `extra` form members go with every token request (bLink wants `username`).
    pub fn new(
        endpoint: TokenEndpoint,
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
        redirect_uri: impl Into<String>,
        grant: Grant,
        extra: Vec<(String, String)>,
    ) -> Self {
        Self {
            endpoint,
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            extra,
            start: Mutex::new(Some(grant)),
        }
    }

    async fn grant(
        &self,
        grant_type: &str,
        key: &str,
        secret: &SecretString,
    ) -> Result<Token, AuthError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", grant_type),
            (key, secret.expose_secret()),
            ("client_id", &self.client_id),
        ];
        if grant_type == "authorization_code" {
            form.push(("redirect_uri", &self.redirect_uri));
        }
        for (name, value) in &self.extra {
            form.push((name, value));
        }
        let basic = self
            .client_secret
            .as_ref()
            .map(|s| (self.client_id.as_str(), s));
        let previous = (key == "refresh_token").then_some(secret);
        self.endpoint.request(&form, basic, previous).await
    }
}

impl TokenSource for AuthorizationCode {
    async fn fetch(&self, previous: Option<&Token>) -> Result<Token, AuthError> {
        if let Some(refresh) = previous.and_then(|p| p.refresh.as_ref()) {
            return self.grant("refresh_token", "refresh_token", refresh).await;
        }
        let start = self
            .start
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match start {
            Some(Grant::AuthorizationCode(code)) => {
                self.grant("authorization_code", "code", &code).await
            }
            Some(Grant::RefreshToken(token)) => {
                self.grant("refresh_token", "refresh_token", &token).await
            }
            None => Err(AuthError::Rejected {
                status: None,
                detail: "the authorization code was used and no refresh token is left: the user must consent again".into(),
            }),
        }
    }
}
