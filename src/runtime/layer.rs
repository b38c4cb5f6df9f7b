//! The one layer every call of every generated OpenAPI client passes through.
//!
//! The generator gives each client a [`Layer`] (progenitor's "inner type") and routes each
//! operation's request through [`Layer::send`], which
//! 1. adds the service's fixed headers and, where the service asks for one, a fresh
//!    correlation id;
//! 2. adds credentials from the service's token cache ([`Authorize`]);
//! 3. sends, and on `401 Unauthorized` invalidates the token, fetches a new one and replays
//!    the request once (never more: a second 401 is the caller's answer);
//! 4. records the correlation id on the answer when the server did not echo it, so errors
//!    name it.
//!
//! Retries, timeouts and tracing belong here too, once, for every service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use progenitor_client::OperationInfo;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::auth::{AuthError, ExposeSecret, Token, TokenCache, TokenSource};
use super::error::Error;

/// A boxed future, so [`Authorize`] can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Puts credentials on a request. One implementation per way of sending a token
/// ([`HeaderAuth`]); the flows differ only in their [`TokenSource`].
pub trait Authorize: Send + Sync + 'static {
    /// Adds the credentials to `headers`; the returned grant identifies the token used.
    fn authorize<'a>(
        &'a self,
        headers: &'a mut HeaderMap,
    ) -> BoxFuture<'a, Result<UsedToken, AuthError>>;

    /// The server refused the token of `grant` (401): forget it.
    fn reject(&self, grant: &UsedToken);
}

/// The token a request was sent with (to name it in [`Authorize::reject`]).
#[derive(Debug, Clone)]
pub struct UsedToken(Arc<Token>);

/// How the token goes into the `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer <token>` (RFC 6750).
    Bearer,
    /// `Authorization: <token>`, for APIs that document an api-key header with no scheme.
    Bare,
}

/// A token from a [`TokenCache`] in the `Authorization` header.
pub struct HeaderAuth<S> {
    cache: Arc<TokenCache<S>>,
    scheme: Scheme,
    /// The header value of the current token, built once per token rather than per call.
    header: std::sync::RwLock<Option<(Arc<Token>, HeaderValue)>>,
}

impl<S> HeaderAuth<S> {
    /// Sends tokens of `cache` with `scheme`.
    pub fn new(cache: Arc<TokenCache<S>>, scheme: Scheme) -> Self {
        Self {
            cache,
            scheme,
            header: std::sync::RwLock::new(None),
        }
    }

    fn header_value(&self, token: &Arc<Token>) -> Result<HeaderValue, AuthError> {
        if let Some((cached, value)) = &*self
            .header
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            && Arc::ptr_eq(cached, token)
        {
            return Ok(value.clone());
        }
        let secret = token.value.expose_secret();
        let text = match self.scheme {
            Scheme::Bearer => format!("Bearer {secret}"),
            Scheme::Bare => secret.to_string(),
        };
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| AuthError::Malformed("the token is not a valid header value".into()))?;
        // hyper and reqwest leave sensitive values out of their logs.
        value.set_sensitive(true);
        *self
            .header
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((token.clone(), value.clone()));
        Ok(value)
    }
}

impl<S> std::fmt::Debug for HeaderAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderAuth")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl<S: TokenSource> Authorize for HeaderAuth<S> {
    fn authorize<'a>(
        &'a self,
        headers: &'a mut HeaderMap,
    ) -> BoxFuture<'a, Result<UsedToken, AuthError>> {
        Box::pin(async move {
            let token = self.cache.token().await?;
            headers.insert(reqwest::header::AUTHORIZATION, self.header_value(&token)?);
            Ok(UsedToken(token))
        })
    }

    fn reject(&self, grant: &UsedToken) {
        self.cache.invalidate(&grant.0);
    }
}

#[derive(Default, Clone)]
struct Parts {
    service: &'static str,
    auth: Option<Arc<dyn Authorize>>,
    headers: HeaderMap,
    correlation: Option<HeaderName>,
    anonymous: &'static [&'static str],
}

