//! The one token cache every service's auth flow plugs into: a cache per credential, proactive
//! refresh before expiry (with jitter, so many clients do not refresh in the same second),
//! single flight (N concurrent callers on a cold or expired cache cause exactly one token
//! request, and share its outcome, success or failure), a short backoff after a failure
//! (callers fail fast with it instead of queueing fetches, so bad credentials or a token
//! endpoint that is down never become a login loop), lifetimes clamped by [`lifetime`], and
//! invalidation after a 401 so the next call fetches a fresh token.
//!
//! Each vendor flow is a [`TokenSource`]; secrets are [`SecretString`]s, redacted in `Debug`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rand::Rng;
pub use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// A token as a flow hands it out.
pub struct Token {
    /// The credential sent with calls (bearer token, session token, ...).
    pub value: SecretString,
    /// When the vendor says it stops working.
    pub expires_at: Instant,
    /// A refresh token, for flows that rotate them (bLink, AccountsIQ v2.0).
    pub refresh: Option<SecretString>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field(
                "expires_in",
                &self.expires_at.saturating_duration_since(Instant::now()),
            )
            .field("refresh", &self.refresh.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why no token could be had. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The vendor refused the credentials (e.g. 400/401 from the token endpoint): retrying
    /// with the same credentials cannot help.
    Rejected { status: Option<u16>, detail: String },
    /// The token endpoint could not be reached or did not answer.
    Transport(String),
    /// The token endpoint answered something that is not a token.
    Malformed(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Rejected {
                status: Some(s),
                detail,
            } => write!(f, "credentials rejected (HTTP {s}): {detail}"),
            AuthError::Rejected {
                status: None,
                detail,
            } => write!(f, "credentials rejected: {detail}"),
            AuthError::Transport(detail) => write!(f, "token endpoint unreachable: {detail}"),
            AuthError::Malformed(detail) => write!(f, "token endpoint answered no token: {detail}"),
        }
    }
}

impl std::error::Error for AuthError {}

/// One vendor's way of getting a token.
pub trait TokenSource: Send + Sync + 'static {
    /// Fetches a token. `previous` is the last token (expired or invalidated), so a flow with
    /// refresh tokens can use and rotate it.
    fn fetch(
        &self,
        previous: Option<&Token>,
    ) -> impl Future<Output = Result<Token, AuthError>> + Send;
}

/// The shortest lifetime a token is given, whatever its issuer says (`expires_in: 0`, a JWT
/// `exp` in the past). The trade: a token the server calls already expired is still tried
/// (the 401 replay handles a refusal), in exchange for at most one fetch per half of this per
/// credential instead of a fetch per call. 1 s, not more: the twins issue 1 s tokens to test
/// renewal in the middle of a run, and those must keep being renewed ahead of expiry.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(1);

/// The longest lifetime a token is given: a day, so a wild `expires_in` (up to `u64::MAX`
/// seconds) cannot overflow an `Instant` and a token is re-checked at least daily.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The lifetime a token is given when its issuer claims `claimed`: clamped to
/// [`MIN_TOKEN_LIFETIME`]..=[`MAX_TOKEN_LIFETIME`]. Every flow goes through this (or
/// [`expiry`]), so no issuer's answer can cause a panic or a fetch per call.
pub fn lifetime(claimed: Duration) -> Duration {
    claimed.clamp(MIN_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME)
}

/// When a token whose issuer claims it lives `claimed` from now expires, [`lifetime`]-clamped.
pub fn expiry(claimed: Duration) -> Instant {
    let now = Instant::now();
    // The clamp keeps this far from overflow; `checked_add` keeps it from panicking anyway.
    now.checked_add(lifetime(claimed)).unwrap_or(now)
}

