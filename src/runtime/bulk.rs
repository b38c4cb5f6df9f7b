//! Sending any number of items in chunks: bounded, adaptive concurrency, a progress callback,
//! and a checkpoint to resume from after a crash. Services add a thin wrapper (e.g. the
//! Consumer Intelligence module's `bulk`); this is the one engine.
//!
//! - **Chunks** of at most [`BulkOptions::chunk_size`] items, taken lazily from the input, so
//!   the input can be an iterator over more items than fit in memory.
//! - **Concurrency** starts at [`BulkOptions::initial_concurrency`] and adapts (AIMD, as TCP):
//!   +1 per window of clean chunks, halved when a chunk meets congestion (its call needed
//!   retries for failures, or failed for a passing reason), never above
//!   [`BulkOptions::max_concurrency`] nor below 1. Signals from chunks sent before the last
//!   decrease do not decrease again, so one burst of failures halves once.
//! - **Rate limits** (429 with `Retry-After`) are not congestion: the calls in flight wait out
//!   the server's `Retry-After` (in the layer), which holds the whole run until the next rate
//!   window, and the concurrency stays as it is, so the next window is used from its start.
//! - **Failures**: a chunk that failed for a passing reason (after the layer's own retries)
//!   goes back in the queue with a backoff, up to [`BulkOptions::max_chunk_failures`] times;
//!   then the run stops with a [`BulkError`] that carries the checkpoint. A chunk the service
//!   refused (e.g. 400) is reported in [`BulkReport::refused`] and the run goes on.
//! - **Checkpoint**: the number of leading input items that are settled (sent or refused).
//!   Persist it from the progress callback; after a crash, call again with the same input and
//!   [`BulkOptions::resume_from`]. Items after the checkpoint that were sent before the crash
//!   are sent again, so the operation must be idempotent per item (a consumer upload is, by
//!   `consumerId`; a delete is).

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::retry::RetryPolicy;

/// How a bulk run chunks, paces and resumes.
#[derive(Debug, Clone)]
pub struct BulkOptions {
    /// Items per call (the service's documented batch limit is the wrapper's default).
    pub chunk_size: usize,
    /// Calls in flight at the start.
    pub initial_concurrency: usize,
    /// Calls in flight at most.
    pub max_concurrency: usize,
    /// How often one chunk may fail for a passing reason before the run stops.
    pub max_chunk_failures: u32,
    /// Skip this many leading items: a checkpoint from an earlier run of the same input.
    pub resume_from: usize,
}

impl BulkOptions {
    /// Chunks of `chunk_size`, 4 calls in flight at first and at most 16, a chunk given up
    /// after 8 failures, from the start.
    pub fn new(chunk_size: usize) -> Self {
        Self {
            chunk_size: chunk_size.max(1),
            initial_concurrency: 4,
            max_concurrency: 16,
            max_chunk_failures: 8,
            resume_from: 0,
        }
    }

    /// The same options, resuming after `checkpoint` items.
    pub fn resume_from(mut self, checkpoint: usize) -> Self {
        self.resume_from = checkpoint;
        self
    }

    /// The same options with at most `max` calls in flight (and at first, if fewer).
    pub fn with_max_concurrency(mut self, max: usize) -> Self {
        self.max_concurrency = max.max(1);
        self.initial_concurrency = self.initial_concurrency.min(self.max_concurrency);
        self
    }
}

/// How one chunk's call went.
#[derive(Debug)]
pub enum ChunkOutcome<E> {
    /// Done. `congested`: the call needed retries for failures (5xx, no answer), not only
    /// for a rate limit.
    Sent { congested: bool },
    /// Failed for a passing reason (5xx, no answer): send again later, more slowly.
    Retry(E),
    /// Refused by a rate limit (429) even after waiting: send again later, same pace.
    RateLimited(E),
    /// Refused for good (e.g. 400): reported, not sent again.
    Refused(E),
}

/// Where a run stands, for the progress callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Leading input items that are settled: persist it, resume from it.
    pub checkpoint: usize,
    /// Items sent so far in this run (resumed items not counted).
    pub sent: usize,
    /// Items refused so far in this run.
    pub refused: usize,
    /// Chunks put back in the queue after a passing failure, so far.
    pub requeued_chunks: usize,
    /// Calls allowed in flight now.
    pub concurrency: usize,
}

/// A chunk the service refused.
#[derive(Debug)]
pub struct Refused<E> {
    /// Its items' positions in the input.
    pub items: Range<usize>,
    pub error: E,
}

/// The end of a run that settled every item.
#[derive(Debug)]
pub struct BulkReport<E> {
    /// Items sent.
    pub sent: usize,
    /// Chunks refused, with the service's answer.
    pub refused: Vec<Refused<E>>,
    /// Chunks put back after a passing failure.
    pub requeued_chunks: usize,
    /// The most calls in flight at once.
    pub peak_concurrency: usize,
    /// The checkpoint at the end: every input item.
    pub checkpoint: usize,
}

