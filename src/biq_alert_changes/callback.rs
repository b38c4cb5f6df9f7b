//! Receiving BiQ's approved-changes callbacks.
//!
//! BiQ's optional integration helper "subscribe-to-approvedchanges" registers a URL that BiQ
//! calls with a plain `GET` (no body, no signature) when changes are approved (BiQ's own demo,
//! `ChangeCallbackReceiver`); the receiver then reads `next-approved-changes` from its
//! bookmark until `more` is false. The call carries nothing to verify, so its only protection
//! is a path nobody can guess (the demo uses a GUID in it): mount the route under one.
//! The registration call itself is not in our spec (its path is not documented); register
//! the URL with BiQ by hand or through their Swagger UI.
//!
//! [`CallbackReceiver`] does the reading: on every callback it drains the feed of one shadow
//! source from the stored bookmark, hands each change to your handler once (de-duplicated by
//! change id) and stores the bookmark after each handled change. As BiQ's own receiver does
//! (demo revision ced18a1, `ChangeCallbackReceiver`), the route
//! ([`CallbackReceiver::into_route`], feature `webhooks`) answers 200 at once and drains in the
//! background ([`CallbackReceiver::trigger`]): BiQ never waits on your handler. One drain runs
//! at a time, and callbacks that arrive during a drain fold into at most one more drain after
//! it (one background task, never a task per call), so a change approved mid-drain is never
//! left for a callback that may not come. A drain that fails is retried in the background
//! with backoff ([`CallbackReceiver::with_failure_retry`]), since BiQ, answered 200, will not
//! call again for it; [`CallbackReceiver::on_drain`] reports every background drain.
//!
//! ```no_run
//! # #[cfg(feature = "webhooks")]
//! # async fn demo(session: customer_data::biq::Session) -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::biq_alert_changes::{callback::CallbackReceiver, connect, types};
//!
//! let client = connect(&session)?;
//! let tenant = session.tenant_id().await?;
//! let receiver = CallbackReceiver::new(client, tenant, 101, |change: types::ApprovedChange| async move {
//!     println!("{:?} for {:?}", change.event_type, change.customer_number);
//!     Ok::<(), std::io::Error>(())
//! });
//! let app: axum::Router = axum::Router::new()
//!     .route("/biq-callback/3f0c9a6e-4d55-4f0e-9b8e-0d7c2a1e5b11", receiver.into_route());
//! # let _ = app;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;

use super::{Client, stream, types};
use crate::runtime::dedup::{Dedup, Once, OnceError, SeenStore, StoreError};
use crate::runtime::receive::{Coalescer, Handler, HandlerError};

