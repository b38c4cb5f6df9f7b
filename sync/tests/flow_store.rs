//! The store's parts the flows rely on: the per-writer outbox of local writes, the lease and
//! the pass status, on SQLite and, when a server is reachable, on PostgreSQL
//! (`on_both_stores!`, tests/common).

mod common;

use customer_data_sync::{Customer, PassOutcome, Store, UPLOAD_TARGETS};

on_both_stores!(
    a_write_is_pending_for_every_writer_until_each_sent_that_version,
    one_holder_at_a_time_until_the_lease_expires_or_is_released,
    status_counts_passes_items_and_keeps_the_last_error,
    a_cursor_set_without_a_change_moves_and_logs_nothing,
);

fn customer(number: &str, name: &str) -> Customer {
    Customer {
        customer_number: number.to_string(),
        name: Some(name.to_string()),
        ..Customer::default()
    }
}

const SHADOW: &str = "biq-customer-shadow";

async fn a_write_is_pending_for_every_writer_until_each_sent_that_version<S: Store>(store: S) {
    store.put_customer(customer("C-1", "One")).await.unwrap();
    store.put_customer(customer("C-2", "Two")).await.unwrap();
    for target in UPLOAD_TARGETS {
        assert_eq!(store.pending_upload_count(target).await.unwrap(), 2);
    }
    let pending = store.pending_uploads(SHADOW, 10).await.unwrap();
    let numbers: Vec<_> = pending.iter().map(|p| p.customer_number.as_str()).collect();
    assert_eq!(numbers, ["C-1", "C-2"]);
    assert_eq!(
        pending[0].customer.as_ref().unwrap().name.as_deref(),
        Some("One")
    );

    // C-1 is edited after it was read: sending the old version must not clear it.
    store
        .put_customer(customer("C-1", "One again"))
        .await
        .unwrap();
    assert!(
        !store
            .upload_done(SHADOW, "C-1", pending[0].version)
            .await
            .unwrap()
    );
    assert!(
        store
            .upload_done(SHADOW, "C-2", pending[1].version)
            .await
            .unwrap()
    );
    let pending = store.pending_uploads(SHADOW, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0].customer.as_ref().unwrap().name.as_deref(),
        Some("One again")
    );
    // The other writer's outbox is untouched.
    assert_eq!(
        store
            .pending_upload_count("consumer-intelligence")
            .await
            .unwrap(),
        2
    );

    // A delete is pending as a delete (no row to send).
    assert!(store.delete_customer("C-2").await.unwrap());
    assert!(!store.delete_customer("C-2").await.unwrap());
    let pending = store.pending_uploads(SHADOW, 10).await.unwrap();
    let deleted: Vec<_> = pending.iter().filter(|p| p.customer.is_none()).collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].customer_number, "C-2");
}

async fn one_holder_at_a_time_until_the_lease_expires_or_is_released<S: Store>(store: S) {
    let flow = "biq-change-reader";
    assert!(store.try_lease(flow, "a", 1_000, 500).await.unwrap());
    assert!(!store.try_lease(flow, "b", 1_200, 500).await.unwrap());
    // The holder renews; the other still waits.
    assert!(store.try_lease(flow, "a", 1_400, 500).await.unwrap());
    assert!(!store.try_lease(flow, "b", 1_800, 500).await.unwrap());
    // Expired (a died at 1,400 + 500): b takes over, and a is now out.
    assert!(store.try_lease(flow, "b", 1_900, 500).await.unwrap());
    assert!(!store.try_lease(flow, "a", 1_950, 500).await.unwrap());
    // Released: taken at once.
    store.release_lease(flow, "b").await.unwrap();
    assert!(store.try_lease(flow, "a", 2_000, 500).await.unwrap());
    // Releasing someone else's lease does nothing.
    store.release_lease(flow, "b").await.unwrap();
    assert!(!store.try_lease(flow, "b", 2_100, 500).await.unwrap());
}

async fn status_counts_passes_items_and_keeps_the_last_error<S: Store>(store: S) {
    let flow = "biq-change-reader";
    store
        .record_pass(
            flow,
            "2026-12-05T10:00:00Z",
            PassOutcome::Succeeded { items: 7 },
        )
        .await
        .unwrap();
    store
        .record_pass(
            flow,
            "2026-12-05T10:01:00Z",
            PassOutcome::Failed {
                error: "vendor call failed: 503".into(),
            },
        )
        .await
        .unwrap();
    store
        .record_pass(
            flow,
            "2026-12-05T10:02:00Z",
            PassOutcome::Succeeded { items: 3 },
        )
        .await
        .unwrap();
    store.try_lease(flow, "me", 0, 60_000).await.unwrap();
    let statuses = store.flow_statuses().await.unwrap();
    assert_eq!(statuses.len(), 1);
    let status = &statuses[0];
    assert_eq!(
        (status.passes, status.items, status.failures),
        (3, 10, 1),
        "{status:?}"
    );
    assert_eq!(
        status.last_success_at.as_deref(),
        Some("2026-12-05T10:02:00Z")
    );
    assert_eq!(
        status.last_error.as_deref(),
        Some("vendor call failed: 503")
    );
    assert_eq!(
        status.last_error_at.as_deref(),
        Some("2026-12-05T10:01:00Z")
    );
    assert_eq!(status.lease, Some(("me".to_string(), 60_000)));
}

async fn a_cursor_set_without_a_change_moves_and_logs_nothing<S: Store>(store: S) {
    let flow = "consumer-intelligence-person-feed";
    assert_eq!(store.cursor(flow).await.unwrap(), None);
    store.set_cursor(flow, "token-1").await.unwrap();
    store.set_cursor(flow, "token-2").await.unwrap();
    assert_eq!(
        store.cursor(flow).await.unwrap().as_deref(),
        Some("token-2")
    );
    // Back to an earlier token too: a cursor is where the feed says to go on, not a maximum.
    store.set_cursor(flow, "token-1").await.unwrap();
    assert_eq!(
        store.cursor(flow).await.unwrap().as_deref(),
        Some("token-1")
    );
    assert_eq!(store.logged_change_count().await.unwrap(), 0);
}
