//! The BiQ flows against the in-process sandbox: the shadow writer and the reconciliation
//! (CustomerShadow twin), the change reader and the notification reader (AlertChanges twin,
//! fed through its sandbox-only `script` route), and all of them under injected faults.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use customer_data::biq::{Environment, Session};
use customer_data::biq_alert_changes::types as changes;
use customer_data::runtime::retry::RetryPolicy;
use customer_data_sandbox::{Faults, Sandbox, SandboxConfig, credentials};
use customer_data_sync::biq::{CHANGE_READER_FLOW, SOURCE};
use customer_data_sync::biq_alert_changes::{
    ChangeCounts, ChangeReader, NOTIFICATION_READER_FLOW, NOTIFICATION_SOURCE, NotificationReader,
};
use customer_data_sync::biq_customer_shadow::{
    BiqSettings, RECONCILER_FLOW, ShadowReconciler, ShadowWriter, UPLOAD_TARGET, WRITER_FLOW,
};
use customer_data_sync::flow::{
    self, Clock, Flow, FlowError, NoProgress, Progress, RunEnd, RunOptions,
};
use customer_data_sync::sqlite::SqliteStore;
use customer_data_sync::{Customer, Store};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

const SHADOW: &str = "biq_customer_shadow";
const CHANGES: &str = "biq_alert_changes";

fn session(sandbox: &Sandbox, alert_changes: String) -> Session {
    Session::new(
        Environment::Custom {
            auth: sandbox.url("biq_auth"),
            customer_shadow: sandbox.url(SHADOW),
            alert_changes,
        },
        credentials::BIQ_API_KEY,
    )
    .unwrap()
}