/// A run that stopped: a chunk kept failing. Resume from `checkpoint` later.
#[derive(Debug)]
pub struct BulkError<E> {
    /// Leading input items settled before the stop.
    pub checkpoint: usize,
    /// The chunk that kept failing.
    pub items: Range<usize>,
    /// Its last failure.
    pub error: E,
}

impl<E: std::fmt::Display> std::fmt::Display for BulkError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "items {}..{} kept failing ({}); resume from checkpoint {}",
            self.items.start, self.items.end, self.error, self.checkpoint
        )
    }
}

impl<E: std::fmt::Display + std::fmt::Debug> std::error::Error for BulkError<E> {}

struct Chunk<T> {
    /// Position of the chunk among this run's chunks (for the checkpoint).
    index: usize,
    items: Range<usize>,
    values: Arc<[T]>,
    failures: u32,
}

/// Adaptive concurrency: additive increase, multiplicative decrease.
struct Window {
    limit: f64,
    max: f64,
    launched: u64,
    /// Chunks launched before this ordinal saw the congestion the last decrease answered.
    decreased_at: u64,
}

impl Window {
    fn allowed(&self) -> usize {
        self.limit.floor() as usize
    }

    fn clean(&mut self) {
        self.limit = (self.limit + 1.0 / self.limit).min(self.max);
    }

    fn congested(&mut self, launched_as: u64) {
        if launched_as >= self.decreased_at {
            self.limit = (self.limit / 2.0).max(1.0);
            self.decreased_at = self.launched;
        }
    }
}

