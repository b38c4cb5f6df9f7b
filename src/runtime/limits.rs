//! The bounds of a call, so a hostile or broken server cannot hold a caller or its memory:
//! an operation deadline over the whole call (all attempts, waits and the token), a maximum
//! answer size, and a minimum throughput for the body (a stalled or trickling body ends).
//!
//! A client's [`Limits`] come from `ConnectOptions`; [`within`] tightens them for the calls
//! made inside one future (one call, or one page of a stream).
//!
//! ```
//! use std::time::Duration;
//! use customer_data::runtime::limits::{self, CallLimits};
//! # async fn demo<T>(call: impl std::future::Future<Output = T>) {
//! // `call` is any client call, e.g. `client.list_webhooks().send()`: it gets at most 5
//! // seconds, whatever the client's deadline.
//! let answer = limits::within(CallLimits::deadline(Duration::from_secs(5)), call).await;
//! # let _ = answer;
//! # }
//! ```

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::transport::DeadlineSource;

/// Default operation deadline: the whole call, all attempts and waits included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// Default maximum answer size (64 MiB): generous for any page of any of our services.
pub const DEFAULT_MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// The slowest a body may arrive: fewer than `bytes_per_second` × `window` bytes in any
/// `window` ends the attempt as stalled (and it is retried like a body cut short). The
/// default, 1 byte/s over 5 s, only ends bodies that make (almost) no progress, as AWS's
/// SDKs' stalled-stream protection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinThroughput {
    pub bytes_per_second: u64,
    pub window: Duration,
}

impl Default for MinThroughput {
    fn default() -> Self {
        Self {
            bytes_per_second: 1,
            window: Duration::from_secs(5),
        }
    }
}

impl MinThroughput {
    /// The bytes a window must bring.
    pub(crate) fn bytes_per_window(&self) -> u64 {
        let millis = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        self.bytes_per_second.saturating_mul(millis) / 1000
    }
}

/// A client's bounds for each call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole call (all attempts, retry waits, rate-limit holds and the token); `None`:
    /// unbounded (each attempt is still bounded by its timeout).
    pub deadline: Option<Duration>,
    /// The largest answer body read; a larger one is refused with
    /// [`TransportError::TooLarge`](super::transport::TransportError::TooLarge).
    pub max_answer_bytes: u64,
    /// The slowest a body may arrive; `None`: no throughput guard.
    pub min_throughput: Option<MinThroughput>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Some(DEFAULT_DEADLINE),
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            min_throughput: Some(MinThroughput::default()),
        }
    }
}

/// Bounds for the calls made inside one future ([`within`]); each tightens the client's,
/// never loosens it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallLimits {
    pub deadline: Option<Duration>,
    pub max_answer_bytes: Option<u64>,
}

impl CallLimits {
    /// A deadline for the calls inside.
    pub fn deadline(deadline: Duration) -> Self {
        Self {
            deadline: Some(deadline),
            ..Self::default()
        }
    }

    /// A maximum answer size for the calls inside (e.g. one page of a stream).
    pub fn max_answer_bytes(bytes: u64) -> Self {
        Self {
            max_answer_bytes: Some(bytes),
            ..Self::default()
        }
    }
}