/// Retries `call` (a test helper's own call, e.g. to the twin under faults) until it works.
async fn retried<T, E: std::fmt::Display, Fut: Future<Output = Result<T, E>>>(
    mut call: impl FnMut() -> Fut,
) -> T {
    let mut last = String::new();
    for _ in 0..40 {
        match call().await {
            Ok(value) => return value,
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("still failing after 40 tries: {last}");
}

struct Env {
    sandbox: Sandbox,
    session: Session,
    tenant: String,
    /// The private customers' shadow source (the flows'), and the business one.
    source: i32,
    other_source: i32,
    store: SqliteStore,
}

impl Env {
    async fn start(config: SandboxConfig) -> Env {
        let sandbox = Sandbox::start(config).await.unwrap();
        Env::with_alert_changes(sandbox, None).await
    }

    async fn with_alert_changes(sandbox: Sandbox, alert_changes: Option<String>) -> Env {
        let url = alert_changes.unwrap_or_else(|| sandbox.url(CHANGES));
        let session = session(&sandbox, url);
        let tenant = session.tenant_id().await.unwrap();
        let client = session.customer_shadow().unwrap();
        let sources: Vec<i32> = retried(|| client.list_shadow_sources().tenant_id(&tenant).send())
            .await
            .iter()
            .filter_map(|s| s.id)
            .collect();
        Env {
            sandbox,
            session,
            tenant,
            source: sources[0],
            other_source: sources[1],
            store: SqliteStore::open(":memory:").await.unwrap(),
        }
    }

    fn settings(&self, page_size: u32) -> BiqSettings {
        BiqSettings {
            session: self.session.clone(),
            shadow_source_id: self.source,
            page_size,
        }
    }

    /// The shadow's customer numbers, by source.
    async fn shadow(&self) -> BTreeMap<i32, BTreeSet<String>> {
        let client = self.session.customer_shadow().unwrap();
        let mut by_source: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
        let all: Vec<_> = retried(|| {
            customer_data::biq_customer_shadow::stream::customers(&client, &self.tenant, 7)
                .items()
                .try_collect::<Vec<_>>()
        })
        .await;
        for info in all {
            by_source
                .entry(info.shadow_source_id.unwrap())
                .or_default()
                .insert(info.customer_number.unwrap());
        }
        by_source
    }

    fn ours(shadow: &BTreeMap<i32, BTreeSet<String>>, source: i32) -> Vec<String> {
        shadow
            .get(&source)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Requests the CustomerShadow twin got on the customer routes of our source for these
    /// customers (POST on the collection, PUT/DELETE on each).
    fn shadow_writes(&self, numbers: &[&str]) -> u64 {
        let base = format!(
            "/tenants/{}/shadowsources/{}/customers",
            self.tenant, self.source
        );
        self.sandbox.requests(SHADOW, &base)
            + numbers
                .iter()
                .map(|n| self.sandbox.requests(SHADOW, &format!("{base}/{n}")))
                .sum::<u64>()
    }

    /// Calls the sandbox-only script route (retried under faults: a retry may emit twice,
    /// so tests under faults take the feed itself as the truth).
    async fn script(&self, request: Value) -> Value {
        let http = customer_data::runtime::http::default_client().unwrap();
        let url = format!(
            "{}/sandbox/tenants/{}/script",
            self.sandbox.url(CHANGES),
            self.tenant
        );
        retried(|| async {
            let answer = http
                .post(&url)
                .header(
                    customer_data_sandbox::sandbox_only::KEY_HEADER,
                    self.sandbox.sandbox_key(),
                )
                .json(&request)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if answer.status().as_u16() != 200 {
                return Err(format!("script answered {}", answer.status()));
            }
            answer.json::<Value>().await.map_err(|e| e.to_string())
        })
        .await
    }

    /// What the twin's customer `number` holds as its name: a scripted name-change carries the
    /// shadow customer's current name as `existingName`.
    async fn shadow_name(&self, number: &str) -> Option<String> {
        let scripted = self
            .script(json!({"count": 1, "eventType": "name-change", "customerNumber": number}))
            .await;
        scripted["approvedChanges"][0]["payload"]["NameChangePayload"]["existingName"]
            .as_str()
            .map(str::to_string)
    }
}

fn person(number: &str, name: &str) -> Customer {
    Customer {
        customer_number: number.to_string(),
        category: Some("privat".to_string()),
        name: Some(name.to_string()),
        active: Some("true".to_string()),
        ..Customer::default()
    }
}

async fn pass<S: Store>(flow: &dyn Flow<S>, store: &S) -> u64 {
    flow.pass(store, &NoProgress).await.unwrap()
}

#[tokio::test]
async fn the_writer_sends_inserts_updates_and_deletes_once() {
    let env = Env::start(SandboxConfig::default()).await;
    let writer = ShadowWriter::new(env.settings(2));
    let store = &env.store;
    for (number, name) in [("L-1", "Ada"), ("L-2", "Bo"), ("L-3", "Cy")] {
        store.put_customer(person(number, name)).await.unwrap();
    }
    // A delete of a customer the shadow never had: 404, already gone, done.
    store.put_customer(person("L-9", "Gone")).await.unwrap();
    store.delete_customer("L-9").await.unwrap();

    assert_eq!(pass(&writer, store).await, 4);
    let shadow = env.shadow().await;
    let mut expected = vec!["L-1", "L-2", "L-3"];
    expected.extend(["SBX-1001", "SBX-1002", "SBX-1003"]);
    expected.sort();
    assert_eq!(Env::ours(&shadow, env.source), expected);
    assert_eq!(env.shadow_name("L-2").await.as_deref(), Some("Bo"));
    assert_eq!(store.pending_upload_count(UPLOAD_TARGET).await.unwrap(), 0);

    // Update one, delete one.
    store.put_customer(person("L-2", "Bodil")).await.unwrap();
    store.delete_customer("L-3").await.unwrap();
    assert_eq!(pass(&writer, store).await, 2);
    assert_eq!(env.shadow_name("L-2").await.as_deref(), Some("Bodil"));
    let shadow = env.shadow().await;
    assert!(!Env::ours(&shadow, env.source).contains(&"L-3".to_string()));
    assert!(Env::ours(&shadow, env.source).contains(&"L-1".to_string()));
    // The other source is untouched.
    assert_eq!(
        Env::ours(&shadow, env.other_source),
        ["SBX-1004", "SBX-1005", "SBX-1006"]
    );

    // Nothing pending: a pass sends nothing.
    let numbers = ["L-1", "L-2", "L-3", "L-9"];
    let before = env.shadow_writes(&numbers);
    assert!(before > 0);
    assert_eq!(pass(&writer, store).await, 0);
    assert_eq!(env.shadow_writes(&numbers), before);
    env.sandbox.shutdown().await;
}

/// A customer the shadow refuses (here a blank number: 400) is reported by number, taken out
/// of the outbox, and does not hold back the others.
#[tokio::test]
async fn a_refused_customer_is_reported_by_number_and_does_not_block_the_others() {
    let env = Env::start(SandboxConfig::default()).await;
    let store = &env.store;
    store
        .put_customer(person(" ", "Private Person"))
        .await
        .unwrap();
    store.put_customer(person("L-1", "Ada")).await.unwrap();
    let writer = ShadowWriter::new(env.settings(1));
    let error = Flow::<SqliteStore>::pass(&writer, store, &NoProgress)
        .await
        .unwrap_err();
    let FlowError::Call(text) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(text, "the shadow refused 1 customer(s):   (HTTP 400)");
    assert!(!error.to_string().contains("Private Person"));
    assert!(Env::ours(&env.shadow().await, env.source).contains(&"L-1".to_string()));
    assert_eq!(store.pending_upload_count(UPLOAD_TARGET).await.unwrap(), 0);
    // Not retried until edited.
    assert_eq!(pass(&writer, store).await, 0);
    env.sandbox.shutdown().await;
}

/// A shadow source the tenant does not have is a setting to fix: fatal, and the row stays
/// pending.
#[tokio::test]
async fn an_unknown_shadow_source_is_fatal() {
    let env = Env::start(SandboxConfig::default()).await;
    env.store.put_customer(person("L-1", "Ada")).await.unwrap();
    let settings = BiqSettings {
        shadow_source_id: 99_999,
        ..env.settings(10)
    };
    let error = Flow::<SqliteStore>::pass(&ShadowWriter::new(settings), &env.store, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, FlowError::Fatal(text) if text.contains("shadow source 99999")),
        "{error:?}"
    );
    assert_eq!(
        env.store.pending_upload_count(UPLOAD_TARGET).await.unwrap(),
        1
    );
    env.sandbox.shutdown().await;
}

/// With nothing to send, a writer pass calls nobody (not even the login): an idle writer
/// does not fail while the vendor is away.
#[tokio::test]
async fn an_idle_writer_pass_calls_nobody() {
    let session = Session::new(
        Environment::Custom {
            // Nothing listens on port 9 (discard): any call would fail.
            auth: "http://127.0.0.1:9/auth".into(),
            customer_shadow: "http://127.0.0.1:9/shadow".into(),
            alert_changes: "http://127.0.0.1:9/changes".into(),
        },
        "key",
    )
    .unwrap();
    let store = SqliteStore::open(":memory:").await.unwrap();
    let writer = ShadowWriter::new(BiqSettings::new(session, 1));
    assert_eq!(pass(&writer, &store).await, 0);
}

/// A refused api key stops the flow (fatal), it is not retried as a failed call.
#[tokio::test]
async fn a_refused_key_is_fatal() {
    let env = Env::start(SandboxConfig::default()).await;
    let session = Session::new(
        Environment::Custom {
            auth: env.sandbox.url("biq_auth"),
            customer_shadow: env.sandbox.url(SHADOW),
            alert_changes: env.sandbox.url(CHANGES),
        },
        "not-the-sandbox-key",
    )
    .unwrap();
    let settings = BiqSettings {
        session,
        ..env.settings(10)
    };
    env.store.put_customer(person("L-1", "Ada")).await.unwrap();
    let flows: Vec<Box<dyn Flow<SqliteStore>>> = vec![
        Box::new(ShadowWriter::new(settings.clone())),
        Box::new(ShadowReconciler::new(settings.clone())),
        Box::new(ChangeReader::new(settings.clone())),
        Box::new(NotificationReader::new(settings)),
    ];
    for flow in &flows {
        let error = flow.pass(&env.store, &NoProgress).await.unwrap_err();
        assert!(
            matches!(&error, FlowError::Fatal(text) if !text.contains("not-the-sandbox-key")),
            "{}: {error:?}",
            flow.name()
        );
    }
    env.sandbox.shutdown().await;
}

/// An edit made while its customer is on the wire is not lost: the version read is cleared
/// only if unchanged, so the edit is sent too (here in the same pass).
#[tokio::test]
async fn an_edit_during_the_send_is_sent_too() {
    let faults = Faults {
        slow: 1.0,
        latency: Duration::from_millis(400),
        ..Faults::none()
    };
    let env = Env::start(SandboxConfig::default().with_faults(SHADOW, faults)).await;
    let store = &env.store;
    store.put_customer(person("L-1", "Ada")).await.unwrap();
    let writer = ShadowWriter::new(env.settings(10));
    let pass = Flow::<SqliteStore>::pass(&writer, store, &NoProgress);
    let edit = async {
        // The PUT (404) and POST take 400 ms each: edit while they are on the wire.
        tokio::time::sleep(Duration::from_millis(300)).await;
        store.put_customer(person("L-1", "Adele")).await.unwrap();
    };
    let (sent, ()) = tokio::join!(pass, edit);
    assert_eq!(sent.unwrap(), 2, "the first version, then the edit");
    assert_eq!(store.pending_upload_count(UPLOAD_TARGET).await.unwrap(), 0);
    assert_eq!(env.shadow_name("L-1").await.as_deref(), Some("Adele"));
    env.sandbox.shutdown().await;
}

#[derive(Clone)]
struct TestClock(Arc<Mutex<SystemTime>>);

impl TestClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn the_reconciler_deletes_strangers_adds_the_missing_and_waits_its_interval() {
    let env = Env::start(SandboxConfig::default()).await;
    let store = &env.store;
    // Ours: SBX-1001 (already on the shadow) and L-1 (not yet); SBX-1002/1003 are strangers.
    store
        .put_customer(person("SBX-1001", "Kept"))
        .await
        .unwrap();
    store.put_customer(person("L-1", "New")).await.unwrap();
    let clock = TestClock(Arc::new(Mutex::new(SystemTime::now())));
    let reconciler = ShadowReconciler::new(env.settings(2)).with_clock(Box::new(clock.clone()));

    assert_eq!(pass(&reconciler, store).await, 3, "two deleted, one added");
    let shadow = env.shadow().await;
    assert_eq!(Env::ours(&shadow, env.source), ["L-1", "SBX-1001"]);
    assert_eq!(
        Env::ours(&shadow, env.other_source),
        ["SBX-1004", "SBX-1005", "SBX-1006"],
        "another source's customers are not ours to delete"
    );
    assert!(store.cursor(RECONCILER_FLOW).await.unwrap().is_some());

    // A stranger appears; not due before the interval: nothing read, nothing sent.
    let client = env.session.customer_shadow().unwrap();
    client
        .create_customer()
        .tenant_id(&env.tenant)
        .shadow_source_id(env.source)
        .body(customer_data_sync::biq_customer_shadow::to_shadow(&person(
            "X-1", "Stranger",
        )))
        .send()
        .await
        .unwrap();
    let list = format!("/tenants/{}/customers", env.tenant);
    let listed = env.sandbox.requests(SHADOW, &list);
    clock.advance(Duration::from_secs(23 * 3600));
    assert_eq!(pass(&reconciler, store).await, 0);
    assert_eq!(env.sandbox.requests(SHADOW, &list), listed);

    // A day after the last run it is due again.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(pass(&reconciler, store).await, 1);
    assert_eq!(
        Env::ours(&env.shadow().await, env.source),
        ["L-1", "SBX-1001"]
    );
    env.sandbox.shutdown().await;
}

/// A customer the shadow refuses fails the reconciliation's pass (naming it), but the run
/// counts: the next is due after the interval, not at once (no listing the shadow every
/// backoff until someone edits the row).
#[tokio::test]
async fn a_refused_customer_fails_the_reconciliation_but_the_run_counts() {
    let env = Env::start(SandboxConfig::default()).await;
    env.store.put_customer(person(" ", "Blank")).await.unwrap();
    let clock = TestClock(Arc::new(Mutex::new(SystemTime::now())));
    let reconciler = ShadowReconciler::new(env.settings(10)).with_clock(Box::new(clock.clone()));
    let error = Flow::<SqliteStore>::pass(&reconciler, &env.store, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, FlowError::Call(text) if text.ends_with("customer(s):   (HTTP 400)")),
        "{error:?}"
    );
    clock.advance(Duration::from_secs(60));
    assert_eq!(pass(&reconciler, &env.store).await, 0);
    env.sandbox.shutdown().await;
}

/// Counts items, and fires once when `after` were handled (to stop a pass mid-way).
struct StopAfter {
    handled: AtomicU64,
    after: u64,
    stop: tokio::sync::Notify,
}

impl Progress for StopAfter {
    fn advanced(&self, _flow: &str, items: u64) {
        let total = self.handled.fetch_add(items, Ordering::SeqCst) + items;
        if total >= self.after && total - items < self.after {
            self.stop.notify_one();
        }
    }
}

/// The changes of our source in the feed so far, in commit order (the twin's list route).
async fn feed(env: &Env) -> Vec<changes::ApprovedChange> {
    let client = env.session.alert_changes().unwrap();
    let all = retried(|| client.list_approved_changes().tenant_id(&env.tenant).send())
        .await
        .into_inner();
    all.into_iter()
        .filter(|c| c.shadow_source_id == Some(env.source))
        .collect()
}

/// The local rows of the source's synthetic customers, so changes have rows to apply to.
async fn seed_rows(env: &Env) {
    for number in ["SBX-1001", "SBX-1002", "SBX-1003"] {
        env.store
            .put_customer(person(number, "Before"))
            .await
            .unwrap();
    }
}

/// Every change's log entry exists once, and each customer's row carries its last change.
async fn assert_applied_once(env: &Env, feed: &[changes::ApprovedChange]) {
    let store = &env.store;
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for change in feed {
        let id = change.id.unwrap().to_string();
        let logged = store.logged_change(SOURCE, &id).await.unwrap();
        assert!(logged.is_some(), "change {id} not logged");
        // A new customer's row is keyed by the change id.
        let number = match change.event_type.as_deref() {
            Some("new-person" | "new-company") => id.clone(),
            _ => change.customer_number.clone().unwrap(),
        };
        last.insert(number, id);
    }
    for (number, id) in last {
        let row = store.customer(&number).await.unwrap().unwrap();
        assert_eq!(
            row.latest_change_id.as_deref(),
            Some(id.as_str()),
            "{number}"
        );
    }
}

fn log_count_of(counts: ChangeCounts) -> u64 {
    counts.applied + counts.not_applied + counts.unknown
}

#[tokio::test]
async fn the_change_reader_applies_each_change_once_and_resumes_after_a_cut() {
    let env = Env::start(SandboxConfig::default()).await;
    seed_rows(&env).await;
    let reader = ChangeReader::new(env.settings(10));
    let store = &env.store;

    // A name change lands as the mapping says (the proposed name).
    let one = env
        .script(json!({"count": 1, "eventType": "name-change", "customerNumber": "SBX-1002"}))
        .await;
    let proposed = one["approvedChanges"][0]["payload"]["NameChangePayload"]["proposedName"]
        .as_str()
        .unwrap()
        .to_string();
    let counts = reader.pass_counts(store, &NoProgress).await.unwrap();
    assert_eq!(
        counts,
        ChangeCounts {
            applied: 1,
            ..ChangeCounts::default()
        }
    );
    let row = store.customer("SBX-1002").await.unwrap().unwrap();
    assert_eq!(row.name.as_deref(), Some(proposed.as_str()));
    // A new person creates a row keyed by the change id.
    let new = env
        .script(json!({"count": 1, "eventType": "new-person", "shadowSourceId": env.source}))
        .await;
    let new_id = new["approvedChanges"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        reader
            .pass_counts(store, &NoProgress)
            .await
            .unwrap()
            .applied,
        1
    );
    let created = store.customer(&new_id).await.unwrap().unwrap();
    assert_eq!(created.category.as_deref(), Some("Residential"));

    // Over 100 changes, three batches or more (the twin's batch is 50; the mix also emits
    // notifications); the pass is cut after 30.
    let mixed = env
        .script(json!({"count": 160, "shadowSourceId": env.source}))
        .await;
    let emitted = mixed["approvedChanges"].as_array().unwrap().len() as u64;
    assert!(emitted > 100, "{emitted}");
    let logged_before = store.logged_change_count().await.unwrap();
    let stop = StopAfter {
        handled: AtomicU64::new(0),
        after: 30,
        stop: tokio::sync::Notify::new(),
    };
    tokio::select! {
        done = reader.pass_counts(store, &stop) => panic!("the pass was not cut: {done:?}"),
        () = stop.stop.notified() => {}
    }
    // A transaction already handed to the blocking pool when the pass was dropped still
    // commits (whole): let it land before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cut_at = store.logged_change_count().await.unwrap() - logged_before;
    assert!((30..emitted).contains(&cut_at), "cut after {cut_at}");

    // The next pass resumes at the cursor: each of the rest once, none again.
    let rest = reader.pass_counts(store, &NoProgress).await.unwrap();
    assert_eq!(rest.already_logged, 0, "resumed exactly at the cursor");
    assert_eq!(cut_at + log_count_of(rest), emitted);
    let feed = feed(&env).await;
    assert_eq!(
        store.logged_change_count().await.unwrap(),
        feed.len() as u64,
        "one log entry per change of the feed"
    );
    assert_applied_once(&env, &feed).await;
    let cursor = store.cursor(CHANGE_READER_FLOW).await.unwrap().unwrap();
    let last = feed.last().unwrap().committed.unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&cursor).unwrap(),
        last,
        "the cursor is the last change's committed"
    );

    // A second pass applies nothing.
    assert_eq!(pass(&reader, store).await, 0);
    assert_eq!(
        store.logged_change_count().await.unwrap(),
        feed.len() as u64
    );
    env.sandbox.shutdown().await;
}

