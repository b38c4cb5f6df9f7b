//! `sync status`: per flow its cursor, passes, items, failures, last success, last error (with
//! its time) and lease holder; the pending uploads per target; the change log's size.

use customer_data_sync::{FlowStatus, Store, UPLOAD_TARGETS};
use serde_json::{Value, json};

use crate::error::CliError;

/// Everything `sync status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Every flow that has run or has a cursor, by name.
    pub flows: Vec<FlowStatus>,
    /// Customers waiting to be sent, per upload target, in [`UPLOAD_TARGETS`] order.
    pub pending_uploads: Vec<(String, u64)>,
    /// Vendor changes in the change log.
    pub change_log: u64,
}

fn store_error(e: customer_data_sync::StoreError) -> CliError {
    CliError::Store(format!("reading the status failed: {e}"))
}

/// Reads the status from `store`.
pub async fn read<S: Store>(store: &S) -> Result<Status, CliError> {
    let flows = store.flow_statuses().await.map_err(store_error)?;
    let mut pending_uploads = Vec::new();
    for target in UPLOAD_TARGETS {
        let count = store
            .pending_upload_count(target)
            .await
            .map_err(store_error)?;
        pending_uploads.push((target.to_string(), count));
    }
    let change_log = store.logged_change_count().await.map_err(store_error)?;
    Ok(Status {
        flows,
        pending_uploads,
        change_log,
    })
}

/// A lease past its time: its holder died or stopped without releasing it; the next instance
/// takes it.
fn expired(until_ms: i64) -> bool {
    until_ms < chrono::Utc::now().timestamp_millis()
}

fn lease_until(until_ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(until_ms)
        .map_or_else(|| until_ms.to_string(), |t| t.to_rfc3339())
}

impl Status {
    /// The status as JSON (`--json`): `{"flows": [...], "pending_uploads": {target: n},
    /// "change_log": n}`; absent values are `null`; a flow's `lease` is `{"holder", "until"
    /// (RFC 3339), "until_ms", "expired"}`.
    pub fn to_json(&self) -> Value {
        let flows: Vec<Value> = self
            .flows
            .iter()
            .map(|f| {
                json!({
                    "flow": f.flow,
                    "cursor": f.cursor,
                    "passes": f.passes,
                    "items": f.items,
                    "failures": f.failures,
                    "last_success_at": f.last_success_at,
                    "last_error": f.last_error,
                    "last_error_at": f.last_error_at,
                    "lease": f.lease.as_ref().map(|(holder, until)| json!({
                        "holder": holder,
                        "until": lease_until(*until),
                        "until_ms": until,
                        "expired": expired(*until),
                    })),
                })
            })
            .collect();
        let pending: serde_json::Map<String, Value> = self
            .pending_uploads
            .iter()
            .map(|(target, count)| (target.clone(), json!(count)))
            .collect();
        json!({
            "flows": flows,
            "pending_uploads": pending,
            "change_log": self.change_log,
        })
    }

    /// The status as text lines.
    pub fn to_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.flows.is_empty() {
            lines.push("flows: none has run yet".to_string());
        } else {
            lines.push("flows:".to_string());
        }
        for f in &self.flows {
            lines.push(format!(
                "  {}: {} pass(es), {} item(s), {} failure(s); cursor {}",
                f.flow,
                f.passes,
                f.items,
                f.failures,
                f.cursor.as_deref().unwrap_or("(none)")
            ));
            lines.push(format!(
                "    last success: {}",
                f.last_success_at.as_deref().unwrap_or("never")
            ));
            match (&f.last_error, &f.last_error_at) {
                (Some(error), at) => lines.push(format!(
                    "    last error: {} at {}",
                    error,
                    at.as_deref().unwrap_or("?")
                )),
                (None, _) => lines.push("    last error: none".to_string()),
            }
            match &f.lease {
                Some((holder, until)) => {
                    let mark = if expired(*until) { " (expired)" } else { "" };
                    lines.push(format!(
                        "    lease: {holder} until {}{mark}",
                        lease_until(*until)
                    ))
                }
                None => lines.push("    lease: free".to_string()),
            }
        }
        let pending: Vec<String> = self
            .pending_uploads
            .iter()
            .map(|(target, count)| format!("{target} {count}"))
            .collect();
        lines.push(format!("pending uploads: {}", pending.join(", ")));
        lines.push(format!("change log: {} change(s)", self.change_log));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_with_lease(until_ms: i64) -> Status {
        Status {
            flows: vec![FlowStatus {
                flow: "biq-change-reader".into(),
                lease: Some(("pid-1-dead".into(), until_ms)),
                ..FlowStatus::default()
            }],
            pending_uploads: vec![],
            change_log: 0,
        }
    }

    #[test]
    fn a_lease_past_its_time_is_shown_as_expired() {
        // 2001: long past.
        let past = status_with_lease(1_000_000_000_000);
        assert!(
            past.to_lines().contains(
                &"    lease: pid-1-dead until 2001-09-09T01:46:40+00:00 (expired)".into()
            ),
            "{:?}",
            past.to_lines()
        );
        assert_eq!(past.to_json()["flows"][0]["lease"]["expired"], true);
        // 2100: still held.
        let held = status_with_lease(4_102_444_800_000);
        assert!(!held.to_lines().iter().any(|l| l.contains("expired")));
        assert_eq!(held.to_json()["flows"][0]["lease"]["expired"], false);
    }
}
