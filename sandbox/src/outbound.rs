//! Calls the twins make themselves: Consumer Intelligence webhook deliveries and BiQ
//! approved-changes callbacks. What they share lives here: one sequential [`Sender`] per target
//! (one call in flight; the call being retried blocks the later ones), the [`RetryPolicy`]
//! (`config.webhook_retry_delay`, doubling up to [`MAX_RETRY_DELAY`], at most
//! `config.webhook_max_attempts` attempts) and the fault-injected [`Resends`]
//! (`Faults::webhook_resend`).
//!
//! The senders are plain state; each twin runs a background task that asks them every [`TICK`]
//! for the calls due, sends those without holding its lock, and hands each answer back.

use std::future::Future;
use std::sync::Weak;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Faults, SandboxConfig};

/// How often the background tasks look for calls to make.
pub(crate) const TICK: Duration = Duration::from_millis(20);
/// How long one call may take (connect, send, answer) before it counts as failed.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait between two attempts of one call (unless the first wait is longer).
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// A fault-injected resend follows its original after 0 to this many milliseconds.
pub(crate) const MAX_RESEND_DELAY_MS: u64 = 200;
/// Salt of the resend generator's seed (another stream than the request fault injector's).
const RESEND_SALT: u64 = 0x7E5E_4D00;

/// When to try a failed call again, and how often at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub first_delay: Duration,
    /// Attempts per call, the first included (0 counts as 1).
    pub max_attempts: u32,
}

impl RetryPolicy {
    pub(crate) fn from_config(config: &SandboxConfig) -> Self {
        Self {
            first_delay: config.webhook_retry_delay,
            max_attempts: config.webhook_max_attempts,
        }
    }

    /// The wait after `failures` failed attempts (1 for the first): the first delay, doubled
    /// for every further failure, at most [`MAX_RETRY_DELAY`] (or the first delay if longer).
    pub(crate) fn delay(&self, failures: u32) -> Duration {
        let cap = MAX_RETRY_DELAY.max(self.first_delay);
        let doublings = failures.saturating_sub(1).min(31);
        self.first_delay
            .checked_mul(1u32 << doublings)
            .unwrap_or(cap)
            .min(cap)
    }

    fn gives_up_after(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts.max(1)
    }
}

/// Fault injection "resends at random": after a call answered 200, with probability
/// `Faults::webhook_resend` the same call is made once more, 0 to [`MAX_RESEND_DELAY_MS`]
/// later. Seeded from `Faults::seed`: the n-th answered call gets the same fate in every run.
pub(crate) struct Resends {
    probability: f64,
    rng: ChaCha8Rng,
}

impl Resends {
    /// The resends of a twin with `faults` (none: never).
    pub(crate) fn new(faults: Option<&Faults>) -> Self {
        let (probability, seed) = faults.map_or((0.0, 0), |f| (f.webhook_resend, f.seed));
        Self {
            probability,
            rng: ChaCha8Rng::seed_from_u64(seed ^ RESEND_SALT),
        }
    }

    /// After a call answered 200: how long until it is made once more, if at all.
    fn roll(&mut self) -> Option<Duration> {
        if self.probability.is_nan() || self.probability <= 0.0 {
            return None;
        }
        if self.rng.random::<f64>() >= self.probability {
            return None;
        }
        Some(Duration::from_millis(
            self.rng.random_range(0..=MAX_RESEND_DELAY_MS),
        ))
    }
}

/// One call: what it carries, how many units (events) that is, how often it was tried.
#[derive(Debug)]
struct Call<T> {
    payload: T,
    units: u64,
    attempts: u32,
    due: Instant,
    /// A fault-injected resend (never resent itself).
    resend: bool,
}

/// What a sender has done so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Calls answered 200 (resends included).
    pub delivered: u64,
    /// Calls sent (every attempt).
    pub attempts: u64,
    /// Fault-injected extra calls scheduled.
    pub resent: u64,
    /// Calls dropped after the last attempt failed.
    pub failed: u64,
    /// Units (events) of the calls answered 200, duplicates included.
    pub units_delivered: u64,
}