/// A feed of 1,000 synthetic changes (20 batches of the twin's 50) is followed to its end in
/// one pass, each change applied once, and the next pass finds nothing. Prints the rate.
#[tokio::test]
async fn a_long_feed_is_followed_to_its_end_once() {
    const CHANGES_IN_FEED: u64 = 1_000;
    let config = SandboxConfig {
        biq_synthetic_changes: Some(CHANGES_IN_FEED),
        ..SandboxConfig::default()
    };
    let env = Env::start(config).await;
    seed_rows(&env).await;
    let reader = ChangeReader::new(env.settings(10));
    let started = std::time::Instant::now();
    let counts = reader.pass_counts(&env.store, &NoProgress).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(
        counts,
        ChangeCounts {
            applied: CHANGES_IN_FEED,
            ..ChangeCounts::default()
        }
    );
    assert_eq!(
        env.store.logged_change_count().await.unwrap(),
        CHANGES_IN_FEED
    );
    assert_eq!(pass(&reader, &env.store).await, 0);
    println!(
        "figure biq_change_reader_changes_per_s_sqlite_memory_debug {:.0}",
        CHANGES_IN_FEED as f64 / seconds
    );
    env.sandbox.shutdown().await;
}

/// Serves one canned next-approved-changes batch to every request (a stand-in for the feed
/// with an event type the twin cannot emit). Returns its base URL.
fn canned_feed(batch: Value) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let body = batch.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then Content-Length bytes of body.
            while let Ok(n) = stream.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

