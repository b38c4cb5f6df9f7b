//! Running a flow: passes in a loop, under a lease in the store, backing off on errors with
//! the runtime's retry rules ([`RetryPolicy::backoff`]), never a fixed sleep.
//!
//! A [`Flow`] knows one feed: a *pass* reads everything new (following `more` / empty-page
//! semantics to the end of the feed), applies each item through [`Store::apply`] (one
//! transaction per item: the item, its log entry and the cursor) and returns how many it
//! handled. [`run`] repeats passes:
//! - only while it holds the flow's lease ([`Store::try_lease`]), renewed at a third of its
//!   lifetime during a pass; a second instance stands by and takes over once the lease expires
//!   (its holder died) or is released (its holder stopped);
//! - after a failed pass it waits `backoff(n)` of the n-th failure in a row, then tries again;
//!   a pass that fails with [`FlowError::Fatal`] (credentials refused, a setting missing) stops;
//! - every pass is recorded ([`Store::record_pass`]) for `sync status`.
//!
//! A lost lease (an instance paused past its lease while another took over) cannot apply a
//! change twice: exactly-once rests on the change log's key inside each transaction, not on the
//! lease. The lease only keeps the other instances from doing the same work at once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use customer_data::runtime::retry::RetryPolicy;

use crate::{PassOutcome, Store, StoreError};

/// A boxed future, as [`Flow::pass`] returns it (flows are kept as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a pass stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum FlowError {
    /// A vendor call failed after the client's own retries; the next pass goes on from the
    /// cursor. The text names the operation and the cause, never a secret or row data.
    Call(String),
    /// The store failed; nothing of the item in hand was written.
    Store(StoreError),
    /// Nothing a retry can fix (credentials refused, a setting missing): [`run`] stops.
    Fatal(String),
    /// Another instance took the lease over during the pass (this one was paused past it).
    LeaseLost,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::Call(e) => write!(f, "vendor call failed: {e}"),
            FlowError::Store(e) => write!(f, "{e}"),
            FlowError::Fatal(e) => write!(f, "cannot run: {e}"),
            FlowError::LeaseLost => write!(f, "lease lost to another instance"),
        }
    }
}

impl std::error::Error for FlowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FlowError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for FlowError {
    fn from(error: StoreError) -> Self {
        FlowError::Store(error)
    }
}

/// Told of a flow's progress (the CLI draws a progress bar from it).
pub trait Progress: Send + Sync {
    /// `items` more items of `flow` were handled.
    fn advanced(&self, flow: &str, items: u64);
}

/// No progress shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn advanced(&self, _flow: &str, _items: u64) {}
}

/// One flow over a store of type `S`.
pub trait Flow<S: Store>: Send + Sync {
    /// The flow's name: its cursor, lease and status key (e.g. `biq-change-reader`).
    fn name(&self) -> &str;

    /// One pass: everything new in the feed, each item applied exactly once; returns how many
    /// items it handled.
    fn pass<'a>(
        &'a self,
        store: &'a S,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<u64, FlowError>>;
}

/// The time, injected so tests can move it.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// How [`run`] runs a flow.
pub struct RunOptions {
    /// This instance's name in the lease (unique per running process).
    pub holder: String,
    /// How long a lease lasts unless renewed: how long the others wait after this instance
    /// died before one takes over.
    pub lease_ttl: Duration,
    /// After a pass that succeeded: wait this long before the next (polling an idle feed).
    pub idle_wait: Duration,
    /// Backoff after failed passes (`backoff(n)` after the n-th failure in a row).
    pub retry: RetryPolicy,
    /// Stop after one pass that succeeds (or after `max_failures` failures in a row).
    pub once: bool,
    /// With `once`: failed passes in a row before giving up.
    pub max_failures: u32,
    /// Where [`run`] reads the time.
    pub clock: Box<dyn Clock>,
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("holder", &self.holder)
            .field("lease_ttl", &self.lease_ttl)
            .field("idle_wait", &self.idle_wait)
            .field("once", &self.once)
            .field("max_failures", &self.max_failures)
            .finish_non_exhaustive()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            holder: default_holder(),
            lease_ttl: Duration::from_secs(30),
            idle_wait: Duration::from_secs(10),
            retry: RetryPolicy::default()
                .with_backoff(Duration::from_millis(200), Duration::from_secs(60)),
            once: false,
            max_failures: 10,
            clock: Box::new(SystemClock),
        }
    }
}

/// `pid-<process id>-<random>`: unique per process, and says which process it is.
pub fn default_holder() -> String {
    format!("pid-{}-{:08x}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    // The clock's sub-second part and the address of a local: enough to tell two processes
    // with a recycled pid apart; no extra crate.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let local = 0u8;
    nanos ^ ((&local as *const u8 as usize) as u32)
}

/// How [`run`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// `once`: one pass succeeded, handling this many items.
    Done {
        /// Items handled by the pass.
        items: u64,
    },
    /// `once`: another instance holds the lease; nothing ran.
    Standby,
    /// The shutdown future completed; the lease was released.
    Stopped,
}

fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339()
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// What to do after a pass: the pure decision, unit-tested below.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    /// Return this.
    Return(Result<RunEnd, String>),
    /// Wait this long, then run the next pass.
    Wait(Duration),
}

fn after_pass(
    result: &Result<u64, FlowError>,
    failures_in_a_row: u32,
    options: &RunOptions,
) -> Next {
    match result {
        Ok(items) if options.once => Next::Return(Ok(RunEnd::Done { items: *items })),
        Ok(_) => Next::Wait(options.idle_wait),
        Err(FlowError::Fatal(e)) => Next::Return(Err(e.clone())),
        Err(e) if options.once && failures_in_a_row >= options.max_failures.max(1) => {
            Next::Return(Err(e.to_string()))
        }
        // A lost lease: stand by at once (the next try_lease decides).
        Err(FlowError::LeaseLost) => Next::Wait(Duration::ZERO),
        Err(_) => Next::Wait(options.retry.backoff(failures_in_a_row)),
    }
}