/// A sequential sender for one target: at most one call in flight; a call that failed is
/// tried again (after the policy's delay) before anything else is sent, as a sender that
/// works through its queue in order would. Fault-injected resends wait for their time and then
/// go before new calls.
#[derive(Debug)]
pub(crate) struct Sender<T> {
    /// The call in flight or waiting for its next attempt.
    current: Option<Call<T>>,
    in_flight: bool,
    resends: Vec<Call<T>>,
    stats: Stats,
}

impl<T> Default for Sender<T> {
    fn default() -> Self {
        Self {
            current: None,
            in_flight: false,
            resends: Vec::new(),
            stats: Stats::default(),
        }
    }
}

impl<T: Clone> Sender<T> {
    /// The call to send now, if one is due; it is then in flight until [`Sender::finish`].
    /// `fill` makes a new call (payload and units) from what waits; it is asked only when no
    /// call is in flight or waiting and no resend is due.
    pub(crate) fn next(
        &mut self,
        now: Instant,
        fill: impl FnOnce() -> Option<(T, u64)>,
    ) -> Option<T> {
        if self.in_flight {
            return None;
        }
        if self.current.is_none() {
            if let Some(at) = self.resends.iter().position(|c| c.due <= now) {
                self.current = Some(self.resends.remove(at));
            } else if let Some((payload, units)) = fill() {
                self.current = Some(Call {
                    payload,
                    units,
                    attempts: 0,
                    due: now,
                    resend: false,
                });
            }
        }
        let call = self.current.as_mut()?;
        if call.due > now {
            return None;
        }
        call.attempts += 1;
        self.stats.attempts += 1;
        self.in_flight = true;
        Some(call.payload.clone())
    }

    /// The outcome of the call in flight (`delivered`: answered 200).
    pub(crate) fn finish(
        &mut self,
        delivered: bool,
        now: Instant,
        policy: RetryPolicy,
        resends: &mut Resends,
    ) {
        if !self.in_flight {
            return;
        }
        self.in_flight = false;
        let Some(mut call) = self.current.take() else {
            return;
        };
        if delivered {
            self.stats.delivered += 1;
            self.stats.units_delivered += call.units;
            if !call.resend
                && let Some(delay) = resends.roll()
            {
                self.stats.resent += 1;
                call.attempts = 0;
                call.due = now + delay;
                call.resend = true;
                self.resends.push(call);
            }
        } else if policy.gives_up_after(call.attempts) {
            self.stats.failed += 1;
        } else {
            call.due = now + policy.delay(call.attempts);
            self.current = Some(call);
        }
    }

    /// Units waiting for a call: in the call waiting to be retried and in scheduled resends
    /// (not the call in flight, nor what `fill` has not taken yet).
    pub(crate) fn waiting_units(&self) -> u64 {
        let current = match &self.current {
            Some(call) if !self.in_flight => call.units,
            _ => 0,
        };
        current + self.resends.iter().map(|c| c.units).sum::<u64>()
    }

    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Nothing in flight, waiting for a retry, or scheduled.
    pub(crate) fn idle(&self) -> bool {
        !self.in_flight && self.current.is_none() && self.resends.is_empty()
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats
    }
}

/// A twin's calling task: every [`TICK`], as long as `owner` lives, takes the calls due
/// (`due`, under the owner's lock) and makes each in its own task (`send`, its answer handed
/// back by the caller through [`answered`] and the owner's `finish`).
pub(crate) async fn run<O, C, Fut>(
    owner: Weak<O>,
    due: impl Fn(&O) -> Vec<C>,
    send: impl Fn(Weak<O>, C) -> Fut,
) where
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(strong) = owner.upgrade() else {
            return;
        };
        let calls = due(&strong);
        drop(strong);
        for call in calls {
            tokio::spawn(send(owner.clone(), call));
        }
    }
}

/// Sends `request` with [`CALL_TIMEOUT`]; whether it was answered 200 (the only answer that
/// counts as delivered).
pub(crate) async fn answered(request: reqwest::RequestBuilder) -> bool {
    matches!(
        request.timeout(CALL_TIMEOUT).send().await,
        Ok(response) if response.status() == reqwest::StatusCode::OK
    )
}