#[tokio::test]
async fn an_unknown_event_type_is_logged_unknown_and_counted_not_applied() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let id = "6f1c2a59-0b7e-4d3c-9a51-2f8e7d6c5b4a";
    let url = canned_feed(json!({
        "approvedChanges": [{
            "id": id,
            "eventType": "teleported",
            "customerNumber": "SBX-1001",
            "committed": "2026-01-02T03:04:05Z",
            "payload": {"TeleportedPayload": {"proposedPlanet": "Mars"}}
        }],
        "more": false
    }));
    let env = Env::with_alert_changes(sandbox, Some(url)).await;
    seed_rows(&env).await;
    let reader = ChangeReader::new(env.settings(10));
    let counts = reader.pass_counts(&env.store, &NoProgress).await.unwrap();
    assert_eq!(
        counts,
        ChangeCounts {
            unknown: 1,
            ..ChangeCounts::default()
        }
    );
    let logged = env.store.logged_change(SOURCE, id).await.unwrap().unwrap();
    assert_eq!(logged.outcome, "unknown");
    assert_eq!(logged.detail.as_deref(), Some("teleported"));
    let row = env.store.customer("SBX-1001").await.unwrap().unwrap();
    assert_eq!(row.name.as_deref(), Some("Before"), "not applied");
    // Handed out again: found in the log, counted as such, not again as unknown.
    let again = reader.pass_counts(&env.store, &NoProgress).await.unwrap();
    assert_eq!(again.unknown, 0);
    assert_eq!(again.already_logged, 1);
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn notifications_are_recorded_once_each() {
    let env = Env::start(SandboxConfig::default()).await;
    let reader = NotificationReader::new(env.settings(10));
    let store = &env.store;
    let scripted = env
        .script(json!({"count": 3, "eventType": "person-deceased", "shadowSourceId": env.source}))
        .await;
    let scripted: Vec<changes::Notification> =
        serde_json::from_value(scripted["notifications"].clone()).unwrap();
    assert_eq!(scripted.len(), 3);
    assert_eq!(pass(&reader, store).await, 3);
    assert_eq!(
        pass(&reader, store).await,
        0,
        "a second pass records nothing"
    );
    let recorded = store.notifications().await.unwrap();
    assert_eq!(recorded.len(), 3);
    for (got, sent) in recorded.iter().zip(&scripted) {
        assert_eq!(got.source, NOTIFICATION_SOURCE);
        assert_eq!(got.notification_id, sent.id.unwrap().to_string());
        assert_eq!(got.event_type.as_deref(), Some("person-deceased"));
        assert_eq!(got.customer_number, sent.customer_number);
        let payload: Value = serde_json::from_str(got.payload.as_deref().unwrap()).unwrap();
        assert_eq!(Some(&payload), sent.payload.as_ref());
    }
    let cursor = store
        .cursor(NOTIFICATION_READER_FLOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&cursor).unwrap(),
        scripted[2].committed.unwrap()
    );
    // The table is not touched by notifications.
    assert!(store.customers().await.unwrap().is_empty());
    env.sandbox.shutdown().await;
}

