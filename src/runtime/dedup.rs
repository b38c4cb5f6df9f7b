//! Doing work at most once per key, across resends: the de-duplication behind the webhook and
//! callback receivers (keyed by event id or change id).
//!
//! A [`SeenStore`] remembers which keys are being handled and which are done. [`Dedup::once`]
//! claims a key, runs the work, and marks the key done only if the work succeeded; a failed
//! (or panicking, see the receivers) work releases the key, so the next resend runs it again.
//!
//! A claim is a lease held by one owner ([`ClaimOwner`]). While the work runs, [`Dedup::once`]
//! renews it every third of the store's lease ([`SeenStore::lease`]), so a handler slower than
//! the lease is never overtaken by a resend; a claim is taken over only when its holder stopped
//! renewing (a crashed process). Completing or releasing a claim names its owner and does
//! nothing once another owner holds the key, so a run whose claim was taken over cannot undo
//! the new owner's.
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
use std::time::Duration;

use futures_util::future::BoxFuture;
// Tokio's clock (not std's): leases follow a paused test clock like every other timer here.
use tokio::time::Instant;

/// Who holds a claim: a random token the store hands out with [`Claim::New`] and the holder
/// passes back to [`SeenStore::renew`], [`SeenStore::complete`] and [`SeenStore::release`].
/// Not a secret (it only tells concurrent runs apart); store it as its `u128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimOwner(u128);

impl ClaimOwner {
    /// A fresh random owner (128 random bits: two runs never share one).
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// The owner a store kept as a number.
    pub fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// The owner as a number, for a store to keep.
    pub fn as_u128(self) -> u128 {
        self.0
    }
}

/// What a store says when a key is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Not seen (or released, or its lease ran out unrenewed): the caller now holds it, as
    /// this owner.
    New(ClaimOwner),
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

/// Where handled keys are remembered.
///
/// Implementations must keep these rules (each is one atomic step, e.g. one conditional
/// `UPDATE` in a database):
/// * `claim`: of two concurrent claims of one key, at most one gets [`Claim::New`], with a
///   fresh [`ClaimOwner`] (e.g. [`ClaimOwner::random`]) stored beside the key and a lease
///   ending [`SeenStore::lease`] from now. A key whose lease ran out may be claimed again,
///   by a new owner.
/// * `renew`, `complete`, `release` name the owner: each acts only while that owner still
///   holds the key, and otherwise does nothing (`renew` then answers `false`; `complete` and
///   `release` answer `Ok`). Without this check, a run whose lease was taken over would,
///   failing, release the claim of the run that took it over (which a resend would then run a
///   third time), or, succeeding, mark it done under it.
/// * `renew` extends the owner's lease to [`SeenStore::lease`] from now.
pub trait SeenStore: Send + Sync + 'static {
    /// Claims `key` for handling.
    fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Claim, StoreError>>;
    /// Extends `owner`'s lease on `key`; `false` when `owner` no longer holds it.
    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: ClaimOwner,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Marks `key` as handled for good, if `owner` still holds it.
    fn complete<'a>(
        &'a self,
        key: &'a str,
        owner: ClaimOwner,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Gives `key` up (its work failed), so it can be claimed again, if `owner` still holds it.
    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: ClaimOwner,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// How long a claim lasts unrenewed; [`Dedup::once`] renews every third of it while the
    /// work runs. Default [`InMemorySeen::DEFAULT_LEASE`].
    fn lease(&self) -> Duration {
        InMemorySeen::DEFAULT_LEASE
    }
}

enum Entry {
    /// Held by `owner` until `until` (unless renewed).
    InProgress {
        owner: ClaimOwner,
        until: Instant,
    },
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
/// * A claim not renewed, completed or released within `lease` (default 5 minutes) is
///   considered abandoned and can be claimed again ([`Dedup::once`] renews it while its work
///   runs).
pub struct InMemorySeen {
    seen: Mutex<Seen>,
    capacity: usize,
    lease: Duration,
}

impl InMemorySeen {
    /// Done keys remembered by default.
    pub const DEFAULT_CAPACITY: usize = 1_000_000;
    /// How long a claim lasts unrenewed by default.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(5 * 60);

    /// With [`Self::DEFAULT_CAPACITY`] and [`Self::DEFAULT_LEASE`].
    pub fn new() -> Self {
        Self::with_limits(Self::DEFAULT_CAPACITY, Self::DEFAULT_LEASE)
    }

