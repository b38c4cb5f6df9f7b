//! BiQ Alert AlertChanges twin (alert-changes.*): the approved-changes and notifications feeds
//! about the shadow customers of the `biq_customer_shadow` twin (shared state, see
//! [`super::biq_shared`]), filled by a seeded, scripted change generator.
//!
//! Every vendor route needs `Authorization: Bearer <jwt>` from the `biq_auth` twin naming the
//! path's tenant (401 / 403 as in [`super::biq_shared`]).
//!
//! Routes:
//! * `GET /tenants/{tenantId}/approved-changes`, `GET /tenants/{tenantId}/notifications`: every
//!   item of the tenant so far, in commit order (the real feeds may page or filter; not
//!   documented).
//! * `POST /tenants/{tenantId}/shadowsources/{shadowSourceId}/next-approved-changes/` and
//!   `…/next-notifications/` with `{"from": <date-time>}`: the source's items with `committed`
//!   strictly after `from`, in commit order, at most [`PAGE_SIZE`] of them, `more` true when
//!   further items exist. The paths are also routed without the trailing `/` (ASP.NET Core
//!   ignores it). An unknown shadow source is a 404 problem.
//! * `GET /approvedchanges-bookmark/{tenantId}`: 404 problem until `PUT` (a Bookmark body,
//!   answered 204) stores one; then the stored bookmark.
//! * **Sandbox only** (no such route at BiQ; no vendor auth, but the sandbox key and JSON
//!   bodies, see [`crate::sandbox_only`]): `POST /sandbox/tenants/{tenantId}/script`
//!   with `{"count": n, "eventType"?: "...", "customerNumber"?: "...", "shadowSourceId"?: n}`
//!   (an empty body is `{"count": 1}`; `count` at most 1000; `"anonymized": true` emits the
//!   items with `anonymized` true and a `null` payload, as the vendor's DTO allows, e.g. for an
//!   anonymised item) emits `n` changes for the
//!   tenant's shadow customers (those matching the optional filters; 404 problem when none
//!   does) and answers `{"approvedChanges": [...], "notifications": [...]}` with what it
//!   emitted.
//! * **Sandbox only**, approved-changes callbacks. BiQ's "subscribe-to-approvedchanges"
//!   (known only from the demo's README) registers a URL that BiQ calls with `GET` (no body)
//!   when changes are approved; the receiver then reads `next-approved-changes` from its
//!   bookmark. The vendor's path and body for the registration are unknown, so it is not
//!   imitated; these sandbox routes (guarded like `script`) stand in for it:
//!   - `POST /sandbox/tenants/{tenantId}/callbacks` with `{"url": "http(s)://..."}`: 201
//!     `{"id": "<uuid>", "url": "..."}` (400 validation problem for a body without a valid
//!     absolute http(s) `url`, or with one off this machine: only 127.0.0.0/8, `[::1]` and
//!     `localhost` are called, [`crate::sandbox_only::loopback_url`]).
//!   - `DELETE /sandbox/tenants/{tenantId}/callbacks/{id}`: 204; nothing more is called,
//!     retries included (404 problem for an id the tenant does not have).
//!   - `GET /sandbox/tenants/{tenantId}/callbacks/{id}/calls`: `{"pending": bool, "calls": n,
//!     "succeeded": n, "failed": n, "resent": n}`: `pending` while a call is wanted, in
//!     flight, waiting for a retry or a scheduled resend; `calls` the GETs sent (every
//!     attempt), `succeeded` those answered 200, `failed` the calls dropped after the last
//!     attempt, `resent` the fault-injected extra calls (404 problem as for `DELETE`).
//!
//!   After each `script` call that emitted at least one approved change for the tenant (a
//!   notification alone calls nothing), every callback of the tenant is called with `GET`,
//!   5 s timeout. Calls are coalesced: while one is wanted, in flight or waiting for a retry,
//!   further changes only make sure one more call follows it. Only 200 succeeds; anything
//!   else is retried as Consumer Intelligence webhook deliveries are
//!   (`config.webhook_retry_delay`, default 100 ms, doubling up to 2 s, at most
//!   `config.webhook_max_attempts`, default 10, attempts; then the call is dropped and counted
//!   as failed). Fault injection: with this twin's `Faults::webhook_resend`, a call answered
//!   200 is made once more 0-200 ms later (counted in `resent`).
//!
//! Bodies bind as the vendor's do (the generated types decode tolerantly, as the spec declares:
//! member names in any ASCII case, `null` optional members). Answers are camelCase (the
//! ASP.NET Core default; the vendor's answer casing is unconfirmed).
//!
//! The generator (choices of ours; the payload DTOs and which event type carries which are the
//! demo's, b70a67a):
//! * Seeded by `config.seed`: the same sequence of script calls gives the same customers,
//!   event types, ids and proposed values. `committed` is the wall clock at emission, in whole
//!   milliseconds, strictly increasing across both feeds of a tenant (so `from` = the last
//!   `committed` read never skips nor repeats an item); `created` is one hour before it,
//!   `approved` equals it.
//! * Without `eventType` it draws from name-change, address-change, name-and-address-change,
//!   email-change, phone-change and (persons only) the person-deceased notification. With
//!   `eventType` it emits any of `EVENT_TYPES` (new-person, new-company, the name, address,
//!   care-of, attention, CPR/CVR/P-number, e-mail, phone, PO box, extra-data and category
//!   changes, secondary-contact-name-change, person-formerly-deceased); other event types are a
//!   400 validation problem.
//! * `Existing*` values are the shadow customer's current `contact1` (so an update through
//!   CustomerShadow shows in the next change); `Proposed*` values come from the synthetic
//!   population. Emitting a change does not alter the shadow customer: applying it is the
//!   client's job (the demo applies changes to its own system).
//! * Payloads are built from the generated payload types (every member of the demo's DTO the
//!   customer has a value for; `*ChangeDate` is `committed`, a DateTimeOffset; the DateTime
//!   members `BirthDate`, `AttentionChangeDate`, `ExtraDataChangeDate`, `DeceasedDate` are
//!   written without offset) and wrapped in the single-member container as
//!   `{"<payload schema name>": {...}}` (e.g. `{"NameChangePayload": {...}}`; the real member
//!   name is not documented, and readers take the first member whatever its name).
//!   person-formerly-deceased carries a `null` payload (no DTO is known). `payloadVersion` is
//!   1, `anonymized` false (true for scripted anonymised items), `source` "CPR" for
//!   residential and "CVR" for enterprise customers, `createdBy` "BiQ Alert", `approvedBy`
//!   "BiQ Alert (automatic approval)"; notifications have an id (a uuid), `time` =
//!   `committed`, and no `key` (its meaning is not documented).
//!
//! The AlertChanges spec has no enum (event types and customer categories are plain strings,
//! so that unknown values decode). With `config.send_unlisted_enum_values` on, a
//! customer-category-change proposes the category [`UNLISTED_CUSTOMER_CATEGORY`], which the
//! CustomerShadow spec's `CustomerCategoryText` (the one BiQ enum) does not list: the value a
//! client parses into that enum to apply the change.
//!
//! Big feeds without storing them (`config.biq_synthetic_changes = Some(n)`, default `None`,
//! off): every shadow source that has shadow customers carries `n` synthetic approved changes,
//! numbered `1..=n`, committed one per millisecond per source before the twin started (so
//! before any scripted change; `from` still finds them by `committed`). `next-approved-changes`
//! makes the ones a batch needs from their number alone (their own ChaCha stream: customer,
//! event type from name-change, address-change, name-and-address-change, email-change and
//! phone-change, id, payload), so a batch costs O(batch size) and a feed of 100,000 changes
//! costs no memory. Scripted changes follow them. Only `next-approved-changes` serves them:
//! `GET .../approved-changes` lists the scripted changes only, and there are no synthetic
//! notifications.