fn faulty(seed: u64) -> Faults {
    Faults {
        seed,
        rate_limited: 0.12,
        retry_after_secs: 0,
        server_error: 0.12,
        reset: 0.1,
        truncated: 0.06,
        ..Faults::none()
    }
}

fn once() -> RunOptions {
    RunOptions {
        once: true,
        max_failures: 40,
        retry: RetryPolicy::default()
            .with_backoff(Duration::from_millis(5), Duration::from_millis(50)),
        ..RunOptions::default()
    }
}

#[tokio::test]
async fn under_faults_a_once_run_of_each_flow_ends_with_everything_applied_once() {
    let config = SandboxConfig::default()
        .with_faults(SHADOW, faulty(21))
        .with_faults(CHANGES, faulty(22));
    let env = Env::start(config).await;
    seed_rows(&env).await;
    // One attempt per call: every fault reaches the flows, whose passes must resume.
    let options = customer_data::runtime::ConnectOptions {
        retry: RetryPolicy::default().with_max_attempts(1),
        ..Default::default()
    };
    let session = Session::with_options(
        Environment::Custom {
            auth: env.sandbox.url("biq_auth"),
            customer_shadow: env.sandbox.url(SHADOW),
            alert_changes: env.sandbox.url(CHANGES),
        },
        credentials::BIQ_API_KEY.to_string().into(),
        &options,
    )
    .unwrap();
    let settings = BiqSettings {
        session,
        ..env.settings(4)
    };
    let store = &env.store;
    env.script(json!({"count": 150, "shadowSourceId": env.source}))
        .await;
    env.script(json!({"count": 6, "eventType": "person-deceased", "shadowSourceId": env.source}))
        .await;
    for i in 0..12 {
        store
            .put_customer(person(&format!("L-{i:02}"), "Local"))
            .await
            .unwrap();
    }
    // A stranger on our source, for the reconciler to delete.
    let client = env.session.customer_shadow().unwrap();
    let stranger = customer_data_sync::biq_customer_shadow::to_shadow(&person("X-1", "Stranger"));
    retried(|| async {
        match client
            .create_customer()
            .tenant_id(&env.tenant)
            .shadow_source_id(env.source)
            .body(stranger.clone())
            .send()
            .await
        {
            Err(e) if e.status().is_some_and(|s| s.as_u16() != 409) || e.status().is_none() => {
                Err(e)
            }
            _ => Ok(()),
        }
    })
    .await;
    let flows: Vec<Box<dyn Flow<SqliteStore>>> = vec![
        Box::new(ChangeReader::new(settings.clone())),
        Box::new(NotificationReader::new(settings.clone())),
        Box::new(ShadowWriter::new(settings.clone())),
        Box::new(ShadowReconciler::new(settings.clone())),
    ];
    for flow in &flows {
        let end = flow::run(
            store,
            flow.as_ref(),
            &once(),
            &NoProgress,
            std::future::pending(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", flow.name()));
        assert!(
            matches!(end, RunEnd::Done { .. }),
            "{}: {end:?}",
            flow.name()
        );
    }

    let feed = feed(&env).await;
    assert!(feed.len() > 80, "{}", feed.len());
    let notifications = store.notifications().await.unwrap();
    // The log also holds the notifications and the one reconciliation run.
    let changes_logged =
        store.logged_change_count().await.unwrap() - notifications.len() as u64 - 1;
    assert_eq!(changes_logged, feed.len() as u64, "each change logged once");
    assert_applied_once(&env, &feed).await;
    let ids: BTreeSet<_> = notifications.iter().map(|n| &n.notification_id).collect();
    assert_eq!(ids.len(), notifications.len());
    assert!(notifications.len() >= 6);

    // Every local customer (those the changes touched included) is on the shadow.
    assert_eq!(store.pending_upload_count(UPLOAD_TARGET).await.unwrap(), 0);
    let local: Vec<String> = store
        .customers()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.customer_number)
        .collect();
    // ...and nothing else (the reconciler deleted the stranger).
    assert_eq!(Env::ours(&env.shadow().await, env.source), local);
    let statuses = store.flow_statuses().await.unwrap();
    for name in [
        CHANGE_READER_FLOW,
        NOTIFICATION_READER_FLOW,
        WRITER_FLOW,
        RECONCILER_FLOW,
    ] {
        let status = statuses.iter().find(|s| s.flow == name).unwrap();
        assert!(status.last_success_at.is_some(), "{name}: {status:?}");
        // The faults did cut passes of the flows with many calls (the seeds make this
        // deterministic; the others' few calls may happen to get through).
        if name == CHANGE_READER_FLOW || name == WRITER_FLOW {
            assert!(status.failures > 0, "{name}: {status:?}");
        }
    }
    env.sandbox.shutdown().await;
}

/// Every column goes where the demo's `MapToShadow` puts it (the table in `README.md`).
#[test]
fn a_row_maps_onto_the_shadow_customer_as_the_demo_maps_it() {
    use customer_data_sync::Column;
    use customer_data_sync::biq_customer_shadow::to_shadow;
    let mut row = Customer {
        customer_number: "K-1".into(),
        ..Customer::default()
    };
    // Each text column holds its own name, so a value in the wrong member shows.
    for column in Column::ALL {
        row.set(*column, Some(column.name().to_string()));
    }
    row.category = Some("privat".into());
    row.dar_address_id = Some("0a1b2c3d-0000-4000-8000-00000000000e".into());
    row.extra_data = [
        ("tier".to_string(), "gold".to_string()),
        ("empty".into(), "".into()),
    ]
    .into_iter()
    .collect();
    let expected = json!({
        "customerNumber": "K-1",
        "createdBy": "created_by", "created": "created_at",
        "changedBy": "changed_by", "changed": "changed_at",
        "customerCategoryText": "Residential",
        "active": "active",
        "associatedApprovedChange": "latest_change_id",
        "contact1": {
            "name": "name", "phone1": "phone1", "phone2": "phone2", "email": "email",
            "dateOfBirth": "birth_date", "cpr": "cpr", "cvr": "cvr", "pNr": "p_number",
            "poBox": "po_box", "careOf": "care_of", "attention": "attention",
            "address": {
                "compositeOrig": "address_composite", "countryCode": "country_code",
                "countryName": "country_name",
                "darAddressId": "0a1b2c3d-0000-4000-8000-00000000000e",
                "floor": "floor", "houseLetter": "house_letter", "houseNumber": "house_number",
                "municipalityCode": "municipality_code", "postalCity": "postal_city",
                "postalCode": "postal_code", "postalSubCity": "postal_sub_city",
                "street": "street", "streetCode": "street_code", "suite": "suite"
            }
        },
        "contact2": {
            "name": "secondary_name", "phone1": "secondary_phone1",
            "phone2": "secondary_phone2", "email": "secondary_email", "cpr": "secondary_cpr"
        },
        "extraData": {"tier": "gold"}
    });
    assert_eq!(serde_json::to_value(to_shadow(&row)).unwrap(), expected);

    // The demo's defaults: no secondary contact and no extra data when empty, the all-zero
    // DAR id when there is none (or it is not a UUID), the other categories as they are.
    let bare = Customer {
        customer_number: "K-2".into(),
        category: Some("erhverv".into()),
        dar_address_id: Some("not-a-uuid".into()),
        secondary_name: Some(String::new()),
        ..Customer::default()
    };
    let shadow = serde_json::to_value(to_shadow(&bare)).unwrap();
    assert_eq!(shadow["customerCategoryText"], "Enterprise");
    assert_eq!(
        shadow["contact1"]["address"]["darAddressId"],
        "00000000-0000-0000-0000-000000000000"
    );
    assert!(shadow.get("contact2").is_none(), "{shadow}");
    assert!(shadow.get("extraData").is_none(), "{shadow}");
    let other = Customer {
        category: Some("Forening".into()),
        ..bare
    };
    assert_eq!(
        serde_json::to_value(to_shadow(&other)).unwrap()["customerCategoryText"],
        "Forening"
    );
}

#[test]
fn the_settings_debug_shows_no_key() {
    let session = Session::new(
        Environment::Custom {
            auth: "http://127.0.0.1:9/auth".into(),
            customer_shadow: "http://127.0.0.1:9/shadow".into(),
            alert_changes: "http://127.0.0.1:9/changes".into(),
        },
        "very-secret-api-key",
    )
    .unwrap();
    let settings = BiqSettings::new(session, 7);
    let text = format!("{settings:?}");
    assert!(!text.contains("very-secret-api-key"), "{text}");
    assert!(text.contains("shadow_source_id: 7"), "{text}");
    assert_eq!(
        customer_data_sync::biq_customer_shadow::FLOWS,
        [WRITER_FLOW, RECONCILER_FLOW]
    );
    assert_eq!(
        customer_data_sync::biq_alert_changes::FLOWS,
        ["biq-change-reader", "biq-notification-reader"]
    );
}
