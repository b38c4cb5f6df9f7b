//! The one pagination helper every service's stream is built on.
//!
//! A service adaptor turns one call into a [`Page`]: its items and the cursor to resume after
//! it. [`paginate`] turns that adaptor into a [`Pages`] stream (one call per page, made only
//! when the caller asks for the next page) and [`Pages::items`] flattens it into an [`Items`]
//! stream. At most one page is held at a time, so memory stays constant however long the list
//! is; nothing is ever accumulated.
//!
//! **Resuming.** Every stream starts from an optional cursor (`None`: the start of the list)
//! and tells, at any time, where to resume: [`Pages::resume_cursor`] is the cursor of the last
//! page handed out, [`Items::resume_cursor`] the cursor of the last page whose items have all
//! been handed out. Persist it after processing, start a new stream from it later, and nothing
//! handed out before is lost (an [`Items`] stream interrupted in the middle of a page delivers
//! the rest of that page again: at least once, never less).
//!
//! **Bounds.** Each page is one call under the client's limits (operation deadline, answer
//! size: [`super::limits`]); a page can be held to a tighter bound by polling it inside
//! [`super::limits::within`], e.g. `within(CallLimits::max_answer_bytes(n), pages.next())`.
//!
//! **Errors.** A failed call ends the stream with [`StreamError::Call`] carrying the call's
//! own error (the runtime layer has already retried what it retries). The resume cursor is
//! untouched by the failure, so a new stream from it continues where the caller stood. An
//! answer without the cursor the list needs is [`StreamError::MissingCursor`]; a server that
//! announces more pages but hands back the cursor it was asked with is [`StreamError::Stalled`]
//! rather than an endless loop, and one that leads back to a cursor followed before (A -> B ->
//! A) is [`StreamError::Cycle`], after the items of the page that led back (handed out without
//! its cursor, so the resume cursor stays at the cursor that page was asked with).
//!
//! **Cycles.** Every stream remembers the cursors it followed, as 64-bit keyed hashes of the
//! last [`MAX_REMEMBERED_CURSORS`] of them (oldest forgotten first), each with the page it was
//! followed at: at most 16,384 map slots of 17 bytes and 16,384 queue slots of 8 bytes, about
//! 410 KB per stream whatever its length, and nothing for a stream of one page. A cycle longer
//! than that bound is not caught, and a page whose cursor shares its hash with one remembered
//! (odds under 1 in 2^50 per page) would be taken for a cycle. The check applies to every
//! kind of cursor: opaque tokens (Consumer Intelligence, bLink) can cycle whatever the client
//! does; timestamps (BiQ, AccountsIQ) come from the server's items, so a server can lead them
//! back too; page numbers and offsets that the client counts up itself cannot cycle, and for
//! them the check only costs the bounded memory.
//!
//! ```
//! use customer_data::runtime::paginate::{Page, StreamError, paginate};
//! use futures_util::TryStreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), StreamError<std::convert::Infallible>> {
//! // A list of 0..10 served three at a time; the cursor is the next offset.
//! let pages = paginate(None, |offset: Option<usize>| async move {
//!     let start = offset.unwrap_or(0);
//!     let items: Vec<usize> = (start..10).take(3).collect();
//!     let next = start + items.len();
//!     let page = if next < 10 { Page::more(items, next) } else { Page::last(items, Some(next)) };
//!     Ok::<_, StreamError<std::convert::Infallible>>(page)
//! });
//! let mut items = pages.items();
//! let mut seen = Vec::new();
//! while let Some(item) = items.try_next().await? {
//!     seen.push(item);
//! }
//! assert_eq!(seen, (0..10).collect::<Vec<_>>());
//! assert_eq!(items.resume_cursor(), Some(&10)); // persist it; start there next time
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll, ready};

use futures_core::{FusedStream, Stream};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

/// One page of a list: its items and the cursor to resume after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    items: Vec<T>,
    cursor: Option<C>,
    has_more: bool,
}

impl<T, C> Page<T, C> {
    /// A page after which the list goes on at `cursor`.
    pub fn more(items: Vec<T>, cursor: C) -> Self {
        Self {
            items,
            cursor: Some(cursor),
            has_more: true,
        }
    }

