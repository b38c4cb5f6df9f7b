//! The one layer every call of every generated OpenAPI client passes through.
//!
//! The generator gives each client a [`Layer`] (progenitor's "inner type") made from the
//! service's generated rules ([`ServiceRules`]) and routes each operation's request through
//! [`Layer::send`], which
//! 1. adds the service's fixed headers and, where the service asks for one, a fresh
//!    correlation id;
//! 2. adds credentials from the service's token cache ([`Authorize`], `authorize.rs`), except
//!    on the operations the service declares anonymous;
//! 3. sends, and on `401 Unauthorized` invalidates the token, fetches a new one and replays
//!    the request once (never more: a second 401 is the caller's answer);
//! 4. retries what failed for a passing reason (no answer, a body cut short, 408, 429, 5xx)
//!    as [`RetryPolicy`] says, within a per-attempt timeout: a
//!    request whose method is idempotent or that the service declares retry-safe, any request
//!    after a 429 or a failed connect; an answer the service's rule calls final (a SOAP
//!    fault) is not retried. A 429's `Retry-After` holds every call of the client
//!    (`gate.rs`). Each step is decided by a pure function, [`decide::next_step`];
//! 5. reads the whole body (`body.rs`: a body cut short is retried, not handed to the
//!    decoder), refusing one over the size limit and ending one that stalls
//!    ([`Limits`]), and records on the answer the correlation id when the server did not echo it,
//!    and the number of attempts ([`ATTEMPTS_HEADER`]), so errors name both;
//! 6. traces the call as one span (`customer_data.call`: service, operation, attempts,
//!    status, duration_ms) with an event per retry. No header value is ever traced.
//!
//! The whole call (attempts, waits, the token) is bounded by the operation deadline
//! ([`Limits::deadline`], tightened per call with [`within`](super::limits::within)).
//! Redirects are not followed (a 3xx is [`TransportError::Redirected`]), and plain `http`
//! to a host other than this machine is refused before anything is sent
//! ([`TransportError::Cleartext`]) unless the layer allows cleartext.
//!
//! The SOAP clients take the same path through [`Layer::execute`].

mod authorize;
mod body;
pub mod decide;
mod gate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

pub use progenitor_client::OperationInfo;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

pub use authorize::{Authorize, BoxFuture, HeaderAuth, Scheme, UsedToken};
pub use body::RawBody;
pub(crate) use body::answer_from_parts;
use body::{BodyLimits, count_header, raw_body, whole};
use decide::{AttemptState, Outcome, Step};
use gate::RateGate;

use super::auth::AuthError;
use super::error::Error;
use super::limits::{self, Limits};
use super::retry::{self, Budget, RetryPolicy};
use super::rules::ServiceRules;
use super::transport::{CallPhase, TransportError, redacted_location};

/// The header the runtime adds to every answer: how many attempts the call took.
pub const ATTEMPTS_HEADER: &str = "customer-data-attempts";

/// The header the runtime adds to an answer that waited out 429s: how many of its attempts
/// were refused with a `Retry-After` (a rate limit, as opposed to a failure).
pub const RATE_LIMITED_HEADER: &str = "customer-data-rate-limited";

/// [`ATTEMPTS_HEADER`] as a header name, validated when compiled rather than on every call.
const ATTEMPTS_NAME: HeaderName = HeaderName::from_static(ATTEMPTS_HEADER);

/// How many attempts a call took, and how many of them met a rate limit.
#[derive(Debug, Clone, Copy)]
struct Tally {
    attempts: u32,
    rate_limited: u32,
}

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
    limits: Limits,
    /// Plain `http` to any host is allowed (a test proxy), not only to this machine.
    allow_cleartext: bool,
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
            .field("limits", &self.parts.limits)
            .field("allow_cleartext", &self.parts.allow_cleartext)
            .finish()
    }
}

/// Why [`Layer::execute`] has no answer.
#[derive(Debug)]
pub enum CallFailure {
    /// No credentials could be had; nothing was sent.
    Auth(AuthError),
    /// No (whole) answer after `attempts` attempts (0: nothing was sent).
    Transport {
        attempts: u32,
        source: TransportError,
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
    NoAnswer(TransportError),
}

impl Attempt {
    /// What the caller gets when this was the last attempt (`attempts` in all).
    fn into_result(self, attempts: u32) -> Result<reqwest::Response, CallFailure> {
        match self {
            Attempt::Answer(response) | Attempt::Unauthorized(response, _) => Ok(response),
            Attempt::NoAnswer(source) => Err(CallFailure::Transport { attempts, source }),
        }
    }
}

/// One debug event per retry (no header value is traced).
fn trace_retry(ended: &Attempt, attempt: u32, delay: Duration) {
    let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    match ended {
        Attempt::Answer(response) | Attempt::Unauthorized(response, _) => tracing::debug!(
            attempt,
            status = response.status().as_u16(),
            delay_ms,
            "retrying"
        ),
        Attempt::NoAnswer(error) => tracing::debug!(
            attempt,
            error = %error,
            delay_ms,
            "no answer: retrying"
        ),
    }
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
                limits: Limits::default(),
                allow_cleartext: false,
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

    /// Bounds every call by `limits`: the operation deadline, the largest answer, the
    /// slowest body (see [`super::limits`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.parts_mut().limits = limits;
        self
    }