use crate::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use customer_data::biq_alert_changes::{EVENT_PAYLOADS, types};
use customer_data::biq_customer_shadow::types as shadow;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::biq_shared::{
    BiqState, Feed, Refusal, invalid_body, problem, shadow_address, shared, validation_problem,
};
use crate::SandboxConfig;
use crate::outbound::{self, Resends, RetryPolicy, Sender};
use crate::synthetic::Person;
use crate::validate::{Invalid, Valid, decode};

type Shared = Arc<BiqState>;

/// Items per `next-*` answer (not documented; the demo only reads `more`).
pub const PAGE_SIZE: usize = 50;
/// The most changes one script call emits.
const MAX_SCRIPT: usize = 1000;

/// Event types the generator emits on request.
const EVENT_TYPES: &[&str] = &[
    "new-person",
    "new-company",
    "name-change",
    "name-change-at-subscription-start",
    "name-correction",
    "address-change",
    "address-correction",
    "name-and-address-change",
    "care-of-change",
    "attention-change",
    "cpr-number-change",
    "cvr-number-change",
    "p-number-change",
    "email-change",
    "phone-change",
    "phone-2-change",
    "secondary-contact-name-change",
    "po-box-change",
    "extra-data-change",
    "customer-category-change",
    "person-deceased",
    "person-formerly-deceased",
];
/// The event types that are notifications (the rest are approved changes).
const NOTIFICATION_TYPES: &[&str] = &["person-deceased", "person-formerly-deceased"];
/// The category a customer-category-change proposes with `config.send_unlisted_enum_values`
/// on: one the CustomerShadow spec's `CustomerCategoryText` does not list.
pub const UNLISTED_CUSTOMER_CATEGORY: &str = "Association";

/// What a script without `eventType` draws from, for persons and for companies.
const PERSON_MIX: &[&str] = &[
    "name-change",
    "address-change",
    "name-and-address-change",
    "email-change",
    "phone-change",
    "person-deceased",
];
const COMPANY_MIX: &[&str] = &[
    "name-change",
    "address-change",
    "name-and-address-change",
    "email-change",
    "phone-change",
];

/// The router's state: the BiQ state shared with the other BiQ twins, and this twin's
/// approved-changes callbacks.
#[derive(Clone)]
struct AlertTwin {
    biq: Shared,
    callbacks: Arc<Callbacks>,
}

impl FromRef<AlertTwin> for Shared {
    fn from_ref(twin: &AlertTwin) -> Shared {
        twin.biq.clone()
    }
}