    /// The last page (for now). `cursor` is where to resume later for what is added after it,
    /// when the API hands one out (the Consumer Intelligence feeds do; a plain list's last page
    /// has none).
    pub fn last(items: Vec<T>, cursor: Option<C>) -> Self {
        Self {
            items,
            cursor,
            has_more: false,
        }
    }

    /// The items.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// The items, owned.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    /// The items and the cursor.
    pub fn into_parts(self) -> (Vec<T>, Option<C>) {
        (self.items, self.cursor)
    }

    /// Where to resume after this page; persist it once the page is processed.
    pub fn cursor(&self) -> Option<&C> {
        self.cursor.as_ref()
    }

    /// Whether the server said more pages follow now.
    pub fn has_more(&self) -> bool {
        self.has_more
    }

    /// How many items the page holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the page holds no item.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Why a stream stopped early. `E` is the error of the service's calls.
#[derive(Debug)]
pub enum StreamError<E> {
    /// A call failed (after the runtime's own retries). The stream ends; resume from its
    /// `resume_cursor()`.
    Call(E),
    /// The answer lacks the cursor the list needs to go on (or carries one that is not text):
    /// following it could skip or repeat items, so the stream stops.
    MissingCursor(String),
    /// The server announced more pages but handed back the cursor it was asked with; following
    /// it would ask for the same page forever.
    Stalled,
    /// The server announced more pages at a cursor this stream already followed `length` pages
    /// ago (A -> B -> A is a cycle of length 2): following it would hand out the same pages
    /// forever. Only the last [`MAX_REMEMBERED_CURSORS`] cursors of a stream are remembered, so a
    /// cycle longer than that is not caught.
    Cycle { length: u64 },
}

impl<E> StreamError<E> {
    /// The call's error, when a call failed.
    pub fn call(&self) -> Option<&E> {
        match self {
            StreamError::Call(e) => Some(e),
            _ => None,
        }
    }

    /// The call's error, owned, when a call failed.
    pub fn into_call(self) -> Option<E> {
        match self {
            StreamError::Call(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for StreamError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Call(e) => write!(f, "a page could not be read: {e}"),
            StreamError::MissingCursor(detail) => {
                write!(f, "the answer has no usable cursor to go on from: {detail}")
            }
            StreamError::Stalled => f.write_str(
                "the server announced more pages but repeated the cursor it was asked with",
            ),
            StreamError::Cycle { length } => write!(
                f,
                "the server announced more pages at a cursor already followed {length} pages ago"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StreamError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Call(e) => Some(e),
            _ => None,
        }
    }
}

/// The longest [`Cursor`] accepted.
pub const MAX_CURSOR_LEN: usize = 4096;

/// An opaque page cursor as a server hands it out (Consumer Intelligence's `nextPageToken`,
/// bLink's `nextCursor` header). Validated when built or parsed (non-empty, at most
/// [`MAX_CURSOR_LEN`] printable ASCII characters, no surrounding whitespace), so a garbled
/// persisted cursor is refused with a [`CursorError`] before anything is sent. `Display`,
/// `FromStr` and serde read and write the cursor text itself, for persisting it.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cursor(String);

/// Why text is not a [`Cursor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorError {
    /// The text is empty (or only whitespace).
    Empty,
    /// Longer than [`MAX_CURSOR_LEN`] bytes.
    TooLong { len: usize },
    /// A character a server's cursor never holds (control, non-ASCII, surrounding whitespace),
    /// at byte `position`.
    InvalidCharacter { position: usize },
}

impl fmt::Display for CursorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CursorError::Empty => f.write_str("a cursor cannot be empty"),
            CursorError::TooLong { len } => {
                write!(f, "a cursor of {len} bytes is longer than {MAX_CURSOR_LEN}")
            }
            CursorError::InvalidCharacter { position } => write!(
                f,
                "a cursor holds only printable ASCII without surrounding spaces (byte {position})"
            ),
        }
    }
}

impl std::error::Error for CursorError {}

