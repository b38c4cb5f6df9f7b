//! When and how long to wait before a call is tried again: one policy for every service.
//!
//! [`Layer`](super::Layer) applies it to every attempt of every call (OpenAPI and SOAP):
//! - **What is retried:** no answer at all (connection refused or reset, timeout, a body cut
//!   short) and the answers 408, 429, 500, 502, 503 and 504.
//! - **Which requests:** a request whose method is idempotent (GET, HEAD, OPTIONS, PUT,
//!   DELETE), and an operation its service declares safe to repeat, with a reason (its
//!   generated [`ServiceRules`](super::ServiceRules), from the spec's
//!   `x-customer-data-retry-safe`, e.g. an upload that is idempotent by its key). Any
//!   request is retried after a 429 (the server refused it unprocessed) or a failed connect
//!   (nothing was sent).
//! - **How long to wait:** `Retry-After` when the answer has one (seconds or an HTTP date), up
//!   to [`RetryPolicy::max_retry_after`]: a server asking for longer gets its answer back
//!   instead of a client that blocks. Otherwise exponential backoff with full jitter: a
//!   uniform delay in `[0, min(max_backoff, initial_backoff * 2^(n-1))]` before retry `n`.
//! - **How often:** at most [`RetryPolicy::max_attempts`] attempts per call, and a
//!   [`RetryBudget`] per client: retries may add at most a share of the calls (plus a few per
//!   second), so a failing service is not hit with a multiple of its normal load. Waiting out
//!   a 429's `Retry-After` is not charged: the server chose the pace.
//!
//! ```
//! use std::time::Duration;
//! use customer_data::runtime::retry::{RetryBudget, RetryPolicy};
//! let policy = RetryPolicy::default()
//!     .with_max_attempts(6)
//!     .with_backoff(Duration::from_millis(50), Duration::from_secs(5))
//!     .with_budget(RetryBudget::new(0.5, 20));
//! assert_eq!(policy.max_attempts(), 6);
//! assert_eq!(RetryPolicy::none().max_attempts(), 1);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How a client retries (see the module docs). `Default` is what every client starts with.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    deadline: Option<Duration>,
    budget: RetryBudget,
}

impl Default for RetryPolicy {
    /// 4 attempts, backoff from 100 ms up to 10 s, `Retry-After` honoured up to 60 s, and the
    /// default [`RetryBudget`].
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            deadline: None,
            budget: RetryBudget::default(),
        }
    }
}

impl RetryPolicy {
    /// One attempt per call: nothing is retried.
    pub fn none() -> Self {
        Self::default().with_max_attempts(1)
    }

    /// At most `attempts` attempts per call (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The backoff before the first retry is at most `initial`, doubling per retry up to `max`.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The longest `Retry-After` waited for; a longer one ends the call with the answer.
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// No retry whose wait would end more than `deadline` after the call started: the caller
    /// gets the last answer (or failure) instead. Without it (the default) only
    /// [`Self::max_attempts`] and the budget bound a call.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The share of retries a client may add (see [`RetryBudget`]).
    pub fn with_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = budget;
        self
    }

    /// At most this many attempts per call.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The longest `Retry-After` waited for.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// How long after its start a call may still wait for another attempt, if bounded.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The budget's settings.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// The full-jitter backoff before retry number `retry` (1 for the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(30);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// Retries may add at most `ratio` of the calls a client makes (0.2: one retry per five
/// calls), plus `min_per_second` retries in any second (so a quiet client can still retry).
/// Spent per client and shared by its clones. The default is 0.2 and 10 per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudget {
    ratio: f64,
    min_per_second: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(0.2, 10)
    }
}

impl RetryBudget {
    /// A budget of `ratio` retries per call (clamped to 0..=1000) plus `min_per_second`.
    pub fn new(ratio: f64, min_per_second: u32) -> Self {
        let ratio = if ratio.is_finite() {
            ratio.clamp(0.0, 1000.0)
        } else {
            0.0
        };
        Self {
            ratio,
            min_per_second,
        }
    }

    /// No limit beyond [`RetryPolicy::max_attempts`].
    pub fn unlimited() -> Self {
        Self::new(1000.0, u32::MAX)
    }
}

/// The spending side of a [`RetryBudget`], shared by the clones of one client.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    settings: RetryBudget,
    /// Thousandths of retries earned by calls (integers: 10 × 0.1 is exactly one retry),
    /// capped so a long quiet spell does not bank a storm. An atomic: every call deposits.
    earned_milli: Arc<AtomicU64>,
    state: Arc<Mutex<BudgetState>>,
}

