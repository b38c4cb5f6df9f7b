//! BiQ AlertChanges flows: the approved-changes feed into our table ([`ChangeReader`],
//! `biq-change-reader`) and the notifications feed into the store ([`NotificationReader`],
//! `biq-notification-reader`), as BiQ's demo ChangeReader and NotificationReader read them
//! (github.com/BiQ/AlertIntegrationDemo, b70a67a), with the bookmark in the same transaction as
//! the item instead of a JSON file written after it.
//!
//! A pass reads the feed of the settings' shadow source from the flow's cursor (the `committed`
//! time of the last item handled, RFC 3339; none: the whole feed) until a batch says no `more`,
//! and hands each item to [`Store::apply`]: the item, its log entry and the cursor in one
//! transaction. A pass stopped anywhere (a failed call, a crash) resumes after the last item
//! committed; an item the feed hands out again is found in the log and skipped.
//!
//! The server-side bookmark (`PUT /approvedchanges-bookmark`) is NOT written: it is one per
//! tenant while the feeds are per shadow source, and the store's cursor (moved in the item's
//! own transaction) is the one that cannot drift from the table. The demo (b70a67a) does not
//! write it either.

use chrono::{DateTime, Utc};
use customer_data::biq_alert_changes::{Client, stream, types};
use futures_util::TryStreamExt;

use crate::biq::{BiqTableMapping, CHANGE_READER_FLOW, apply_approved_change};
use crate::biq_customer_shadow::{BiqSettings, stream_error};
use crate::flow::{BoxFuture, Flow, FlowError, Progress};
use crate::{Applied, ChangeOutcome, ChangeRef, CustomerTable, Notification, Store, StoreError};

/// The flow name of the notification reader.
pub const NOTIFICATION_READER_FLOW: &str = "biq-notification-reader";

/// The change log's `source` of BiQ notifications (change id: the notification's id).
pub const NOTIFICATION_SOURCE: &str = "biq-notification";

/// The flows of this module.
pub const FLOWS: &[&str] = &[CHANGE_READER_FLOW, NOTIFICATION_READER_FLOW];

/// Where a feed flow resumes: its cursor in the store, parsed.
async fn resume_from<S: Store>(store: &S, flow: &str) -> Result<Option<DateTime<Utc>>, FlowError> {
    let Some(cursor) = store.cursor(flow).await? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&cursor)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            FlowError::Store(StoreError::Corrupt(format!(
                "cursor of {flow} is not RFC 3339: {e}"
            )))
        })
}

async fn connect(settings: &BiqSettings) -> Result<(Client, String), FlowError> {
    let client = settings
        .session
        .alert_changes()
        .map_err(|e| FlowError::Fatal(format!("AlertChanges client: {e}")))?;
    Ok((client, settings.tenant().await?))
}

/// What one change-reader pass did, by outcome (the pass returns their sum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeCounts {
    /// Applied to a row.
    pub applied: u64,
    /// Known but changing nothing (logged `not_applied`).
    pub not_applied: u64,
    /// Event types the mapping does not know (logged `unknown`, reported).
    pub unknown: u64,
    /// Handed out again by the feed and found in the log: skipped.
    pub already_logged: u64,
}

/// The change reader: approved changes onto the customer table through
/// [`BiqTableMapping`] (module docs). An unknown event type is logged `unknown`, not applied,
/// warned about (`tracing`) and counted.
#[derive(Debug, Clone)]
pub struct ChangeReader {
    settings: BiqSettings,
}

impl ChangeReader {
    /// The change reader with these settings.
    pub fn new(settings: BiqSettings) -> Self {
        Self { settings }
    }

    /// One pass, with its counts by outcome.
    pub async fn pass_counts<S: Store>(
        &self,
        store: &S,
        progress: &dyn Progress,
    ) -> Result<ChangeCounts, FlowError> {
        let (client, tenant) = connect(&self.settings).await?;
        let from = resume_from(store, CHANGE_READER_FLOW).await?;
        let mut changes =
            stream::approved_changes(&client, tenant, self.settings.shadow_source_id, from).items();
        let mut counts = ChangeCounts::default();
        while let Some(change) = changes
            .try_next()
            .await
            .map_err(|e| stream_error("nextApprovedChanges", e))?
        {
            match apply_approved_change(store, BiqTableMapping, change).await? {
                Applied::Now(ChangeOutcome::Applied { .. }) => counts.applied += 1,
                Applied::Now(ChangeOutcome::NotApplied { .. }) => counts.not_applied += 1,
                Applied::Now(ChangeOutcome::Unknown { event_type }) => {
                    tracing::warn!(
                        flow = CHANGE_READER_FLOW,
                        event_type = event_type.as_str(),
                        "an approved change of an unknown type: logged, not applied"
                    );
                    counts.unknown += 1;
                }
                Applied::AlreadyLogged(_) => {
                    counts.already_logged += 1;
                    continue;
                }
            }
            progress.advanced(CHANGE_READER_FLOW, 1);
        }
        if counts.unknown > 0 {
            tracing::warn!(
                flow = CHANGE_READER_FLOW,
                unknown = counts.unknown,
                "approved changes of unknown types this pass (see the change log)"
            );
        }
        Ok(counts)
    }
}

