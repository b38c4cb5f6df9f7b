//! The one layer every call of every generated OpenAPI client passes through.
//!
//! The generator gives each client a [`Layer`] (progenitor's "inner type") and routes each
//! operation's request through [`Layer::send`], which
//! 1. adds the service's fixed headers and, where the service asks for one, a fresh
//!    correlation id;
//! 2. adds credentials from the service's token cache ([`Authorize`]);
//! 3. sends, and on `401 Unauthorized` invalidates the token, fetches a new one and replays
//!    the request once (never more: a second 401 is the caller's answer);
//! 4. retries what failed for a passing reason (no answer, a body cut short, 408, 429, 5xx)
//!    as [`RetryPolicy`](super::retry::RetryPolicy) says, within a per-attempt timeout;
//! 5. reads the whole body (so a body cut short is retried, not handed to the decoder) and
//!    records on the answer the correlation id when the server did not echo it, and the
//!    number of attempts ([`ATTEMPTS_HEADER`]), so errors name both;
//! 6. traces the call as one span (`customer_data.call`: service, operation, attempts,
//!    status, duration_ms) with an event per retry. No header value is ever traced.
//!
//! The SOAP clients take the same path through [`Layer::execute`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use progenitor_client::OperationInfo;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::auth::{AuthError, ExposeSecret, Token, TokenCache, TokenSource};
use super::error::Error;
use super::retry::{self, Budget, RetryPolicy};
use super::rules::ServiceRules;

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

/// The header the runtime adds to every answer: how many attempts the call took.
pub const ATTEMPTS_HEADER: &str = "customer-data-attempts";

/// The header the runtime adds to an answer that waited out 429s: how many of its attempts
/// were refused with a `Retry-After` (a rate limit, as opposed to a failure).
pub const RATE_LIMITED_HEADER: &str = "customer-data-rate-limited";

/// How many attempts a call took, and how many of them met a rate limit.
#[derive(Debug, Clone, Copy)]
struct Tally {
    attempts: u32,
    rate_limited: u32,
}

/// Holds a client's attempts until an instant, checked on every attempt: an atomic, so the
/// common case (no hold) costs one load.
#[derive(Clone)]
struct RateGate {
    origin: Instant,
    /// Nanoseconds after `origin` before which no attempt goes out (0: none).
    until_nanos: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for RateGate {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            until_nanos: Arc::default(),
        }
    }
}

impl RateGate {
    fn hold_for(&self, wait: Duration) {
        let until = self.origin.elapsed().saturating_add(wait).as_nanos();
        let until = u64::try_from(until).unwrap_or(u64::MAX);
        self.until_nanos
            .fetch_max(until, std::sync::atomic::Ordering::Relaxed);
    }

    async fn wait(&self) {
        let until = self.until_nanos.load(std::sync::atomic::Ordering::Relaxed);
        if until == 0 {
            return;
        }
        let until = self.origin + Duration::from_nanos(until);
        if until > Instant::now() {
            tokio::time::sleep_until(until.into()).await;
        }
    }
}

/// The whole body of an answer, kept beside it (in the response's extensions) so an error can
/// show it even after the body was handed on.
#[derive(Debug, Clone)]
pub struct RawBody(pub bytes::Bytes);

#[derive(Clone)]
struct Parts {
    /// The service's declared rules: retry-safe and anonymous operations, final answers.
    rules: &'static ServiceRules,
    auth: Option<Arc<dyn Authorize>>,
    headers: HeaderMap,
    correlation: Option<HeaderName>,
    retry: RetryPolicy,
    budget: Budget,
    /// No attempt goes out before this instant: a 429's `Retry-After` holds every call of the
    /// client, not only the refused one (shared by clones, like the budget).
    gate: RateGate,
    timeout: Option<Duration>,
}

/// What a generated client's calls pass through (see the module docs). Cheap to clone; clones
/// share the retry budget.
#[derive(Clone)]
pub struct Layer {
    parts: Arc<Parts>,
}

