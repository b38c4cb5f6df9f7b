//! What the push receivers share (Consumer Intelligence webhooks, BiQ approved-changes
//! callbacks): the user's handler, called so that a panic is a failure like any other, and
//! (with the `webhooks` feature) how an outcome becomes an HTTP answer.

use std::error::Error as StdError;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

/// The error a receiver's handler returns (any error type converts into it).
pub type HandlerError = Box<dyn StdError + Send + Sync>;

/// A user handler of `T`, boxed once so receivers can be cloned and shared.
pub(crate) struct Handler<T>(
    Arc<dyn Fn(T) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync>,
);

impl<T> Clone for Handler<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Send + 'static> Handler<T> {
    pub(crate) fn new<H, Fut, E>(handler: H) -> Self
    where
        H: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HandlerError>,
    {
        Self(Arc::new(move |item| {
            let work = handler(item);
            Box::pin(async move { work.await.map_err(Into::into) })
        }))
    }

    /// Runs the handler on `item`; a panic becomes an error (the process goes on, and the
    /// item is released for the next delivery).
    pub(crate) async fn call(&self, item: T) -> Result<(), HandlerError> {
        match AssertUnwindSafe((self.0)(item)).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(panic_error(panic)),
        }
    }
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> HandlerError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_string());
    format!("the handler panicked: {message}").into()
}

/// Coalesces requests for one piece of background work (a drain): at most one run at a time,
/// and requests that arrive during a run fold into at most one run after it. A receiver that
/// answers at once and works in the background keeps one worker, never a task per request.
///
/// The decisions are pure ([`Coalescer::request`], [`Coalescer::finished`]); the caller
/// spawns the worker when `request` says so and loops while `finished` says so. Public for
/// receivers of your own (the BiQ callback receiver uses it).
#[derive(Debug, Default)]
pub struct Coalescer {
    state: std::sync::Mutex<Coalesce>,
    idle: tokio::sync::Notify,
}

/// Where the coalesced work stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Coalesce {
    /// Nothing runs.
    #[default]
    Idle,
    /// A run is going on; no request came in since it started.
    Running,
    /// A run is going on and at least one request came in since it started.
    RunningWithPending,
}

impl Coalescer {
    fn state(&self) -> std::sync::MutexGuard<'_, Coalesce> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A request for the work: `true` when the caller must start the worker (nothing ran),
    /// `false` when it folded into the run going on (or the one already pending).
    pub fn request(&self) -> bool {
        let mut state = self.state();
        match *state {
            Coalesce::Idle => {
                *state = Coalesce::Running;
                true
            }
            Coalesce::Running | Coalesce::RunningWithPending => {
                *state = Coalesce::RunningWithPending;
                false
            }
        }
    }

    /// The worker finished a run: `true` when it must run once more (requests came in),
    /// `false` when it stops (the state is idle again and waiters are woken).
    pub fn finished(&self) -> bool {
        let mut state = self.state();
        match *state {
            Coalesce::RunningWithPending => {
                *state = Coalesce::Running;
                true
            }
            Coalesce::Running | Coalesce::Idle => {
                *state = Coalesce::Idle;
                drop(state);
                self.idle.notify_waiters();
                false
            }
        }
    }

    /// The current state (for tests and status reports).
    pub fn current(&self) -> Coalesce {
        *self.state()
    }

    /// Waits until no run is going on or pending.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.current() == Coalesce::Idle {
                return;
            }
            notified.await;
        }
    }
}

/// An answer: status, a short text body, and `Retry-After` seconds for "try later" answers.
#[cfg(feature = "webhooks")]
pub(crate) fn answer(
    status: http::StatusCode,
    message: String,
    retry_after: Option<u32>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (status, message).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}

/// Runs `work` in its own task, so that a caller hanging up (axum then drops the request's
/// future) does not cut a handler short; a task that dies anyway is answered 500.
#[cfg(feature = "webhooks")]
pub(crate) async fn detached<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, axum::response::Response> {
    tokio::spawn(work).await.map_err(|_| {
        answer(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "the receiving task failed".to_string(),
            None,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_is_an_error_with_its_message() {
        let handler = Handler::new(|n: u32| async move {
            if n == 0 {
                panic!("zero is not allowed");
            }
            Ok::<(), std::io::Error>(())
        });
        assert!(handler.call(1).await.is_ok());
        let error = handler.call(0).await.unwrap_err();
        assert!(error.to_string().contains("zero is not allowed"), "{error}");
    }

    #[test]
    fn requests_during_a_run_fold_into_one_more_run() {
        let coalescer = Coalescer::default();
        assert!(coalescer.request(), "the first request starts the worker");
        assert_eq!(coalescer.current(), Coalesce::Running);
        for _ in 0..100 {
            assert!(!coalescer.request(), "no second worker");
        }
        assert_eq!(coalescer.current(), Coalesce::RunningWithPending);
        assert!(
            coalescer.finished(),
            "one more run for the hundred requests"
        );
        assert!(!coalescer.finished(), "then the worker stops");
        assert_eq!(coalescer.current(), Coalesce::Idle);
        assert!(coalescer.request(), "a later request starts a worker again");
    }

    #[tokio::test]
    async fn waiting_for_idle_returns_when_the_worker_stops() {
        let coalescer = std::sync::Arc::new(Coalescer::default());
        coalescer.wait_idle().await;
        assert!(coalescer.request());
        let waiter = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.wait_idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert!(!coalescer.finished());
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