impl FromRef<AlertTwin> for Arc<Callbacks> {
    fn from_ref(twin: &AlertTwin) -> Arc<Callbacks> {
        twin.callbacks.clone()
    }
}

pub fn router(config: &Arc<SandboxConfig>) -> Router {
    let callbacks = Arc::new(Callbacks {
        policy: RetryPolicy::from_config(config),
        world: Mutex::new(CallbackWorld {
            callbacks: BTreeMap::new(),
            resends: Resends::new(config.faults.get("biq_alert_changes")),
        }),
    });
    // Callbacks are called beside the routes, for as long as the router (the twin) lives.
    if let Ok(runtime) = tokio::runtime::Handle::try_current()
        && let Some(http) = outbound::http_client("biq_alert_changes")
    {
        runtime.spawn(outbound::run(
            Arc::downgrade(&callbacks),
            Callbacks::due_calls,
            move |callbacks, call| call_back(callbacks, http.clone(), call),
        ));
    }
    let changes_path =
        "/tenants/{tenant_id}/shadowsources/{shadow_source_id}/next-approved-changes";
    let notifications_path =
        "/tenants/{tenant_id}/shadowsources/{shadow_source_id}/next-notifications";
    Router::new()
        .route(
            "/tenants/{tenant_id}/approved-changes",
            get(list_approved_changes),
        )
        .route(
            "/tenants/{tenant_id}/notifications",
            get(list_notifications),
        )
        .route(&format!("{changes_path}/"), post(next_approved_changes))
        .route(changes_path, post(next_approved_changes))
        .route(&format!("{notifications_path}/"), post(next_notifications))
        .route(notifications_path, post(next_notifications))
        .route(
            "/approvedchanges-bookmark/{tenant_id}",
            get(get_bookmark).put(put_bookmark),
        )
        .route("/sandbox/tenants/{tenant_id}/script", post(script))
        .route(
            "/sandbox/tenants/{tenant_id}/callbacks",
            post(register_callback),
        )
        .route(
            "/sandbox/tenants/{tenant_id}/callbacks/{id}",
            delete(delete_callback),
        )
        .route(
            "/sandbox/tenants/{tenant_id}/callbacks/{id}/calls",
            get(callback_calls),
        )
        .with_state(AlertTwin {
            biq: shared(config),
            callbacks,
        })
}

async fn list_approved_changes(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let tenant = match authorised_tenant(&state, &headers, path) {
        Ok(tenant) => tenant,
        Err(refused) => return refused.into_response(),
    };
    let feeds = lock(&state.feeds);
    let items = feeds
        .get(&tenant)
        .map(|f| f.approved_changes.clone())
        .unwrap_or_default();
    Json(items).into_response()
}

async fn list_notifications(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let tenant = match authorised_tenant(&state, &headers, path) {
        Ok(tenant) => tenant,
        Err(refused) => return refused.into_response(),
    };
    let feeds = lock(&state.feeds);
    let items = feeds
        .get(&tenant)
        .map(|f| f.notifications.clone())
        .unwrap_or_default();
    Json(items).into_response()
}