/// Runs `send` over `items` in chunks (see the module docs). `send` gets the chunk's items
/// and says how the call went; `progress` is called after every settled or requeued chunk.
pub async fn run<T, E, I, F, Fut>(
    items: I,
    options: &BulkOptions,
    mut send: F,
    mut progress: impl FnMut(&Progress),
) -> Result<BulkReport<E>, BulkError<E>>
where
    I: IntoIterator<Item = T>,
    F: FnMut(Arc<[T]>) -> Fut,
    Fut: Future<Output = ChunkOutcome<E>>,
{
    let chunk_size = options.chunk_size.max(1);
    let mut input = items.into_iter().skip(options.resume_from).peekable();
    let mut next_start = options.resume_from;
    let mut next_index = 0usize;
    let mut requeued: Vec<Chunk<T>> = Vec::new();
    // Settled chunk indices above the checkpoint (chunks can settle out of order).
    let mut settled_above: std::collections::BTreeSet<usize> = Default::default();
    let mut settled_through = 0usize; // chunks 0..settled_through are settled
    let mut chunk_ends: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut state = Progress {
        checkpoint: options.resume_from,
        sent: 0,
        refused: 0,
        requeued_chunks: 0,
        concurrency: options.initial_concurrency.max(1),
    };
    let mut refused = Vec::new();
    let mut window = Window {
        limit: options
            .initial_concurrency
            .clamp(1, options.max_concurrency.max(1)) as f64,
        max: options.max_concurrency.max(1) as f64,
        launched: 0,
        decreased_at: 0,
    };
    let mut peak = 0usize;
    let backoff = RetryPolicy::default();
    let mut in_flight = FuturesUnordered::new();

    loop {
        // Fill the window: requeued chunks first (they hold the checkpoint back).
        while in_flight.len() < window.allowed() {
            let chunk = if let Some(chunk) = requeued.pop() {
                chunk
            } else if input.peek().is_some() {
                let values: Arc<[T]> = input.by_ref().take(chunk_size).collect();
                let items = next_start..next_start + values.len();
                next_start = items.end;
                chunk_ends.insert(next_index, items.end);
                next_index += 1;
                Chunk {
                    index: next_index - 1,
                    items,
                    values,
                    failures: 0,
                }
            } else {
                break;
            };
            let delay = (chunk.failures > 0).then(|| backoff.backoff(chunk.failures));
            let call = send(chunk.values.clone());
            let launched_as = window.launched;
            window.launched += 1;
            in_flight.push(async move {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                (chunk, launched_as, call.await)
            });
            peak = peak.max(in_flight.len());
        }
        let Some((mut chunk, launched_as, outcome)) = in_flight.next().await else {
            break;
        };
        let index = chunk.index;
        let rate_limited = matches!(outcome, ChunkOutcome::RateLimited(_));
        let settled = match outcome {
            ChunkOutcome::Sent { congested } => {
                if congested {
                    window.congested(launched_as);
                } else {
                    window.clean();
                }
                state.sent += chunk.items.len();
                true
            }
            ChunkOutcome::Refused(error) => {
                state.refused += chunk.items.len();
                refused.push(Refused {
                    items: chunk.items.clone(),
                    error,
                });
                true
            }
            ChunkOutcome::Retry(error) | ChunkOutcome::RateLimited(error) => {
                if !rate_limited {
                    window.congested(launched_as);
                }
                chunk.failures += 1;
                if chunk.failures > options.max_chunk_failures {
                    return Err(BulkError {
                        checkpoint: state.checkpoint,
                        items: chunk.items,
                        error,
                    });
                }
                state.requeued_chunks += 1;
                requeued.push(chunk);
                false
            }
        };
        if settled {
            settled_above.insert(index);
            while settled_above.remove(&settled_through) {
                if let Some(end) = chunk_ends.remove(&settled_through) {
                    state.checkpoint = end;
                }
                settled_through += 1;
            }
        }
        state.concurrency = window.allowed();
        progress(&state);
    }
    Ok(BulkReport {
        sent: state.sent,
        refused,
        requeued_chunks: state.requeued_chunks,
        peak_concurrency: peak,
        checkpoint: state.checkpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn every_item_is_sent_once_in_chunks_and_the_checkpoint_reaches_the_end() {
        let seen = Mutex::new(Vec::new());
        let checkpoints = Mutex::new(Vec::new());
        let report = block_on(run(
            0..1005u32,
            &BulkOptions::new(100),
            |chunk| {
                seen.lock().unwrap().push(chunk.to_vec());
                async { ChunkOutcome::<()>::Sent { congested: false } }
            },
            |p| checkpoints.lock().unwrap().push(p.checkpoint),
        ))
        .unwrap();
        let chunks = seen.into_inner().unwrap();
        assert_eq!(chunks.len(), 11);
        assert!(chunks.iter().all(|c| c.len() <= 100));
        let mut all: Vec<u32> = chunks.concat();
        all.sort();
        assert_eq!(all, (0..1005).collect::<Vec<_>>());
        assert_eq!(report.sent, 1005);
        assert_eq!(report.checkpoint, 1005);
        let checkpoints = checkpoints.into_inner().unwrap();
        assert!(checkpoints.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn passing_failures_are_requeued_and_refusals_reported() {
        let calls = Mutex::new(std::collections::HashMap::<u32, u32>::new());
        let report = block_on(run(
            0..500u32,
            &BulkOptions::new(50),
            |chunk| {
                let first = chunk[0];
                let n = {
                    let mut calls = calls.lock().unwrap();
                    let n = calls.entry(first).or_default();
                    *n += 1;
                    *n
                };
                async move {
                    match (first, n) {
                        (100, 1 | 2) => ChunkOutcome::Retry("503"),
                        (200, _) => ChunkOutcome::Refused("400"),
                        _ => ChunkOutcome::Sent { congested: false },
                    }
                }
            },
            |_| {},
        ))
        .unwrap();
        assert_eq!(report.sent, 450);
        assert_eq!(report.refused.len(), 1);
        assert_eq!(report.refused[0].items, 200..250);
        assert_eq!(report.requeued_chunks, 2);
        assert_eq!(calls.lock().unwrap()[&100], 3);
        assert_eq!(report.checkpoint, 500);
    }

    #[test]
    fn a_chunk_that_keeps_failing_stops_the_run_at_a_checkpoint_before_it() {
        let options = BulkOptions {
            max_chunk_failures: 2,
            initial_concurrency: 1,
            ..BulkOptions::new(10)
        };
        let error = block_on(run(
            0..100u32,
            &options,
            |chunk| {
                let first = chunk[0];
                async move {
                    if first == 30 {
                        ChunkOutcome::Retry("503")
                    } else {
                        ChunkOutcome::Sent { congested: false }
                    }
                }
            },
            |_| {},
        ))
        .unwrap_err();
        assert_eq!(error.items, 30..40);
        assert_eq!(error.checkpoint, 30);
        assert!(error.to_string().contains("resume from checkpoint 30"));
    }

    #[test]
    fn a_resumed_run_skips_the_checkpointed_items() {
        let seen = Mutex::new(Vec::new());
        let report = block_on(run(
            0..100u32,
            &BulkOptions::new(30).resume_from(40),
            |chunk| {
                seen.lock().unwrap().extend_from_slice(&chunk);
                async { ChunkOutcome::<()>::Sent { congested: false } }
            },
            |_| {},
        ))
        .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, (40..100).collect::<Vec<_>>());
        assert_eq!(report.checkpoint, 100);
    }

    #[test]
    fn congestion_halves_the_window_once_per_burst_and_clean_chunks_grow_it() {
        let mut window = Window {
            limit: 8.0,
            max: 16.0,
            launched: 10,
            decreased_at: 0,
        };
        window.congested(5);
        assert_eq!(window.allowed(), 4);
        // Launched before that decrease: the same burst.
        window.congested(7);
        assert_eq!(window.allowed(), 4);
        // +1 per window of clean chunks: five clean chunks at four in flight.
        for _ in 0..5 {
            window.clean();
        }
        assert_eq!(window.allowed(), 5);
        window.launched = 20;
        window.congested(12);
        assert_eq!(window.allowed(), 2);
    }
}