/// When to refresh ahead of expiry, and how long a failure is answered without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Refresh this long before the token expires ...
    pub margin: Duration,
    /// ... minus a random extra of up to this much.
    pub jitter: Duration,
    /// After the vendor rejected the credentials, answer that rejection for this long
    /// without asking again (bad credentials must not hammer the token endpoint).
    pub rejected_backoff: Duration,
    /// After any other failed fetch (no answer, 5xx, no token in the answer), answer that
    /// failure for this long plus a random extra of up to as much again, without asking
    /// again: callers fail fast instead of queueing fetches at an endpoint that is down, and
    /// many clients do not come back in the same instant. Also how long the cache waits
    /// before fetching again when the service refused two new tokens in a row.
    pub failure_backoff: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(60),
            jitter: Duration::from_secs(30),
            rejected_backoff: Duration::from_secs(5),
            failure_backoff: Duration::from_secs(1),
        }
    }
}

impl RefreshPolicy {
    /// `failure_backoff` plus a random extra of up to as much again.
    fn jittered_failure_backoff(&self) -> Duration {
        if self.failure_backoff.is_zero() {
            Duration::ZERO
        } else {
            self.failure_backoff + rand::rng().random_range(Duration::ZERO..self.failure_backoff)
        }
    }
}

struct Cached {
    token: Arc<Token>,
    refresh_at: Instant,
    /// When the token was stored: a refusal before [`MIN_TOKEN_LIFETIME`] is a young one.
    fetched_at: Instant,
    /// The token this one replaced was refused while young.
    replaced_a_young_refusal: bool,
    /// The service refused this token while it was young.
    refused_young: bool,
    /// The service refused two new tokens in a row: no fetch before this instant.
    no_fetch_before: Option<Instant>,
}

/// The outcome of the last failed fetch, answered to callers until `until`.
struct Failure {
    error: AuthError,
    until: Instant,
}

#[derive(Default)]
struct Flight {
    /// The last fetch's failure (any [`AuthError`]); cleared by a success.
    failure: Option<Failure>,
}

/// A token cache for one credential.
pub struct TokenCache<S> {
    source: S,
    policy: RefreshPolicy,
    current: RwLock<Option<Cached>>,
    /// Held during the one fetch in flight.
    flight: tokio::sync::Mutex<Flight>,
    /// Fetches that have ended (either way): a caller that waited while one ended takes its
    /// outcome instead of fetching again.
    fetches_ended: AtomicU64,
}

impl<S> std::fmt::Debug for TokenCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S: TokenSource> TokenCache<S> {
    pub fn new(source: S, policy: RefreshPolicy) -> Self {
        Self {
            source,
            policy,
            current: RwLock::new(None),
            flight: tokio::sync::Mutex::new(Flight::default()),
            fetches_ended: AtomicU64::new(0),
        }
    }