fn authorised_tenant(
    state: &BiqState,
    headers: &HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<String, Refusal> {
    let Ok(Path(tenant)) = path else {
        return Err(problem(StatusCode::NOT_FOUND, None).into());
    };
    state.authorise(headers, &tenant)?;
    Ok(tenant)
}

/// The authorised tenant, the known shadow source and the `from` of a `next-*` call.
fn next_request(
    state: &BiqState,
    headers: &HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Valid<types::NextRequest>, Invalid>,
) -> Result<(String, i32, DateTime<Utc>), Refusal> {
    let Ok(Path((tenant, source))) = path else {
        return Err(problem(StatusCode::NOT_FOUND, None).into());
    };
    state.authorise(headers, &tenant)?;
    let Ok(source_id) = source.parse::<i32>() else {
        return Err(validation_problem(
            "shadowSourceId",
            &format!("The value '{source}' is not valid."),
        )
        .into());
    };
    if !state.has_source(source_id) {
        return Err(problem(
            StatusCode::NOT_FOUND,
            Some(&format!("Shadow source {source_id} not found")),
        )
        .into());
    }
    let Valid(body) = body.map_err(|invalid| Refusal::from(invalid_body(&invalid)))?;
    Ok((tenant, source_id, body.from))
}

/// The items of `source` committed after `from`: at most `limit`, and whether more wait.
fn page<T: Clone>(
    items: &[T],
    position: impl Fn(&T) -> (Option<i32>, Option<DateTime<Utc>>),
    source: i32,
    from: DateTime<Utc>,
    limit: usize,
) -> (Vec<T>, bool) {
    let mut after = items.iter().filter(|item| {
        let (item_source, committed) = position(item);
        item_source == Some(source) && committed.is_some_and(|c| c > from)
    });
    let batch: Vec<T> = after.by_ref().take(limit).cloned().collect();
    let more = after.next().is_some();
    (batch, more)
}

async fn next_approved_changes(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Valid<types::NextRequest>, Invalid>,
) -> Response {
    let (tenant, source, from) = match next_request(&state, &headers, path, body) {
        Ok(request) => request,
        Err(refused) => return refused.into_response(),
    };
    // The synthetic changes, all committed before any scripted one, come first.
    let (mut approved_changes, synthetic_more) =
        synthetic_changes(&state, &tenant, source, from, PAGE_SIZE);
    let feeds = lock(&state.feeds);
    let items = feeds
        .get(&tenant)
        .map(|f| f.approved_changes.as_slice())
        .unwrap_or_default();
    let room = PAGE_SIZE - approved_changes.len();
    let (scripted, scripted_more) = page(
        items,
        |c| (c.shadow_source_id, c.committed),
        source,
        from,
        room,
    );
    approved_changes.extend(scripted);
    let more = synthetic_more || scripted_more;
    Json(types::ApprovedChangesBatch {
        approved_changes: Some(approved_changes),
        more,
        extra: Default::default(),
    })
    .into_response()
}

async fn next_notifications(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Valid<types::NextRequest>, Invalid>,
) -> Response {
    let (tenant, source, from) = match next_request(&state, &headers, path, body) {
        Ok(request) => request,
        Err(refused) => return refused.into_response(),
    };
    let feeds = lock(&state.feeds);
    let items = feeds
        .get(&tenant)
        .map(|f| f.notifications.as_slice())
        .unwrap_or_default();
    let (notifications, more) = page(
        items,
        |n| (n.shadow_source_id, n.committed),
        source,
        from,
        PAGE_SIZE,
    );
    Json(types::NotificationsBatch {
        notifications: Some(notifications),
        more,
        extra: Default::default(),
    })
    .into_response()
}

async fn get_bookmark(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let tenant = match authorised_tenant(&state, &headers, path) {
        Ok(tenant) => tenant,
        Err(refused) => return refused.into_response(),
    };
    match lock(&state.bookmarks).get(&tenant) {
        Some(bookmark) => Json(bookmark.clone()).into_response(),
        None => problem(StatusCode::NOT_FOUND, Some("No bookmark stored")),
    }
}

async fn put_bookmark(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Valid<types::Bookmark>, Invalid>,
) -> Response {
    let tenant = match authorised_tenant(&state, &headers, path) {
        Ok(tenant) => tenant,
        Err(refused) => return refused.into_response(),
    };
    let Valid(bookmark) = match body {
        Ok(body) => body,
        Err(invalid) => return invalid_body(&invalid),
    };
    lock(&state.bookmarks).insert(tenant, bookmark);
    StatusCode::NO_CONTENT.into_response()
}

/// Body of the sandbox-only script route.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Script {
    #[serde(default = "one")]
    count: usize,
    event_type: Option<String>,
    customer_number: Option<String>,
    shadow_source_id: Option<i32>,
    /// Emit the items anonymised: `anonymized` true and a `null` payload (the vendor's DTO
    /// allows both).
    #[serde(default)]
    anonymized: bool,
}

fn one() -> usize {
    1
}

/// Answer of the script route: what it emitted, in commit order.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Scripted {
    approved_changes: Vec<types::ApprovedChange>,
    notifications: Vec<types::Notification>,
}

async fn script(
    State(state): State<Shared>,
    State(callbacks): State<Arc<Callbacks>>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let Ok(Path(tenant)) = path else {
        return problem(StatusCode::NOT_FOUND, None);
    };
    let script: Script = if body.iter().all(u8::is_ascii_whitespace) {
        Script {
            count: 1,
            event_type: None,
            customer_number: None,
            shadow_source_id: None,
            anonymized: false,
        }
    } else {
        match decode(&body) {
            Ok(script) => script,
            Err(invalid) => return invalid_body(&invalid),
        }
    };
    if script.count > MAX_SCRIPT {
        return validation_problem("$.count", &format!("At most {MAX_SCRIPT} per call."));
    }
    if let Some(event_type) = &script.event_type
        && !EVENT_TYPES.contains(&event_type.as_str())
    {
        return validation_problem(
            "$.eventType",
            &format!(
                "The generator does not emit '{event_type}'; it emits {}.",
                EVENT_TYPES.join(", ")
            ),
        );
    }
    match emit(&state, &tenant, &script) {
        Ok(scripted) => {
            if !scripted.approved_changes.is_empty() {
                callbacks.approved(&tenant);
            }
            Json(scripted).into_response()
        }
        Err(refused) => refused.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Approved-changes callbacks (sandbox-only registration; see the module docs)

/// The approved-changes callbacks of every tenant.
struct Callbacks {
    policy: RetryPolicy,
    world: Mutex<CallbackWorld>,
}

struct CallbackWorld {
    /// By callback id.
    callbacks: BTreeMap<String, Callback>,
    /// Fault-injected extra calls (`Faults::webhook_resend` of this twin).
    resends: Resends,
}

/// One registered URL of a tenant.
struct Callback {
    tenant: String,
    url: String,
    /// Approved changes came since the last call was made: one (more) call is wanted.
    wanted: bool,
    sender: Sender<()>,
}

/// Body of the sandbox-only registration route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackRequest {
    url: String,
}

/// Answer of the registration route.
#[derive(Debug, Serialize)]
struct RegisteredCallback {
    id: String,
    url: String,
}

impl Callbacks {
    /// Approved changes were committed for `tenant`: every callback of the tenant wants a call
    /// (one call, however many changes come before it is made).
    fn approved(&self, tenant: &str) {
        let mut world = lock(&self.world);
        for callback in world.callbacks.values_mut() {
            if callback.tenant == tenant {
                callback.wanted = true;
            }
        }
    }

    /// The callbacks due now: (id, url) of each, now in flight.
    fn due_calls(&self) -> Vec<(String, String)> {
        let now = Instant::now();
        let mut world = lock(&self.world);
        let mut due = Vec::new();
        for (id, callback) in &mut world.callbacks {
            let Callback { wanted, sender, .. } = callback;
            let fill = || std::mem::take(wanted).then_some(((), 1));
            if sender.next(now, fill).is_some() {
                due.push((id.clone(), callback.url.clone()));
            }
        }
        due
    }

    /// The outcome of a call (`succeeded`: answered 200). A callback deleted meanwhile is
    /// gone, and so is its outcome.
    fn call_done(&self, id: &str, succeeded: bool) {
        let mut world = lock(&self.world);
        let CallbackWorld { callbacks, resends } = &mut *world;
        if let Some(callback) = callbacks.get_mut(id) {
            callback
                .sender
                .finish(succeeded, Instant::now(), self.policy, resends);
        }
    }
}

/// Makes one callback call (GET, no body) and hands its outcome back.
async fn call_back(callbacks: Weak<Callbacks>, http: reqwest::Client, (id, url): (String, String)) {
    let succeeded = outbound::answered(http.get(&url)).await;
    if let Some(callbacks) = callbacks.upgrade() {
        callbacks.call_done(&id, succeeded);
    }
}

fn no_callback(id: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        Some(&format!("No callback {id} for this tenant")),
    )
}