    /// Keeping the last `capacity` done keys (at least 1), with claims lasting `lease`
    /// unrenewed (at least 3 ms, so that renewing every third of it still waits).
    pub fn with_limits(capacity: usize, lease: Duration) -> Self {
        Self {
            seen: Mutex::new(Seen {
                entries: HashMap::new(),
                done: VecDeque::new(),
            }),
            capacity: capacity.max(1),
            lease: lease.max(Duration::from_millis(3)),
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
        let now = Instant::now();
        match seen.entries.get(key) {
            Some(Entry::Done) => Claim::Done,
            Some(Entry::InProgress { until, .. }) if now < *until => Claim::InProgress,
            _ => {
                let owner = ClaimOwner::random();
                seen.entries.insert(
                    key.to_string(),
                    Entry::InProgress {
                        owner,
                        until: now + self.lease,
                    },
                );
                Claim::New(owner)
            }
        }
    }

    /// Whether `owner` holds `key` now (a lease run out but not yet claimed by another still
    /// counts: nobody took it over).
    fn held_by(seen: &Seen, key: &str, owner: ClaimOwner) -> bool {
        matches!(seen.entries.get(key), Some(Entry::InProgress { owner: holder, .. }) if *holder == owner)
    }

    fn renew_now(&self, key: &str, owner: ClaimOwner) -> bool {
        let mut seen = self.lock();
        match seen.entries.get_mut(key) {
            Some(Entry::InProgress {
                owner: holder,
                until,
            }) if *holder == owner => {
                *until = Instant::now() + self.lease;
                true
            }
            _ => false,
        }
    }

    fn complete_now(&self, key: &str, owner: ClaimOwner) {
        let mut seen = self.lock();
        if !Self::held_by(&seen, key, owner) {
            return;
        }
        seen.entries.insert(key.to_string(), Entry::Done);
        seen.done.push_back(key.to_string());
        while seen.done.len() > self.capacity {
            if let Some(oldest) = seen.done.pop_front() {
                seen.entries.remove(&oldest);
            }
        }
    }

    fn release_now(&self, key: &str, owner: ClaimOwner) {
        let mut seen = self.lock();
        if Self::held_by(&seen, key, owner) {
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

    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: ClaimOwner,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let held = self.renew_now(key, owner);
        Box::pin(async move { Ok(held) })
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        owner: ClaimOwner,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.complete_now(key, owner);
        Box::pin(async { Ok(()) })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: ClaimOwner,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.release_now(key, owner);
        Box::pin(async { Ok(()) })
    }

    fn lease(&self) -> Duration {
        self.lease
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
    /// succeeds and releases it when `work` fails. While `work` runs, the claim is renewed
    /// every third of the store's lease (inside a tokio runtime; without one, the work must
    /// finish within the lease).
    pub async fn once<T, E, F, Fut>(&self, key: &str, work: F) -> Result<Once<T>, OnceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let owner = match self.store.claim(key).await.map_err(OnceError::Store)? {
            Claim::Done => return Ok(Once::AlreadyDone),
            Claim::InProgress => return Ok(Once::InProgress),
            Claim::New(owner) => owner,
        };
        match self.renewing(key, owner, work()).await {
            Ok(value) => {
                self.store
                    .complete(key, owner)
                    .await
                    .map_err(OnceError::Store)?;
                Ok(Once::Ran(value))
            }
            Err(e) => {
                // If the release fails too, the claim's lease (or the store's own expiry)
                // frees the key later; the work's error is the one that matters here.
                let _ = self.store.release(key, owner).await;
                Err(OnceError::Work(e))
            }
        }
    }

    /// Runs `work`, renewing `owner`'s claim on `key` every third of the lease until it ends.
    async fn renewing<T>(&self, key: &str, owner: ClaimOwner, work: impl Future<Output = T>) -> T {
        use futures_util::future::{Either, select};
        let mut work = std::pin::pin!(work);
        // Timers need tokio's runtime (with its time driver, as every receiver's server has);
        // outside one the work just runs (see `once`).
        if tokio::runtime::Handle::try_current().is_err() {
            return work.await;
        }
        // At least 1 ms: a store's zero lease must not make the interval panic.
        let every = (self.store.lease() / 3).max(Duration::from_millis(1));
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let tick = std::pin::pin!(ticks.tick());
            match select(work.as_mut(), tick).await {
                Either::Left((done, _)) => return done,
                Either::Right(_) => match self.store.renew(key, owner).await {
                    Ok(true) => {}
                    // The work goes on (stopping a handler midway is worse); completing or
                    // releasing will then do nothing, as the store's rules say.
                    Ok(false) => {
                        tracing::warn!(
                            key,
                            "a de-duplication claim was taken over while its work ran"
                        )
                    }
                    Err(error) => {
                        tracing::warn!(key, error = %error, "renewing a de-duplication claim failed")
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn claimed(claim: Claim) -> ClaimOwner {
        match claim {
            Claim::New(owner) => owner,
            other => panic!("expected a new claim, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn work_runs_once_and_failures_release_the_key() {
        let dedup = Dedup::in_memory();
        let failed = dedup.once("k", || async { Err::<(), _>("boom") }).await;
        assert!(matches!(failed, Err(OnceError::Work("boom"))));
        let ran = dedup.once("k", || async { Ok::<_, &str>(7) }).await;
        assert!(matches!(ran, Ok(Once::Ran(7))));
        let again = dedup.once("k", || async { Ok::<_, &str>(8) }).await;
        assert!(matches!(again, Ok(Once::AlreadyDone)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_claim_is_in_progress_until_its_lease_runs_out() {
        let store = InMemorySeen::with_limits(10, Duration::from_secs(30));
        claimed(store.claim_now("k"));
        assert_eq!(store.claim_now("k"), Claim::InProgress);
        tokio::time::advance(Duration::from_secs(31)).await;
        let owner = claimed(store.claim_now("k"));
        store.complete_now("k", owner);
        assert_eq!(store.claim_now("k"), Claim::Done);
    }

    #[tokio::test]
    async fn done_keys_beyond_the_capacity_are_forgotten_oldest_first() {
        let store = InMemorySeen::with_limits(2, InMemorySeen::DEFAULT_LEASE);
        for key in ["a", "b", "c"] {
            let owner = claimed(store.claim_now(key));
            store.complete_now(key, owner);
        }
        assert_eq!(store.done_count(), 2);
        claimed(store.claim_now("a"));
        assert_eq!(store.claim_now("c"), Claim::Done);
    }

    /// Counts the runs of a work that takes `lasts`, then ends with `outcome`.
    async fn counted_work(
        runs: Arc<AtomicUsize>,
        lasts: Duration,
        outcome: Result<(), &'static str>,
    ) -> Result<(), &'static str> {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(lasts).await;
        outcome
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_slower_than_the_lease_is_not_overtaken_by_a_resend() {
        let lease = Duration::from_secs(60);
        let dedup = Dedup::new(InMemorySeen::with_limits(10, lease));
        let runs = Arc::new(AtomicUsize::new(0));
        let first = tokio::spawn({
            let (dedup, runs) = (dedup.clone(), runs.clone());
            async move {
                dedup
                    .once("k", || counted_work(runs, lease * 4, Ok(())))
                    .await
            }
        });
        // The resend comes long after the lease would have run out unrenewed.
        tokio::time::sleep(lease * 2).await;
        let resend = dedup
            .once("k", || counted_work(runs.clone(), Duration::ZERO, Ok(())))
            .await;
        assert!(matches!(resend, Ok(Once::InProgress)), "{resend:?}");
        assert!(matches!(first.await.unwrap(), Ok(Once::Ran(()))));
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");
        let later = dedup
            .once("k", || counted_work(runs.clone(), Duration::ZERO, Ok(())))
            .await;
        assert!(matches!(later, Ok(Once::AlreadyDone)), "{later:?}");
    }

    /// An [`InMemorySeen`] whose renewals are lost (a store partitioned from the process
    /// that runs the work), so a lease can be taken over while its work still runs.
    struct LosingRenewals(InMemorySeen);

    impl SeenStore for LosingRenewals {
        fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Claim, StoreError>> {
            self.0.claim(key)
        }
        fn renew<'a>(
            &'a self,
            _key: &'a str,
            _owner: ClaimOwner,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(async { Ok(true) })
        }
        fn complete<'a>(
            &'a self,
            key: &'a str,
            owner: ClaimOwner,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.complete(key, owner)
        }
        fn release<'a>(
            &'a self,
            key: &'a str,
            owner: ClaimOwner,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.release(key, owner)
        }
        fn lease(&self) -> Duration {
            self.0.lease()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_failing_after_its_claim_was_taken_over_leaves_the_new_claim_alone() {
        let lease = Duration::from_secs(60);
        let dedup = Dedup::new(LosingRenewals(InMemorySeen::with_limits(10, lease)));
        let runs = Arc::new(AtomicUsize::new(0));
        // The first run fails at 150 s; its claim ran out at 60 s.
        let first = tokio::spawn({
            let (dedup, runs) = (dedup.clone(), runs.clone());
            async move {
                dedup
                    .once("k", || counted_work(runs, lease * 5 / 2, Err("boom")))
                    .await
            }
        });
        tokio::time::sleep(lease * 2).await;
        // A resend at 120 s takes the key over and runs until 300 s.
        let second = tokio::spawn({
            let (dedup, runs) = (dedup.clone(), runs.clone());
            async move {
                dedup
                    .once("k", || counted_work(runs, lease * 3, Ok(())))
                    .await
            }
        });
        assert!(matches!(first.await.unwrap(), Err(OnceError::Work("boom"))));
        // At 150 s: the second run still holds the key.
        let third = dedup
            .once("k", || counted_work(runs.clone(), Duration::ZERO, Ok(())))
            .await;
        assert!(matches!(third, Ok(Once::InProgress)), "{third:?}");
        assert!(matches!(second.await.unwrap(), Ok(Once::Ran(()))));
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "the first run and the takeover"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_former_owner_can_neither_complete_nor_renew_a_taken_over_claim() {
        let store = InMemorySeen::with_limits(10, Duration::from_secs(60));
        let first = claimed(store.claim_now("k"));
        tokio::time::advance(Duration::from_secs(61)).await;
        let second = claimed(store.claim_now("k"));
        assert_ne!(first, second);
        assert!(!store.renew_now("k", first));
        store.complete_now("k", first);
        assert_eq!(
            store.claim_now("k"),
            Claim::InProgress,
            "not done under the new owner"
        );
        store.release_now("k", first);
        assert_eq!(
            store.claim_now("k"),
            Claim::InProgress,
            "not released either"
        );
        assert!(store.renew_now("k", second));
        store.complete_now("k", second);
        assert_eq!(store.claim_now("k"), Claim::Done);
    }
}