/// Where the approved-changes bookmark (the `committed` of the last handled change) is kept
/// between drains. Implement it over your database to resume after a restart; BiQ's own
/// server-side bookmark ([`stream::stored_bookmark`]) is one per tenant, see [`stream`].
pub trait BookmarkStore: Send + Sync + 'static {
    fn load(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, StoreError>>;
    fn save(&self, bookmark: DateTime<Utc>) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// A [`BookmarkStore`] in memory (forgotten on restart: the feed is then read again from
/// where it starts, and only the de-duplication store prevents handling changes twice).
#[derive(Debug, Default)]
pub struct InMemoryBookmark(Mutex<Option<DateTime<Utc>>>);

impl InMemoryBookmark {
    /// Starting at `bookmark` (`None`: the whole feed).
    pub fn starting_at(bookmark: Option<DateTime<Utc>>) -> Self {
        Self(Mutex::new(bookmark))
    }

    pub fn get(&self) -> Option<DateTime<Utc>> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl BookmarkStore for InMemoryBookmark {
    fn load(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, StoreError>> {
        let bookmark = self.get();
        Box::pin(async move { Ok(bookmark) })
    }

    fn save(&self, bookmark: DateTime<Utc>) -> BoxFuture<'_, Result<(), StoreError>> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(bookmark);
        Box::pin(async { Ok(()) })
    }
}

/// A shared store (keep a handle to read the bookmark, or share it between receivers).
impl<S: BookmarkStore> BookmarkStore for Arc<S> {
    fn load(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, StoreError>> {
        (**self).load()
    }

    fn save(&self, bookmark: DateTime<Utc>) -> BoxFuture<'_, Result<(), StoreError>> {
        (**self).save(bookmark)
    }
}

/// What one drain did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drained {
    /// Changes handed to the handler.
    pub handled: usize,
    /// Changes skipped because they were handled before.
    pub duplicates: usize,
    /// The bookmark after the drain.
    pub bookmark: Option<DateTime<Utc>>,
}

/// Why a drain stopped early. The bookmark stays at the last handled change, so the next
/// callback (or drain) goes on from there: nothing is lost.
#[derive(Debug)]
#[non_exhaustive]
pub enum DrainError {
    /// Reading the feed failed (after the client's own retries).
    Feed(stream::StreamError),
    /// The handler failed (or panicked) on this change.
    Handler { change: String, error: HandlerError },
    /// Another receiver is handling this change right now.
    Busy { change: String },
    /// The de-duplication or bookmark store failed.
    Store(StoreError),
}

impl DrainError {
    /// The HTTP status to answer the callback with: 502 feed, 500 handler, 503 busy or store.
    pub fn status(&self) -> http::StatusCode {
        match self {
            DrainError::Feed(_) => http::StatusCode::BAD_GATEWAY,
            DrainError::Handler { .. } => http::StatusCode::INTERNAL_SERVER_ERROR,
            DrainError::Busy { .. } | DrainError::Store(_) => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl DrainError {
    /// A stable name for logs, metrics and the callback's answer: `feed_failed`,
    /// `handler_failed`, `busy`, `store_failed`.
    pub fn reason(&self) -> &'static str {
        match self {
            DrainError::Feed(_) => "feed_failed",
            DrainError::Handler { .. } => "handler_failed",
            DrainError::Busy { .. } => "busy",
            DrainError::Store(_) => "store_failed",
        }
    }
}

impl fmt::Display for DrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DrainError::Feed(e) => write!(f, "reading the approved changes failed: {e}"),
            DrainError::Handler { change, error } => {
                write!(f, "the handler failed on change {change}: {error}")
            }
            DrainError::Busy { change } => write!(f, "change {change} is being handled elsewhere"),
            DrainError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DrainError {}

/// The de-duplication key of a change: its id, or (a change without one) its `committed`
/// timestamp and customer number.
pub fn change_key(change: &types::ApprovedChange) -> String {
    match change.id {
        Some(id) => id.to_string(),
        None => format!(
            "{}/{}",
            change
                .committed
                .map(|c| c.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                .unwrap_or_default(),
            change.customer_number.as_deref().unwrap_or_default()
        ),
    }
}

/// Drains one shadow source's approved changes into a handler on every callback (see the
/// module docs).
#[derive(Clone)]
pub struct CallbackReceiver {
    client: Client,
    tenant_id: String,
    shadow_source_id: i32,
    bookmark: Arc<dyn BookmarkStore>,
    dedup: Dedup,
    handler: Handler<types::ApprovedChange>,
    draining: Arc<tokio::sync::Mutex<()>>,
    background: Arc<Coalescer>,
    failure_retry: FailureRetry,
    on_drain: Option<DrainObserver>,
}

/// Reports each background drain's result.
type DrainObserver = Arc<dyn Fn(&Result<Drained, DrainError>) + Send + Sync>;

/// How a failed background drain is tried again: after `initial`, doubling up to `max`, at
/// most `attempts` times in a row; then the receiver waits for the next callback (or a
/// [`CallbackReceiver::drain`] on your timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRetry {
    pub initial: std::time::Duration,
    pub max: std::time::Duration,
    pub attempts: u32,
}

impl Default for FailureRetry {
    /// 1 s doubling to 60 s, 10 times (about 7 minutes in all).
    fn default() -> Self {
        Self {
            initial: std::time::Duration::from_secs(1),
            max: std::time::Duration::from_secs(60),
            attempts: 10,
        }
    }
}

impl FailureRetry {
    /// The wait before retry number `failures` (1-based), or `None` when retries are spent.
    pub fn delay(&self, failures: u32) -> Option<std::time::Duration> {
        if failures == 0 || failures > self.attempts {
            return None;
        }
        let doubled = self
            .initial
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(31)));
        Some(doubled.min(self.max))
    }
}

impl CallbackReceiver {
    /// A receiver for `shadow_source_id` of `tenant_id`, reading with `client`, with the
    /// bookmark and the handled ids in memory.
    pub fn new<H, Fut, E>(
        client: Client,
        tenant_id: impl Into<String>,
        shadow_source_id: i32,
        handler: H,
    ) -> Self
    where
        H: Fn(types::ApprovedChange) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HandlerError>,
    {
        Self {
            client,
            tenant_id: tenant_id.into(),
            shadow_source_id,
            bookmark: Arc::new(InMemoryBookmark::default()),
            dedup: Dedup::in_memory(),
            handler: Handler::new(handler),
            draining: Arc::new(tokio::sync::Mutex::new(())),
            background: Arc::new(Coalescer::default()),
            failure_retry: FailureRetry::default(),
            on_drain: None,
        }
    }

    /// How a failed background drain is tried again (default [`FailureRetry::default`]).
    pub fn with_failure_retry(mut self, retry: FailureRetry) -> Self {
        self.failure_retry = retry;
        self
    }

    /// Calls `observer` with the result of every background drain (metrics, alerts).
    pub fn on_drain(
        mut self,
        observer: impl Fn(&Result<Drained, DrainError>) + Send + Sync + 'static,
    ) -> Self {
        self.on_drain = Some(Arc::new(observer));
        self
    }

    /// What a callback does: asks for a background drain and returns at once. `true` when a
    /// drain task starts now; `false` when the request folded into the drain going on (one
    /// more drain follows it, however many callbacks came). Needs a tokio runtime.
    pub fn trigger(&self) -> bool {
        if !self.background.request() {
            return false;
        }
        let receiver = self.clone();
        tokio::spawn(async move { receiver.drain_in_background().await });
        true
    }

    /// Waits until no background drain runs or is pending (graceful shutdown, tests).
    pub async fn idle(&self) {
        self.background.wait_idle().await;
    }

    /// The background worker: drains until no callback is pending, retrying a failed drain
    /// with backoff (a retry counts as a pending request).
    async fn drain_in_background(self) {
        use futures_util::FutureExt;
        let mut failures = 0u32;
        loop {
            let result = match std::panic::AssertUnwindSafe(self.drain())
                .catch_unwind()
                .await
            {
                Ok(result) => result,
                // A drain never panics (the handler's panics are caught); if it did, the
                // worker must still end its run, or no drain would ever start again.
                Err(_) => Err(DrainError::Handler {
                    change: String::new(),
                    error: "the drain panicked".into(),
                }),
            };
            match &result {
                Ok(_) => failures = 0,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(
                        reason = error.reason(),
                        failures,
                        "BiQ callback drain failed: {error}"
                    );
                }
            }
            if let Some(observer) = &self.on_drain {
                observer(&result);
            }
            if let (Err(_), Some(delay)) = (&result, self.failure_retry.delay(failures)) {
                tokio::time::sleep(delay).await;
                self.background.request();
            }
            if !self.background.finished() {
                return;
            }
        }
    }

    /// Keeps the bookmark in `store`.
    pub fn with_bookmark_store(mut self, store: impl BookmarkStore) -> Self {
        self.bookmark = Arc::new(store);
        self
    }

    /// De-duplicates with your own store.
    pub fn with_store(mut self, store: impl SeenStore) -> Self {
        self.dedup = Dedup::new(store);
        self
    }

    /// De-duplicates with a [`Dedup`] you already have.
    pub fn with_dedup(mut self, dedup: Dedup) -> Self {
        self.dedup = dedup;
        self
    }

    /// Reads every change committed after the bookmark and hands each new one to the handler,
    /// storing the bookmark after each. What a callback triggers; also usable on a timer as a
    /// fallback for callbacks that never come.
    pub async fn drain(&self) -> Result<Drained, DrainError> {
        let _one_at_a_time = self.draining.lock().await;
        let from = self.bookmark.load().await.map_err(DrainError::Store)?;
        let mut pages = stream::approved_changes(
            &self.client,
            self.tenant_id.clone(),
            self.shadow_source_id,
            from,
        );
        let mut drained = Drained {
            handled: 0,
            duplicates: 0,
            bookmark: from,
        };
        while let Some(page) = pages.try_next().await.map_err(DrainError::Feed)? {
            for change in page.into_items() {
                let key = change_key(&change);
                let committed = change.committed;
                match self.dedup.once(&key, || self.handler.call(change)).await {
                    Ok(Once::Ran(())) => drained.handled += 1,
                    Ok(Once::AlreadyDone) => drained.duplicates += 1,
                    Ok(Once::InProgress) => return Err(DrainError::Busy { change: key }),
                    Err(OnceError::Work(error)) => {
                        tracing::warn!(change = %key, error = %error, "BiQ callback handler failed");
                        return Err(DrainError::Handler { change: key, error });
                    }
                    Err(OnceError::Store(error)) => return Err(DrainError::Store(error)),
                }
                if let Some(committed) = committed {
                    self.bookmark
                        .save(committed)
                        .await
                        .map_err(DrainError::Store)?;
                    drained.bookmark = Some(committed);
                }
            }
        }
        Ok(drained)
    }
}