/// Sandbox only: registers a URL to call (GET) when approved changes are committed.
async fn register_callback(
    State(callbacks): State<Arc<Callbacks>>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let Ok(Path(tenant)) = path else {
        return problem(StatusCode::NOT_FOUND, None);
    };
    let request: CallbackRequest = match decode(&body) {
        Ok(request) => request,
        Err(invalid) => return invalid_body(&invalid),
    };
    let http_url = request.url.starts_with("http://") || request.url.starts_with("https://");
    if !http_url || reqwest::Url::parse(&request.url).is_err() {
        return validation_problem("$.url", "Must be an absolute http(s) URL.");
    }
    // The sandbox calls only this machine (see crate::sandbox_only).
    if let Err(reason) = crate::sandbox_only::loopback_url(&request.url) {
        return validation_problem("$.url", &format!("The URL {reason}."));
    }
    let id = uuid::Uuid::new_v4().to_string();
    lock(&callbacks.world).callbacks.insert(
        id.clone(),
        Callback {
            tenant,
            url: request.url.clone(),
            wanted: false,
            sender: Sender::default(),
        },
    );
    (
        StatusCode::CREATED,
        Json(RegisteredCallback {
            id,
            url: request.url,
        }),
    )
        .into_response()
}

/// Sandbox only: forgets a callback (nothing more is called, retries included).
async fn delete_callback(
    State(callbacks): State<Arc<Callbacks>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((tenant, id))) = path else {
        return problem(StatusCode::NOT_FOUND, None);
    };
    let mut world = lock(&callbacks.world);
    match world.callbacks.get(&id) {
        Some(callback) if callback.tenant == tenant => {
            world.callbacks.remove(&id);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => no_callback(&id),
    }
}

/// Sandbox only: where the calls of a callback stand (see the module docs).
async fn callback_calls(
    State(callbacks): State<Arc<Callbacks>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((tenant, id))) = path else {
        return problem(StatusCode::NOT_FOUND, None);
    };
    let world = lock(&callbacks.world);
    let Some(callback) = world.callbacks.get(&id).filter(|c| c.tenant == tenant) else {
        return no_callback(&id);
    };
    let stats = callback.sender.stats();
    Json(serde_json::json!({
        "pending": callback.wanted || !callback.sender.idle(),
        "calls": stats.attempts,
        "succeeded": stats.delivered,
        "failed": stats.failed,
        "resent": stats.resent,
    }))
    .into_response()
}