impl Default for Layer {
    fn default() -> Self {
        Self::new(&ServiceRules::NONE)
    }
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header names only: values may be anything the caller configured.
        f.debug_struct("Layer")
            .field("service", &self.parts.rules.slug)
            .field("auth", &self.parts.auth.is_some())
            .field("headers", &self.parts.headers.keys().collect::<Vec<_>>())
            .field("correlation", &self.parts.correlation)
            .field("retry", &self.parts.retry)
            .field("timeout", &self.parts.timeout)
            .finish()
    }
}

/// Why [`Layer::execute`] has no answer.
#[derive(Debug)]
pub enum CallFailure {
    /// No credentials could be had; nothing was sent.
    Auth(AuthError),
    /// No (whole) answer after `attempts` attempts.
    Transport {
        attempts: u32,
        source: reqwest::Error,
    },
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallFailure::Auth(e) => write!(f, "authentication failed: {e}"),
            CallFailure::Transport { attempts, source } => {
                write!(f, "no answer after {attempts} attempt(s): {source}")
            }
        }
    }
}

impl std::error::Error for CallFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallFailure::Auth(e) => Some(e),
            CallFailure::Transport { source, .. } => Some(source),
        }
    }
}

impl<E> From<CallFailure> for Error<E> {
    fn from(failure: CallFailure) -> Self {
        match failure {
            CallFailure::Auth(e) => Error::Auth(e),
            CallFailure::Transport { attempts, source } => Error::Transport { attempts, source },
        }
    }
}

/// What one attempt ended with.
enum Attempt {
    Answer(reqwest::Response),
    Unauthorized(reqwest::Response, UsedToken),
    NoAnswer(reqwest::Error),
}

impl Layer {
    /// A layer for the service that declares `rules` (its generated `SERVICE_RULES`) with no
    /// credentials: calls go out as they are, with the default [`RetryPolicy`].
    pub fn new(rules: &'static ServiceRules) -> Self {
        let retry = RetryPolicy::default();
        Self {
            parts: Arc::new(Parts {
                rules,
                auth: None,
                headers: HeaderMap::new(),
                correlation: None,
                budget: Budget::new(*retry.budget()),
                gate: RateGate::default(),
                retry,
                timeout: None,
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
    /// id per call: replays and retries keep it), and records it on the answer.
    pub fn with_correlation_id(mut self, name: HeaderName) -> Self {
        self.parts_mut().correlation = Some(name);
        self
    }

    /// Retries as `policy` says (with a fresh budget for this layer and its clones).
    ///
    /// ```
    /// use customer_data::runtime::{Layer, retry::RetryPolicy};
    /// use customer_data::runtime::rules::ServiceRules;
    /// static RULES: ServiceRules = ServiceRules::empty("example");
    /// let layer = Layer::new(&RULES).with_retry(RetryPolicy::none());
    /// # let _ = layer;
    /// ```
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        let parts = self.parts_mut();
        parts.budget = Budget::new(*policy.budget());
        parts.retry = policy;
        self
    }

    /// Gives every attempt at most `timeout` (connecting, sending and reading the whole
    /// answer); without it the HTTP client's own timeout applies
    /// ([`DEFAULT_REQUEST_TIMEOUT`](super::http::DEFAULT_REQUEST_TIMEOUT) for ours).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.parts_mut().timeout = Some(timeout);
        self
    }

    /// The service slug this layer serves.
    pub fn service(&self) -> &'static str {
        self.parts.rules.slug
    }

    /// The rules the service declared (retry-safe and anonymous operations, final answers).
    pub fn rules(&self) -> &'static ServiceRules {
        self.parts.rules
    }