impl<S: Store> Flow<S> for ChangeReader {
    fn name(&self) -> &str {
        CHANGE_READER_FLOW
    }

    fn pass<'a>(
        &'a self,
        store: &'a S,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<u64, FlowError>> {
        Box::pin(async move {
            let counts = self.pass_counts(store, progress).await?;
            Ok(counts.applied + counts.not_applied + counts.unknown)
        })
    }
}

/// The log entry and cursor of a notification. One without an id or `committed` cannot be
/// recorded exactly once and is refused, as [`crate::biq::change_ref`] refuses such a change.
pub fn notification_ref(notification: &types::Notification) -> Result<ChangeRef, StoreError> {
    let id = notification
        .id
        .ok_or_else(|| StoreError::InvalidChange("notification without an id".to_string()))?;
    let committed = notification.committed.ok_or_else(|| {
        StoreError::InvalidChange(format!("notification {id} without `committed`"))
    })?;
    Ok(ChangeRef {
        flow: NOTIFICATION_READER_FLOW.to_string(),
        source: NOTIFICATION_SOURCE.to_string(),
        change_id: id.to_string(),
        event_type: notification.event_type.clone(),
        cursor: committed.to_rfc3339(),
    })
}

/// The notification reader: every notification recorded once ([`Store::notifications`]), the
/// payload kept as JSON text. The demo only prints `person-deceased` and
/// `person-formerly-deceased`; every type is recorded here, and none changes the table.
#[derive(Debug, Clone)]
pub struct NotificationReader {
    settings: BiqSettings,
}

impl NotificationReader {
    /// The notification reader with these settings.
    pub fn new(settings: BiqSettings) -> Self {
        Self { settings }
    }

    async fn run_pass<S: Store>(
        &self,
        store: &S,
        progress: &dyn Progress,
    ) -> Result<u64, FlowError> {
        let (client, tenant) = connect(&self.settings).await?;
        let from = resume_from(store, NOTIFICATION_READER_FLOW).await?;
        let mut notifications =
            stream::notifications(&client, tenant, self.settings.shadow_source_id, from).items();
        let mut recorded = 0u64;
        while let Some(item) = notifications
            .try_next()
            .await
            .map_err(|e| stream_error("nextNotifications", e))?
        {
            let key = notification_ref(&item)?;
            let payload = match &item.payload {
                None | Some(serde_json::Value::Null) => None,
                Some(value) => Some(value.to_string()),
            };
            let notification = Notification {
                source: NOTIFICATION_SOURCE.to_string(),
                notification_id: key.change_id.clone(),
                event_type: item.event_type.clone(),
                customer_number: item.customer_number.clone(),
                committed: Some(key.cursor.clone()),
                payload,
            };
            let outcome = store
                .apply(key, move |tx| {
                    tx.put_notification(&notification)?;
                    Ok(match notification.customer_number {
                        Some(customer_number) => ChangeOutcome::Applied { customer_number },
                        None => ChangeOutcome::NotApplied {
                            reason: "recorded; the notification names no customer".to_string(),
                        },
                    })
                })
                .await?;
            if let Applied::Now(_) = outcome {
                recorded += 1;
                progress.advanced(NOTIFICATION_READER_FLOW, 1);
            }
        }
        Ok(recorded)
    }
}

impl<S: Store> Flow<S> for NotificationReader {
    fn name(&self) -> &str {
        NOTIFICATION_READER_FLOW
    }

    fn pass<'a>(
        &'a self,
        store: &'a S,
        progress: &'a dyn Progress,
    ) -> BoxFuture<'a, Result<u64, FlowError>> {
        Box::pin(self.run_pass(store, progress))
    }
}
