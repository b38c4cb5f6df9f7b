//! State shared by the three BiQ Alert twins (`biq_auth`, `biq_customer_shadow`,
//! `biq_alert_changes`): the JWT signing key, the shadow sources and shadow customers, and the
//! AlertChanges feeds that the change generator fills from those customers.
//!
//! One sandbox has one `Arc<SandboxConfig>`; [`shared`] hands every BiQ router of that sandbox
//! the same [`BiqState`] (cached by the config's address, held weakly, so a stopped sandbox
//! frees its state).
//!
//! Errors are shaped as an ASP.NET Core service answers them (the vendor runs ASP.NET; inferred
//! from its Swagger UIs and the demo, no error body is documented): RFC 7807 problem details
//! (`application/problem+json`, `{"type","title","status"}`), a validation problem with an
//! `errors` map for a body that does not bind, and for a refused bearer token the JwtBearer
//! handler's empty 401 with `WWW-Authenticate: Bearer error="invalid_token"` (403 with an empty
//! body when the token is valid but does not name the path's tenant).

use crate::lock;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use customer_data::biq_alert_changes::types as changes;
use customer_data::biq_customer_shadow::types as shadow;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::SandboxConfig;
use crate::auth::{bearer, jwt, verify_jwt};
use crate::credentials;
use crate::synthetic::{Person, population};

/// Seeded shadow customers per shadow source.
const SEEDED_CUSTOMERS_PER_SOURCE: usize = 3;

/// A shadow customer, keyed by (tenant, shadow source, customer number).
pub type CustomerKey = (String, i32, String);

/// A shadow customer as stored.
#[derive(Debug, Clone)]
pub struct StoredCustomer {
    pub customer: shadow::Customer,
    /// When the shadow received this version.
    pub received: DateTime<Utc>,
}

/// The AlertChanges feeds of one tenant, in commit order.
#[derive(Debug, Default)]
pub struct Feed {
    pub approved_changes: Vec<changes::ApprovedChange>,
    pub notifications: Vec<changes::Notification>,
    /// The last `committed` handed out (both feeds); the next one is strictly later.
    pub last_committed: Option<DateTime<Utc>>,
}

/// Everything the three BiQ twins of one sandbox share.
pub struct BiqState {
    pub config: Arc<SandboxConfig>,
    /// HS256 key of the JWTs (derived from the seed).
    key: Vec<u8>,
    /// The shadow sources every tenant sees.
    pub sources: Vec<shadow::ShadowSource>,
    pub customers: Mutex<BTreeMap<CustomerKey, StoredCustomer>>,
    /// Per tenant.
    pub feeds: Mutex<HashMap<String, Feed>>,
    /// The server-side approved-changes bookmark, per tenant.
    pub bookmarks: Mutex<HashMap<String, changes::Bookmark>>,
    /// Drives the change generator (ids, event types, proposed values).
    pub rng: Mutex<ChaCha8Rng>,
    /// Synthetic people the generator takes proposed names, addresses, e-mails from.
    pub pool: Vec<Person>,
    /// The instant the synthetic approved changes (`config.biq_synthetic_changes`) count
    /// from: far enough before the start that all of them are committed before it.
    pub synthetic_base: DateTime<Utc>,
}

static SHARED: Mutex<Vec<(usize, Weak<BiqState>)>> = Mutex::new(Vec::new());

/// The BiQ state of the sandbox that owns `config` (created on first use).
pub fn shared(config: &Arc<SandboxConfig>) -> Arc<BiqState> {
    let address = Arc::as_ptr(config) as usize;
    let mut cache = lock(&SHARED);
    cache.retain(|(_, state)| state.strong_count() > 0);
    let existing = cache
        .iter()
        .filter(|(key, _)| *key == address)
        .find_map(|(_, state)| state.upgrade())
        .filter(|state| Arc::ptr_eq(&state.config, config));
    if let Some(state) = existing {
        return state;
    }
    let state = Arc::new(BiqState::new(config.clone()));
    cache.push((address, Arc::downgrade(&state)));
    state
}