    /// Allows plain `http` to hosts other than this machine (a test proxy of your own).
    /// Without it such a call is refused before anything is sent, since credentials would
    /// travel in cleartext.
    pub fn allow_cleartext(mut self, allow: bool) -> Self {
        self.parts_mut().allow_cleartext = allow;
        self
    }

    /// The bounds of every call.
    pub fn limits(&self) -> &Limits {
        &self.parts.limits
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
        if !parts.allow_cleartext
            && let Some(host) = cleartext_host(request.url())
        {
            return Err(CallFailure::Transport {
                attempts: 0,
                source: TransportError::Cleartext { host },
            });
        }
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
        let bounds = limits::effective(&parts.limits, started);
        let phase = Phase::default();
        let attempts = self
            .attempts(http, request, operation, started, &bounds, &phase)
            .instrument(span.clone());
        let outcome = match bounds.deadline {
            None => attempts.await,
            Some((at, deadline, set_by)) => match tokio::time::timeout_at(at, attempts).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    let during = phase.get();
                    tracing::debug!(%during, "operation deadline ran out");
                    Err(CallFailure::Transport {
                        attempts: phase.attempts(),
                        source: TransportError::DeadlineExceeded {
                            deadline,
                            set_by,
                            during,
                        },
                    })
                }
            },
        };
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        let (response, tally) = outcome?;
        let attempts = tally.attempts;
        span.record("attempts", attempts);
        span.record("status", response.status().as_u16());
        Ok(annotated(response, correlation, tally))
    }

    /// The attempts of one call: the answer and how many attempts it took. Each step after
    /// an attempt is [`decide::next_step`]'s; this only sends, waits and renews as told.
    async fn attempts(
        &self,
        http: &reqwest::Client,
        request: reqwest::Request,
        operation: &str,
        started: Instant,
        bounds: &limits::Effective,
        phase: &Phase,
    ) -> Result<(reqwest::Response, Tally), CallFailure> {
        let parts = &*self.parts;
        let rule = parts.rules.operation(operation);
        let auth = parts
            .auth
            .as_ref()
            .filter(|_| !rule.is_some_and(|rule| rule.anonymous));
        parts.budget.deposit();
        let mut state = AttemptState {
            attempt: 0,
            retry_safe: retry::is_idempotent(request.method())
                || rule.is_some_and(|rule| rule.retry_safe.is_some()),
            replayed_after_401: false,
            resendable: true,
            elapsed: Duration::ZERO,
            deadline: bounds
                .deadline
                .map(|(at, _, _)| at.saturating_duration_since(started)),
            now: SystemTime::UNIX_EPOCH,
        };
        let body_limits = BodyLimits {
            max_bytes: bounds.max_answer_bytes,
            min_throughput: bounds.min_throughput,
        };
        let mut current = request;
        let mut rate_limited = 0u32;
        loop {
            state.attempt += 1;
            // A body that cannot be cloned (a stream) cannot be sent twice: one attempt.
            let again = current.try_clone();
            state.resendable = again.is_some();
            let ended = self
                .attempt(http, current, auth, body_limits, phase, state.attempt)
                .await?;
            state.elapsed = started.elapsed();
            state.now = SystemTime::now();
            let step = {
                let outcome = match &ended {
                    Attempt::Answer(response) => Outcome::Answer {
                        status: response.status(),
                        headers: response.headers(),
                        body: raw_body(response),
                    },
                    Attempt::Unauthorized(..) => Outcome::Unauthorized,
                    Attempt::NoAnswer(error) => Outcome::NoAnswer {
                        connect_failed: error.is_connect(),
                        final_cause: error.is_final(),
                    },
                };
                let final_answer = parts.rules.final_answer;
                if let Some(hold) =
                    decide::rate_limit_hold(&outcome, &parts.retry, final_answer, state.now)
                {
                    parts.gate.hold_for(hold);
                }
                decide::next_step(&state, &outcome, &parts.retry, final_answer, &mut || {
                    parts.budget.withdraw()
                })
            };
            if let (Attempt::Unauthorized(_, grant), Some(auth)) = (&ended, auth)
                && !state.replayed_after_401
            {
                // The token is no good whether or not the request can be replayed.
                auth.reject(grant);
            }
            current = match (step, again) {
                (Step::ReplayAfterReauth, Some(next)) => {
                    tracing::debug!(
                        attempt = state.attempt,
                        "401 Unauthorized: renewing the token and replaying once"
                    );
                    state.replayed_after_401 = true;
                    next
                }
                (
                    Step::Retry {
                        after,
                        server_directed,
                    },
                    Some(next),
                ) => {
                    rate_limited += u32::from(server_directed);
                    trace_retry(&ended, state.attempt, after);
                    phase.set(CallPhase::Backoff(state.attempt + 1));
                    tokio::time::sleep(after).await;
                    next
                }
                _ => {
                    let tally = Tally {
                        attempts: state.attempt,
                        rate_limited,
                    };
                    return ended
                        .into_result(state.attempt)
                        .map(|response| (response, tally));
                }
            };
        }
    }

    /// One attempt: credentials, send, read the whole body.
    async fn attempt(
        &self,
        http: &reqwest::Client,
        mut request: reqwest::Request,
        auth: Option<&Arc<dyn Authorize>>,
        body_limits: BodyLimits,
        phase: &Phase,
        number: u32,
    ) -> Result<Attempt, CallFailure> {
        phase.set(CallPhase::RateLimit);
        self.parts.gate.wait().await;
        if let Some(timeout) = self.parts.timeout {
            *request.timeout_mut() = Some(timeout);
        }
        let grant = match auth {
            Some(auth) => match auth.authorize_ready(request.headers_mut()) {
                Some(grant) => Some(grant),
                None => {
                    phase.set(CallPhase::Token);
                    Some(
                        auth.authorize(request.headers_mut())
                            .await
                            .map_err(CallFailure::Auth)?,
                    )
                }
            },
            None => None,
        };
        phase.set(CallPhase::Attempt(number));
        let response = match http.execute(request).await {
            Ok(response) => response,
            Err(error) => return Ok(Attempt::NoAnswer(TransportError::from_reqwest(error))),
        };
        if let Some(redirect) = redirected(&response) {
            return Ok(Attempt::NoAnswer(redirect));
        }
        let response = match whole(response, body_limits).await {
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

/// What a call is doing, kept outside its future so the operation deadline can say what it
/// cut short: the phase (one atomic: attempt `n` is `2n`, the wait before it `2n + 1`; 0 token,
/// 1 rate limit) and the attempts sent so far.
#[derive(Default)]
struct Phase {
    code: AtomicU32,
    sent: AtomicU32,
}

impl Phase {
    fn set(&self, phase: CallPhase) {
        let code = match phase {
            CallPhase::Token => 0,
            CallPhase::RateLimit => 1,
            CallPhase::Attempt(n) => {
                self.sent.store(n, Ordering::Relaxed);
                n.saturating_mul(2)
            }
            CallPhase::Backoff(n) => n.saturating_mul(2).saturating_add(1),
        };
        self.code.store(code, Ordering::Relaxed);
    }

    fn get(&self) -> CallPhase {
        match self.code.load(Ordering::Relaxed) {
            0 => CallPhase::Token,
            1 => CallPhase::RateLimit,
            code if code % 2 == 0 => CallPhase::Attempt(code / 2),
            code => CallPhase::Backoff(code / 2),
        }
    }

    /// The attempts sent so far.
    fn attempts(&self) -> u32 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// The host of `url` when it is plain `http` to a host other than this machine (loopback
/// addresses and `localhost` are this machine). The scheme is compared as the URL parser
/// normalised it, so `HTTP://` is `http`.
pub(crate) fn cleartext_host(url: &reqwest::Url) -> Option<String> {
    if url.scheme() != "http" {
        return None;
    }
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let local = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let name = bare.to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    (!local).then(|| host.to_string())
}

/// A 3xx answer (not 304) as the refused redirect it is: redirects are not followed.
fn redirected(response: &reqwest::Response) -> Option<TransportError> {
    let status = response.status();
    if !status.is_redirection() || status == reqwest::StatusCode::NOT_MODIFIED {
        return None;
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(redacted_location);
    Some(TransportError::Redirected {
        status: status.as_u16(),
        location,
    })
}

/// The number of attempts the layer recorded on an answer ([`ATTEMPTS_HEADER`]).
pub fn attempts_of(headers: &HeaderMap) -> Option<u32> {
    count_header(headers, ATTEMPTS_HEADER)
}

/// How many attempts of an answer met a rate limit ([`RATE_LIMITED_HEADER`]; absent: none).
pub fn rate_limited_of(headers: &HeaderMap) -> u32 {
    count_header(headers, RATE_LIMITED_HEADER).unwrap_or(0)
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
    // A static name and value for the common counts: no validation or allocation per call.
    const COUNTS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    let attempts = usize::try_from(tally.attempts)
        .ok()
        .and_then(|n| COUNTS.get(n))
        .map_or_else(
            || HeaderValue::from(tally.attempts),
            |n| HeaderValue::from_static(n),
        );
    headers.insert(ATTEMPTS_NAME, attempts);
    if tally.rate_limited > 0 {
        headers.insert(RATE_LIMITED_HEADER, HeaderValue::from(tally.rate_limited));
    }
    response
}
