//! The one token cache every service's auth flow plugs into: a cache per credential, proactive
//! refresh before expiry (with jitter, so many clients do not refresh in the same second),
//! single flight (N concurrent callers on a cold or expired cache cause exactly one token
//! request, and share its failure too, so bad credentials never become a login loop), and
//! invalidation after a 401 so the next call fetches a fresh token.
//!
//! Each vendor flow is a [`TokenSource`]; secrets are [`SecretString`]s, redacted in `Debug`.

use std::future::Future;
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

/// When to refresh ahead of expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Refresh this long before the token expires ...
    pub margin: Duration,
    /// ... minus a random extra of up to this much.
    pub jitter: Duration,
    /// After the vendor rejected the credentials, answer that rejection for this long
    /// without asking again (bad credentials must not hammer the token endpoint).
    pub rejected_backoff: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(60),
            jitter: Duration::from_secs(30),
            rejected_backoff: Duration::from_secs(5),
        }
    }
}

struct Cached {
    token: Arc<Token>,
    refresh_at: Instant,
}

#[derive(Default)]
struct Flight {
    /// The last rejection and when it happened.
    rejected: Option<(AuthError, Instant)>,
}

/// A token cache for one credential.
pub struct TokenCache<S> {
    source: S,
    policy: RefreshPolicy,
    current: RwLock<Option<Cached>>,
    flight: tokio::sync::Mutex<Flight>,
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
    /// concurrent caller.
    pub async fn token(&self) -> Result<Arc<Token>, AuthError> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let mut flight = self.flight.lock().await;
        if let Some(token) = self.fresh() {
            // Someone else fetched while we waited for the flight.
            return Ok(token);
        }
        if let Some((error, at)) = &flight.rejected
            && at.elapsed() < self.policy.rejected_backoff
        {
            return Err(error.clone());
        }
        let previous = {
            let current = self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            current.as_ref().map(|c| c.token.clone())
        };
        let outcome = self.source.fetch(previous.as_deref()).await;
        match outcome {
            Ok(token) => {
                flight.rejected = None;
                let token = Arc::new(token);
                let jitter = if self.policy.jitter.is_zero() {
                    Duration::ZERO
                } else {
                    rand::rng().random_range(Duration::ZERO..self.policy.jitter)
                };
                let lead = self.policy.margin + jitter;
                // A token shorter-lived than the lead is used for half its life.
                let life = token.expires_at.saturating_duration_since(Instant::now());
                let refresh_at = Instant::now() + if life > lead { life - lead } else { life / 2 };
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Cached {
                    token: token.clone(),
                    refresh_at,
                });
                Ok(token)
            }
            Err(error) => {
                if matches!(error, AuthError::Rejected { .. }) {
                    flight.rejected = Some((error.clone(), Instant::now()));
                }
                Err(error)
            }
        }
    }

    /// Forgets `token` after the vendor refused it (a 401): the next call fetches a new one.
    /// A newer token already in the cache is kept.
    pub fn invalidate(&self, token: &Arc<Token>) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cached) = current.as_mut()
            && Arc::ptr_eq(&cached.token, token)
        {
            // Keep it as `previous` for the next fetch (a refresh token may still work).
            cached.refresh_at = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

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
        };
        (Arc::new(TokenCache::new(source, policy)), fetches)
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
