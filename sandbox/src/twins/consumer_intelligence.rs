//! Consumer Intelligence V3 twin (Dun & Bradstreet / Bisnode): OAuth2 client credentials, the
//! consumer register with identification, the subscribed-person and audit-event feeds, webhooks.
//!
//! Routes, relative to the twin's prefix (`sandbox.url("consumer_intelligence")`):
//!
//! | Route | Operation |
//! |---|---|
//! | `POST /oauth/token` | token endpoint (the vendor's is `login.bisnode.com/.../token.oauth2`) |
//! | `POST /markets/{market}/persons/_find` | findPerson: 200 `PersonDto`, 204 no match |
//! | `GET /subscriptions/persons` | listSubscribedPersons (resumable feed) |
//! | `GET /persons/{gedi}` | getPerson |
//! | `GET /consumers`, `POST /consumers` | listConsumers, uploadConsumers (202) |
//! | `DELETE /consumers` | deleteConsumers (204; the ids in a JSON body) |
//! | `GET /audit-events` | listAuditEvents (resumable feed) |
//! | `GET /webhooks`, `POST /webhooks`, `DELETE /webhooks/{id}` | webhook CRUD; deliveries: see below |
//! | `POST /sandbox/persons/{gedi}/change` | **sandbox only, not in the vendor API**: see below |
//! | `POST /sandbox/tokens/revoke` | **sandbox only**: see below |
//! | `GET /sandbox/webhooks/{id}/deliveries` | **sandbox only**: a webhook's delivery status, see below |
//!
//! The sandbox-only routes need the sandbox key and JSON bodies ([`crate::sandbox_only`]).
//!
//! Documented behaviour followed: client credentials with HTTP Basic client authentication and
//! `grant_type=client_credentials&scope=bci`, answered with `{access_token, expires_in, scope:
//! "bci", token_type: "bearer"}`; `Authorization: Bearer` on every API call; RFC 7807 problems
//! (`Unauthorized`, `Not Found`, `Constraint Violation` with `violations`, ...); pages of
//! `{data, nextPageToken}` with `pageSize` 1..1000 (default 100); a null token at the end of
//! the consumer list, but always a token (also with an empty last page) on the subscribed-person
//! and audit-event feeds, usable later to get what changed since; upload batches of 1..100;
//! delete batches of 1..250; the subscribed-person list is de-duplicated (one entry per gedi)
//! and sorted by changed timestamp; deleting the last consumer of a person unsubscribes it.
//!
//! Choices where the sources are silent (credible behaviour, stated here):
//! - The register is `synthetic::population(config.seed, POPULATION)`; person `i` has gedi
//!   `gedi-<i>`. Every client sees the same register; consumers, subscriptions, audit events
//!   and webhooks are per client (the token's client id).
//! - Identification: a consumer matches a person of the *same market* when its `legalId`
//!   equals the person's (ignoring spaces, dashes and `+`), or when `firstName`, `familyName`
//!   (case-insensitive; any of the first three names given) and `dateOfBirth` all match.
//!   Anything else is NOT_IDENTIFIED (a market outside the register too, with `sources: []`).
//!   Find person uses the same rule.
//! - States are computed lazily from timestamps: UPLOADED during the first half of
//!   `config.consumer_intelligence_identify_delay`, IDENTIFYING during the second half, then
//!   IDENTIFIED / NOT_IDENTIFIED. The outcome and its events (timestamped at upload time +
//!   delay) are settled at the start of every authenticated request, so no background task.
//! - Re-uploading a consumerId with the same market and data changes nothing (idempotent); with
//!   different data it replaces the consumer (detaching it from its person) and identifies it
//!   again, keeping its place in the consumer list. Duplicates within a batch: the last wins.
//! - Attaching another consumer to a subscribed person moves the person in the subscribed feed
//!   (its `consumerIds` changed); detaching one that leaves others does too.
//! - Feed items (`SubscribedPersonDto`) are the person document (`PersonDto` members) plus
//!   `gedi`, `consumerIds`, `market` and `changedTimestamp`. Person documents carry `gedi` as an
//!   extra member. Addresses, phone numbers, metadata sources are synthetic and shaped by us.
//! - Sources per market: SE SPAR, NO FREG, DK CPR, FI DVV, anything else (CH) DUN_BRADSTREET;
//!   event markets outside DK/FI/NO/SE are `XX`.
//! - getPerson answers any person of the register, subscribed or not (find person returns
//!   persons you have not subscribed to, and their gedi is how you would fetch them again).
//! - Page tokens are opaque (base64 of a list kind and a position) and tied to their list: a
//!   token of another list, a garbled token, `pageToken` together with `fromDate`, a bad
//!   `pageSize` / `state` / `fromDate`, a bad `market` path parameter: 400 "Constraint
//!   Violation" naming the parameter. Body decode failures: 400 "Constraint Violation" with one
//!   violation whose `field` is the member path (`[0].consumerId`; `body` for the root).
//! - Token endpoint: client authentication only by HTTP Basic (401 `invalid_client`, with
//!   `WWW-Authenticate: Basic`); missing `grant_type` 400 `invalid_request`; other grants 400
//!   `unsupported_grant_type`; a scope other than `bci` 400 `invalid_scope`; no scope means
//!   `bci`. The token endpoint is not rate limited (it is the separate login service).
//! - Rate limit (`config.consumer_intelligence_rate_limit`): a fixed one-second window per
//!   client, counted after authentication; beyond it 429 "Too Many Requests" with
//!   `Retry-After: 1`.
//! - Delete consumers (`DELETE /consumers`, the vendor's migration guide) reads the ids from a
//!   JSON body `{"consumerIds": [...]}` (the guide does not say body or query; the reference
//!   documents this body) and answers 204 (the guide states no status); unknown consumerIds
//!   in the batch are ignored. Create webhook answers 201; the url must be http(s), and (the
//!   sandbox's rule, not the vendor's) loopback: 127.0.0.0/8, `[::1]` or `localhost`. Webhooks
//!   do not add audit events.
//! - Injected faults (`Faults` of this twin) answer in the vendor's shape, as the real 429 and
//!   5xx would: an RFC 7807 problem (`Too Many Requests` with `Retry-After`, `Internal Server
//!   Error`, `Bad Gateway`, `Service Unavailable`, `Gateway Timeout`), see [`fault_answer`].
//! - Webhook deliveries (the vendor documents signed POSTs of event arrays, a PING on create,
//!   and resends; the rest is ours):
//!   - Create webhook queues a `PING` (`PingEvent`: a fresh id, now, type PING) to that
//!     webhook only, whatever its `events`; it is not an audit event. Every audit event is
//!     queued, as its webhook payload (the audit item), to each of the client's webhooks whose
//!     `events` holds `*` or the event's type. Deleting a webhook drops its queue, retries and
//!     resends: it gets nothing more.
//!   - A background task (spawned with the router, ending with it) works every ~20 ms: it
//!     settles identification for every client (when any client has a webhook), so
//!     CONSUMER_IDENTIFIED / NOT_IDENTIFIED / PERSON_SUBSCRIBED are delivered without the
//!     client making requests; then each webhook with no delivery in flight sends one: a
//!     retry when due, else a due fault-injected resend, else the next up to
//!     [`MAX_EVENTS_PER_DELIVERY`] (10) queued events in record order.
//!   - A delivery is `POST <url>` with `content-type: application/json`, the JSON array of its
//!     events as body (serialized once, the same bytes on every attempt),
//!     `ci-signature-timestamp` (now, epoch seconds) and `ci-signature-sha256` =
//!     `customer_data::consumer_intelligence::webhook::sign(secret, timestamp, body)`
//!     (HMAC-SHA256 of `{timestamp}.{body}` with the secret create answered, lowercase hex),
//!     with a 5 s timeout.
//!   - Only 200 delivers. Anything else (another status, no connection, a timeout) sends the
//!     same events again (same ids, a fresh timestamp and signature) after
//!     `config.webhook_retry_delay` (default 100 ms), doubling up to 2 s, at most
//!     `config.webhook_max_attempts` (default 10) attempts; then the delivery is dropped and
//!     counted as failed. One delivery at a time per webhook, and one being retried holds the
//!     later events back (a sequential sender): a webhook's events arrive in order.
//!   - Fault injection "resends at random": with the twin's `Faults::webhook_resend` (its own
//!     generator, seeded from `Faults::seed`), a delivery answered 200 is sent once more
//!     0-200 ms later, as a separate delivery with the same events (freshly signed; a resend
//!     is not resent itself). Later deliveries do not wait for it, so the same events can
//!     arrive again after newer ones: receivers de-duplicate by event id.
//!   - Sandbox-only `GET /sandbox/webhooks/{id}/deliveries` (no vendor auth): `{"queued": n,
//!     "inFlight": bool, "delivered": n, "attempts": n, "resent": n, "failed": n,
//!     "eventsDelivered": n}`: `queued` the events waiting for a delivery (queued, waiting
//!     for a retry, or in a scheduled resend; not those in flight), `delivered` the
//!     deliveries answered 200 (resends included), `attempts` the POSTs sent, `resent` the
//!     fault-injected extra deliveries, `failed` the deliveries dropped after the last
//!     attempt, `eventsDelivered` the events of the deliveries answered 200 (duplicates
//!     included). Everything is delivered when `queued` is 0 and `inFlight` false. 404
//!     problem for an unknown (or deleted) webhook.
//! - Sandbox-only `POST /sandbox/persons/{gedi}/change` (bearer token required, no body): moves
//!   the person to a synthetic address taken from another person of the same market, answers
//!   200 with the changed `PersonDto`, and for every client subscribed to the person appends a
//!   PERSON_CHANGED audit event (`jsonPointers: ["/addresses"]`) and moves the person to the
//!   end of that client's subscribed feed. The vendor's own sandbox lets you add custom persons
//!   (`PUT .../sandbox/v1/persons`); that API is not imitated.
//! - Sandbox-only `POST /sandbox/tokens/revoke` (no vendor auth, no body): every access token issued
//!   so far stops working (401 `invalid_token`), as a revocation on the vendor's side would;
//!   answers 204. Tests use it to see clients renew and replay.
//! - `config.send_unlisted_enum_values`: listConsumers answers every consumer with the `state`
//!   [`UNLISTED_CONSUMER_STATE`], which `ConsumerStateTypeDto` does not list (the `state`
//!   filter still applies to the real state).
//! - Big feeds without storing them (`config.consumer_intelligence_synthetic_persons =
//!   Some(n)`, default `None`, off): every client's subscribed-person feed starts with `n`
//!   synthetic persons at feed positions `1..=n`, followed by the client's own subscriptions
//!   (at `n` + their feed position). A synthetic person is made from its position alone when a
//!   page asks for it (`synthetic::person_at`, a population of its own, not the register): gedi
//!   `gedi-synthetic-<position>`, `consumerIds: ["synthetic-<position>"]`, `changedTimestamp`
//!   the twin's start. A page costs O(page size) whatever `n` is, so a feed of 1,000,000
//!   persons costs no memory. `fromDate` after the twin's start leaves them out; getPerson
//!   does not know them (404), and they never change.