#[cfg(feature = "webhooks")]
mod axum_route {
    use axum::routing::{MethodRouter, get};

    use super::CallbackReceiver;
    use crate::runtime::receive::answer;

    impl CallbackReceiver {
        /// This receiver as an axum `GET` route (BiQ calls the URL with GET): each call is
        /// answered 200 at once and starts or joins a background drain
        /// ([`CallbackReceiver::trigger`]), as BiQ's own receiver does. The answer says only
        /// whether a drain started or was already running, nothing of the feed.
        pub fn into_route<S>(self) -> MethodRouter<S>
        where
            S: Clone + Send + Sync + 'static,
        {
            get(move || {
                let started = self.trigger();
                async move {
                    answer(
                        http::StatusCode::OK,
                        if started {
                            "drain started"
                        } else {
                            "drain already running"
                        }
                        .to_string(),
                        None,
                    )
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn failed_drains_are_retried_with_doubling_capped_waits_then_left_for_the_next_callback() {
        let retry = FailureRetry {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
            attempts: 4,
        };
        let waits: Vec<_> = (0..=5).map(|failures| retry.delay(failures)).collect();
        assert_eq!(
            waits,
            [
                None,
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(350)),
                Some(Duration::from_millis(350)),
                None,
            ]
        );
        assert_eq!(
            FailureRetry::default().delay(u32::MAX),
            None,
            "no overflow past the last attempt"
        );
        let huge = FailureRetry {
            attempts: u32::MAX,
            ..FailureRetry::default()
        };
        assert_eq!(
            huge.delay(200),
            Some(huge.max),
            "no overflow in the doubling"
        );
    }
}
