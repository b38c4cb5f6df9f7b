//! Upload or delete any number of consumers: chunks of the documented batch limits (100 per
//! upload, 250 per delete), bounded concurrency that backs off when the service pushes back
//! (429), a progress callback, and a checkpoint to resume from after a crash. The engine is
//! [`runtime::bulk`](crate::runtime::bulk); both operations are idempotent per consumer, which
//! is what makes resuming safe.
//!
//! ```no_run
//! # async fn demo(client: customer_data::consumer_intelligence::Client,
//! #               consumers: Vec<customer_data::consumer_intelligence::types::UploadConsumerDto>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::consumer_intelligence::bulk;
//! // A checkpoint persisted by an earlier run that crashed (0 the first time).
//! let checkpoint = 0;
//! let options = bulk::upload_options().resume_from(checkpoint);
//! let report = bulk::upload_consumers(&client, consumers, &options, |progress| {
//!     // Persist progress.checkpoint somewhere durable.
//!     let _ = progress.checkpoint;
//! })
//! .await?;
//! assert!(report.refused.is_empty(), "{:?}", report.refused);
//! # Ok(()) }
//! ```

use std::sync::Arc;

use super::{Client, Error, types};
use crate::runtime::bulk::{self, BulkError, BulkOptions, BulkReport, ChunkOutcome, Progress};
use crate::runtime::layer::{attempts_of, rate_limited_of};

/// The most consumers one upload takes (vendor guide; the spec's `maxItems`).
pub const UPLOAD_BATCH: usize = 100;
/// The most consumer ids one delete takes (the spec's `maxItems`).
pub const DELETE_BATCH: usize = 250;

/// The error of a bulk call: the service's RFC 7807 problem, or no answer.
pub type BulkCallError = Error<types::Problem>;

/// Default options for [`upload_consumers`]: chunks of [`UPLOAD_BATCH`].
pub fn upload_options() -> BulkOptions {
    BulkOptions::new(UPLOAD_BATCH)
}

/// Default options for [`delete_consumers`]: chunks of [`DELETE_BATCH`].
pub fn delete_options() -> BulkOptions {
    BulkOptions::new(DELETE_BATCH)
}

/// Uploads `consumers` (see the module docs). A `chunk_size` above [`UPLOAD_BATCH`] is
/// lowered to it. A chunk the service refuses (e.g. a 400 Constraint Violation naming a
/// member) is in [`BulkReport::refused`] with its problem; the others go on.
pub async fn upload_consumers(
    client: &Client,
    consumers: impl IntoIterator<Item = types::UploadConsumerDto>,
    options: &BulkOptions,
    progress: impl FnMut(&Progress),
) -> Result<BulkReport<BulkCallError>, BulkError<BulkCallError>> {
    let options = capped(options, UPLOAD_BATCH);
    bulk::run(
        consumers,
        &options,
        |chunk: Arc<[types::UploadConsumerDto]>| async move {
            outcome(client.upload_consumers().body(chunk.to_vec()).send().await)
        },
        progress,
    )
    .await
}

/// Deletes the consumers with `consumer_ids` (see the module docs); ids the service does not
/// know are ignored by it. A `chunk_size` above [`DELETE_BATCH`] is lowered to it.
pub async fn delete_consumers(
    client: &Client,
    consumer_ids: impl IntoIterator<Item = types::ConsumerId>,
    options: &BulkOptions,
    progress: impl FnMut(&Progress),
) -> Result<BulkReport<BulkCallError>, BulkError<BulkCallError>> {
    let options = capped(options, DELETE_BATCH);
    bulk::run(
        consumer_ids,
        &options,
        |chunk: Arc<[types::ConsumerId]>| async move {
            let body = types::DeleteConsumersDto {
                consumer_ids: chunk.to_vec(),
            };
            outcome(client.delete_consumers().body(body).send().await)
        },
        progress,
    )
    .await
}

fn capped(options: &BulkOptions, limit: usize) -> BulkOptions {
    let mut options = options.clone();
    options.chunk_size = options.chunk_size.clamp(1, limit);
    options
}

/// A call's result as the engine needs it: sent (congested when it took retries for
/// failures, not just for a rate limit), to be sent again (rate limited, or a passing
/// failure), or refused.
fn outcome(
    result: Result<progenitor_client::ResponseValue<()>, BulkCallError>,
) -> ChunkOutcome<BulkCallError> {
    match result {
        Ok(answer) => {
            let headers = answer.headers();
            let failed_attempts = attempts_of(headers)
                .unwrap_or(1)
                .saturating_sub(1)
                .saturating_sub(rate_limited_of(headers));
            ChunkOutcome::Sent {
                congested: failed_attempts > 0,
            }
        }
        Err(error) if error.status() == Some(reqwest::StatusCode::TOO_MANY_REQUESTS) => {
            ChunkOutcome::RateLimited(error)
        }
        Err(error) if error.is_transient() => ChunkOutcome::Retry(error),
        Err(error) => ChunkOutcome::Refused(error),
    }
}