// Refusals are finished responses handed straight back to axum; boxing them buys nothing.
#![allow(clippy::result_large_err)]

use crate::lock;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use customer_data::consumer_intelligence::types;
use customer_data::consumer_intelligence::webhook::{
    SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSecret, sign,
};
use serde::Serialize;

use crate::SandboxConfig;
use crate::auth::{TokenError, Tokens, bearer};
use crate::credentials::{CONSUMER_INTELLIGENCE_CLIENT_ID, CONSUMER_INTELLIGENCE_CLIENT_SECRET};
use crate::outbound::{self, Resends, RetryPolicy, Sender};
use crate::synthetic::{self, Person, population};
use crate::validate::{Invalid, Valid};

/// Size of the register (the synthetic population the twin identifies consumers against).
pub const POPULATION: usize = 200;
/// The only scope the token endpoint grants.
pub const SCOPE: &str = "bci";
/// Path of the token endpoint within the twin.
pub const TOKEN_PATH: &str = "/oauth/token";

const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: i64 = 1000;
const MAX_UPLOAD: usize = 100;
const MAX_DELETE: usize = 250;
/// The most events one webhook delivery carries.
pub const MAX_EVENTS_PER_DELIVERY: usize = 10;
const BODY_ERRORS: &str = "Request body contains one or more errors";
const PARAMETER_ERRORS: &str = "Request parameters contain one or more errors";

/// One uploaded consumer.
struct Consumer {
    upload: types::UploadConsumerDto,
    /// Place in the consumer list (creation order).
    created_seq: u64,
    uploaded: Instant,
    uploaded_at: DateTime<Utc>,
    /// `None` while identifying; `Some(Some(i))` identified as person `i`; `Some(None)` not.
    outcome: Option<Option<usize>>,
}

/// A subscribed person of one client.
struct Subscription {
    consumer_ids: BTreeSet<String>,
    /// Position in the subscribed feed (moves to the end on every change).
    seq: u64,
    changed_at: DateTime<Utc>,
}

/// Everything one client (one client id) owns.
#[derive(Default)]
struct ClientState {
    consumers: BTreeMap<String, Consumer>,
    upload_seq: u64,
    subscriptions: BTreeMap<usize, Subscription>,
    feed_seq: u64,
    events: Vec<types::AuditEventDto>,
    webhooks: Vec<types::Webhook>,
    /// The delivery side of each webhook, by webhook id.
    hooks: HashMap<String, Hook>,
}

/// A webhook's deliveries: its secret, the events not yet in a delivery, its sender.
struct Hook {
    url: String,
    secret: String,
    events: Vec<types::WebhookEventTypeDto>,
    /// Events (as delivered, in record order) waiting for a delivery.
    queue: VecDeque<serde_json::Value>,
    /// Deliveries: a JSON array of up to [`MAX_EVENTS_PER_DELIVERY`] events, serialized once.
    sender: Sender<Bytes>,
}

impl Hook {
    fn wants(&self, event_type: &types::WebhookEventTypeDto) -> bool {
        self.events
            .iter()
            .any(|e| *e == types::WebhookEventTypeDto::X || e == event_type)
    }
}

struct World {
    people: Vec<Person>,
    /// When each person last changed (the register's own timestamp).
    person_changed: Vec<DateTime<Utc>>,
    /// How many scripted changes each person has had.
    changes: Vec<usize>,
    clients: HashMap<String, ClientState>,
    /// Fault-injected webhook resends (`Faults::webhook_resend` of this twin).
    resends: Resends,
}

struct Twin {
    config: Arc<SandboxConfig>,
    /// When the twin started: the changed timestamp of the synthetic persons.
    started: DateTime<Utc>,
    tokens: Tokens,
    /// Retries of webhook deliveries.
    policy: RetryPolicy,
    world: Mutex<World>,
    /// Per client: start of the current one-second window and the requests counted in it.
    rate: Mutex<HashMap<String, (Instant, u32)>>,
}