    pub(crate) fn fresh(&self) -> Option<Arc<Token>> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    /// A valid token: the cached one while it is fresh, else one new fetch shared by every
    /// concurrent caller. A failed fetch's error is shared too: with everyone who waited for
    /// it, and with later callers for a short backoff (see [`RefreshPolicy`]).
    pub async fn token(&self) -> Result<Arc<Token>, AuthError> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let ended_before_waiting = self.fetches_ended.load(Ordering::Acquire);
        let mut flight = self.flight.lock().await;
        if let Some(token) = self.fresh() {
            // Someone else fetched while we waited for the flight.
            return Ok(token);
        }
        if let Some(failure) = &flight.failure {
            let waited_for_it = self.fetches_ended.load(Ordering::Acquire) != ended_before_waiting;
            if waited_for_it || Instant::now() < failure.until {
                return Err(failure.error.clone());
            }
        }
        let (previous, replaced_a_young_refusal) = {
            let current = self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(until) = current.as_ref().and_then(|c| c.no_fetch_before)
                && Instant::now() < until
            {
                return Err(AuthError::Rejected {
                    status: Some(401),
                    detail: format!(
                        "the service refused two new tokens in a row; no new one for {} ms",
                        until.saturating_duration_since(Instant::now()).as_millis()
                    ),
                });
            }
            (
                current.as_ref().map(|c| c.token.clone()),
                current.as_ref().is_some_and(|c| c.refused_young),
            )
        };
        let outcome = self.source.fetch(previous.as_deref()).await;
        self.fetches_ended.fetch_add(1, Ordering::Release);
        match outcome {
            Ok(token) => {
                flight.failure = None;
                let token = Arc::new(token);
                let jitter = if self.policy.jitter.is_zero() {
                    Duration::ZERO
                } else {
                    rand::rng().random_range(Duration::ZERO..self.policy.jitter)
                };
                let lead = self.policy.margin + jitter;
                let now = Instant::now();
                // Clamped again for sources that did not: no fetch per call, no overflow.
                let life = lifetime(token.expires_at.saturating_duration_since(now));
                // A token shorter-lived than the lead is used for half its life.
                let refresh_at = now + if life > lead { life - lead } else { life / 2 };
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Cached {
                    token: token.clone(),
                    refresh_at,
                    fetched_at: now,
                    replaced_a_young_refusal,
                    refused_young: false,
                    no_fetch_before: None,
                });
                Ok(token)
            }
            Err(error) => {
                let backoff = match error {
                    AuthError::Rejected { .. } => self.policy.rejected_backoff,
                    _ => self.policy.jittered_failure_backoff(),
                };
                flight.failure = Some(Failure {
                    error: error.clone(),
                    until: Instant::now() + backoff,
                });
                Err(error)
            }
        }
    }

    /// Forgets `token` after the vendor refused it (a 401): the next call fetches a new one.
    /// A newer token already in the cache is kept. When the service refuses a second new
    /// token in a row (each younger than [`MIN_TOKEN_LIFETIME`]), the next fetch waits out
    /// the failure backoff: a service that refuses every token costs a fetch per backoff,
    /// not a fetch per call.
    pub fn invalidate(&self, token: &Arc<Token>) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cached) = current.as_mut()
            && Arc::ptr_eq(&cached.token, token)
        {
            let now = Instant::now();
            // Keep it as `previous` for the next fetch (a refresh token may still work).
            cached.refresh_at = now;
            cached.refused_young =
                now.saturating_duration_since(cached.fetched_at) < MIN_TOKEN_LIFETIME;
            if cached.refused_young && cached.replaced_a_young_refusal {
                cached.no_fetch_before = Some(now + self.policy.jittered_failure_backoff());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Counting {
        fetches: Arc<AtomicUsize>,
        lifetime: Duration,
        fail: bool,
    }

    impl TokenSource for Counting {
        async fn fetch(&self, previous: Option<&Token>) -> Result<Token, AuthError> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(30)).await;
            if self.fail {
                return Err(AuthError::Rejected {
                    status: Some(401),
                    detail: "invalid_client".into(),
                });
            }
            Ok(Token {
                value: format!("token-{n}").into(),
                expires_at: Instant::now() + self.lifetime,
                refresh: previous.map(|_| format!("refresh-{n}").into()),
            })
        }
    }

    /// Refresh 500..520 ms before expiry.
    fn cache(lifetime: Duration, fail: bool) -> (Arc<TokenCache<Counting>>, Arc<AtomicUsize>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let source = Counting {
            fetches: fetches.clone(),
            lifetime,
            fail,
        };
        let policy = RefreshPolicy {
            margin: Duration::from_millis(500),
            jitter: Duration::from_millis(20),
            rejected_backoff: Duration::from_secs(5),
            failure_backoff: Duration::from_secs(1),
        };
        (Arc::new(TokenCache::new(source, policy)), fetches)
    }

    #[tokio::test]
    async fn a_caller_dropped_during_its_fetch_leaves_the_next_waiter_to_fetch() {
        // The fetch runs in the first caller's future: its deadline dropping it must neither
        // strand the waiters nor hand them a failure that never happened.
        let (cache, fetches) = cache(Duration::from_secs(60), false);
        let first = tokio::time::timeout(Duration::from_millis(10), cache.token());
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.token().await })
        };
        assert!(
            first.await.is_err(),
            "the first caller was cut off mid-fetch"
        );
        let token = waiter
            .await
            .unwrap()
            .expect("the waiter fetched for itself");
        assert_eq!(token.value.expose_secret(), "token-2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_concurrent_callers_on_a_cold_cache_cause_one_fetch() {
        let (cache, fetches) = cache(Duration::from_secs(60), false);
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    cache
                        .token()
                        .await
                        .map(|t| t.value.expose_secret().to_string())
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), "token-1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_credentials_fail_once_for_everyone_waiting() {
        let (cache, fetches) = cache(Duration::from_secs(60), true);
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.token().await })
            })
            .collect();
        for task in tasks {
            let err = task.await.unwrap().unwrap_err();
            assert!(
                matches!(
                    err,
                    AuthError::Rejected {
                        status: Some(401),
                        ..
                    }
                ),
                "{err}"
            );
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "no login loop");
    }

    #[tokio::test]
    async fn tokens_are_refreshed_before_they_expire_and_after_invalidation() {
        // Lives 1 s: refresh is due 480..500 ms after it is stored; generous slack both ways
        // because CI runs on two busy cores.
        let (cache, fetches) = cache(Duration::from_millis(1000), false);
        let first = cache.token().await.unwrap();
        assert!(
            Arc::ptr_eq(&first, &cache.token().await.unwrap()),
            "fresh tokens are reused"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        let second = cache.token().await.unwrap();
        assert_eq!(second.value.expose_secret(), "token-2");
        assert!(
            second.refresh.is_some(),
            "the source saw the previous token"
        );
        assert!(
            Instant::now() < first.expires_at,
            "refreshed before the old one expired"
        );
        // A 401 invalidates; a stale invalidation does not evict a newer token.
        cache.invalidate(&first);
        assert_eq!(
            cache.token().await.unwrap().value.expose_secret(),
            "token-2"
        );
        cache.invalidate(&second);
        assert_eq!(
            cache.token().await.unwrap().value.expose_secret(),
            "token-3"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn lifetimes_are_clamped_between_the_floor_and_a_day() {
        assert_eq!(lifetime(Duration::ZERO), MIN_TOKEN_LIFETIME);
        assert_eq!(lifetime(Duration::from_secs(90)), Duration::from_secs(90));
        assert_eq!(lifetime(Duration::from_secs(u64::MAX)), MAX_TOKEN_LIFETIME);
        assert_eq!(lifetime(Duration::MAX), MAX_TOKEN_LIFETIME);
        let left = expiry(Duration::MAX).saturating_duration_since(Instant::now());
        assert!(
            left <= MAX_TOKEN_LIFETIME && left > MAX_TOKEN_LIFETIME / 2,
            "{left:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_shared_then_answered_for_the_backoff_then_fetched_again() {
        struct Down(Arc<AtomicUsize>);
        impl TokenSource for Down {
            async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, AuthError> {
                self.0.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                Err(AuthError::Transport("HTTP 503".into()))
            }
        }
        let fetches = Arc::new(AtomicUsize::new(0));
        let policy = RefreshPolicy {
            // No backoff at all: waiters must still share the fetch they waited for.
            failure_backoff: Duration::ZERO,
            ..RefreshPolicy::default()
        };
        let cache = Arc::new(TokenCache::new(Down(fetches.clone()), policy));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.token().await })
            })
            .collect();
        for task in tasks {
            let error = task.await.unwrap().unwrap_err();
            assert_eq!(error, AuthError::Transport("HTTP 503".into()));
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "one fetch for 50 waiters"
        );
        // Without a backoff, the next caller fetches again.
        cache.token().await.unwrap_err();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let token = Token {
            value: "super-secret-access".to_string().into(),
            expires_at: Instant::now() + Duration::from_secs(5),
            refresh: Some("super-secret-refresh".to_string().into()),
        };
        let debug = format!("{token:?}");
        assert!(!debug.contains("super-secret"), "{debug}");
        let err = AuthError::Rejected {
            status: Some(400),
            detail: "invalid_grant".into(),
        };
        assert_eq!(
            err.to_string(),
            "credentials rejected (HTTP 400): invalid_grant"
        );
    }
}