impl Cursor {
    /// Checks `text` as a cursor.
    pub fn new(text: impl Into<String>) -> Result<Self, CursorError> {
        let text = text.into();
        if text.trim().is_empty() {
            return Err(CursorError::Empty);
        }
        if text.len() > MAX_CURSOR_LEN {
            return Err(CursorError::TooLong { len: text.len() });
        }
        let last = text.len() - 1;
        let bad = text.bytes().enumerate().find(|&(position, byte)| {
            let edge = position == 0 || position == last;
            !(byte.is_ascii_graphic() || (byte == b' ' && !edge))
        });
        match bad {
            Some((position, _)) => Err(CursorError::InvalidCharacter { position }),
            None => Ok(Self(text)),
        }
    }

    /// The cursor text, as the server sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A cursor names a position in a list, not a credential: shown in full.
        write!(f, "Cursor({:?})", self.0)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Cursor {
    type Err = CursorError;
    fn from_str(text: &str) -> Result<Self, CursorError> {
        Self::new(text)
    }
}

impl TryFrom<String> for Cursor {
    type Error = CursorError;
    fn try_from(text: String) -> Result<Self, CursorError> {
        Self::new(text)
    }
}

impl From<Cursor> for String {
    fn from(cursor: Cursor) -> Self {
        cursor.0
    }
}

/// The pages of a list, fetched one at a time as they are asked for. Built by [`paginate`].
pub struct Pages<T, C, E> {
    inner: BoxStream<'static, Result<Page<T, C>, StreamError<E>>>,
    resume: Option<C>,
    finished: bool,
}

// The fields are never pinned (the inner stream is boxed), so the stream is `Unpin` whatever
// the item and cursor types are.
impl<T, C, E> Unpin for Pages<T, C, E> {}

impl<T, C: fmt::Debug, E> fmt::Debug for Pages<T, C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages")
            .field("resume_cursor", &self.resume)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<T, C, E> Pages<T, C, E> {
    /// Where to resume: the cursor of the last page handed out (before the first page, the
    /// cursor the stream started from). After an error it is still the last good page's.
    pub fn resume_cursor(&self) -> Option<&C> {
        self.resume.as_ref()
    }

    /// Whether the stream has ended (last page, or an error).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The items of every page, one by one.
    pub fn items(self) -> Items<T, C, E>
    where
        C: Clone,
    {
        Items {
            resume: self.resume.clone(),
            pages: self,
            current: Vec::new().into_iter(),
            pending: None,
        }
    }
}

impl<T, C: Clone, E> Stream for Pages<T, C, E> {
    type Item = Result<Page<T, C>, StreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let next = ready!(this.inner.poll_next_unpin(cx));
        match &next {
            Some(Ok(page)) => {
                if let Some(cursor) = page.cursor() {
                    this.resume = Some(cursor.clone());
                }
            }
            Some(Err(_)) | None => this.finished = true,
        }
        Poll::Ready(next)
    }
}

impl<T, C: Clone, E> FusedStream for Pages<T, C, E> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

/// The items of a list, one by one, over its [`Pages`] (one page held at a time).
pub struct Items<T, C, E> {
    pages: Pages<T, C, E>,
    /// What is left of the page being handed out.
    current: std::vec::IntoIter<T>,
    /// The cursor of that page, committed to `resume` once its last item is out.
    pending: Option<C>,
    resume: Option<C>,
}

// As for `Pages`: nothing is pinned.
impl<T, C, E> Unpin for Items<T, C, E> {}

impl<T, C: fmt::Debug, E> fmt::Debug for Items<T, C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Items")
            .field("resume_cursor", &self.resume)
            .field("left_in_page", &self.current.len())
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

impl<T, C, E> Items<T, C, E> {
    /// Where to resume: the cursor of the last page whose items have all been handed out
    /// (before that, the cursor the stream started from). Resuming from it never loses an
    /// item handed out; items of a page left half-read come again.
    pub fn resume_cursor(&self) -> Option<&C> {
        self.resume.as_ref()
    }

    /// Whether every item has been handed out and the pages have ended (or failed).
    pub fn is_finished(&self) -> bool {
        self.pages.finished && self.current.len() == 0
    }