type Shared = Arc<Twin>;

/// The consumer state listConsumers answers with `config.send_unlisted_enum_values` on: one
/// the spec's `ConsumerStateTypeDto` does not list.
pub const UNLISTED_CONSUMER_STATE: &str = "ARCHIVED";

pub fn router(config: &Arc<SandboxConfig>) -> Router {
    let people = population(config.seed, POPULATION);
    let started = Utc::now();
    let twin = Arc::new(Twin {
        config: config.clone(),
        started,
        tokens: Tokens::new("ci", config.lifetimes.consumer_intelligence),
        policy: RetryPolicy::from_config(config),
        world: Mutex::new(World {
            person_changed: vec![started; people.len()],
            changes: vec![0; people.len()],
            people,
            clients: HashMap::new(),
            resends: Resends::new(config.faults.get("consumer_intelligence")),
        }),
        rate: Mutex::new(HashMap::new()),
    });
    // Webhook deliveries run beside the routes, for as long as the router (the twin) lives.
    if let Ok(runtime) = tokio::runtime::Handle::try_current()
        && let Some(http) = outbound::http_client("consumer_intelligence")
    {
        // Every tick: settle identification (so its events are delivered without the client
        // asking) and send each webhook's due delivery.
        runtime.spawn(outbound::run(
            Arc::downgrade(&twin),
            Twin::due_deliveries,
            move |twin, outgoing| send_delivery(twin, http.clone(), outgoing),
        ));
    }
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route("/markets/{market}/persons/_find", post(find_person))
        .route("/subscriptions/persons", get(list_subscribed_persons))
        .route("/persons/{gedi}", get(get_person))
        .route(
            "/consumers",
            get(list_consumers)
                .post(upload_consumers)
                .delete(delete_consumers),
        )
        .route("/audit-events", get(list_audit_events))
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route("/webhooks/{id}", delete(delete_webhook))
        .route("/sandbox/persons/{gedi}/change", post(change_person))
        .route("/sandbox/tokens/revoke", post(revoke_tokens))
        .route("/sandbox/webhooks/{id}/deliveries", get(webhook_deliveries))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(twin)
}

// ---------------------------------------------------------------------------------------------
// Problems and OAuth errors

/// An RFC 7807 problem in the vendor's shape.
fn problem(
    status: StatusCode,
    title: &str,
    detail: impl Into<String>,
    violations: Vec<types::Violation>,
) -> Response {
    let body = types::Problem {
        detail: Some(detail.into()),
        instance: Some(format!("urn:sandbox:traceid:{}", uuid::Uuid::new_v4())),
        status: Some(i32::from(status.as_u16())),
        title: Some(title.to_string()),
        type_: "about:blank".to_string(),
        violations,
        extra: Default::default(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        bytes,
    )
        .into_response()
}

fn violation(field: &str, message: impl Into<String>) -> types::Violation {
    types::Violation {
        field: Some(field.to_string()),
        message: Some(message.into()),
        extra: Default::default(),
    }
}

fn constraint_violation(detail: &str, violations: Vec<types::Violation>) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "Constraint Violation",
        detail,
        violations,
    )
}

fn parameter_violation(field: &str, message: impl Into<String>) -> Response {
    constraint_violation(PARAMETER_ERRORS, vec![violation(field, message)])
}

/// A body that did not decode into the generated type: one violation naming the member path
/// (`validate::Invalid` reads `<path>: <message>`, or only `<message>` at the root).
fn invalid_body(invalid: &Invalid) -> Response {
    let (path, message) = match invalid.reason.split_once(": ") {
        Some((path, message)) if !path.is_empty() && !path.contains(char::is_whitespace) => {
            (Some(path), message)
        }
        _ => (None, invalid.reason.as_str()),
    };
    // A missing member is reported at its parent: name the member itself.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(member, _)| member);
    let field = match (path, missing) {
        (Some(path), Some(member)) => format!("{path}.{member}"),
        (None, Some(member)) => member.to_string(),
        (Some(path), None) => path.to_string(),
        (None, None) => "body".to_string(),
    };
    constraint_violation(BODY_ERRORS, vec![violation(&field, message)])
}

/// An injected fault's answer (429, 500, 502, 503, 504) as the vendor words errors: an RFC 7807
/// problem with the vendor's title for the status (the fault layer adds `Retry-After` to 429).
pub fn fault_answer(status: StatusCode) -> Response {
    let title = match status.as_u16() {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    problem(
        status,
        title,
        "Injected by the sandbox's fault injection",
        vec![],
    )
}

fn internal_error() -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        "The sandbox could not build the answer",
        vec![],
    )
}

async fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Not Found",
        "No such resource",
        vec![],
    )
}

async fn method_not_allowed() -> Response {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        "The HTTP method is not available for this endpoint",
        vec![],
    )
}

fn unauthorized(error: TokenError) -> Response {
    let (detail, challenge) = match error {
        TokenError::Missing => (
            "Missing bearer token in the Authorization header",
            "Bearer realm=\"consumer-intelligence\"",
        ),
        TokenError::Unknown => (
            "The access token is not valid",
            "Bearer error=\"invalid_token\"",
        ),
        TokenError::Expired => (
            "The access token has expired",
            "Bearer error=\"invalid_token\", error_description=\"expired\"",
        ),
    };
    let mut response = problem(StatusCode::UNAUTHORIZED, "Unauthorized", detail, vec![]);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"consumer-intelligence\""),
        );
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

/// `Authorization: Basic base64(id:secret)` -> (id, secret).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

