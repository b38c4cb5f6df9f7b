//! Waiting for the answers to data requests: [`wait_until_done`] polls `respond` for the
//! requests still `Panding`, sleeping between polls with a doubling, capped interval
//! ([`Polling`]), until every request is `Done` or the caller's timeout has passed, which is a
//! hard bound: polls and sleeps are both cut at the deadline, and running out of time is the
//! typed [`WaitError::DeadlineExceeded`], never a panic or an endless loop.
//!
//! ```no_run
//! # async fn demo(client: customer_data::carmachain::Client, id: String) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use customer_data::carmachain::wait::{WaitError, wait_until_done};
//!
//! match wait_until_done(&client, &[id], Duration::from_secs(30)).await {
//!     Ok(results) => println!("{:?}", results[0].request_details),
//!     Err(WaitError::DeadlineExceeded { pending, .. }) => println!("still waiting for {pending:?}"),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::{Client, Error, types};

/// How often to poll: `first_interval` after the first poll, doubling after each further
/// poll, at most `max_interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    pub first_interval: Duration,
    pub max_interval: Duration,
}

impl Default for Polling {
    /// 100 ms, doubling up to 5 s.
    fn default() -> Self {
        Self {
            first_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(5),
        }
    }
}

/// The shortest interval used, whatever [`Polling`] says: a zero interval would poll the
/// peer as fast as it answers.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Why [`wait_until_done`] gave up.
#[derive(Debug)]
pub enum WaitError {
    /// The timeout passed before every request was `Done`. `pending` are the requests still
    /// waiting; `polls` is how many `respond` calls were made.
    DeadlineExceeded {
        waited: Duration,
        polls: u32,
        pending: Vec<String>,
    },
    /// A `respond` call failed (after the runtime's own retries).
    Call(Error<()>),
    /// The peer's answer does not mention this request (not one of its requests).
    UnknownRequest(String),
    /// No request id was given.
    NoRequests,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::DeadlineExceeded {
                waited,
                polls,
                pending,
            } => write!(
                f,
                "{} request(s) not done after {waited:?} ({polls} polls): {}",
                pending.len(),
                pending.join(", ")
            ),
            WaitError::Call(e) => write!(f, "respond failed: {e}"),
            WaitError::UnknownRequest(id) => {
                write!(f, "the peer's answer does not mention request {id}")
            }
            WaitError::NoRequests => f.write_str("no request id to wait for"),
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Call(e) => Some(e),
            _ => None,
        }
    }
}

/// The results of `request_ids` (in that order) once all are `Done`, polling with the default
/// [`Polling`] for at most `timeout`.
pub async fn wait_until_done(
    client: &Client,
    request_ids: &[String],
    timeout: Duration,
) -> Result<Vec<types::RequestResult>, WaitError> {
    wait_until_done_with(client, request_ids, timeout, Polling::default()).await
}

/// [`wait_until_done`] with its own [`Polling`].
pub async fn wait_until_done_with(
    client: &Client,
    request_ids: &[String],
    timeout: Duration,
    polling: Polling,
) -> Result<Vec<types::RequestResult>, WaitError> {
    if request_ids.is_empty() {
        return Err(WaitError::NoRequests);
    }
    let started = Instant::now();
    // A timeout too large for the clock is as good as none; a century stands in for it.
    let deadline = started
        .checked_add(timeout)
        .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 24 * 3600));
    let max_interval = polling.max_interval.max(MIN_INTERVAL);
    let mut interval = polling.first_interval.clamp(MIN_INTERVAL, max_interval);
    let mut done: HashMap<String, types::RequestResult> = HashMap::new();
    let mut polls = 0u32;
    loop {
        let pending: Vec<String> = request_ids
            .iter()
            .filter(|id| !done.contains_key(*id))
            .cloned()
            .collect();
        if pending.is_empty() {
            return Ok(request_ids
                .iter()
                .filter_map(|id| done.get(id).cloned())
                .collect());
        }
        let exceeded = |polls| WaitError::DeadlineExceeded {
            waited: started.elapsed(),
            polls,
            pending: pending.clone(),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(exceeded(polls));
        }
        // The poll itself is bounded by the deadline too: a slow peer cannot stretch it.
        let answer = match tokio::time::timeout(remaining, respond(client, &pending)).await {
            Ok(answer) => answer?,
            Err(_) => return Err(exceeded(polls + 1)),
        };
        polls += 1;
        for id in &pending {
            let result = answer
                .iter()
                .find(|r| r.id_request.as_deref() == Some(id.as_str()))
                .ok_or_else(|| WaitError::UnknownRequest(id.clone()))?;
            if matches!(result.status, Some(types::RequestStatus::Done)) {
                done.insert(id.clone(), result.clone());
            }
        }
        if request_ids.iter().all(|id| done.contains_key(id)) {
            continue;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(exceeded(polls));
        }
        tokio::time::sleep(interval.min(remaining)).await;
        interval = interval.saturating_mul(2).min(max_interval);
    }
}

/// One `respond` call for `ids`.
async fn respond(client: &Client, ids: &[String]) -> Result<Vec<types::RequestResult>, WaitError> {
    let answer = client
        .respond()
        .body(types::RespondRequest {
            id_request: ids.to_vec(),
            period: None,
            type_request: None,
        })
        .send()
        .await
        .map_err(WaitError::Call)?;
    Ok(answer.into_inner().parametr_request)
}
