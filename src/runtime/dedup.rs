//! Doing work at most once per key, across resends: the de-duplication behind the webhook and
//! callback receivers (keyed by event id or change id).
//!
//! A [`SeenStore`] remembers which keys are being handled and which are done. [`Dedup::once`]
//! claims a key, runs the work, and marks the key done only if the work succeeded; a failed
//! (or panicking, see the receivers) work releases the key, so the next resend runs it again.
//! [`InMemorySeen`] is the default store; implement [`SeenStore`] over your database to keep
//! the guarantee across restarts.
//!
//! ```
//! # async fn demo() {
//! use customer_data::runtime::dedup::{Dedup, Once};
//! let dedup = Dedup::in_memory();
//! let first = dedup.once("event-1", || async { Ok::<_, std::io::Error>(1) }).await;
//! let again = dedup.once("event-1", || async { Ok::<_, std::io::Error>(2) }).await;
//! assert!(matches!(first, Ok(Once::Ran(1))));
//! assert!(matches!(again, Ok(Once::AlreadyDone)));
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

/// What a store says when a key is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Not seen (or released, or its claim expired): the caller now holds it.
    New,
    /// Handled already.
    Done,
    /// Someone else holds it right now (a resend racing the first delivery).
    InProgress,
}

/// A store's own failure (a database error, say). Never contains the key's payload.
#[derive(Debug)]
pub struct StoreError(pub Box<dyn std::error::Error + Send + Sync>);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "de-duplication store failed: {}", self.0)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Where handled keys are remembered. Implementations must make `claim` atomic: of two
/// concurrent claims of one key, at most one gets [`Claim::New`].
pub trait SeenStore: Send + Sync + 'static {
    /// Claims `key` for handling.
    fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Claim, StoreError>>;
    /// Marks a claimed `key` as handled for good.
    fn complete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Gives a claimed `key` up (its work failed), so it can be claimed again.
    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

enum Entry {
    InProgress(Instant),
    Done,
}

struct Seen {
    entries: HashMap<String, Entry>,
    /// Done keys, oldest first, for eviction beyond the capacity.
    done: VecDeque<String>,
}

/// A [`SeenStore`] in this process's memory.
///
/// * It forgets on restart: a delivery resent after a restart is handled again. Use a
///   persistent store where that matters.
/// * It keeps the last `capacity` done keys (default [`InMemorySeen::DEFAULT_CAPACITY`]); an
///   older key resent after being evicted is handled again. Size it above the number of events
///   you receive within the vendor's resend horizon (not documented by the vendor).
/// * A claim not completed or released within `lease` (default 5 minutes) is considered
///   abandoned and can be claimed again.
pub struct InMemorySeen {
    seen: Mutex<Seen>,
    capacity: usize,
    lease: Duration,
}

impl InMemorySeen {
    pub const DEFAULT_CAPACITY: usize = 1_000_000;
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(5 * 60);

    pub fn new() -> Self {
        Self::with_limits(Self::DEFAULT_CAPACITY, Self::DEFAULT_LEASE)
    }

    pub fn with_limits(capacity: usize, lease: Duration) -> Self {
        Self {
            seen: Mutex::new(Seen {
                entries: HashMap::new(),
                done: VecDeque::new(),
            }),
            capacity: capacity.max(1),
            lease,
        }
    }

    /// How many keys are remembered as done.
    pub fn done_count(&self) -> usize {
        self.lock().done.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // A poisoned lock still holds consistent entries (every change is one map operation).
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn claim_now(&self, key: &str) -> Claim {
        let mut seen = self.lock();
        match seen.entries.get(key) {
            Some(Entry::Done) => Claim::Done,
            Some(Entry::InProgress(since)) if since.elapsed() < self.lease => Claim::InProgress,
            _ => {
                seen.entries
                    .insert(key.to_string(), Entry::InProgress(Instant::now()));
                Claim::New
            }
        }
    }

    fn complete_now(&self, key: &str) {
        let mut seen = self.lock();
        if matches!(
            seen.entries.insert(key.to_string(), Entry::Done),
            Some(Entry::Done)
        ) {
            return;
        }
        seen.done.push_back(key.to_string());
        while seen.done.len() > self.capacity {
            if let Some(oldest) = seen.done.pop_front() {
                seen.entries.remove(&oldest);
            }
        }
    }

    fn release_now(&self, key: &str) {
        let mut seen = self.lock();
        if matches!(seen.entries.get(key), Some(Entry::InProgress(_))) {
            seen.entries.remove(key);
        }
    }
}

impl Default for InMemorySeen {
    fn default() -> Self {
        Self::new()
    }
}

impl SeenStore for InMemorySeen {
    fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Claim, StoreError>> {
        let claim = self.claim_now(key);
        Box::pin(async move { Ok(claim) })
    }