async fn token(
    State(twin): State<Shared>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let client_id = match basic_credentials(&headers) {
        Some((id, secret))
            if id == CONSUMER_INTELLIGENCE_CLIENT_ID
                && secret == CONSUMER_INTELLIGENCE_CLIENT_SECRET =>
        {
            id
        }
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed",
            );
        }
    };
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Expected an application/x-www-form-urlencoded body",
        );
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant_type",
            );
        }
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only client_credentials is supported",
            );
        }
    }
    if let Some(scope) = form.get("scope")
        && !scope.split(' ').all(|s| s.is_empty() || s == SCOPE)
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The only scope is bci",
        );
    }
    let access_token = twin.tokens.issue(&client_id);
    let mut response = Json(serde_json::json!({
        "access_token": access_token,
        "expires_in": twin.tokens.lifetime().as_secs(),
        "scope": SCOPE,
        "token_type": "bearer",
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------------------------
// Entering an API call: auth, rate limit, settling identifications

impl Twin {
    /// The client of a valid bearer token, within its rate limit, with the world settled.
    fn enter(&self, headers: &HeaderMap) -> Result<String, Response> {
        let client = self.tokens.check(bearer(headers)).map_err(unauthorized)?;
        self.throttle(&client)?;
        let mut world = lock(&self.world);
        settle(&mut world, self.config.consumer_intelligence_identify_delay);
        world.clients.entry(client.clone()).or_default();
        Ok(client)
    }

    fn throttle(&self, client: &str) -> Result<(), Response> {
        let Some(limit) = self.config.consumer_intelligence_rate_limit else {
            return Ok(());
        };
        let now = Instant::now();
        let mut rate = lock(&self.rate);
        let window = rate.entry(client.to_string()).or_insert((now, 0));
        if now.duration_since(window.0) >= Duration::from_secs(1) {
            *window = (now, 0);
        }
        if window.1 >= limit {
            let mut response = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                format!("More than {limit} requests per second"),
                vec![],
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Err(response);
        }
        window.1 += 1;
        Ok(())
    }
}

fn chrono_delay(delay: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(delay).unwrap_or_else(|_| chrono::TimeDelta::zero())
}

/// Settles every consumer whose identification delay has passed, in the order they became
/// due, recording their events at the time they became due.
fn settle(world: &mut World, delay: Duration) {
    let now = Instant::now();
    let World {
        people, clients, ..
    } = world;
    for client in clients.values_mut() {
        let mut due: Vec<(DateTime<Utc>, u64, String)> = client
            .consumers
            .iter()
            .filter(|(_, c)| c.outcome.is_none() && now.duration_since(c.uploaded) >= delay)
            .map(|(id, c)| {
                (
                    c.uploaded_at + chrono_delay(delay),
                    c.created_seq,
                    id.clone(),
                )
            })
            .collect();
        due.sort();
        for (at, _, id) in due {
            let Some(consumer) = client.consumers.get_mut(&id) else {
                continue;
            };
            let market = consumer.upload.market.to_string();
            let found = identify(people, &market, &consumer.upload.data);
            consumer.outcome = Some(found);
            match found {
                Some(index) => {
                    client.record(&types::ConsumerIdentifiedEvent {
                        consumer_id: id.clone(),
                        gedi: gedi(index),
                        id: event_id(),
                        market: event_market(&market),
                        source: source(&market),
                        timestamp: at,
                        type_: types::WebhookEventTypeDto::ConsumerIdentified,
                    });
                    client.attach(index, &id, &market, at);
                }
                None => client.record(&types::ConsumerNotIdentifiedEvent {
                    consumer_id: id.clone(),
                    id: event_id(),
                    market: event_market(&market),
                    sources: if is_register_market(people, &market) {
                        vec![source(&market)]
                    } else {
                        vec![]
                    },
                    timestamp: at,
                    type_: types::WebhookEventTypeDto::ConsumerNotIdentified,
                }),
            }
        }
    }
}

fn state_of(consumer: &Consumer, delay: Duration) -> types::ConsumerStateTypeDto {
    use types::ConsumerStateTypeDto as S;
    match consumer.outcome {
        Some(Some(_)) => S::Identified,
        Some(None) => S::NotIdentified,
        None if consumer.uploaded.elapsed() < delay / 2 => S::Uploaded,
        None => S::Identifying,
    }
}

// ---------------------------------------------------------------------------------------------
// Per-client state changes (each records its audit events)

impl ClientState {
    /// Appends an event, typed as its webhook payload, to the audit feed, and queues it for
    /// every webhook that wants its type.
    fn record<E: Serialize>(&mut self, event: &E) {
        let Ok(value) = serde_json::to_value(event) else {
            return;
        };
        let Ok(dto) = serde_json::from_value::<types::AuditEventDto>(value.clone()) else {
            return;
        };
        for hook in self.hooks.values_mut() {
            if hook.wants(&dto.type_) {
                hook.queue.push_back(value.clone());
            }
        }
        self.events.push(dto);
    }

    fn next_feed_seq(&mut self) -> u64 {
        self.feed_seq += 1;
        self.feed_seq
    }

    /// Connects an identified consumer to its person, subscribing the person if it is new.
    fn attach(&mut self, index: usize, consumer_id: &str, market: &str, at: DateTime<Utc>) {
        let seq = self.next_feed_seq();
        if let Some(subscription) = self.subscriptions.get_mut(&index) {
            subscription.consumer_ids.insert(consumer_id.to_string());
            subscription.seq = seq;
            subscription.changed_at = at;
            return;
        }
        self.subscriptions.insert(
            index,
            Subscription {
                consumer_ids: BTreeSet::from([consumer_id.to_string()]),
                seq,
                changed_at: at,
            },
        );
        self.record(&types::PersonSubscribedEvent {
            consumer_ids: vec![consumer_id.to_string()],
            gedi: Some(gedi(index)),
            id: event_id(),
            market: Some(event_market(market)),
            source: Some(source(market)),
            timestamp: at,
            type_: types::WebhookEventTypeDto::PersonSubscribed,
            extra: Default::default(),
        });
    }

    /// Disconnects a consumer from its person (if identified), unsubscribing the person when
    /// it was the last one.
    fn detach(&mut self, consumer_id: &str, at: DateTime<Utc>) {
        let Some(consumer) = self.consumers.get(consumer_id) else {
            return;
        };
        let Some(Some(index)) = consumer.outcome else {
            return;
        };
        let market = consumer.upload.market.to_string();
        let Some(subscription) = self.subscriptions.get_mut(&index) else {
            return;
        };
        subscription.consumer_ids.remove(consumer_id);
        if subscription.consumer_ids.is_empty() {
            self.subscriptions.remove(&index);
            self.record(&types::PersonUnsubscribedEvent {
                consumer_ids: vec![consumer_id.to_string()],
                gedi: Some(gedi(index)),
                id: event_id(),
                market: Some(event_market(&market)),
                source: Some(source(&market)),
                timestamp: at,
                type_: types::WebhookEventTypeDto::PersonUnsubscribed,
                extra: Default::default(),
            });
        } else {
            let seq = self.next_feed_seq();
            if let Some(subscription) = self.subscriptions.get_mut(&index) {
                subscription.seq = seq;
                subscription.changed_at = at;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The register: identification and person documents

fn gedi(index: usize) -> String {
    format!("gedi-{index}")
}

fn parse_gedi(people: &[Person], gedi: &str) -> Option<usize> {
    let index: usize = gedi.strip_prefix("gedi-")?.parse().ok()?;
    (index < people.len()).then_some(index)
}

fn event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn event_market(market: &str) -> types::EventMarket {
    use types::EventMarket as M;
    match market {
        "DK" => M::Dk,
        "FI" => M::Fi,
        "NO" => M::No,
        "SE" => M::Se,
        _ => M::Xx,
    }
}

fn source(market: &str) -> types::SourceName {
    use types::SourceName as S;
    match market {
        "SE" => S::Spar,
        "NO" => S::Freg,
        "DK" => S::Cpr,
        "FI" => S::Dvv,
        _ => S::DunBradstreet,
    }
}

fn is_register_market(people: &[Person], market: &str) -> bool {
    people.iter().any(|p| p.market == market)
}

fn normalised_id(id: &str) -> String {
    id.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Any of the first three names in `given` equals `actual`, case-insensitively.
fn names_match(given: &str, actual: &str) -> bool {
    let actual = actual.to_lowercase();
    given
        .split(|c: char| !c.is_alphabetic())
        .filter(|n| !n.is_empty())
        .take(3)
        .any(|n| n.to_lowercase() == actual)
}

fn matches(person: &Person, data: &types::ConsumerDataDto) -> bool {
    if let Some(legal_id) = &data.legal_id
        && !legal_id.is_empty()
        && normalised_id(legal_id) == person.legal_id
    {
        return true;
    }
    match (&data.first_name, &data.family_name, data.date_of_birth) {
        (Some(first), Some(family), Some(born)) => {
            born == person.birth_date
                && names_match(first, &person.first_name)
                && names_match(family, &person.family_name)
        }
        _ => false,
    }
}

fn identify(people: &[Person], market: &str, data: &types::ConsumerDataDto) -> Option<usize> {
    people
        .iter()
        .position(|p| p.market == market && matches(p, data))
}

fn estimated_age(born: NaiveDate) -> i32 {
    Utc::now()
        .date_naive()
        .years_since(born)
        .and_then(|years| i32::try_from(years).ok())
        .unwrap_or(0)
}

fn person_dto(
    people: &[Person],
    updated: &[DateTime<Utc>],
    index: usize,
) -> Option<types::PersonDto> {
    let mut dto = person_document(people.get(index)?, *updated.get(index)?)?;
    dto.extra.insert("gedi".to_string(), gedi(index).into());
    Some(dto)
}

/// The person document of `person`, last updated at `updated` (without its gedi: the person
/// and feed answers each put it where they carry it).
fn person_document(person: &Person, updated: DateTime<Utc>) -> Option<types::PersonDto> {
    let market = person.market.to_string();
    let address = serde_json::json!({
        "streetName": person.street,
        "streetNumber": person.street_number.to_string(),
        "postalCode": person.postal_code,
        "city": person.city,
        "country": market,
    });
    let phone = serde_json::json!({"number": person.phone});
    let age = estimated_age(person.birth_date);
    types::PersonDto::builder()
        .first_names(vec![person.first_name.clone()])
        .preferred_first_name(Some(person.first_name.clone()))
        .family_name(Some(person.family_name.clone()))
        .shortened_full_name(Some(person.full_name()))
        .birth_date(Some(person.birth_date))
        .birth_date_precision(Some("DAY".to_string()))
        .estimated_age(Some(age))
        .minor(Some(if age < 18 { "YES" } else { "NO" }.to_string()))
        .legal_id(Some(types::PersonLegalId {
            identity_number: Some(person.legal_id.clone()),
            extra: Default::default(),
        }))
        .addresses(vec![into_object(address)])
        .phone_numbers(vec![into_object(phone)])
        .metadata(Some(types::PersonMetadata {
            sources: vec![types::PersonMetadataSource {
                market: Some(market.clone()),
                name: Some(source(&market).to_string()),
                updated_timestamp: Some(updated),
                extra: Default::default(),
            }],
            updated_timestamp: Some(updated),
            extra: Default::default(),
        }))
        .extra(serde_json::Map::new())
        .try_into()
        .ok()
}

fn into_object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(object) => object,
        _ => serde_json::Map::new(),
    }
}

fn person_response(world: &World, index: usize) -> Response {
    match person_dto(&world.people, &world.person_changed, index) {
        Some(dto) => Json(dto).into_response(),
        None => internal_error(),
    }
}

// ---------------------------------------------------------------------------------------------
// Query parameters and page tokens

type QueryResult = Result<Query<HashMap<String, String>>, QueryRejection>;

fn query_map(query: QueryResult) -> Result<HashMap<String, String>, Response> {
    query
        .map(|Query(q)| q)
        .map_err(|e| parameter_violation("query", e.body_text()))
}

fn page_size(query: &HashMap<String, String>) -> Result<usize, Response> {
    let Some(raw) = query.get("pageSize") else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    match raw.trim().parse::<i64>() {
        Ok(size) if (1..=MAX_PAGE_SIZE).contains(&size) => usize::try_from(size)
            .map_err(|_| parameter_violation("pageSize", "must be between 1 and 1000")),
        Ok(_) => Err(parameter_violation(
            "pageSize",
            "must be between 1 and 1000",
        )),
        Err(_) => Err(parameter_violation(
            "pageSize",
            "must be an integer between 1 and 1000",
        )),
    }
}

#[derive(Clone, Copy)]
enum List {
    Consumers,
    Persons,
    AuditEvents,
}

impl List {
    fn kind(self) -> &'static str {
        match self {
            List::Consumers => "consumers",
            List::Persons => "persons",
            List::AuditEvents => "audit-events",
        }
    }
}

fn encode_cursor(list: List, position: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("ci:{}:{position}", list.kind()))
}

/// The position in a page token of `list` (0 without a token).
fn cursor(list: List, query: &HashMap<String, String>) -> Result<u64, Response> {
    let Some(token) = query.get("pageToken") else {
        return Ok(0);
    };
    URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            text.strip_prefix(&format!("ci:{}:", list.kind()))
                .and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| parameter_violation("pageToken", "is not a page token of this list"))
}

// ---------------------------------------------------------------------------------------------
// Persons

async fn find_person(
    State(twin): State<Shared>,
    Path(market): Path<String>,
    headers: HeaderMap,
    body: Result<Valid<types::ConsumerDataDto>, Invalid>,
) -> Response {
    if let Err(refused) = twin.enter(&headers) {
        return refused;
    }
    if let Err(e) = market.parse::<types::Market>() {
        return parameter_violation("market", e.to_string());
    }
    let Valid(data) = match body {
        Ok(body) => body,
        Err(invalid) => return invalid_body(&invalid),
    };
    let world = lock(&twin.world);
    match identify(&world.people, &market, &data) {
        Some(index) => person_response(&world, index),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn get_person(
    State(twin): State<Shared>,
    Path(gedi): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = twin.enter(&headers) {
        return refused;
    }
    let world = lock(&twin.world);
    match parse_gedi(&world.people, &gedi) {
        Some(index) => person_response(&world, index),
        None => problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("No person with gedi {gedi}"),
            vec![],
        ),
    }
}

fn subscribed_dto(
    world: &World,
    index: usize,
    subscription: &Subscription,
) -> Option<types::SubscribedPersonDto> {
    let person = person_document(world.people.get(index)?, *world.person_changed.get(index)?)?;
    let serde_json::Value::Object(mut extra) = serde_json::to_value(person).ok()? else {
        return None;
    };
    extra.insert(
        "consumerIds".to_string(),
        serde_json::json!(subscription.consumer_ids),
    );
    extra.insert("market".to_string(), world.people[index].market.into());
    extra.insert(
        "changedTimestamp".to_string(),
        serde_json::json!(subscription.changed_at),
    );
    Some(types::SubscribedPersonDto {
        gedi: Some(gedi(index)),
        extra,
    })
}

/// A synthetic subscribed person as served: the members of a `SubscribedPersonDto` (the person
/// document flattened beside the feed's own), serialized straight from the typed document
/// because a million of them pass through a benchmark.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SyntheticFeedItem {
    gedi: String,
    #[serde(flatten)]
    person: types::PersonDto,
    consumer_ids: [String; 1],
    market: &'static str,
    changed_timestamp: DateTime<Utc>,
}

/// One item of a subscribed-person page.
#[derive(Serialize)]
#[serde(untagged)]
enum FeedEntry {
    Synthetic(Box<SyntheticFeedItem>),
    Subscribed(types::SubscribedPersonDto),
}

/// A subscribed-person page (`SubscribedPersonPage` on the wire).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FeedPage {
    data: Vec<FeedEntry>,
    next_page_token: String,
}

/// Seed salt of the synthetic persons (another population than the register's).
const SYNTHETIC_PERSONS: u64 = 0x5E4D_1C47;

/// The synthetic person at feed `position` (1-based), made from the position alone.
fn synthetic_feed_item(seed: u64, position: u64, changed_at: DateTime<Utc>) -> Option<FeedEntry> {
    let person = synthetic::person_at(seed ^ SYNTHETIC_PERSONS, position);
    Some(FeedEntry::Synthetic(Box::new(SyntheticFeedItem {
        gedi: format!("gedi-synthetic-{position}"),
        person: person_document(&person, changed_at)?,
        consumer_ids: [format!("synthetic-{position}")],
        market: person.market,
        changed_timestamp: changed_at,
    })))
}

async fn list_subscribed_persons(
    State(twin): State<Shared>,
    headers: HeaderMap,
    query: QueryResult,
) -> Response {
    let client = match twin.enter(&headers) {
        Ok(client) => client,
        Err(refused) => return refused,
    };
    let query = match query_map(query) {
        Ok(query) => query,
        Err(refused) => return refused,
    };
    let size = match page_size(&query) {
        Ok(size) => size,
        Err(refused) => return refused,
    };
    let from_date = match query.get("fromDate") {
        None => None,
        Some(raw) => match raw.parse::<NaiveDate>() {
            Ok(date) => Some(date),
            Err(_) => return parameter_violation("fromDate", "must be a date, YYYY-MM-DD"),
        },
    };
    if from_date.is_some() && query.contains_key("pageToken") {
        return parameter_violation("fromDate", "cannot be used with pageToken");
    }
    let after = match cursor(List::Persons, &query) {
        Ok(after) => after,
        Err(refused) => return refused,
    };
    let from = from_date
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    // Positions 1..=synthetic are the synthetic persons, made from their position without the
    // world's lock; the client's own subscriptions follow at synthetic + their feed seq.
    let synthetic = twin
        .config
        .consumer_intelligence_synthetic_persons
        .unwrap_or(0);
    let mut data = Vec::with_capacity(size);
    let mut last_position = None;
    if after < synthetic && from.is_none_or(|from| twin.started >= from) {
        let end = synthetic.min(after.saturating_add(size as u64));
        for position in after + 1..=end {
            match synthetic_feed_item(twin.config.seed, position, twin.started) {
                Some(dto) => data.push(dto),
                None => return internal_error(),
            }
        }
        last_position = Some(end);
    }
    let world = lock(&twin.world);
    let Some(state) = world.clients.get(&client) else {
        return internal_error();
    };
    let room = size - data.len();
    if room > 0 {
        let real_after = after.saturating_sub(synthetic);
        let mut feed: Vec<(&usize, &Subscription)> = state
            .subscriptions
            .iter()
            .filter(|(_, s)| s.seq > real_after && from.is_none_or(|from| s.changed_at >= from))
            .collect();
        feed.sort_by_key(|(_, s)| s.seq);
        feed.truncate(room);
        for (index, subscription) in &feed {
            match subscribed_dto(&world, **index, subscription) {
                Some(dto) => data.push(FeedEntry::Subscribed(dto)),
                None => return internal_error(),
            }
        }
        if let Some((_, s)) = feed.last() {
            last_position = Some(synthetic + s.seq);
        }
    }
    // Always a token: after the last item, or (empty page) where the caller stands, so that
    // it yields what changes later.
    let position = match (last_position, from) {
        (Some(position), _) => position,
        (None, Some(_)) => synthetic + state.feed_seq,
        (None, None) => after,
    };
    Json(FeedPage {
        data,
        next_page_token: encode_cursor(List::Persons, position),
    })
    .into_response()
}

/// Sandbox only: the person moves to a synthetic address (see the module docs).
async fn change_person(
    State(twin): State<Shared>,
    Path(gedi_path): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = twin.enter(&headers) {
        return refused;
    }
    let mut world = lock(&twin.world);
    let Some(index) = parse_gedi(&world.people, &gedi_path) else {
        return problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("No person with gedi {gedi_path}"),
            vec![],
        );
    };
    let now = Utc::now();
    let world = &mut *world;
    world.changes[index] += 1;
    relocate(&mut world.people, index, world.changes[index]);
    world.person_changed[index] = now;
    let market = world.people[index].market.to_string();
    for client in world.clients.values_mut() {
        if !client.subscriptions.contains_key(&index) {
            continue;
        }
        let seq = client.next_feed_seq();
        let Some(subscription) = client.subscriptions.get_mut(&index) else {
            continue;
        };
        subscription.seq = seq;
        subscription.changed_at = now;
        let consumer_ids = subscription.consumer_ids.iter().cloned().collect();
        client.record(&types::PersonChangedEvent {
            changed_id: uuid::Uuid::new_v4().to_string(),
            consumer_ids,
            gedi: gedi(index),
            id: event_id(),
            json_pointers: vec!["/addresses".to_string()],
            source: source(&market),
            timestamp: now,
            type_: types::WebhookEventTypeDto::PersonChanged,
        });
    }
    person_response(world, index)
}

/// Moves person `index` to the address of another person of its market (the `change`-th one
/// after it), with a different street number if that would be the same address.
fn relocate(people: &mut [Person], index: usize, change: usize) {
    let Some(person) = people.get(index) else {
        return;
    };
    let market = person.market;
    let current = (
        person.street.clone(),
        person.street_number,
        person.postal_code.clone(),
    );
    let donors: Vec<usize> = (1..people.len())
        .map(|step| (index + step) % people.len())
        .filter(|&i| people[i].market == market)
        .collect();
    let (street, mut number, postal_code, city) =
        match donors.get((change - 1) % donors.len().max(1)) {
            Some(&donor) => {
                let d = &people[donor];
                (
                    d.street.clone(),
                    d.street_number,
                    d.postal_code.clone(),
                    d.city.clone(),
                )
            }
            None => (
                current.0.clone(),
                current.1,
                current.2.clone(),
                people[index].city.clone(),
            ),
        };
    if (street.as_str(), number, postal_code.as_str())
        == (current.0.as_str(), current.1, current.2.as_str())
    {
        number = number % 119 + 1;
    }
    let person = &mut people[index];
    person.street = street;
    person.street_number = number;
    person.postal_code = postal_code;
    person.city = city;
}

// ---------------------------------------------------------------------------------------------
// Consumers

fn consumer_dto(id: &str, consumer: &Consumer, delay: Duration) -> types::ConsumerDto {
    types::ConsumerDto {
        consumer_id: id.to_string(),
        data: Some(consumer.upload.data.clone()),
        gedi: consumer.outcome.flatten().map(gedi),
        market: Some(consumer.upload.market.to_string()),
        state: Some(state_of(consumer, delay)),
        extra: Default::default(),
    }
}

async fn list_consumers(
    State(twin): State<Shared>,
    headers: HeaderMap,
    query: QueryResult,
) -> Response {
    let client = match twin.enter(&headers) {
        Ok(client) => client,
        Err(refused) => return refused,
    };
    let query = match query_map(query) {
        Ok(query) => query,
        Err(refused) => return refused,
    };
    let size = match page_size(&query) {
        Ok(size) => size,
        Err(refused) => return refused,
    };
    let wanted = match query.get("state") {
        None => None,
        // The client's enum is open (any string parses), the vendor's filter is not.
        Some(raw) => match raw.parse::<types::ConsumerStateTypeDto>() {
            Ok(types::ConsumerStateTypeDto::UnknownValue(_)) | Err(_) => {
                return parameter_violation(
                    "state",
                    "must be one of UPLOADED, IDENTIFYING, IDENTIFIED, NOT_IDENTIFIED",
                );
            }
            Ok(state) => Some(state),
        },
    };
    let after = match cursor(List::Consumers, &query) {
        Ok(after) => after,
        Err(refused) => return refused,
    };
    let delay = twin.config.consumer_intelligence_identify_delay;
    let world = lock(&twin.world);
    let Some(state) = world.clients.get(&client) else {
        return internal_error();
    };
    let mut listed: Vec<(&String, &Consumer)> = state
        .consumers
        .iter()
        .filter(|(_, c)| {
            c.created_seq > after
                && wanted
                    .as_ref()
                    .is_none_or(|wanted| state_of(c, delay) == *wanted)
        })
        .collect();
    listed.sort_by_key(|(_, c)| c.created_seq);
    let more = listed.len() > size;
    listed.truncate(size);
    let next_page_token = match (more, listed.last()) {
        (true, Some((_, last))) => Some(encode_cursor(List::Consumers, last.created_seq)),
        _ => None,
    };
    let unlisted = twin.config.send_unlisted_enum_values;
    Json(types::ConsumerPage {
        data: listed
            .into_iter()
            .map(|(id, c)| {
                let mut dto = consumer_dto(id, c, delay);
                if unlisted {
                    dto.state = Some(types::ConsumerStateTypeDto::UnknownValue(
                        UNLISTED_CONSUMER_STATE.into(),
                    ));
                }
                dto
            })
            .collect(),
        next_page_token,
    })
    .into_response()
}

async fn upload_consumers(
    State(twin): State<Shared>,
    headers: HeaderMap,
    body: Result<Valid<Vec<types::UploadConsumerDto>>, Invalid>,
) -> Response {
    let client = match twin.enter(&headers) {
        Ok(client) => client,
        Err(refused) => return refused,
    };
    let Valid(batch) = match body {
        Ok(body) => body,
        Err(invalid) => return invalid_body(&invalid),
    };
    if batch.is_empty() || batch.len() > MAX_UPLOAD {
        return constraint_violation(
            BODY_ERRORS,
            vec![violation(
                "body",
                format!("size must be between 1 and {MAX_UPLOAD}"),
            )],
        );
    }
    let mut world = lock(&twin.world);
    let Some(state) = world.clients.get_mut(&client) else {
        return internal_error();
    };
    for upload in batch {
        let id = upload.consumer_id.to_string();
        let now = Utc::now();
        let created_seq = match state.consumers.get(&id) {
            Some(existing) if existing.upload == upload => continue,
            Some(existing) => {
                let seq = existing.created_seq;
                state.detach(&id, now);
                seq
            }
            None => {
                state.upload_seq += 1;
                state.upload_seq
            }
        };
        let market = upload.market.to_string();
        state.consumers.insert(
            id.clone(),
            Consumer {
                upload,
                created_seq,
                uploaded: Instant::now(),
                uploaded_at: now,
                outcome: None,
            },
        );
        state.record(&types::ConsumerUploadedEvent {
            consumer_id: id,
            id: event_id(),
            market: event_market(&market),
            timestamp: now,
            type_: types::WebhookEventTypeDto::ConsumerUploaded,
        });
    }
    StatusCode::ACCEPTED.into_response()
}

async fn delete_consumers(
    State(twin): State<Shared>,
    headers: HeaderMap,
    body: Result<Valid<types::DeleteConsumersDto>, Invalid>,
) -> Response {
    let client = match twin.enter(&headers) {
        Ok(client) => client,
        Err(refused) => return refused,
    };
    let Valid(body) = match body {
        Ok(body) => body,
        Err(invalid) => return invalid_body(&invalid),
    };
    if body.consumer_ids.is_empty() || body.consumer_ids.len() > MAX_DELETE {
        return constraint_violation(
            BODY_ERRORS,
            vec![violation(
                "consumerIds",
                format!("size must be between 1 and {MAX_DELETE}"),
            )],
        );
    }
    let mut world = lock(&twin.world);
    let Some(state) = world.clients.get_mut(&client) else {
        return internal_error();
    };
    for id in body.consumer_ids {
        let id = id.to_string();
        let Some(market) = state
            .consumers
            .get(&id)
            .map(|c| c.upload.market.to_string())
        else {
            continue;
        };
        let now = Utc::now();
        state.record(&types::ConsumerDeletedEvent {
            consumer_id: id.clone(),
            id: event_id(),
            market: event_market(&market),
            timestamp: now,
            type_: types::WebhookEventTypeDto::ConsumerDeleted,
        });
        state.detach(&id, now);
        state.consumers.remove(&id);
    }
    StatusCode::NO_CONTENT.into_response()
}

// ---------------------------------------------------------------------------------------------
// Audit events

async fn list_audit_events(
    State(twin): State<Shared>,
    headers: HeaderMap,
    query: QueryResult,
) -> Response {
    let client = match twin.enter(&headers) {
        Ok(client) => client,
        Err(refused) => return refused,
    };
    let query = match query_map(query) {
        Ok(query) => query,
        Err(refused) => return refused,
    };
    let size = match page_size(&query) {
        Ok(size) => size,
        Err(refused) => return refused,
    };
    let after = match cursor(List::AuditEvents, &query) {
        Ok(after) => after,
        Err(refused) => return refused,
    };
    let world = lock(&twin.world);
    let Some(state) = world.clients.get(&client) else {
        return internal_error();
    };
    let start = usize::try_from(after)
        .unwrap_or(usize::MAX)
        .min(state.events.len());
    let data: Vec<types::AuditEventDto> =
        state.events[start..].iter().take(size).cloned().collect();
    let position = (start + data.len()) as u64;
    Json(types::AuditEventPage {
        data,
        next_page_token: Some(encode_cursor(List::AuditEvents, position)),
    })
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Webhooks

async fn list_webhooks(State(twin): State<Shared>, headers: HeaderMap) -> Response {
    let client = match twin.enter(&headers) {
        Ok(client) => client,
        Err(refused) => return refused,
    };
    let world = lock(&twin.world);
    let webhooks = world
        .clients
        .get(&client)
        .map(|s| s.webhooks.clone())
        .unwrap_or_default();
    Json(types::WebhookList { webhooks }).into_response()
}

async fn create_webhook(
    State(twin): State<Shared>,
    headers: HeaderMap,
    body: Result<Valid<types::CreateWebhookDto>, Invalid>,
) -> Response {
    let client = match twin.enter(&headers) {
        Ok(client) => client,
        Err(refused) => return refused,
    };
    let Valid(body) = match body {
        Ok(body) => body,
        Err(invalid) => return invalid_body(&invalid),
    };
    let mut violations = Vec::new();
    if !(body.url.starts_with("https://") || body.url.starts_with("http://")) {
        violations.push(violation("url", "must be an http(s) URL"));
    } else if let Err(reason) = crate::sandbox_only::loopback_url(&body.url) {
        // Not the vendor's rule: the sandbox calls only this machine (crate::sandbox_only).
        violations.push(violation("url", &reason));
    }
    if body.events.is_empty() {
        violations.push(violation("events", "must not be empty"));
    }
    if !violations.is_empty() {
        return constraint_violation(BODY_ERRORS, violations);
    }
    let webhook = types::Webhook {
        description: body.description,
        events: body.events,
        id: uuid::Uuid::new_v4().to_string(),
        url: body.url,
    };
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    // A PING to this webhook only (whatever its events), first of its deliveries.
    let ping = serde_json::to_value(types::PingEvent {
        id: event_id(),
        timestamp: Utc::now(),
        type_: types::WebhookEventTypeDto::Ping,
    });
    let Ok(ping) = ping else {
        return internal_error();
    };
    let mut world = lock(&twin.world);
    let Some(state) = world.clients.get_mut(&client) else {
        return internal_error();
    };
    state.webhooks.push(webhook.clone());
    state.hooks.insert(
        webhook.id.clone(),
        Hook {
            url: webhook.url.clone(),
            secret: secret.clone(),
            events: webhook.events.clone(),
            queue: VecDeque::from([ping]),
            sender: Sender::default(),
        },
    );
    (
        StatusCode::CREATED,
        Json(types::CreatedWebhook {
            description: webhook.description,
            events: webhook.events,
            id: webhook.id,
            secret,
            url: webhook.url,
        }),
    )
        .into_response()
}

async fn delete_webhook(
    State(twin): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let client = match twin.enter(&headers) {
        Ok(client) => client,
        Err(refused) => return refused,
    };
    let mut world = lock(&twin.world);
    let Some(state) = world.clients.get_mut(&client) else {
        return internal_error();
    };
    match state.webhooks.iter().position(|w| w.id == id) {
        Some(at) => {
            // Nothing more for it: its queue, retries and resends go with it.
            state.hooks.remove(&id);
            Json(state.webhooks.remove(at)).into_response()
        }
        None => problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("No webhook with id {id}"),
            vec![],
        ),
    }
}

/// Sandbox only: where the deliveries of webhook `id` stand (see the module docs).
async fn webhook_deliveries(State(twin): State<Shared>, Path(id): Path<String>) -> Response {
    let world = lock(&twin.world);
    let Some(hook) = world.clients.values().find_map(|c| c.hooks.get(&id)) else {
        return problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("No webhook with id {id}"),
            vec![],
        );
    };
    let stats = hook.sender.stats();
    Json(serde_json::json!({
        "queued": hook.queue.len() as u64 + hook.sender.waiting_units(),
        "inFlight": hook.sender.in_flight(),
        "delivered": stats.delivered,
        "attempts": stats.attempts,
        "resent": stats.resent,
        "failed": stats.failed,
        "eventsDelivered": stats.units_delivered,
    }))
    .into_response()
}