/// Runs `flow` over `store` until `shutdown` completes (or, with `once`, until one pass
/// succeeded). Returns `Err` with the last error's text for a fatal error or, with `once`, too
/// many failures in a row; store failures outside a pass (taking the lease) are returned as they
/// happen.
pub async fn run<S: Store>(
    store: &S,
    flow: &dyn Flow<S>,
    options: &RunOptions,
    progress: &dyn Progress,
    shutdown: impl Future<Output = ()>,
) -> Result<RunEnd, FlowError> {
    let name = flow.name();
    let ttl = ttl_ms(options.lease_ttl);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut failures_in_a_row = 0u32;
    loop {
        let now = millis(options.clock.now());
        if !store.try_lease(name, &options.holder, now, ttl).await? {
            if options.once {
                return Ok(RunEnd::Standby);
            }
            tracing::debug!(flow = name, "standing by: another instance holds the lease");
            tokio::select! {
                _ = tokio::time::sleep(options.lease_ttl / 3) => continue,
                _ = &mut shutdown => return Ok(RunEnd::Stopped),
            }
        }
        let result = tokio::select! {
            result = flow.pass(store, progress) => result,
            lost = keep_lease(store, name, options) => Err(lost),
            _ = &mut shutdown => {
                store.release_lease(name, &options.holder).await?;
                return Ok(RunEnd::Stopped);
            }
        };
        let at = rfc3339(options.clock.now());
        match &result {
            Ok(items) => {
                failures_in_a_row = 0;
                tracing::info!(flow = name, items, "pass done");
                store
                    .record_pass(name, &at, PassOutcome::Succeeded { items: *items })
                    .await?;
            }
            Err(error) => {
                failures_in_a_row = failures_in_a_row.saturating_add(1);
                tracing::warn!(flow = name, failures_in_a_row, %error, "pass failed");
                store
                    .record_pass(
                        name,
                        &at,
                        PassOutcome::Failed {
                            error: error.to_string(),
                        },
                    )
                    .await?;
            }
        }
        match after_pass(&result, failures_in_a_row, options) {
            Next::Return(end) => {
                store.release_lease(name, &options.holder).await?;
                return match (end, result) {
                    (Ok(end), _) => Ok(end),
                    (Err(_), Err(error)) => Err(error),
                    (Err(text), Ok(_)) => Err(FlowError::Fatal(text)),
                };
            }
            Next::Wait(wait) => {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = &mut shutdown => {
                        store.release_lease(name, &options.holder).await?;
                        return Ok(RunEnd::Stopped);
                    }
                }
            }
        }
    }
}

/// Renews the lease every third of its lifetime; returns when it cannot (lost to another
/// instance, or the store failed until the lease ran out).
async fn keep_lease<S: Store>(store: &S, name: &str, options: &RunOptions) -> FlowError {
    let ttl = ttl_ms(options.lease_ttl);
    let mut held_until = millis(options.clock.now()).saturating_add(ttl);
    loop {
        tokio::time::sleep(options.lease_ttl / 3).await;
        let now = millis(options.clock.now());
        match store.try_lease(name, &options.holder, now, ttl).await {
            Ok(true) => held_until = now.saturating_add(ttl),
            Ok(false) => return FlowError::LeaseLost,
            Err(e) if now >= held_until => return FlowError::Store(e),
            Err(e) => tracing::warn!(flow = name, error = %e, "lease renewal failed; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(once: bool) -> RunOptions {
        RunOptions {
            once,
            max_failures: 3,
            idle_wait: Duration::from_secs(7),
            ..RunOptions::default()
        }
    }

    #[test]
    fn a_pass_that_succeeds_ends_a_once_run_and_waits_idle_otherwise() {
        assert_eq!(
            after_pass(&Ok(5), 0, &options(true)),
            Next::Return(Ok(RunEnd::Done { items: 5 }))
        );
        assert_eq!(
            after_pass(&Ok(5), 0, &options(false)),
            Next::Wait(Duration::from_secs(7))
        );
    }

    #[test]
    fn failures_back_off_growing_and_a_once_run_gives_up_after_max_failures() {
        let run = options(false);
        let call = || Err(FlowError::Call("boom".into()));
        let waits = |failures| -> Vec<Duration> {
            (0..64)
                .map(|_| match after_pass(&call(), failures, &run) {
                    Next::Wait(wait) => wait,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        // Full jitter under a ceiling that doubles per failure from 200 ms.
        let first = waits(1);
        let third = waits(3);
        assert!(
            first.iter().all(|w| *w <= Duration::from_millis(200)),
            "{first:?}"
        );
        assert!(
            third.iter().all(|w| *w <= Duration::from_millis(800)),
            "{third:?}"
        );
        assert!(
            third.iter().any(|w| *w > Duration::from_millis(200)),
            "{third:?}"
        );
        assert!(matches!(
            after_pass(&call(), 2, &options(true)),
            Next::Wait(_)
        ));
        assert_eq!(
            after_pass(&call(), 3, &options(true)),
            Next::Return(Err("vendor call failed: boom".into()))
        );
    }

    #[test]
    fn a_fatal_error_stops_at_once_even_when_looping() {
        assert_eq!(
            after_pass(&Err(FlowError::Fatal("refused".into())), 1, &options(false)),
            Next::Return(Err("refused".into()))
        );
    }
}