impl BiqState {
    fn new(config: Arc<SandboxConfig>) -> Self {
        let seed = config.seed;
        // Shadow source ids are ints (the demo's ShadowSourceId); seeded so that clients read
        // them from listShadowSources rather than assume one.
        let first_id = 100 + (seed % 900) as i32;
        let sources = vec![
            source(first_id, "Sandbox private customers"),
            source(first_id + 1, "Sandbox business customers"),
        ];
        let now = Utc::now();
        let synthetic_base = synthetic_base(&config, now, sources.len() as i64);
        let people = population(seed ^ 0xB105_AD00, 100);
        let danish = people
            .iter()
            .filter(|p| p.market == "DK")
            .chain(people.iter().filter(|p| p.market != "DK"));
        let mut customers = BTreeMap::new();
        for (n, person) in danish.take(2 * SEEDED_CUSTOMERS_PER_SOURCE).enumerate() {
            let (source_id, category) = if n < SEEDED_CUSTOMERS_PER_SOURCE {
                (first_id, shadow::CustomerCategoryText::Residential)
            } else {
                (first_id + 1, shadow::CustomerCategoryText::Enterprise)
            };
            let number = format!("SBX-{}", 1001 + n);
            customers.insert(
                (
                    credentials::BIQ_TENANT_ID.to_string(),
                    source_id,
                    number.clone(),
                ),
                StoredCustomer {
                    customer: seeded_customer(person, number, category, now),
                    received: now,
                },
            );
        }
        Self {
            key: format!("biq-sandbox-signing-key-{seed}").into_bytes(),
            sources,
            customers: Mutex::new(customers),
            feeds: Mutex::new(HashMap::new()),
            bookmarks: Mutex::new(HashMap::new()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0xB1A1_E270)),
            pool: population(seed ^ 0xB19E_0F1E, 200),
            synthetic_base,
            config,
        }
    }

    /// Whether `id` is one of the shadow sources.
    pub fn has_source(&self, id: i32) -> bool {
        self.sources.iter().any(|s| s.id == Some(id))
    }

    /// A new JWT for the sandbox tenant: `tenatIds` (the vendor page's spelling) and
    /// `tenantIds` name it, `exp` is now + `lifetimes.biq` (whole seconds, rounded up).
    pub fn issue_token(&self) -> String {
        let now = unix_now();
        let exp = (now + self.config.lifetimes.biq.as_secs_f64()).ceil() as i64;
        let tenants = [credentials::BIQ_TENANT_ID];
        jwt(
            &serde_json::json!({
                "iss": "biq-sandbox",
                "tenatIds": tenants,
                "tenantIds": tenants,
                "iat": now.floor() as i64,
                "nbf": now.floor() as i64,
                "exp": exp,
            }),
            &self.key,
        )
    }

    /// Checks `Authorization: Bearer <jwt>` for `tenant`, as ASP.NET's JwtBearer handler and
    /// an authorization policy on the tenant claim would: 401 for a missing, forged or expired
    /// token, 403 for a valid token of another tenant.
    pub fn authorise(&self, headers: &HeaderMap, tenant: &str) -> Result<(), Refusal> {
        let Some(token) = bearer(headers).map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(challenge(None).into());
        };
        let Some(claims) = verify_jwt(token, &self.key) else {
            return Err(challenge(Some("The signature is invalid")).into());
        };
        let Some(exp) = claims.get("exp").and_then(serde_json::Value::as_f64) else {
            return Err(challenge(Some("The token has no expiration")).into());
        };
        if exp <= unix_now() {
            let at = DateTime::<Utc>::from_timestamp(exp as i64, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            return Err(challenge(Some(&format!("The token expired at '{at}'"))).into());
        }
        let names_tenant = ["tenatIds", "tenantIds"]
            .iter()
            .any(|claim| match claims.get(*claim) {
                Some(serde_json::Value::String(t)) => t == tenant,
                Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some(tenant)),
                _ => false,
            });
        if names_tenant {
            Ok(())
        } else {
            Err(StatusCode::FORBIDDEN.into_response().into())
        }
    }
}

/// Whole milliseconds before `now` such that `changes` synthetic changes on each of `sources`
/// shadow sources, one millisecond apart, are all committed before `now`.
fn synthetic_base(config: &SandboxConfig, now: DateTime<Utc>, sources: i64) -> DateTime<Utc> {
    let changes = i64::try_from(config.biq_synthetic_changes.unwrap_or(0)).unwrap_or(i64::MAX);
    let span = changes
        .saturating_add(1)
        .saturating_mul(sources)
        .saturating_add(1);
    let now_ms = now.timestamp_millis();
    DateTime::<Utc>::from_timestamp_millis(now_ms.saturating_sub(span)).unwrap_or(now)
}

/// An error answer, boxed (a `Response` is too large to be an `Err` cheaply).
pub struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

fn source(id: i32, name: &str) -> shadow::ShadowSource {
    shadow::ShadowSource {
        id: Some(id),
        name: Some(name.to_string()),
        extra: Default::default(),
    }
}