/// Emits the scripted changes into the tenant's feeds.
fn emit(state: &BiqState, tenant: &str, script: &Script) -> Result<Scripted, Refusal> {
    let candidates: Vec<(i32, shadow::Customer)> = lock(&state.customers)
        .iter()
        .filter(|((t, source, number), _)| {
            t == tenant
                && script.shadow_source_id.is_none_or(|s| s == *source)
                && script.customer_number.as_ref().is_none_or(|n| n == number)
        })
        .map(|((_, source, _), stored)| (*source, stored.customer.clone()))
        .collect();
    if candidates.is_empty() {
        return Err(problem(
            StatusCode::NOT_FOUND,
            Some("No shadow customer of this tenant matches the script"),
        )
        .into());
    }
    let mut rng = lock(&state.rng);
    let mut feeds = lock(&state.feeds);
    let feed = feeds.entry(tenant.to_string()).or_default();
    let mut scripted = Scripted::default();
    for _ in 0..script.count {
        let (source_id, customer) = &candidates[rng.random_range(0..candidates.len())];
        let company =
            customer.customer_category_text == Some(shadow::CustomerCategoryText::Enterprise);
        let event_type = match &script.event_type {
            Some(event_type) => event_type.as_str(),
            None => {
                let mix = if company { COMPANY_MIX } else { PERSON_MIX };
                mix[rng.random_range(0..mix.len())]
            }
        };
        let committed = next_committed(feed);
        let id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        let other = &state.pool[rng.random_range(0..state.pool.len())];
        let unlisted = state.config.send_unlisted_enum_values;
        let payload = if script.anonymized {
            None
        } else {
            payload(event_type, customer, other, committed, unlisted, &mut rng)
        };
        let anonymized = Some(script.anonymized);
        let source = if company { "CVR" } else { "CPR" };
        if NOTIFICATION_TYPES.contains(&event_type) {
            let notification = types::Notification {
                anonymized,
                committed: Some(committed),
                customer_number: customer.customer_number.clone(),
                event_type: Some(event_type.to_string()),
                id: Some(id),
                key: None,
                payload,
                payload_version: Some(1),
                shadow_source_id: Some(*source_id),
                source: Some(source.to_string()),
                time: Some(committed),
                extra: Default::default(),
            };
            feed.notifications.push(notification.clone());
            scripted.notifications.push(notification);
        } else {
            let mut change =
                approved_change(customer, *source_id, event_type, id, committed, payload);
            change.anonymized = anonymized;
            feed.approved_changes.push(change.clone());
            scripted.approved_changes.push(change);
        }
    }
    Ok(scripted)
}

/// An approved change of `customer` (of shadow source `source_id`), as the generator emits it.
fn approved_change(
    customer: &shadow::Customer,
    source_id: i32,
    event_type: &str,
    id: uuid::Uuid,
    committed: DateTime<Utc>,
    payload: Option<Value>,
) -> types::ApprovedChange {
    let company = customer.customer_category_text == Some(shadow::CustomerCategoryText::Enterprise);
    types::ApprovedChange {
        anonymized: Some(false),
        approved: Some(committed),
        approved_by: Some("BiQ Alert (automatic approval)".into()),
        committed: Some(committed),
        created: Some(committed - Duration::hours(1)),
        created_by: Some("BiQ Alert".into()),
        customer_number: customer.customer_number.clone(),
        event_type: Some(event_type.to_string()),
        id: Some(id),
        payload,
        payload_version: Some(1),
        shadow_source_id: Some(source_id),
        source: Some(if company { "CVR" } else { "CPR" }.to_string()),
        extra: Default::default(),
    }
}

/// Seed salt of the synthetic approved changes.
const SYNTHETIC_CHANGES: u64 = 0x5E4D_C4A6;

/// The synthetic approved changes (`config.biq_synthetic_changes`) of `source` committed
/// after `from`: at most `limit`, and whether more are left. Change `g` (1-based) of the
/// source in slot `s` of the shadow sources is committed at `synthetic_base + g * sources + s`
/// milliseconds, so each is found from `from` by arithmetic and made from its number alone.
fn synthetic_changes(
    state: &BiqState,
    tenant: &str,
    source: i32,
    from: DateTime<Utc>,
    limit: usize,
) -> (Vec<types::ApprovedChange>, bool) {
    let total = state.config.biq_synthetic_changes.unwrap_or(0);
    let slot = state.sources.iter().position(|s| s.id == Some(source));
    let (Some(slot), true) = (slot, total > 0) else {
        return (Vec::new(), false);
    };
    let customers: Vec<shadow::Customer> = lock(&state.customers)
        .iter()
        .filter(|((t, s, _), _)| t == tenant && *s == source)
        .map(|(_, stored)| stored.customer.clone())
        .collect();
    if customers.is_empty() {
        return (Vec::new(), false);
    }
    let sources = state.sources.len() as i64;
    let after = (from - state.synthetic_base).num_milliseconds();
    let first = (after.saturating_sub(slot as i64).div_euclid(sources) + 1).max(1) as u64;
    if first > total {
        return (Vec::new(), false);
    }
    if limit == 0 {
        return (Vec::new(), true);
    }
    let last = total.min(first.saturating_add(limit as u64 - 1));
    let changes = (first..=last)
        .map(|number| synthetic_change(state, &customers, source, slot, number))
        .collect();
    (changes, last < total)
}

/// Synthetic approved change `number` of `source` (in `slot`), drawn from its own ChaCha
/// stream: the same number gives the same change.
fn synthetic_change(
    state: &BiqState,
    customers: &[shadow::Customer],
    source: i32,
    slot: usize,
    number: u64,
) -> types::ApprovedChange {
    let sources = state.sources.len() as u64;
    let offset = number.saturating_mul(sources).saturating_add(slot as u64);
    let mut rng = ChaCha8Rng::seed_from_u64(state.config.seed ^ SYNTHETIC_CHANGES);
    rng.set_stream(offset);
    let customer = &customers[rng.random_range(0..customers.len())];
    // Approved-change event types only (the company mix has no notification).
    let event_type = COMPANY_MIX[rng.random_range(0..COMPANY_MIX.len())];
    let committed =
        state.synthetic_base + Duration::milliseconds(i64::try_from(offset).unwrap_or(i64::MAX));
    let id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
    let other = &state.pool[rng.random_range(0..state.pool.len())];
    let payload = payload(event_type, customer, other, committed, false, &mut rng);
    approved_change(customer, source, event_type, id, committed, payload)
}