    /// The retry policy of this layer.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.parts.retry
    }

    /// Sends `request` through the layer (the generated code calls this for every operation).
    pub async fn send<E>(
        &self,
        http: &reqwest::Client,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> Result<reqwest::Response, Error<E>> {
        Ok(self.execute(http, request, info.operation_id).await?)
    }

    /// Sends `request` for `operation` with everything the module docs list: headers,
    /// credentials, 401 replay, retries, timeouts, a whole body, tracing.
    pub async fn execute(
        &self,
        http: &reqwest::Client,
        mut request: reqwest::Request,
        operation: &str,
    ) -> Result<reqwest::Response, CallFailure> {
        use tracing::Instrument;
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
        let span = tracing::info_span!(
            "customer_data.call",
            service = parts.rules.slug,
            operation,
            attempts = tracing::field::Empty,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let outcome = self
            .attempts(http, request, operation)
            .instrument(span.clone())
            .await;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        let (response, tally) = outcome?;
        let attempts = tally.attempts;
        span.record("attempts", attempts);
        span.record("status", response.status().as_u16());
        Ok(annotated(response, correlation, tally))
    }

    /// The attempts of one call: the answer and how many attempts it took.
    async fn attempts(
        &self,
        http: &reqwest::Client,
        request: reqwest::Request,
        operation: &str,
    ) -> Result<(reqwest::Response, Tally), CallFailure> {
        let parts = &*self.parts;
        let rule = parts.rules.operation(operation);
        let auth = parts
            .auth
            .as_ref()
            .filter(|_| !rule.is_some_and(|rule| rule.anonymous));
        let safe = retry::is_idempotent(request.method())
            || rule.is_some_and(|rule| rule.retry_safe.is_some());
        parts.budget.deposit();
        let mut current = request;
        let mut replayed_401 = false;
        let mut attempt = 0u32;
        let mut rate_limited = 0u32;
        loop {
            attempt += 1;
            // A body that cannot be cloned (a stream) cannot be sent twice: one attempt.
            let again = current.try_clone();
            let mut server_directed = false;
            // What this attempt ended with, and the wait before another one (None: done).
            let (outcome, wait, replay) = match self.attempt(http, current, auth).await? {
                Attempt::Unauthorized(response, grant) if !replayed_401 => {
                    if let Some(auth) = auth {
                        auth.reject(&grant);
                    }
                    (Ok(response), Some(Duration::ZERO), true)
                }
                Attempt::Unauthorized(response, _) => (Ok(response), None, false),
                Attempt::Answer(response) => {
                    let status = response.status();
                    let wait = if retry::is_retryable_status(status)
                        && (safe || status == reqwest::StatusCode::TOO_MANY_REQUESTS)
                        && !parts
                            .rules
                            .final_answer
                            .is_final(status.as_u16(), raw_body(&response))
                    {
                        match retry::retry_after(response.headers(), SystemTime::now()) {
                            Some(asked) if asked > parts.retry.max_retry_after() => {
                                tracing::debug!(
                                    attempt,
                                    status = status.as_u16(),
                                    retry_after_s = asked.as_secs(),
                                    "Retry-After beyond the policy's bound: not retrying"
                                );
                                None
                            }
                            Some(asked) => {
                                if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                                    // The server said when: a wait it asked for is no storm.
                                    server_directed = true;
                                    parts.gate.hold_for(asked);
                                }
                                Some(asked)
                            }
                            None => Some(parts.retry.backoff(attempt)),
                        }
                    } else {
                        None
                    };
                    (Ok(response), wait, false)
                }
                Attempt::NoAnswer(error) => {
                    // Nothing reached the server when the connection failed: always safe.
                    let wait = (safe || error.is_connect()).then(|| parts.retry.backoff(attempt));
                    let failure = CallFailure::Transport {
                        attempts: attempt,
                        source: error.without_url(),
                    };
                    (Err(failure), wait, false)
                }
            };
            let next = match (wait, again) {
                (Some(_), Some(next)) if replay => next,
                (Some(delay), Some(next))
                    if attempt < parts.retry.max_attempts()
                        && (server_directed || parts.budget.withdraw()) =>
                {
                    rate_limited += u32::from(server_directed);
                    match &outcome {
                        Ok(response) => tracing::debug!(
                            attempt,
                            status = response.status().as_u16(),
                            delay_ms = delay.as_millis() as u64,
                            "retrying"
                        ),
                        Err(failure) => tracing::debug!(
                            attempt,
                            error = %failure,
                            delay_ms = delay.as_millis() as u64,
                            "no answer: retrying"
                        ),
                    }
                    tokio::time::sleep(delay).await;
                    next
                }
                _ => {
                    return outcome.map(|response| {
                        let tally = Tally {
                            attempts: attempt,
                            rate_limited,
                        };
                        (response, tally)
                    });
                }
            };
            if replay {
                tracing::debug!(
                    attempt,
                    "401 Unauthorized: renewing the token and replaying once"
                );
                replayed_401 = true;
            }
            current = next;
        }
    }

    /// One attempt: credentials, send, read the whole body.
    async fn attempt(
        &self,
        http: &reqwest::Client,
        mut request: reqwest::Request,
        auth: Option<&Arc<dyn Authorize>>,
    ) -> Result<Attempt, CallFailure> {
        self.parts.gate.wait().await;
        if let Some(timeout) = self.parts.timeout {
            *request.timeout_mut() = Some(timeout);
        }
        let grant = match auth {
            Some(auth) => Some(
                auth.authorize(request.headers_mut())
                    .await
                    .map_err(CallFailure::Auth)?,
            ),
            None => None,
        };
        let response = match http.execute(request).await {
            Ok(response) => response,
            Err(error) => return Ok(Attempt::NoAnswer(error)),
        };
        let response = match whole(response).await {
            Ok(response) => response,
            Err(error) => return Ok(Attempt::NoAnswer(error)),
        };
        Ok(match grant {
            Some(grant) if response.status() == reqwest::StatusCode::UNAUTHORIZED => {
                Attempt::Unauthorized(response, grant)
            }
            _ => Attempt::Answer(response),
        })
    }
}