    fn commit(&mut self) {
        if let Some(cursor) = self.pending.take() {
            self.resume = Some(cursor);
        }
    }
}

impl<T, C: Clone, E> Stream for Items<T, C, E> {
    type Item = Result<T, StreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.current.next() {
                if this.current.len() == 0 {
                    this.commit();
                }
                return Poll::Ready(Some(Ok(item)));
            }
            match ready!(Pin::new(&mut this.pages).poll_next(cx)) {
                Some(Ok(page)) => {
                    let (items, cursor) = page.into_parts();
                    this.current = items.into_iter();
                    this.pending = cursor;
                    if this.current.len() == 0 {
                        this.commit();
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.current.len();
        if self.pages.finished {
            (left, Some(left))
        } else {
            (left, None)
        }
    }
}

impl<T, C: Clone, E> FusedStream for Items<T, C, E> {
    fn is_terminated(&self) -> bool {
        self.is_finished()
    }
}

/// How many cursors a stream remembers to catch cycles (see the module docs).
pub const MAX_REMEMBERED_CURSORS: usize = 10_000;

/// The cursors a stream followed, as keyed hashes of the last `capacity` of them, each with the
/// number of the page it was followed at.
struct SeenCursors {
    hasher: std::hash::RandomState,
    /// Hash -> the page number it was last followed at.
    pages: std::collections::HashMap<u64, u64>,
    /// The hashes in the order followed, for forgetting the oldest.
    order: std::collections::VecDeque<u64>,
    capacity: usize,
    /// Pages followed so far.
    followed: u64,
}

impl SeenCursors {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            hasher: std::hash::RandomState::new(),
            pages: std::collections::HashMap::new(),
            order: std::collections::VecDeque::new(),
            capacity: capacity.max(1),
            followed: 0,
        }
    }

    /// Records that the stream follows `cursor` now; `Some(length)` when it followed it
    /// `length` pages ago (and still remembers it).
    fn insert<C: std::hash::Hash>(&mut self, cursor: &C) -> Option<u64> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(cursor);
        self.followed += 1;
        if let Some(&at) = self.pages.get(&hash) {
            return Some(self.followed - at);
        }
        self.pages.insert(hash, self.followed);
        self.order.push_back(hash);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.pages.remove(&oldest);
        }
        None
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