#[derive(Debug)]
struct BudgetState {
    /// What is left of this second's `min_per_second`.
    reserve: u32,
    /// When this second started, on tokio's clock (so tests can pause it).
    second_started: Instant,
}

impl Budget {
    pub(crate) fn new(settings: RetryBudget) -> Self {
        Self {
            settings,
            earned_milli: Arc::default(),
            state: Arc::new(Mutex::new(BudgetState {
                reserve: settings.min_per_second,
                second_started: Instant::now(),
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A call starts: it earns `ratio` retries.
    pub(crate) fn deposit(&self) {
        // `ratio` is clamped to 0..=1000, so these fit comfortably.
        let per_call = (self.settings.ratio * 1000.0).round() as u64;
        let cap = (per_call * 100).max(10_000);
        let _ = self
            .earned_milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |earned| {
                (earned < cap).then(|| (earned + per_call).min(cap))
            });
    }

    /// May one more retry go out?
    pub(crate) fn withdraw(&self) -> bool {
        let mut state = self.state();
        if state.second_started.elapsed() >= Duration::from_secs(1) {
            state.second_started = Instant::now();
            state.reserve = self.settings.min_per_second;
        }
        if state.reserve > 0 {
            state.reserve -= 1;
            return true;
        }
        drop(state);
        self.earned_milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |earned| {
                earned.checked_sub(1000)
            })
            .is_ok()
    }
}

/// Answers worth another attempt: 408, 429, 500, 502, 503, 504.
pub fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// Methods that may be repeated without changing the outcome (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &reqwest::Method) -> bool {
    use reqwest::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
        Method::TRACE,
    ]
    .contains(method)
}

/// The wait `Retry-After` asks for: delay-seconds or an HTTP date (relative to `now`; a date in
/// the past means no wait). `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) is RFC 2822-compatible.
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(date);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn with_retry_after(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 08:49:37 GMT
        assert_eq!(
            retry_after(&with_retry_after("7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&with_retry_after("Sun, 06 Nov 1994 08:49:47 GMT"), now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after(&with_retry_after("Sun, 06 Nov 1994 08:00:00 GMT"), now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(retry_after(&with_retry_after("soon"), now), None);
        assert_eq!(retry_after(&with_retry_after("-3"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_is_full_jitter_below_a_doubling_capped_ceiling() {
        let policy = RetryPolicy::default()
            .with_backoff(Duration::from_millis(100), Duration::from_millis(350));
        for _ in 0..200 {
            assert!(policy.backoff(1) <= Duration::from_millis(100));
            assert!(policy.backoff(2) <= Duration::from_millis(200));
            assert!(policy.backoff(3) <= Duration::from_millis(350));
            assert!(policy.backoff(40) <= Duration::from_millis(350));
        }
        // Full jitter spreads the waits over the whole range, not around the ceiling.
        let waits: Vec<_> = (0..200).map(|_| policy.backoff(3)).collect();
        assert!(waits.iter().any(|w| *w < Duration::from_millis(100)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(250)));
    }

    #[test]
    fn the_budget_allows_its_ratio_plus_the_per_second_reserve() {
        let budget = Budget::new(RetryBudget::new(0.1, 2));
        for _ in 0..100 {
            budget.deposit();
        }
        let allowed = (0..100).filter(|_| budget.withdraw()).count();
        // 2 from this second's reserve, 10 earned by 100 calls at 0.1.
        assert_eq!(allowed, 12);
        assert!(!Budget::new(RetryBudget::new(0.0, 0)).withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn the_per_second_reserve_comes_back_each_second() {
        let budget = Budget::new(RetryBudget::new(0.0, 2));
        assert!(budget.withdraw() && budget.withdraw());
        assert!(
            !budget.withdraw(),
            "this second's reserve is spent, nothing was earned"
        );
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(!budget.withdraw());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(budget.withdraw() && budget.withdraw());
        assert!(!budget.withdraw());
    }

    #[test]
    fn statuses_and_methods() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(StatusCode::from_u16(code).unwrap()));
        }
        for code in [200, 400, 401, 404, 409, 501] {
            assert!(!is_retryable_status(StatusCode::from_u16(code).unwrap()));
        }
        assert!(is_idempotent(&reqwest::Method::PUT));
        assert!(!is_idempotent(&reqwest::Method::POST));
        assert!(!is_idempotent(&reqwest::Method::PATCH));
    }

    #[test]
    fn policies_clamp_nonsense() {
        assert_eq!(
            RetryPolicy::default().with_max_attempts(0).max_attempts(),
            1
        );
        let budget = RetryBudget::new(f64::NAN, 0);
        assert_eq!(budget, RetryBudget::new(0.0, 0));
    }
}
