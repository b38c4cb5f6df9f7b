//! The stream types of AccountsIQ's incremental reads (`customers_changed` in the `stream`
//! module of `accountsiq_v1_1` and of `accountsiq_v2_0`): a whole
//! `GetCustomersBy` answer as one page, resumable at a `FromLastModifiedDateInUTC` instant.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::AccountsIqError;
use crate::runtime::paginate::{self, Page};

/// Why an AccountsIQ stream stopped: the call's error (after the session's own re-login).
pub type StreamError = paginate::StreamError<AccountsIqError>;

/// Reads of an AccountsIQ ledger, resumable at a `FromLastModifiedDateInUTC` instant.
pub type Pages<T> = paginate::Pages<T, DateTime<Utc>, AccountsIqError>;

/// Items of an AccountsIQ read, one by one.
pub type Items<T> = paginate::Items<T, DateTime<Utc>, AccountsIqError>;

/// A margin for clocks a little apart; each read then repeats the last second of the one
/// before.
pub const DEFAULT_CLOCK_MARGIN: Duration = Duration::from_secs(1);

/// One whole incremental read as the only page; the next read starts `clock_margin` before
/// `started`.
pub(crate) fn whole_read<T>(
    items: Vec<T>,
    started: DateTime<Utc>,
    clock_margin: Duration,
) -> Page<T, DateTime<Utc>> {
    let margin = chrono::TimeDelta::from_std(clock_margin).unwrap_or(chrono::TimeDelta::MAX);
    let next = started
        .checked_sub_signed(margin)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    Page::last(items, Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_read_starts_a_margin_before_this_one() {
        let started = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let page = whole_read(vec![1, 2], started, Duration::from_secs(1));
        assert_eq!(
            page.cursor(),
            Some(&(started - chrono::TimeDelta::seconds(1)))
        );
        assert!(!page.has_more());
        let page = whole_read(Vec::<u8>::new(), started, Duration::MAX);
        assert_eq!(page.cursor(), Some(&DateTime::<Utc>::MIN_UTC));
    }
}