/// The bounds in force inside a [`within`] scope (the deadline as an instant, so nested
/// scopes and every call inside share one).
#[derive(Debug, Clone, Copy)]
struct Scope {
    deadline: Option<(Instant, Duration)>,
    max_answer_bytes: Option<u64>,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `future` with `limits` on every call made inside it (by any client). Nested scopes
/// keep the tighter bound.
pub async fn within<F: Future>(limits: CallLimits, future: F) -> F::Output {
    let outer = SCOPE.try_with(|scope| *scope).ok();
    let now = Instant::now();
    let deadline = limits.deadline.map(|d| (now + d, d));
    let scope = Scope {
        deadline: tighter(outer.and_then(|o| o.deadline), deadline, |(at, _)| *at),
        max_answer_bytes: tighter(
            outer.and_then(|o| o.max_answer_bytes),
            limits.max_answer_bytes,
            |b| *b,
        ),
    };
    SCOPE.scope(scope, future).await
}

fn tighter<T, K: Ord>(a: Option<T>, b: Option<T>, key: impl Fn(&T) -> K) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if key(&b) < key(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The bounds of one call that starts at `started` on a client with `limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Effective {
    /// When the call must have ended, the deadline's length and who set it.
    pub deadline: Option<(Instant, Duration, DeadlineSource)>,
    pub max_answer_bytes: u64,
    pub min_throughput: Option<MinThroughput>,
}

/// The client's limits tightened by the scope the call runs in, if any.
pub(crate) fn effective(limits: &Limits, started: Instant) -> Effective {
    let scope = SCOPE.try_with(|scope| *scope).ok();
    combine(
        limits,
        started,
        scope.and_then(|s| s.deadline),
        scope.and_then(|s| s.max_answer_bytes),
    )
}

/// [`effective`]'s decision, without the task-local (unit-tested).
fn combine(
    limits: &Limits,
    started: Instant,
    call_deadline: Option<(Instant, Duration)>,
    call_max_answer_bytes: Option<u64>,
) -> Effective {
    let client = limits
        .deadline
        .map(|d| (started + d, d, DeadlineSource::Client));
    let call = call_deadline.map(|(at, d)| (at, d, DeadlineSource::Call));
    Effective {
        deadline: tighter(client, call, |(at, _, _)| *at),
        max_answer_bytes: call_max_answer_bytes
            .map_or(limits.max_answer_bytes, |b| b.min(limits.max_answer_bytes)),
        min_throughput: limits.min_throughput,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tighter_deadline_and_size_win() {
        let started = Instant::now();
        let limits = Limits::default();
        let call = Some((started + Duration::from_secs(5), Duration::from_secs(5)));
        let effective = combine(&limits, started, call, Some(1024));
        assert_eq!(
            effective.deadline,
            Some((
                started + Duration::from_secs(5),
                Duration::from_secs(5),
                DeadlineSource::Call
            ))
        );
        assert_eq!(effective.max_answer_bytes, 1024);
        // A call scope never loosens the client's bounds.
        let loose = Some((started + Duration::from_secs(600), Duration::from_secs(600)));
        let effective = combine(&limits, started, loose, Some(u64::MAX));
        assert_eq!(
            effective.deadline.map(|(_, d, s)| (d, s)),
            Some((DEFAULT_DEADLINE, DeadlineSource::Client))
        );
        assert_eq!(effective.max_answer_bytes, DEFAULT_MAX_ANSWER_BYTES);
    }

    #[test]
    fn without_a_client_deadline_the_calls_counts() {
        let started = Instant::now();
        let limits = Limits {
            deadline: None,
            ..Limits::default()
        };
        assert_eq!(combine(&limits, started, None, None).deadline, None);
        let call = Some((started + Duration::from_secs(1), Duration::from_secs(1)));
        assert_eq!(
            combine(&limits, started, call, None)
                .deadline
                .map(|(_, _, s)| s),
            Some(DeadlineSource::Call)
        );
    }

    #[tokio::test]
    async fn nested_scopes_keep_the_tighter_bound() {
        let inner = within(
            CallLimits::deadline(Duration::from_secs(10)),
            within(CallLimits::deadline(Duration::from_secs(60)), async {
                effective(&Limits::default(), Instant::now())
            }),
        )
        .await;
        assert_eq!(
            inner.deadline.map(|(_, d, s)| (d, s)),
            Some((Duration::from_secs(10), DeadlineSource::Call))
        );
    }

    #[test]
    fn a_window_asks_for_its_share_of_bytes() {
        let guard = MinThroughput {
            bytes_per_second: 1000,
            window: Duration::from_millis(300),
        };
        assert_eq!(guard.bytes_per_window(), 300);
        assert_eq!(MinThroughput::default().bytes_per_window(), 5);
    }
}