/// What a generated client's calls pass through (see the module docs). Cheap to clone.
#[derive(Clone, Default)]
pub struct Layer {
    parts: Arc<Parts>,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header names only: values may be anything the caller configured.
        f.debug_struct("Layer")
            .field("service", &self.parts.service)
            .field("auth", &self.parts.auth.is_some())
            .field("headers", &self.parts.headers.keys().collect::<Vec<_>>())
            .field("correlation", &self.parts.correlation)
            .finish()
    }
}

impl Layer {
    /// A layer for `service` (its slug) with no credentials: calls go out as they are.
    pub fn new(service: &'static str) -> Self {
        Self {
            parts: Arc::new(Parts {
                service,
                ..Parts::default()
            }),
        }
    }

    fn parts_mut(&mut self) -> &mut Parts {
        // Layers are configured before they are shared; a shared one is copied.
        Arc::make_mut(&mut self.parts)
    }

    /// Adds credentials to every call.
    pub fn with_auth(mut self, auth: impl Authorize) -> Self {
        self.parts_mut().auth = Some(Arc::new(auth));
        self
    }

    /// Adds credentials shared with other layers (one token cache for several services).
    pub fn with_shared_auth(mut self, auth: Arc<dyn Authorize>) -> Self {
        self.parts_mut().auth = Some(auth);
        self
    }

    /// Sends `value` as header `name` on every call that does not set it itself.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.parts_mut().headers.insert(name, value);
        self
    }

    /// Sends a fresh UUID in header `name` on every call that does not set one itself (one
    /// id per call: a 401 replay keeps it), and records it on the answer.
    pub fn with_correlation_id(mut self, name: HeaderName) -> Self {
        self.parts_mut().correlation = Some(name);
        self
    }

    /// Sends no credentials with these operations (their spec says `security: []`, e.g. the
    /// one that hands out tokens).
    pub fn without_auth_for(mut self, operation_ids: &'static [&'static str]) -> Self {
        self.parts_mut().anonymous = operation_ids;
        self
    }

    /// The service slug this layer serves.
    pub fn service(&self) -> &'static str {
        self.parts.service
    }

    /// Sends `request` through the layer (the generated code calls this for every operation).
    pub async fn send<E>(
        &self,
        http: &reqwest::Client,
        mut request: reqwest::Request,
        info: &OperationInfo,
    ) -> Result<reqwest::Response, Error<E>> {
        let parts = &*self.parts;
        let headers = request.headers_mut();
        for (name, value) in &parts.headers {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        let correlation = parts.correlation.as_ref().map(|name| {
            let value = headers
                .entry(name)
                .or_insert_with(|| {
                    HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                        .expect("a UUID is a valid header value")
                })
                .clone();
            (name, value)
        });
        let auth = parts
            .auth
            .as_ref()
            .filter(|_| !parts.anonymous.contains(&info.operation_id));
        let Some(auth) = auth else {
            let response = http.execute(request).await?;
            return Ok(with_correlation(response, correlation));
        };
        // A body that cannot be cloned (a stream) cannot be replayed; it is sent once.
        let replay = request.try_clone();
        let grant = auth.authorize(request.headers_mut()).await?;
        let response = http.execute(request).await?;
        let response = match replay {
            Some(mut replay) if response.status() == reqwest::StatusCode::UNAUTHORIZED => {
                tracing::debug!(
                    service = parts.service,
                    operation = info.operation_id,
                    "401 Unauthorized: renewing the token and replaying once"
                );
                auth.reject(&grant);
                auth.authorize(replay.headers_mut()).await?;
                http.execute(replay).await?
            }
            _ => response,
        };
        Ok(with_correlation(response, correlation))
    }
}

/// Records the correlation id sent on an answer that does not echo it.
fn with_correlation(
    mut response: reqwest::Response,
    correlation: Option<(&HeaderName, HeaderValue)>,
) -> reqwest::Response {
    if let Some((name, value)) = correlation
        && !response.headers().contains_key(name)
    {
        response.headers_mut().insert(name.clone(), value);
    }
    response
}