/// A shadow customer made from a synthetic person (no CPR/CVR: no real-looking national ids).
fn seeded_customer(
    person: &Person,
    number: String,
    category: shadow::CustomerCategoryText,
    now: DateTime<Utc>,
) -> shadow::Customer {
    let name = match &category {
        shadow::CustomerCategoryText::Enterprise => {
            format!("{} Consulting ApS", person.family_name)
        }
        // The seeder only makes the two listed categories; a person's name is the neutral one.
        shadow::CustomerCategoryText::Residential
        | shadow::CustomerCategoryText::UnknownValue(_) => person.full_name(),
    };
    shadow::Customer {
        active: Some("true".into()),
        associated_approved_change: None,
        changed: None,
        changed_by: None,
        contact1: Some(shadow::Contact {
            address: Some(shadow_address(person)),
            attention: None,
            care_of: None,
            cpr: None,
            cvr: None,
            date_of_birth: None,
            email: Some(person.email.clone()),
            name: Some(name),
            p_nr: None,
            phone1: Some(person.phone.clone()),
            phone2: None,
            po_box: None,
            title: None,
            type_text: None,
            extra: Default::default(),
        }),
        contact2: None,
        created: Some(now.to_rfc3339()),
        created_by: Some("sandbox".into()),
        customer_category_text: Some(category),
        customer_number: Some(number),
        extra_data: None,
        master_system_deep_link: None,
        extra: Default::default(),
    }
}

/// A synthetic person's address as a shadow Address.
pub fn shadow_address(person: &Person) -> shadow::Address {
    shadow::Address {
        composite_orig: Some(format!(
            "{}, {} {}",
            person.address_line(),
            person.postal_code,
            person.city
        )),
        country_code: Some(person.market.to_string()),
        country_name: None,
        dar_address_id: None,
        floor: None,
        house_letter: None,
        house_number: Some(person.street_number.to_string()),
        municipality_code: None,
        postal_city: Some(person.city.clone()),
        postal_code: Some(person.postal_code.clone()),
        postal_sub_city: None,
        street: Some(person.street.clone()),
        street_code: None,
        suite: None,
        extra: Default::default(),
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// JwtBearer's challenge: 401, no body, the reason in `WWW-Authenticate`.
fn challenge(description: Option<&str>) -> Response {
    let value = match description {
        None => "Bearer".to_string(),
        Some(d) => format!("Bearer error=\"invalid_token\", error_description=\"{d}\""),
    };
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// An RFC 7807 problem, as ASP.NET Core's `Problem()` / status-code results write it.
pub fn problem(status: StatusCode, detail: Option<&str>) -> Response {
    let mut body = serde_json::json!({
        "type": format!("https://tools.ietf.org/html/rfc9110#section-{}", rfc_section(status)),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
    });
    if let Some(detail) = detail {
        body["detail"] = serde_json::Value::from(detail);
    }
    problem_response(status, body)
}

/// ASP.NET Core's automatic 400 for a body or route value that does not bind: a validation
/// problem whose `errors` names the member (`$.member` for the body) with the reason.
pub fn validation_problem(member: &str, reason: &str) -> Response {
    let body = serde_json::json!({
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": { member: [reason] },
    });
    problem_response(StatusCode::BAD_REQUEST, body)
}

/// A body that did not decode into the generated type, as a validation problem.
pub fn invalid_body(invalid: &crate::validate::Invalid) -> Response {
    // `Invalid` reads "member.path: reason" (or just the reason for the whole body).
    let (member, reason) = match invalid.reason.split_once(": ") {
        Some((path, reason)) if !path.contains(' ') => (format!("$.{path}"), reason),
        _ => ("$".to_string(), invalid.reason.as_str()),
    };
    validation_problem(&member, reason)
}

fn problem_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn rfc_section(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "15.5.1",
        401 => "15.5.2",
        403 => "15.5.4",
        404 => "15.5.5",
        405 => "15.5.6",
        409 => "15.5.10",
        415 => "15.5.16",
        _ => "15.6.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sandbox_config_gives_one_state() {
        let a = Arc::new(SandboxConfig::default());
        let b = Arc::new(SandboxConfig::default());
        assert!(Arc::ptr_eq(&shared(&a), &shared(&a)));
        assert!(!Arc::ptr_eq(&shared(&a), &shared(&b)));
    }

    #[test]
    fn tokens_name_the_tenant_and_expire() {
        let state = shared(&Arc::new(SandboxConfig::default()));
        let mut headers = HeaderMap::new();
        let token = state.issue_token();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        assert!(
            state
                .authorise(&headers, credentials::BIQ_TENANT_ID)
                .is_ok()
        );
        let other = state
            .authorise(&headers, "someone-else")
            .unwrap_err()
            .into_response();
        assert_eq!(other.status(), StatusCode::FORBIDDEN);
        let missing = state
            .authorise(&HeaderMap::new(), credentials::BIQ_TENANT_ID)
            .unwrap_err()
            .into_response();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        let expired = jwt(
            &serde_json::json!({"tenatIds": [credentials::BIQ_TENANT_ID], "exp": 1}),
            &state.key,
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {expired}")).unwrap(),
        );
        let refused = state
            .authorise(&headers, credentials::BIQ_TENANT_ID)
            .unwrap_err()
            .into_response();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(
            refused.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("expired")
        );
    }
}