/// The pages of a list, starting at `start` (`None`: the beginning), each fetched by
/// `fetch(cursor)` when the caller asks for it. The stream ends after a page that says
/// nothing follows ([`Page::last`]) or at the first error; a page announcing more at a cursor
/// followed before ends it with [`StreamError::Stalled`] or [`StreamError::Cycle`].
pub fn paginate<T, C, E, F, Fut>(start: Option<C>, fetch: F) -> Pages<T, C, E>
where
    T: Send + 'static,
    C: Clone + PartialEq + std::hash::Hash + Send + 'static,
    E: Send + 'static,
    F: FnMut(Option<C>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T, C>, StreamError<E>>> + Send + 'static,
{
    struct State<F, C, E> {
        fetch: F,
        /// The cursor of the next page to fetch; `None` once the list has ended.
        next: Option<Option<C>>,
        /// The cursors followed so far (allocated only once a second page is asked for).
        seen: Option<SeenCursors>,
        /// The error that ends the stream after the page just handed out (a cycle).
        failure: Option<StreamError<E>>,
    }
    let state = State {
        fetch,
        next: Some(start.clone()),
        seen: None,
        failure: None,
    };
    let inner = futures_util::stream::try_unfold(state, |mut state| async move {
        if let Some(failure) = state.failure.take() {
            return Err(failure);
        }
        let Some(cursor) = state.next.take() else {
            return Ok(None);
        };
        let asked = cursor.clone();
        let page = (state.fetch)(cursor).await?;
        if page.has_more {
            if page.cursor.is_none() || page.cursor == asked {
                return Err(StreamError::Stalled);
            }
            let seen = state
                .seen
                .get_or_insert_with(|| SeenCursors::with_capacity(MAX_REMEMBERED_CURSORS));
            // The start cursor counts as followed, so start -> B -> start is caught too.
            if seen.followed == 0
                && let Some(asked) = &asked
            {
                seen.insert(asked);
            }
            if let Some(length) = page.cursor.as_ref().and_then(|next| seen.insert(next)) {
                // The page's items are new: hand them out, then end with the cycle. Without
                // its cursor, so the resume cursor stays where this page was asked (resuming
                // reads it again rather than entering the cycle).
                state.failure = Some(StreamError::Cycle { length });
                let page = Page {
                    items: page.items,
                    cursor: None,
                    has_more: false,
                };
                return Ok(Some((page, state)));
            }
            state.next = Some(page.cursor.clone());
        }
        Ok(Some((page, state)))
    });
    Pages {
        inner: inner.boxed(),
        resume: start,
        finished: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, PartialEq)]
    struct Boom;

    /// A list of `0..len`, `size` per page, the cursor being the next offset; the page at
    /// offset `fail_at` fails once. Counts the calls.
    fn numbers(
        len: usize,
        size: usize,
        fail_at: Option<usize>,
        calls: Arc<AtomicUsize>,
        start: Option<usize>,
    ) -> Pages<usize, usize, Boom> {
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        paginate(start, move |offset: Option<usize>| {
            calls.fetch_add(1, Ordering::SeqCst);
            let failed = failed.clone();
            async move {
                let from = offset.unwrap_or(0);
                if Some(from) == fail_at && !failed.swap(true, Ordering::SeqCst) {
                    return Err(StreamError::Call(Boom));
                }
                let items: Vec<usize> = (from..len).take(size).collect();
                let next = from + items.len();
                Ok(if next < len {
                    Page::more(items, next)
                } else {
                    Page::last(items, Some(next))
                })
            }
        })
    }

    async fn drain<S: Stream<Item = Result<usize, StreamError<Boom>>> + Unpin>(
        stream: &mut S,
    ) -> (Vec<usize>, Option<StreamError<Boom>>) {
        let mut seen = Vec::new();
        loop {
            match stream.next().await {
                Some(Ok(n)) => seen.push(n),
                Some(Err(e)) => return (seen, Some(e)),
                None => return (seen, None),
            }
        }
    }

    #[tokio::test]
    async fn every_item_once_in_order_across_pages() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut items = numbers(10, 3, None, calls.clone(), None).items();
        let (seen, error) = drain(&mut items).await;
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert!(error.is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 4, "4 pages of 3, 3, 3, 1");
        assert_eq!(items.resume_cursor(), Some(&10));
        assert!(items.is_finished());
        assert!(items.next().await.is_none(), "fused");
    }

    #[tokio::test]
    async fn pages_are_fetched_only_when_asked_for_one_at_a_time() {
        let calls = Arc::new(AtomicUsize::new(0));
        let pages = numbers(1_000_000, 1000, None, calls.clone(), None);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "nothing before the first poll"
        );
        let mut items = pages.items();
        for expected in 0..1500 {
            assert_eq!(items.next().await.unwrap().unwrap(), expected);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2, "two pages for 1,500 items");
        assert!(items.size_hint().0 <= 1000, "at most one page held");
    }

    #[tokio::test]
    async fn a_stream_resumed_from_a_cursor_yields_only_what_follows() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut pages = numbers(10, 3, None, calls.clone(), None);
        let first = pages.next().await.unwrap().unwrap();
        assert_eq!(first.items(), &[0, 1, 2]);
        let persisted = *pages.resume_cursor().unwrap();
        assert_eq!(persisted, 3);
        drop(pages);
        let (rest, _) = drain(&mut numbers(10, 3, None, calls, Some(persisted)).items()).await;
        assert_eq!(rest, (3..10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn an_error_ends_the_stream_and_keeps_the_last_good_cursor() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut items = numbers(10, 3, Some(6), calls.clone(), None).items();
        let (seen, error) = drain(&mut items).await;
        assert_eq!(seen, (0..6).collect::<Vec<_>>());
        assert!(matches!(error, Some(StreamError::Call(Boom))));
        assert!(
            items.next().await.is_none(),
            "the stream ends after an error"
        );
        assert_eq!(items.resume_cursor(), Some(&6));
        // Resumed (the failure was transient): exactly the rest.
        let resumed = numbers(10, 3, None, calls, items.resume_cursor().copied());
        let (rest, error) = drain(&mut resumed.items()).await;
        assert_eq!(rest, (6..10).collect::<Vec<_>>());
        assert!(error.is_none());
    }

    #[tokio::test]
    async fn a_half_read_page_is_not_committed() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut items = numbers(10, 3, None, calls, None).items();
        assert_eq!(items.resume_cursor(), None, "the start");
        for _ in 0..4 {
            items.next().await.unwrap().unwrap();
        }
        assert_eq!(items.resume_cursor(), Some(&3), "page 2 is half read");
        for _ in 0..2 {
            items.next().await.unwrap().unwrap();
        }
        assert_eq!(items.resume_cursor(), Some(&6), "page 2 handed out in full");
    }

    #[tokio::test]
    async fn a_server_repeating_the_cursor_is_stalled_not_a_loop() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let pages = paginate(Some(5usize), move |cursor: Option<usize>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, StreamError<Boom>>(Page::more(Vec::<u8>::new(), cursor.unwrap())) }
        });
        let result: Result<Vec<_>, _> = pages.try_collect().await;
        assert!(matches!(result, Err(StreamError::Stalled)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// A server whose cursors follow `route` (the cursor asked with -> the next one), one item
    /// per page (the item being the cursor asked with), always announcing more pages; after
    /// 50 calls it says the list ended, so a stream that does not catch the cycle still ends
    /// (with repeated items) instead of hanging the test.
    fn cycling(route: &'static [(&'static str, &'static str)]) -> Pages<String, String, Boom> {
        let calls = Arc::new(AtomicUsize::new(0));
        paginate(None, move |cursor: Option<String>| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let asked = cursor.unwrap_or_else(|| "start".to_string());
                let next = route
                    .iter()
                    .find(|(from, _)| *from == asked)
                    .map(|(_, to)| to.to_string())
                    .expect("the route covers every cursor");
                Ok(if call < 50 {
                    Page::more(vec![asked], next)
                } else {
                    Page::last(vec![asked], None)
                })
            }
        })
    }

    async fn drain_text(
        items: &mut Items<String, String, Boom>,
    ) -> (Vec<String>, Option<StreamError<Boom>>) {
        let mut seen = Vec::new();
        loop {
            match items.next().await {
                Some(Ok(item)) => seen.push(item),
                Some(Err(e)) => return (seen, Some(e)),
                None => return (seen, None),
            }
        }
    }

    #[tokio::test]
    async fn a_cycle_of_two_cursors_ends_with_a_typed_error_after_each_item_once() {
        // start -> A -> B -> A: the page at B hands out A again.
        let mut items = cycling(&[("start", "A"), ("A", "B"), ("B", "A")]).items();
        let (seen, error) = drain_text(&mut items).await;
        assert_eq!(seen, ["start", "A", "B"], "each page's item once");
        assert!(
            matches!(error, Some(StreamError::Cycle { length: 2 })),
            "{error:?}"
        );
        assert_eq!(
            items.resume_cursor().map(String::as_str),
            Some("B"),
            "the last good page's cursor is kept"
        );
    }

    #[tokio::test]
    async fn a_cycle_after_a_lead_in_ends_with_a_typed_error_after_each_item_once() {
        // start -> A -> B -> C -> B.
        let mut items = cycling(&[("start", "A"), ("A", "B"), ("B", "C"), ("C", "B")]).items();
        let (seen, error) = drain_text(&mut items).await;
        assert_eq!(seen, ["start", "A", "B", "C"]);
        assert!(
            matches!(error, Some(StreamError::Cycle { length: 2 })),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_cycle_back_to_the_cursor_a_stream_resumed_from_is_caught() {
        let pages = paginate(Some("X"), |cursor: Option<&'static str>| async move {
            Ok::<_, StreamError<Boom>>(match cursor {
                Some("X") => Page::more(vec![1], "Y"),
                _ => Page::more(vec![2], "X"),
            })
        });
        let result: Result<Vec<_>, _> = pages.try_collect().await;
        assert!(
            matches!(result, Err(StreamError::Cycle { length: 2 })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_long_stream_of_distinct_cursors_is_not_taken_for_a_cycle() {
        const PAGES: usize = 100_000;
        let calls = Arc::new(AtomicUsize::new(0));
        let mut items = numbers(PAGES, 1, None, calls.clone(), None).items();
        let mut count = 0usize;
        while let Some(item) = items.next().await {
            assert_eq!(item.unwrap(), count);
            count += 1;
        }
        assert_eq!(count, PAGES);
        assert_eq!(calls.load(Ordering::SeqCst), PAGES);
    }

    #[test]
    fn the_cursors_remembered_are_bounded() {
        let mut seen = SeenCursors::with_capacity(3);
        for cursor in 0..10u32 {
            assert_eq!(seen.insert(&cursor), None);
        }
        assert_eq!(seen.len(), 3, "only the last three are kept");
        assert_eq!(seen.insert(&9), Some(1), "a repeat of the last one");
        assert_eq!(seen.insert(&0), None, "forgotten: past the bound");
    }

    #[tokio::test]
    async fn a_feed_ends_on_its_empty_last_page_and_exposes_its_cursor() {
        // A feed: the last page is empty but carries where to resume later.
        let pages = paginate(None, |cursor: Option<u32>| async move {
            Ok::<_, StreamError<Boom>>(match cursor {
                None => Page::more(vec!["a", "b"], 2),
                Some(2) => Page::last(vec![], Some(2)),
                Some(_) => Page::last(vec![], None),
            })
        });
        let mut items = pages.items();
        assert_eq!(items.next().await.unwrap().unwrap(), "a");
        assert_eq!(items.next().await.unwrap().unwrap(), "b");
        assert!(items.next().await.is_none());
        assert_eq!(items.resume_cursor(), Some(&2));
    }

    #[tokio::test]
    async fn the_last_cursor_is_kept_when_the_last_page_has_none() {
        let pages = paginate(None, |cursor: Option<u32>| async move {
            Ok::<_, StreamError<Boom>>(match cursor {
                None => Page::more(vec![1], 7),
                Some(_) => Page::last(vec![2], None),
            })
        });
        let mut items = pages.items();
        assert_eq!(drain_u32(&mut items).await, vec![1, 2]);
        assert_eq!(items.resume_cursor(), Some(&7));
    }

    async fn drain_u32(items: &mut Items<u32, u32, Boom>) -> Vec<u32> {
        let mut seen = Vec::new();
        while let Some(item) = items.next().await {
            seen.push(item.unwrap());
        }
        seen
    }

    #[test]
    fn cursors_are_checked_and_round_trip_as_text() {
        assert_eq!(Cursor::new(""), Err(CursorError::Empty));
        assert_eq!(Cursor::new("  "), Err(CursorError::Empty));
        assert_eq!(
            Cursor::new(" abc"),
            Err(CursorError::InvalidCharacter { position: 0 })
        );
        assert_eq!(
            Cursor::new("ab\ncd"),
            Err(CursorError::InvalidCharacter { position: 2 })
        );
        assert_eq!(
            "ab\u{e9}".parse::<Cursor>(),
            Err(CursorError::InvalidCharacter { position: 2 })
        );
        assert_eq!(
            Cursor::new("x".repeat(MAX_CURSOR_LEN + 1)),
            Err(CursorError::TooLong {
                len: MAX_CURSOR_LEN + 1
            })
        );
        let cursor: Cursor = "Y2k6cGVyc29uczoxMg".parse().unwrap();
        assert_eq!(cursor.to_string(), "Y2k6cGVyc29uczoxMg");
        let json = serde_json::to_string(&cursor).unwrap();
        assert_eq!(json, "\"Y2k6cGVyc29uczoxMg\"");
        assert_eq!(serde_json::from_str::<Cursor>(&json).unwrap(), cursor);
        assert!(serde_json::from_str::<Cursor>("\"\"").is_err());
        assert!(Cursor::new("a b").is_ok(), "inner spaces are allowed");
    }
}