    fn complete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.complete_now(key);
        Box::pin(async { Ok(()) })
    }

    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.release_now(key);
        Box::pin(async { Ok(()) })
    }
}

/// What [`Dedup::once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once<T> {
    /// The work ran and succeeded; the key is now done.
    Ran(T),
    /// The key was handled before; the work did not run.
    AlreadyDone,
    /// The key is being handled elsewhere right now; the work did not run. Answer so that the
    /// sender tries again later.
    InProgress,
}

/// Why [`Dedup::once`] failed.
#[derive(Debug)]
pub enum OnceError<E> {
    /// The work failed; the key was released (the next resend runs it again).
    Work(E),
    /// The store failed; the work may or may not have run (see the receivers: they answer so
    /// that the sender resends).
    Store(StoreError),
}

impl<E: fmt::Display> fmt::Display for OnceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnceError::Work(e) => write!(f, "{e}"),
            OnceError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for OnceError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OnceError::Work(e) => Some(e),
            OnceError::Store(e) => Some(e),
        }
    }
}

/// Runs work at most once per key (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Dedup {
    store: Arc<dyn SeenStore>,
}

impl fmt::Debug for Dedup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dedup")
    }
}

impl Default for Dedup {
    fn default() -> Self {
        Self::in_memory()
    }
}

impl Dedup {
    /// Over an [`InMemorySeen`] with its defaults.
    pub fn in_memory() -> Self {
        Self::new(InMemorySeen::new())
    }

    /// Over your own store.
    pub fn new(store: impl SeenStore) -> Self {
        Self {
            store: Arc::new(store),
        }
    }

    /// Over a shared store (e.g. one store for several receivers).
    pub fn shared(store: Arc<dyn SeenStore>) -> Self {
        Self { store }
    }

    /// Runs `work` unless `key` was handled or is being handled; marks `key` done when `work`
    /// succeeds and releases it when `work` fails.
    pub async fn once<T, E, F, Fut>(&self, key: &str, work: F) -> Result<Once<T>, OnceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.store.claim(key).await.map_err(OnceError::Store)? {
            Claim::Done => return Ok(Once::AlreadyDone),
            Claim::InProgress => return Ok(Once::InProgress),
            Claim::New => {}
        }
        match work().await {
            Ok(value) => {
                self.store.complete(key).await.map_err(OnceError::Store)?;
                Ok(Once::Ran(value))
            }
            Err(e) => {
                // If the release fails too, the claim's lease (or the store's own expiry)
                // frees the key later; the work's error is the one that matters here.
                let _ = self.store.release(key).await;
                Err(OnceError::Work(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal executor: the in-memory store never pends, so one poll loop suffices.
    fn block_on<F: Future>(future: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    #[test]
    fn work_runs_once_and_failures_release_the_key() {
        let dedup = Dedup::in_memory();
        let failed = block_on(dedup.once("k", || async { Err::<(), _>("boom") }));
        assert!(matches!(failed, Err(OnceError::Work("boom"))));
        let ran = block_on(dedup.once("k", || async { Ok::<_, &str>(7) }));
        assert!(matches!(ran, Ok(Once::Ran(7))));
        let again = block_on(dedup.once("k", || async { Ok::<_, &str>(8) }));
        assert!(matches!(again, Ok(Once::AlreadyDone)));
    }

    #[test]
    fn a_held_claim_is_in_progress_until_its_lease_runs_out() {
        let store = InMemorySeen::with_limits(10, Duration::from_millis(30));
        assert_eq!(store.claim_now("k"), Claim::New);
        assert_eq!(store.claim_now("k"), Claim::InProgress);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            store.claim_now("k"),
            Claim::New,
            "an abandoned claim is reclaimed"
        );
        store.complete_now("k");
        assert_eq!(store.claim_now("k"), Claim::Done);
    }

    #[test]
    fn done_keys_beyond_the_capacity_are_forgotten_oldest_first() {
        let store = InMemorySeen::with_limits(2, InMemorySeen::DEFAULT_LEASE);
        for key in ["a", "b", "c"] {
            assert_eq!(store.claim_now(key), Claim::New);
            store.complete_now(key);
        }
        assert_eq!(store.done_count(), 2);
        assert_eq!(store.claim_now("a"), Claim::New);
        assert_eq!(store.claim_now("c"), Claim::Done);
    }
}