/// One webhook delivery about to be sent.
struct Outgoing {
    client: String,
    webhook: String,
    url: String,
    secret: String,
    body: Bytes,
}

impl Twin {
    /// Settles identification for every client, then takes each webhook's due delivery (a
    /// retry, a due resend, or the next up to ten queued events).
    fn due_deliveries(&self) -> Vec<Outgoing> {
        let now = Instant::now();
        let mut world = lock(&self.world);
        // Only webhooks need identification settled before a client asks (a scan of every
        // consumer each tick would otherwise burden big registers for nothing).
        if world.clients.values().any(|c| !c.hooks.is_empty()) {
            settle(&mut world, self.config.consumer_intelligence_identify_delay);
        }
        let mut due = Vec::new();
        for (client, state) in &mut world.clients {
            for (id, hook) in &mut state.hooks {
                let Hook { queue, sender, .. } = hook;
                if let Some(body) = sender.next(now, || next_batch(queue)) {
                    due.push(Outgoing {
                        client: client.clone(),
                        webhook: id.clone(),
                        url: hook.url.clone(),
                        secret: hook.secret.clone(),
                        body,
                    });
                }
            }
        }
        due
    }

    /// The outcome of a delivery (`delivered`: answered 200). A webhook deleted meanwhile
    /// is gone, and so is its outcome.
    fn delivery_done(&self, client: &str, webhook: &str, delivered: bool) {
        let mut world = lock(&self.world);
        let World {
            clients, resends, ..
        } = &mut *world;
        if let Some(hook) = clients
            .get_mut(client)
            .and_then(|state| state.hooks.get_mut(webhook))
        {
            hook.sender
                .finish(delivered, Instant::now(), self.policy, resends);
        }
    }
}