/// The HTTP client of a twin's outgoing calls (`None`, with a message, if none can be built:
/// the twin then makes no calls).
pub(crate) fn http_client(twin: &str) -> Option<reqwest::Client> {
    match customer_data::runtime::http::default_client() {
        Ok(client) => Some(client),
        Err(e) => {
            eprintln!("{twin}: no outgoing calls, the HTTP client cannot be built: {e}");
            None
        }
    }
}

/// Seconds since the Unix epoch, as decimal text.
pub(crate) fn unix_seconds() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_attempts,
        }
    }

    #[test]
    fn the_retry_delay_doubles_up_to_two_seconds() {
        let p = policy(10);
        let delays: Vec<u128> = (1..=8).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(p.delay(u32::MAX), MAX_RETRY_DELAY);
        let slow = RetryPolicy {
            first_delay: Duration::from_secs(5),
            max_attempts: 3,
        };
        assert_eq!(slow.delay(3), Duration::from_secs(5));
    }

    #[test]
    fn a_failed_call_blocks_the_next_until_it_is_delivered() {
        let mut resends = Resends::new(None);
        let mut sender = Sender::<&str>::default();
        let t0 = Instant::now();
        assert_eq!(sender.next(t0, || Some(("a", 2))), Some("a"));
        assert_eq!(sender.next(t0, || Some(("b", 1))), None, "one in flight");
        sender.finish(false, t0, policy(10), &mut resends);
        assert_eq!(sender.waiting_units(), 2);
        assert_eq!(sender.next(t0, || Some(("b", 1))), None, "not due yet");
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(sender.next(t1, || Some(("b", 1))), Some("a"));
        sender.finish(true, t1, policy(10), &mut resends);
        assert_eq!(sender.next(t1, || Some(("b", 1))), Some("b"));
        sender.finish(true, t1, policy(10), &mut resends);
        assert!(sender.idle());
        let stats = sender.stats();
        assert_eq!(
            (stats.attempts, stats.delivered, stats.units_delivered),
            (3, 2, 3)
        );
    }

    #[test]
    fn a_call_is_dropped_after_the_last_attempt() {
        let mut resends = Resends::new(None);
        let mut sender = Sender::<()>::default();
        let mut now = Instant::now();
        let mut fill = Some(((), 1));
        for _ in 0..3 {
            now += Duration::from_secs(10);
            assert_eq!(sender.next(now, || fill.take()), Some(()));
            sender.finish(false, now, policy(3), &mut resends);
        }
        assert!(sender.idle());
        assert_eq!(sender.stats().failed, 1);
        assert_eq!(sender.stats().attempts, 3);
    }

    #[test]
    fn a_resend_is_made_once_and_not_resent_itself() {
        let faults = Faults {
            webhook_resend: 1.0,
            ..Faults::default()
        };
        let mut resends = Resends::new(Some(&faults));
        let mut sender = Sender::<&str>::default();
        let now = Instant::now();
        assert_eq!(sender.next(now, || Some(("a", 1))), Some("a"));
        sender.finish(true, now, policy(10), &mut resends);
        assert_eq!(sender.stats().resent, 1);
        assert_eq!(sender.waiting_units(), 1);
        let later = now + Duration::from_millis(MAX_RESEND_DELAY_MS);
        assert_eq!(sender.next(later, || None), Some("a"));
        sender.finish(true, later, policy(10), &mut resends);
        assert!(sender.idle());
        assert_eq!(sender.stats().resent, 1);
        assert_eq!(sender.stats().delivered, 2);
    }

    #[test]
    fn the_same_seed_resends_the_same_calls() {
        let faults = Faults {
            seed: 9,
            webhook_resend: 0.3,
            ..Faults::default()
        };
        let fates = || {
            let mut resends = Resends::new(Some(&faults));
            (0..200).map(|_| resends.roll()).collect::<Vec<_>>()
        };
        let a = fates();
        assert_eq!(a, fates());
        let resent = a.iter().filter(|f| f.is_some()).count();
        assert!((30..90).contains(&resent), "{resent}");
        assert!(
            a.iter()
                .flatten()
                .all(|d| *d <= Duration::from_millis(MAX_RESEND_DELAY_MS))
        );
        let mut never = Resends::new(None);
        assert!((0..100).all(|_| never.roll().is_none()));
    }
}
