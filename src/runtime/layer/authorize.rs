//! Credentials on a request: the [`Authorize`] adapter the layer calls on every attempt, and
//! [`HeaderAuth`], its one implementation (a token from a [`TokenCache`] in the
//! `Authorization` header).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue};

use crate::runtime::auth::{AuthError, ExposeSecret, Token, TokenCache, TokenSource};

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

    /// Adds the credentials at once when that needs no waiting (e.g. a fresh cached token),
    /// sparing the common case [`Self::authorize`]'s boxed future. `None`: nothing was added;
    /// call [`Self::authorize`].
    fn authorize_ready(&self, headers: &mut HeaderMap) -> Option<UsedToken> {
        let _ = headers;
        None
    }

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

    fn authorize_ready(&self, headers: &mut HeaderMap) -> Option<UsedToken> {
        let token = self.cache.fresh()?;
        // A token that is no header value is left to `authorize`, which reports it.
        let value = self.header_value(&token).ok()?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
        Some(UsedToken(token))
    }

    fn reject(&self, grant: &UsedToken) {
        self.cache.invalidate(&grant.0);
    }
}