/// The answer with its whole body read (a body cut short is an error here, where it can be
/// retried), the body also kept as [`RawBody`] (for an error to show it, and so the decoder
/// does not read the body a second time). The answer's parts are moved, not copied: this runs
/// on every call.
async fn whole(response: reqwest::Response) -> Result<reqwest::Response, reqwest::Error> {
    use http_body_util::BodyExt;
    let (parts, body) = ::http::Response::<reqwest::Body>::from(response).into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(answer_from_parts(parts, body))
}

/// An answer made from its parts and whole body, the body also kept as [`RawBody`].
pub(crate) fn answer_from_parts(
    mut parts: ::http::response::Parts,
    body: bytes::Bytes,
) -> reqwest::Response {
    parts.extensions.insert(RawBody(body.clone()));
    reqwest::Response::from(::http::Response::from_parts(parts, body))
}

/// The number of attempts the layer recorded on an answer ([`ATTEMPTS_HEADER`]).
pub fn attempts_of(headers: &HeaderMap) -> Option<u32> {
    count_header(headers, ATTEMPTS_HEADER)
}

/// How many attempts of an answer met a rate limit ([`RATE_LIMITED_HEADER`]; absent: none).
pub fn rate_limited_of(headers: &HeaderMap) -> u32 {
    count_header(headers, RATE_LIMITED_HEADER).unwrap_or(0)
}

fn count_header(headers: &HeaderMap, name: &str) -> Option<u32> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

fn raw_body(response: &reqwest::Response) -> &[u8] {
    response
        .extensions()
        .get::<RawBody>()
        .map_or(&[][..], |body| &body.0[..])
}

/// Records on the answer the correlation id sent (when the server did not echo it) and the
/// number of attempts.
fn annotated(
    mut response: reqwest::Response,
    correlation: Option<(&HeaderName, HeaderValue)>,
    tally: Tally,
) -> reqwest::Response {
    let headers = response.headers_mut();
    if let Some((name, value)) = correlation
        && !headers.contains_key(name)
    {
        headers.insert(name.clone(), value);
    }
    // A static value for the common counts: no allocation per call.
    const COUNTS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    let attempts = usize::try_from(tally.attempts)
        .ok()
        .and_then(|n| COUNTS.get(n))
        .map_or_else(
            || HeaderValue::from(tally.attempts),
            |n| HeaderValue::from_static(n),
        );
    headers.insert(ATTEMPTS_HEADER, attempts);
    if tally.rate_limited > 0 {
        headers.insert(RATE_LIMITED_HEADER, HeaderValue::from(tally.rate_limited));
    }
    response
}
