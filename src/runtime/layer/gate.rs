//! The rate gate: a 429's `Retry-After` holds every call of a client, not only the refused
//! one (shared by the layer's clones, like the retry budget).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Holds a client's attempts until an instant, checked on every attempt: an atomic, so the
/// common case (no hold) costs one load. Time is tokio's clock, so tests can pause it.
#[derive(Clone)]
pub(crate) struct RateGate {
    origin: Instant,
    /// Nanoseconds after `origin` before which no attempt goes out (0: none).
    until_nanos: Arc<AtomicU64>,
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
    /// No attempt goes out for `wait` from now (a later hold already set stays).
    pub(crate) fn hold_for(&self, wait: Duration) {
        let until = self.origin.elapsed().saturating_add(wait).as_nanos();
        let until = u64::try_from(until).unwrap_or(u64::MAX);
        self.until_nanos.fetch_max(until, Ordering::Relaxed);
    }

    /// Waits until the gate opens (at once when nothing holds it).
    pub(crate) async fn wait(&self) {
        let until = self.until_nanos.load(Ordering::Relaxed);
        if until == 0 {
            return;
        }
        let until = self.origin + Duration::from_nanos(until);
        if until > Instant::now() {
            tokio::time::sleep_until(until).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_hold_delays_every_attempt_until_it_ends_and_the_longest_wins() {
        let gate = RateGate::default();
        let started = Instant::now();
        gate.wait().await;
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "an open gate does not wait"
        );

        gate.hold_for(Duration::from_secs(30));
        gate.hold_for(Duration::from_secs(5)); // shorter: the 30 s hold stays
        let clone = gate.clone();
        clone.wait().await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));

        gate.wait().await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(30),
            "an expired hold does not wait again"
        );
    }
}