/// The next delivery of a queue: its first (up to) ten events as a JSON array, and how many.
fn next_batch(queue: &mut VecDeque<serde_json::Value>) -> Option<(Bytes, u64)> {
    if queue.is_empty() {
        return None;
    }
    let take = queue.len().min(MAX_EVENTS_PER_DELIVERY);
    let events: Vec<serde_json::Value> = queue.drain(..take).collect();
    let body = serde_json::to_vec(&events).ok()?;
    Some((Bytes::from(body), take as u64))
}

/// POSTs one delivery, signed now, and reports whether it was answered 200.
async fn send_delivery(twin: Weak<Twin>, http: reqwest::Client, outgoing: Outgoing) {
    let timestamp = outbound::unix_seconds();
    let signature = sign(
        &WebhookSecret::new(outgoing.secret.as_str()),
        &timestamp,
        &outgoing.body,
    );
    let request = http
        .post(&outgoing.url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp)
        .header(SIGNATURE_HEADER, signature)
        .body(outgoing.body);
    let delivered = outbound::answered(request).await;
    if let Some(twin) = twin.upgrade() {
        twin.delivery_done(&outgoing.client, &outgoing.webhook, delivered);
    }
}

/// Sandbox only: revoke every access token issued so far.
async fn revoke_tokens(State(twin): State<Shared>) -> StatusCode {
    twin.tokens.revoke_all();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identification_by_legal_id_or_names_and_birth_date_within_the_market() {
        let people = population(42, POPULATION);
        let p = &people[7];
        let by_id = types::ConsumerDataDto {
            legal_id: Some(
                format!("{}-{}", &p.legal_id[..8], &p.legal_id[8..])
                    .parse()
                    .unwrap(),
            ),
            ..Default::default()
        };
        assert_eq!(identify(&people, p.market, &by_id), Some(7));
        let other_market = if p.market == "SE" { "NO" } else { "SE" };
        assert_eq!(identify(&people, other_market, &by_id), None);
        let by_names = types::ConsumerDataDto {
            first_name: Some(
                format!("X {}", p.first_name.to_uppercase())
                    .parse()
                    .unwrap(),
            ),
            family_name: Some(p.family_name.parse().unwrap()),
            date_of_birth: Some(p.birth_date),
            ..Default::default()
        };
        assert_eq!(
            identify(&people, p.market, &by_names).map(|i| people[i].legal_id.clone()),
            Some(p.legal_id.clone())
        );
        let nobody = types::ConsumerDataDto {
            first_name: Some(p.first_name.parse().unwrap()),
            family_name: Some(p.family_name.parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(identify(&people, p.market, &nobody), None);
    }

    #[test]
    fn page_tokens_are_tied_to_their_list() {
        let token = encode_cursor(List::Persons, 12);
        let query = HashMap::from([("pageToken".to_string(), token)]);
        assert_eq!(cursor(List::Persons, &query).ok(), Some(12));
        assert!(cursor(List::AuditEvents, &query).is_err());
        let garbled = HashMap::from([("pageToken".to_string(), "%%%".to_string())]);
        assert!(cursor(List::Persons, &garbled).is_err());
    }

    #[test]
    fn a_synthetic_feed_item_is_a_subscribed_person_made_from_its_position() {
        let at = Utc::now();
        let item = |position| match synthetic_feed_item(42, position, at) {
            Some(FeedEntry::Synthetic(item)) => serde_json::to_value(item).unwrap(),
            _ => panic!("no synthetic item at {position}"),
        };
        let dto: types::SubscribedPersonDto = serde_json::from_value(item(7)).unwrap();
        assert_eq!(dto.gedi.as_deref(), Some("gedi-synthetic-7"));
        for member in [
            "consumerIds",
            "market",
            "changedTimestamp",
            "addresses",
            "metadata",
        ] {
            assert!(dto.extra.contains_key(member), "{member} missing");
        }
        assert!(
            !dto.extra.contains_key("gedi"),
            "the gedi once, as the member"
        );
        assert_eq!(item(7), item(7), "the same position, the same person");
        assert_ne!(item(7)["legalId"], item(8)["legalId"]);
    }

    #[test]
    fn relocation_changes_the_address_and_keeps_the_market() {
        let mut people = population(42, POPULATION);
        let before = people[3].clone();
        relocate(&mut people, 3, 1);
        let after = &people[3];
        assert_eq!(after.market, before.market);
        assert_ne!(
            (after.address_line(), after.postal_code.clone()),
            (before.address_line(), before.postal_code.clone())
        );
        assert_eq!(after.legal_id, before.legal_id);
    }
}