/// Now, in whole milliseconds, strictly after the feed's last `committed`.
fn next_committed(feed: &mut Feed) -> DateTime<Utc> {
    let now = Utc::now();
    let now = DateTime::<Utc>::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
    let committed = match feed.last_committed {
        Some(last) if now <= last => last + Duration::milliseconds(1),
        _ => now,
    };
    feed.last_committed = Some(committed);
    committed
}

/// `payload` in its container: `{"<payload schema name>": payload}` (the member name is not
/// documented; readers take the first member, whatever its name, as the demo does).
fn wrap<T: Serialize>(event_type: &str, payload: &T) -> Option<Value> {
    let schema = EVENT_PAYLOADS
        .iter()
        .find(|(e, _)| *e == event_type)
        .map_or("Payload", |(_, schema)| schema);
    let mut container = Map::new();
    container.insert(
        schema.to_string(),
        serde_json::to_value(payload).unwrap_or_default(),
    );
    Some(Value::Object(container))
}

/// The shadow Address as the AlertChanges Address (the same members in both specs).
fn address(address: &shadow::Address) -> Option<types::Address> {
    serde_json::to_value(address)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// A .NET `DateTime` without offset, as the vendor writes one (e.g. `1998-04-23T00:00:00`).
fn local_date_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The typed payload of `event_type` for `customer`, proposing values of `other` (and, with
/// `unlisted_category`, the category [`UNLISTED_CUSTOMER_CATEGORY`]). Every member of the
/// vendor's DTO is written (members the generator has no value for as `null`-free absences).
fn payload(
    event_type: &str,
    customer: &shadow::Customer,
    other: &Person,
    committed: DateTime<Utc>,
    unlisted_category: bool,
    rng: &mut ChaCha8Rng,
) -> Option<Value> {
    let contact = customer.contact1.as_ref();
    let secondary = customer.contact2.as_ref();
    let when = Some(committed);
    let existing_name = contact.and_then(|c| c.name.clone());
    let proposed_name = proposed_name(customer, existing_name.as_deref(), other);
    let existing_address = contact.and_then(|c| c.address.as_ref()).and_then(address);
    let proposed_address = address(&shadow_address(other));
    let digits = |n: usize, rng: &mut ChaCha8Rng| -> String {
        (0..n)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect()
    };
    match event_type {
        "new-person" => wrap(
            event_type,
            &types::CreatePersonPayload {
                active: customer.active.clone(),
                address: existing_address,
                attention: contact.and_then(|c| c.attention.clone()),
                birth_date: Some(local_date_time(committed - Duration::days(365 * 40))),
                care_of: contact.and_then(|c| c.care_of.clone()),
                cpr: contact.and_then(|c| c.cpr.clone()),
                email: contact.and_then(|c| c.email.clone()),
                extra_data: customer.extra_data.as_ref().map(|d| d.0.clone()),
                name: existing_name,
                phone1: contact.and_then(|c| c.phone1.clone()),
                phone2: contact.and_then(|c| c.phone2.clone()),
                po_box: contact.and_then(|c| c.po_box.clone()),
                secondary_contact_cpr_number: secondary.and_then(|c| c.cpr.clone()),
                secondary_contact_email: secondary.and_then(|c| c.email.clone()),
                secondary_contact_name: secondary.and_then(|c| c.name.clone()),
                secondary_contact_phone_number1: secondary.and_then(|c| c.phone1.clone()),
                secondary_contact_phone_number2: secondary.and_then(|c| c.phone2.clone()),
                extra: Default::default(),
            },
        ),
        "new-company" => wrap(
            event_type,
            &types::CreateCompanyPayload {
                active: customer.active.clone(),
                address: existing_address,
                attention: contact.and_then(|c| c.attention.clone()),
                care_of: contact.and_then(|c| c.care_of.clone()),
                cvr: contact.and_then(|c| c.cvr.clone()),
                email: contact.and_then(|c| c.email.clone()),
                extra_data: customer.extra_data.as_ref().map(|d| d.0.clone()),
                name: existing_name,
                phone1: contact.and_then(|c| c.phone1.clone()),
                phone2: contact.and_then(|c| c.phone2.clone()),
                pnr: contact.and_then(|c| c.p_nr.clone()),
                po_box: contact.and_then(|c| c.po_box.clone()),
                extra: Default::default(),
            },
        ),
        "name-change" | "name-change-at-subscription-start" | "name-correction" => wrap(
            event_type,
            &types::NameChangePayload {
                address: existing_address,
                existing_name,
                name_change_date: when,
                proposed_name: Some(proposed_name),
                extra: Default::default(),
            },
        ),
        "secondary-contact-name-change" => wrap(
            event_type,
            &types::NameChangePayload {
                address: secondary.and_then(|c| c.address.as_ref()).and_then(address),
                existing_name: secondary.and_then(|c| c.name.clone()),
                name_change_date: when,
                proposed_name: Some(other.full_name()),
                extra: Default::default(),
            },
        ),
        "address-change" | "address-correction" => wrap(
            event_type,
            &types::AddressChangePayload {
                address_change_date: when,
                existing_address,
                name: existing_name,
                proposed_address,
                extra: Default::default(),
            },
        ),
        "name-and-address-change" => wrap(
            event_type,
            &types::NameAndAddressChangePayload {
                address_change_date: when,
                existing_address,
                existing_name,
                name_change_date: when,
                proposed_address,
                proposed_name: Some(proposed_name),
                extra: Default::default(),
            },
        ),
        "care-of-change" => wrap(
            event_type,
            &types::CareOfChangePayload {
                care_of_change_date: when,
                existing_care_of: contact.and_then(|c| c.care_of.clone()),
                proposed_care_of: Some(format!("c/o {}", other.full_name())),
                extra: Default::default(),
            },
        ),
        "attention-change" => wrap(
            event_type,
            &types::AttentionChangePayload {
                attention_change_date: Some(local_date_time(committed)),
                existing_attention: contact.and_then(|c| c.attention.clone()),
                proposed_attention: Some(format!("Att. {}", other.full_name())),
                extra: Default::default(),
            },
        ),
        "cpr-number-change" => wrap(
            event_type,
            &types::CprNumberChangePayload {
                cpr_number_change_date: when,
                existing_cpr_number: contact.and_then(|c| c.cpr.clone()),
                proposed_cpr_number: Some(digits(10, rng)),
                extra: Default::default(),
            },
        ),
        "cvr-number-change" => wrap(
            event_type,
            &types::CvrNumberChangePayload {
                cvr_number_change_date: when,
                existing_cvr_number: contact.and_then(|c| c.cvr.clone()),
                proposed_cvr_number: Some(digits(8, rng)),
                extra: Default::default(),
            },
        ),
        "p-number-change" => wrap(
            event_type,
            &types::PNumberChangePayload {
                existing_p_number: contact.and_then(|c| c.p_nr.clone()),
                p_number_change_date: when,
                proposed_p_number: Some(digits(10, rng)),
                extra: Default::default(),
            },
        ),
        "email-change" => wrap(
            event_type,
            &types::EmailChangePayload {
                email_change_date: when,
                existing_email: contact.and_then(|c| c.email.clone()),
                proposed_email: Some(other.email.clone()),
                extra: Default::default(),
            },
        ),
        "phone-change" | "phone-2-change" => {
            let existing = if event_type == "phone-change" {
                contact.and_then(|c| c.phone1.clone())
            } else {
                contact.and_then(|c| c.phone2.clone())
            };
            wrap(
                event_type,
                &types::PhoneNumberChangePayload {
                    existing_phone_number: existing,
                    phone_number_change_date: when,
                    proposed_phone_number: Some(other.phone.clone()),
                    extra: Default::default(),
                },
            )
        }
        "po-box-change" => wrap(
            event_type,
            &types::PoBoxChangePayload {
                existing_po_box: contact.and_then(|c| c.po_box.clone()),
                po_box_change_date: when,
                proposed_po_box: Some(format!("Postboks {}", digits(4, rng))),
                extra: Default::default(),
            },
        ),
        "extra-data-change" => {
            let existing = customer.extra_data.as_ref().map(|d| d.0.clone());
            let mut proposed = existing.clone().unwrap_or_default();
            proposed.insert("segment".into(), other.family_name.clone());
            wrap(
                event_type,
                &types::ExtraDataChangePayload {
                    existing_extra_data: existing,
                    extra_data_change_date: Some(local_date_time(committed)),
                    proposed_extra_data: Some(proposed),
                    extra: Default::default(),
                },
            )
        }
        "customer-category-change" => {
            let existing = customer.customer_category_text.clone();
            let proposed = if unlisted_category {
                shadow::CustomerCategoryText::UnknownValue(UNLISTED_CUSTOMER_CATEGORY.into())
            } else if existing == Some(shadow::CustomerCategoryText::Enterprise) {
                shadow::CustomerCategoryText::Residential
            } else {
                shadow::CustomerCategoryText::Enterprise
            };
            wrap(
                event_type,
                &types::CustomerCategoryChangePayload {
                    customer_category_change_date: when,
                    existing_customer_category: existing.map(|c| c.to_string()),
                    proposed_customer_category: Some(proposed.to_string()),
                    extra: Default::default(),
                },
            )
        }
        "person-deceased" => {
            let died = committed - Duration::days(rng.random_range(1..30));
            wrap(
                event_type,
                &types::PersonDeceasedPayload {
                    deceased_date: Some(local_date_time(died)),
                    extra: Default::default(),
                },
            )
        }
        // person-formerly-deceased: the demo does not read its payload and no DTO is known.
        _ => None,
    }
}

/// A new name: a person keeps the given names and takes `other`'s family name (a marriage);
/// a company takes a new trading name.
fn proposed_name(customer: &shadow::Customer, existing: Option<&str>, other: &Person) -> String {
    if customer.customer_category_text == Some(shadow::CustomerCategoryText::Enterprise) {
        return format!("{} & {} ApS", other.family_name, other.first_name);
    }
    match existing.and_then(|name| name.rsplit_once(' ')) {
        Some((given, family)) if family != other.family_name => {
            format!("{given} {}", other.family_name)
        }
        Some((given, family)) => format!("{given} {}-{family}", other.first_name),
        None => other.full_name(),
    }
}
