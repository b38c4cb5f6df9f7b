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
//! change id), stores the bookmark after each handled change, and (with the `webhooks`
//! feature, [`CallbackReceiver::into_route`]) answers 200 only when the drain succeeded. One
//! drain runs at a time; a callback arriving during a drain waits for it and then drains again,
//! so a change approved mid-drain is never left for a callback that may not come.
//!
//! ```no_run
//! # #[cfg(feature = "webhooks")]
//! # async fn demo(session: customer_data::biq_auth::Session) -> Result<(), Box<dyn std::error::Error>> {
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
use crate::runtime::receive::{Handler, HandlerError};

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
}

impl fmt::Debug for CallbackReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackReceiver")
            .field("tenant_id", &self.tenant_id)
            .field("shadow_source_id", &self.shadow_source_id)
            .finish_non_exhaustive()
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
    use axum::response::Response;
    use axum::routing::{MethodRouter, get};

    use super::CallbackReceiver;
    use crate::runtime::receive::{answer, detached};

    impl CallbackReceiver {
        /// This receiver as an axum `GET` route (BiQ calls the URL with GET): each call drains
        /// the feed (in its own task, so a caller hanging up does not cut it short) and is
        /// answered 200 when the drain succeeded, otherwise with [`super::DrainError::status`]
        /// so that BiQ may call again.
        pub fn into_route<S>(self) -> MethodRouter<S>
        where
            S: Clone + Send + Sync + 'static,
        {
            get(move || {
                let receiver = self.clone();
                async move { receiver.answer().await }
            })
        }

        async fn answer(self) -> Response {
            let drained = detached(async move { self.drain().await }).await;
            match drained {
                Ok(Ok(drained)) => answer(
                    http::StatusCode::OK,
                    format!(
                        "drained: {} handled, {} already handled",
                        drained.handled, drained.duplicates
                    ),
                    None,
                ),
                Ok(Err(error)) => {
                    let retry =
                        (error.status() == http::StatusCode::SERVICE_UNAVAILABLE).then_some(5);
                    // The reason only: the handler's and the feed's errors stay in this
                    // process's logs, not in an answer to whoever called the URL.
                    tracing::warn!(
                        reason = error.reason(),
                        "BiQ callback drain failed: {error}"
                    );
                    answer(error.status(), error.reason().to_string(), retry)
                }
                Err(failed) => failed,
            }
        }
    }
}
