//! SIX bLink Customer Management twin: the OpenWealth Customer Management API 1.2.1 as bLink
//! serves it (the bLink headers on every call, OAuth 2.0 bearer tokens, `/healthcheck`), over a
//! seeded book of customers (module `seed`).
//!
//! # Auth
//!
//! `POST /oauth/token` (form-urlencoded, as bLink's consent-flow module) with the same bLink
//! headers as every call:
//! * `grant_type=authorization_code` with `code` = [`credentials::BLINK_AUTHORIZATION_CODE`],
//!   `client_id` = [`credentials::BLINK_CLIENT_ID`], `username` (required, at most 64
//!   characters) and `redirect_uri` gives `{access_token, token_type: "bearer", expires_in,
//!   refresh_token, scope}`; the access token lives `config.lifetimes.blink_access`. The code
//!   is single-use: a second exchange is `invalid_grant`.
//! * `grant_type=refresh_token` with a valid `refresh_token` (and the same `client_id` and
//!   `username`) gives a new pair; the presented refresh token is revoked (rotation).
//!
//! Errors are OAuth error JSON `{"error", "error_description"}`: `invalid_client` (401) for a
//! missing or unknown `client_id`, `invalid_grant` (400) for a wrong or used code or an
//! unknown, expired, revoked or someone else's refresh token, `unsupported_grant_type` (400),
//! and `invalid_request` (400, RFC 6749 §5.2) for a missing parameter, a `username` over 64
//! characters, a body that is not form-urlencoded, a missing or invalid bLink header, or an
//! `X-CorAPI-Target-ID` other than [`credentials::BLINK_TARGET_ID`] (the consent-flow page
//! lists the headers but not how the token endpoint refuses them: chosen). A reused code does
//! not revoke the tokens issued for it (RFC 6749 §4.1.2 says it should; not modelled). The old
//! access token stays valid until it expires when its refresh token is rotated. Token
//! responses carry `Cache-Control: no-store` (RFC 6749 §5.1).
//!
//! **Not checked: mutual TLS.** bLink identifies the client by its X.509 client certificate
//! (no client secret); the sandbox serves plain HTTP on loopback, so the certificate cannot be
//! checked and `client_id` alone identifies the client here. A later issue adds it.
//!
//! # Every API call
//!
//! Checked in this order (the order is ours; the sources give none):
//! 1. the bLink headers `X-Correlation-ID` (at most 64 characters), `User-Agent`,
//!    `X-CorAPI-Target-ID`, `X-PSU-IP-Address` (an IP address or `AUTO`) and `X-PSU-User-Agent`
//!    must be present and non-empty, and `Permission-ID` (CaaS variant, optional) must be a
//!    UUID when present: else 400 `invalidPayload` naming the header;
//! 2. `Authorization: Bearer <access token>`: missing or unknown 401 `invalidToken`, expired
//!    401 `expiredToken` (with `WWW-Authenticate: Bearer error="invalid_token"`, RFC 6750);
//! 3. `X-CorAPI-Target-ID` must be [`credentials::BLINK_TARGET_ID`], the one provider (bank)
//!    the twin stands for: another provider is 404 `resourceDoesNotExist` (chosen: bLink routes
//!    by this id, and there is no such provider behind it).
//!
//! Every response, errors included, echoes `X-Correlation-ID` when the request had a valid
//! one. Errors are `commonErrorResponse` (RFC 7807) as `application/problem+json` with
//! `Content-Language: en`, as OpenWealth's standard error responses declare; `instance` is the
//! request path. Unknown ids are 404 `resourceDoesNotExist`; a body that does not decode into
//! the generated type is 400 `invalidPayload` with the reason; an unknown path 404
//! `resourceDoesNotExist`, a wrong method 405 `wrongMethod`.
//!
//! # Data and state
//!
//! The seeded customers each have persons, a KYC record and a domicile address; persons have
//! contact details. Every token sees every customer (the consent is not modelled per customer).
//! Chosen, as the sources are silent: ids are 8-digit strings (customers `1000xxxx`, persons
//! `2000xxxx`, contact details `4000xxxx`; addresses `3000xxxx`, written as whole JSON numbers
//! like the upstream examples), refresh tokens live 90 days, and `scope` is
//! `customer-management`.
//! * Lists (`GET /customers`, `GET /persons`, `GET /persons/{personId}/contactdetails`) are
//!   ordered by id and paged by `limit` (default 20, at most 100: a larger limit is served as
//!   100, which "maximum number of items" allows) and an opaque `cursor`. The next page's cursor
//!   is the `nextCursor` response header, absent on the last page (OpenWealth also allows an
//!   empty value; the client treats both alike). A cursor is bound to its list; one that is not
//!   is 400 `invalidPayload`. Paging is by key, so items added meanwhile are not repeated.
//! * `POST /persons/{personId}/contactdetails` stores the contact detail under a new
//!   `contactIdentification` (any one the client sends is replaced) and answers 201 with it;
//!   it shows in the person's list and `contactInformation`.
//! * `POST /customers/{customerId}/addresses` stores an `addressNew` as an address with a new
//!   `addressIdentification`, answered 201 `addressIdentificationResponse`. `addressNew` has no
//!   `dispatchType`, `isDomicile` or `isMailingAddress`: the twin records `postal`, `false`
//!   and `false` (chosen).
//! * `GET /customers/{customerId}/addresses` names no address id, yet returns one address: the
//!   twin returns the customer's domicile address (`isDomicile: true`), else its first address
//!   (chosen).
//! * `PUT /customers/{customerId}/addresses` replaces the address whose `addressIdentification`
//!   the body names (404 if the customer has none such) and answers 204. Setting `isDomicile`
//!   clears it on the customer's other addresses (one domicile per customer, chosen).
//! * `GET`/`POST /healthcheck` answer `Healthcheck` with the current `timestamp`; the POST's
//!   body, if any, is ignored ("an empty request"). The health check needs the token too (the
//!   overlay requires it on every operation).
//! * With `config.send_unlisted_enum_values` on, every customer (`GET /customers`,
//!   `GET /customers/{customerId}`, `GET /customers/{customerId}/kyc`) has the `customerStatus` [`UNLISTED_CUSTOMER_STATUS`],
//!   which the spec's `customerStatus` does not list.

// A refusal is the finished response; it is returned on the error path only, so it is not boxed.
#![allow(clippy::result_large_err)]

mod seed;

use crate::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use customer_data::blink_customer_management::types;
use serde::Serialize;
use serde_json::Map;

use crate::SandboxConfig;
use crate::auth::{TokenError, Tokens, bearer};
use crate::credentials;
use crate::validate::{Invalid, Valid};

use seed::Book;

/// Refresh tokens live this long (bLink does not document it: 90 days here).
const REFRESH_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);
/// `scope` of the issued tokens (not documented; the module's name here).
const SCOPE: &str = "customer-management";
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
const MAX_CORRELATION_ID: usize = 64;
const MAX_USERNAME: usize = 64;

/// The bLink headers every call carries, besides `X-Correlation-ID` (checked first).
const REQUIRED_HEADERS: [&str; 4] = [
    "User-Agent",
    "X-CorAPI-Target-ID",
    "X-PSU-IP-Address",
    "X-PSU-User-Agent",
];

const CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");
const NEXT_CURSOR: HeaderName = HeaderName::from_static("nextcursor");

struct Twin {
    access: Tokens,
    refresh: Tokens,
    code_used: Mutex<bool>,
    book: Mutex<Book>,
    /// `config.send_unlisted_enum_values`.
    unlisted_enum_values: bool,
}

/// The customer status the twin answers with `config.send_unlisted_enum_values` on: one the
/// spec's `customerStatus` does not list.
pub const UNLISTED_CUSTOMER_STATUS: &str = "dormant";

type Shared = Arc<Twin>;
type Reply = Result<Response, Response>;

pub fn router(config: &Arc<SandboxConfig>) -> Router {
    let twin = Arc::new(Twin {
        access: Tokens::new("blink-access", config.lifetimes.blink_access),
        refresh: Tokens::new("blink-refresh", REFRESH_LIFETIME),
        code_used: Mutex::new(false),
        book: Mutex::new(seed::book(config.seed)),
        unlisted_enum_values: config.send_unlisted_enum_values,
    });
    Router::new()
        .route("/oauth/token", post(token))
        .route("/customers", get(get_customers))
        .route("/customers/{customer_id}", get(get_customer))
        .route("/customers/{customer_id}/kyc", get(get_kyc))
        .route(
            "/customers/{customer_id}/addresses",
            get(get_address).post(post_address).put(put_address),
        )
        .route("/persons", get(get_persons))
        .route("/persons/{person_id}", get(get_person))
        .route(
            "/persons/{person_id}/contactdetails",
            get(get_contact_details).post(post_contact_details),
        )
        .route("/healthcheck", get(healthcheck).post(healthcheck))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .with_state(twin)
}

/// A header's value as non-empty text.
fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The request's valid `X-Correlation-ID`, to echo.
fn correlation_id(headers: &HeaderMap) -> Option<HeaderValue> {
    text(headers, "x-correlation-id")
        .filter(|v| v.chars().count() <= MAX_CORRELATION_ID)
        .and_then(|v| HeaderValue::from_str(v).ok())
}

/// One call in progress: what every response to it carries.
struct Call {
    correlation_id: Option<HeaderValue>,
    instance: String,
}

impl Call {
    fn new(uri: &OriginalUri, headers: &HeaderMap) -> Self {
        Self {
            correlation_id: correlation_id(headers),
            instance: uri.path().to_string(),
        }
    }

    fn echo(&self, mut response: Response) -> Response {
        if let Some(id) = &self.correlation_id {
            response.headers_mut().insert(CORRELATION_ID, id.clone());
        }
        response
    }

    /// A `commonErrorResponse`.
    fn fail(
        &self,
        status: StatusCode,
        kind: types::CommonErrorType,
        title: &str,
        detail: impl Into<String>,
    ) -> Response {
        let body = types::CommonErrorResponse {
            detail: Some(detail.into()),
            instance: Some(self.instance.clone()),
            title: Some(title.to_string()),
            type_: Some(kind),
            extra: Map::new(),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json; charset=utf-8"),
        );
        headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("en"));
        self.echo(response)
    }

    fn invalid(&self, detail: impl Into<String>) -> Response {
        self.fail(
            StatusCode::BAD_REQUEST,
            types::CommonErrorType::InvalidPayload,
            "Invalid request",
            detail,
        )
    }

    fn not_found(&self, detail: impl Into<String>) -> Response {
        self.fail(
            StatusCode::NOT_FOUND,
            types::CommonErrorType::ResourceDoesNotExist,
            "Resource does not exist",
            detail,
        )
    }

    fn json<T: Serialize>(&self, status: StatusCode, body: &T) -> Response {
        match serde_json::to_value(body) {
            Ok(mut value) => {
                integral_numbers(&mut value);
                self.echo((status, Json(value)).into_response())
            }
            Err(e) => self.fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                types::CommonErrorType::TechnicalError,
                "Technical error",
                format!("the answer could not be encoded: {e}"),
            ),
        }
    }
}

/// Writes whole numbers without a fraction: `addressIdentification` is a JSON number (`f64` in
/// the generated types), and the bank sends ids like `12345678` (upstream example), not
/// `12345678.0`.
fn integral_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0)
                && f.abs() < 9.0e15
            {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        serde_json::Value::Object(members) => members.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// Checks the bLink headers, the bearer token and the provider, in that order.
fn admit(twin: &Twin, uri: &OriginalUri, headers: &HeaderMap) -> Result<Call, Response> {
    let call = Call::new(uri, headers);
    check_blink_headers(headers).map_err(|detail| call.invalid(detail))?;
    if let Some(permission) = headers.get("permission-id") {
        let valid = permission
            .to_str()
            .ok()
            .is_some_and(|v| uuid::Uuid::parse_str(v.trim()).is_ok());
        if !valid {
            return Err(call.invalid("the header Permission-ID is not a UUID"));
        }
    }
    if let Err(e) = twin.access.check(bearer(headers)) {
        let (kind, title, detail) = match e {
            TokenError::Missing => (
                types::CommonErrorType::InvalidToken,
                "Invalid token",
                "no bearer token in the Authorization header",
            ),
            TokenError::Unknown => (
                types::CommonErrorType::InvalidToken,
                "Invalid token",
                "the access token is not valid",
            ),
            TokenError::Expired => (
                types::CommonErrorType::ExpiredToken,
                "Expired token",
                "the access token has expired; refresh it",
            ),
        };
        let mut response = call.fail(StatusCode::UNAUTHORIZED, kind, title, detail);
        let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{detail}\"");
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        return Err(response);
    }
    let target = text(headers, "x-corapi-target-id").unwrap_or_default();
    if target != credentials::BLINK_TARGET_ID {
        return Err(call.not_found(format!(
            "X-CorAPI-Target-ID `{target}` names no provider reachable over bLink"
        )));
    }
    Ok(call)
}

/// The bLink request headers: the reason one is missing or invalid.
fn check_blink_headers(headers: &HeaderMap) -> Result<(), String> {
    match text(headers, "x-correlation-id") {
        None => {
            return Err("the required header X-Correlation-ID is missing or empty".into());
        }
        Some(id) if id.chars().count() > MAX_CORRELATION_ID => {
            return Err(format!(
                "the header X-Correlation-ID is longer than {MAX_CORRELATION_ID} characters"
            ));
        }
        Some(_) => {}
    }
    for name in REQUIRED_HEADERS {
        if text(headers, name).is_none() {
            return Err(format!("the required header {name} is missing or empty"));
        }
    }
    let ip = text(headers, "x-psu-ip-address").unwrap_or_default();
    if !ip.eq_ignore_ascii_case("AUTO") && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!(
            "the header X-PSU-IP-Address is neither an IP address nor AUTO: `{ip}`"
        ));
    }
    Ok(())
}

// ---- OAuth ---------------------------------------------------------------------------------

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    scope: &'static str,
}

#[derive(Serialize)]
struct OAuthError {
    error: &'static str,
    error_description: String,
}

fn oauth_error(
    call: &Call,
    status: StatusCode,
    error: &'static str,
    description: impl Into<String>,
) -> Response {
    let body = OAuthError {
        error,
        error_description: description.into(),
    };
    let mut response = call.json(status, &body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn invalid_request(call: &Call, description: impl Into<String>) -> Response {
    oauth_error(
        call,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        description,
    )
}

fn invalid_grant(call: &Call, description: impl Into<String>) -> Response {
    oauth_error(call, StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// A new access/refresh token pair for `username`.
fn issue(twin: &Twin, call: &Call, username: &str) -> Response {
    let lifetime = twin.access.lifetime();
    let body = TokenResponse {
        access_token: twin.access.issue(username),
        token_type: "bearer",
        expires_in: lifetime.as_secs() + u64::from(lifetime.subsec_nanos() > 0),
        refresh_token: twin.refresh.issue(username),
        scope: SCOPE,
    };
    let mut response = call.json(StatusCode::OK, &body);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn token(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Reply {
    let call = Call::new(&uri, &headers);
    check_blink_headers(&headers).map_err(|d| invalid_request(&call, d))?;
    let target = text(&headers, "x-corapi-target-id").unwrap_or_default();
    if target != credentials::BLINK_TARGET_ID {
        return Err(invalid_request(
            &call,
            format!("X-CorAPI-Target-ID `{target}` names no provider reachable over bLink"),
        ));
    }
    let Form(form) = form.map_err(|e| {
        invalid_request(
            &call,
            format!("the body is not a form-urlencoded token request: {e}"),
        )
    })?;
    let field = |name: &str| form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let grant_type = field("grant_type")
        .ok_or_else(|| invalid_request(&call, "the parameter grant_type is missing"))?;
    if grant_type != "authorization_code" && grant_type != "refresh_token" {
        return Err(oauth_error(
            &call,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "grant_type `{grant_type}` is not supported: use authorization_code or refresh_token"
            ),
        ));
    }
    match field("client_id") {
        Some(id) if id == credentials::BLINK_CLIENT_ID => {}
        Some(id) => {
            return Err(oauth_error(
                &call,
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                format!("unknown client_id `{id}`"),
            ));
        }
        None => {
            return Err(oauth_error(
                &call,
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "the parameter client_id is missing",
            ));
        }
    }
    let username = field("username")
        .ok_or_else(|| invalid_request(&call, "the parameter username is missing"))?;
    if username.chars().count() > MAX_USERNAME {
        return Err(invalid_request(
            &call,
            format!("the parameter username is longer than {MAX_USERNAME} characters"),
        ));
    }
    if grant_type == "authorization_code" {
        let code =
            field("code").ok_or_else(|| invalid_request(&call, "the parameter code is missing"))?;
        if field("redirect_uri").is_none() {
            return Err(invalid_request(
                &call,
                "the parameter redirect_uri is missing",
            ));
        }
        if code != credentials::BLINK_AUTHORIZATION_CODE {
            return Err(invalid_grant(&call, "the authorization code is not valid"));
        }
        {
            let mut used = lock(&twin.code_used);
            if *used {
                return Err(invalid_grant(
                    &call,
                    "the authorization code has already been used",
                ));
            }
            *used = true;
        }
        return Ok(issue(&twin, &call, username));
    }
    let refresh_token = field("refresh_token")
        .ok_or_else(|| invalid_request(&call, "the parameter refresh_token is missing"))?;
    match twin.refresh.check(Some(refresh_token)) {
        Ok(owner) if owner == username => {
            twin.refresh.revoke(refresh_token);
            Ok(issue(&twin, &call, username))
        }
        Ok(_) => Err(invalid_grant(
            &call,
            "the refresh token was issued to another username",
        )),
        Err(TokenError::Expired) => Err(invalid_grant(&call, "the refresh token has expired")),
        Err(_) => Err(invalid_grant(
            &call,
            "the refresh token is not valid (unknown or already used)",
        )),
    }
}

// ---- paging --------------------------------------------------------------------------------

struct ListQuery {
    cursor: Option<String>,
    limit: usize,
}

fn list_query(
    call: &Call,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<ListQuery, Response> {
    let Query(pairs) = query.map_err(|e| call.invalid(format!("invalid query: {e}")))?;
    let mut out = ListQuery {
        cursor: None,
        limit: DEFAULT_LIMIT,
    };
    for (name, value) in pairs {
        match name.as_str() {
            "cursor" => out.cursor = Some(value),
            "limit" => match value.parse::<usize>() {
                Ok(limit) if limit >= 1 => out.limit = limit.min(MAX_LIMIT),
                _ => {
                    return Err(
                        call.invalid(format!("limit must be an integer of at least 1: `{value}`"))
                    );
                }
            },
            _ => {}
        }
    }
    Ok(out)
}

fn encode_cursor(list: &str, last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}\n{last_key}"))
}

fn decode_cursor(list: &str, cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (for_list, last_key) = text.split_once('\n')?;
    (for_list == list).then(|| last_key.to_string())
}

/// One page of `items` (ordered by key) after the cursor, and the next page's cursor.
fn page<T>(
    call: &Call,
    list: &str,
    items: Vec<(String, T)>,
    query: &ListQuery,
) -> Result<(Vec<T>, Option<String>), Response> {
    let after = match &query.cursor {
        None => None,
        Some(cursor) => Some(decode_cursor(list, cursor).ok_or_else(|| {
            call.invalid(format!(
                "the cursor `{cursor}` is not a cursor of this list"
            ))
        })?),
    };
    let mut rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
        .collect();
    let more = rest.len() > query.limit;
    rest.truncate(query.limit);
    let next = if more {
        rest.last().map(|(key, _)| encode_cursor(list, key))
    } else {
        None
    };
    Ok((rest.into_iter().map(|(_, item)| item).collect(), next))
}

fn list_response<T: Serialize>(call: &Call, items: &[T], next: Option<String>) -> Response {
    let mut response = call.json(StatusCode::OK, &items);
    if let Some(value) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert(NEXT_CURSOR, value);
    }
    response
}

// ---- views ---------------------------------------------------------------------------------

fn customer_view(twin: &Twin, record: &seed::CustomerRecord) -> types::Customer {
    let mut customer = record.customer.clone();
    if twin.unlisted_enum_values {
        customer.status = types::CustomerStatus::UnknownValue(UNLISTED_CUSTOMER_STATUS.into());
    }
    customer.address_list = record
        .addresses
        .iter()
        .map(|a| types::CustomerAddressReference {
            address_identification: Some(a.address_identification),
            extra: Map::new(),
        })
        .collect();
    customer
}

fn person_view(record: &seed::PersonRecord) -> types::Person {
    let mut person = record.person.clone();
    person.contact_information = record.contacts.clone();
    person
}

fn path_id(call: &Call, path: Result<Path<String>, PathRejection>) -> Result<String, Response> {
    path.map(|Path(id)| id)
        .map_err(|e| call.invalid(format!("invalid path: {e}")))
}

// ---- customers -----------------------------------------------------------------------------

async fn get_customers(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    let query = list_query(&call, query)?;
    let items: Vec<(String, types::Customer)> = lock(&twin.book)
        .customers
        .iter()
        .map(|(id, record)| (id.clone(), customer_view(&twin, record)))
        .collect();
    let (items, next) = page(&call, "customers", items, &query)?;
    Ok(list_response(&call, &items, next))
}

async fn get_customer(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    let id = path_id(&call, path)?;
    let customer = lock(&twin.book)
        .customers
        .get(&id)
        .map(|record| customer_view(&twin, record));
    match customer {
        Some(customer) => Ok(call.json(StatusCode::OK, &customer)),
        None => Err(call.not_found(format!("no customer `{id}`"))),
    }
}

async fn get_kyc(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    let id = path_id(&call, path)?;
    let answer = lock(&twin.book)
        .customers
        .get(&id)
        .map(|record| types::CustomerAndKycResponse {
            customer: Some(customer_view(&twin, record)),
            kyc: Some(record.kyc.clone()),
            extra: Map::new(),
        });
    match answer {
        Some(answer) => Ok(call.json(StatusCode::OK, &answer)),
        None => Err(call.not_found(format!("no customer `{id}`"))),
    }
}

// ---- addresses -----------------------------------------------------------------------------

/// Members of `address` an `addressNew` does not declare: its kept extra members must not
/// repeat them (the address would then carry a member twice).
const ADDRESS_ONLY_MEMBERS: [&str; 5] = [
    "addressIdentification",
    "isDomicile",
    "isMailingAddress",
    "language",
    "dispatchType",
];

async fn post_address(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Valid<types::AddressNew>, Invalid>,
) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    let id = path_id(&call, path)?;
    let Valid(new) = body.map_err(|e| call.invalid(e.reason))?;
    let mut book = lock(&twin.book);
    if !book.customers.contains_key(&id) {
        return Err(call.not_found(format!("no customer `{id}`")));
    }
    let address_id = book.new_address_id();
    let mut extra = new.extra;
    for member in ADDRESS_ONLY_MEMBERS {
        extra.remove(member);
    }
    let address = types::Address {
        address_identification: address_id as f64,
        address_name: new.address_name.and_then(|n| n.parse().ok()),
        dispatch_type: types::DispatchType::Postal,
        is_domicile: Some(false),
        is_mailing_address: Some(false),
        language: None,
        mailing_instruction: new.mailing_instruction.and_then(|m| m.parse().ok()),
        postal_address: new.postal_address,
        extra,
    };
    if let Some(record) = book.customers.get_mut(&id) {
        record.addresses.push(address);
    }
    drop(book);
    Ok(call.json(
        StatusCode::CREATED,
        &types::AddressIdentificationResponse {
            address_identification: Some(address_id.to_string()),
            extra: Map::new(),
        },
    ))
}

async fn get_address(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    let id = path_id(&call, path)?;
    let book = lock(&twin.book);
    let Some(record) = book.customers.get(&id) else {
        return Err(call.not_found(format!("no customer `{id}`")));
    };
    let address = record
        .addresses
        .iter()
        .find(|a| a.is_domicile == Some(true))
        .or_else(|| record.addresses.first())
        .cloned();
    drop(book);
    match address {
        Some(address) => Ok(call.json(StatusCode::OK, &address)),
        None => Err(call.not_found(format!("customer `{id}` has no address"))),
    }
}

async fn put_address(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Valid<types::Address>, Invalid>,
) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    let id = path_id(&call, path)?;
    let Valid(address) = body.map_err(|e| call.invalid(e.reason))?;
    let mut book = lock(&twin.book);
    let Some(record) = book.customers.get_mut(&id) else {
        return Err(call.not_found(format!("no customer `{id}`")));
    };
    let wanted = address.address_identification;
    let Some(position) = record
        .addresses
        .iter()
        .position(|a| a.address_identification == wanted)
    else {
        return Err(call.not_found(format!("customer `{id}` has no address {wanted}")));
    };
    if address.is_domicile == Some(true) {
        for other in record.addresses.iter_mut() {
            if other.is_domicile == Some(true) {
                other.is_domicile = Some(false);
            }
        }
    }
    record.addresses[position] = address;
    drop(book);
    Ok(call.echo(StatusCode::NO_CONTENT.into_response()))
}

// ---- persons -------------------------------------------------------------------------------

async fn get_persons(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    let query = list_query(&call, query)?;
    let items: Vec<(String, types::Person)> = lock(&twin.book)
        .persons
        .iter()
        .map(|(id, record)| (id.clone(), person_view(record)))
        .collect();
    let (items, next) = page(&call, "persons", items, &query)?;
    Ok(list_response(&call, &items, next))
}

async fn get_person(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    let id = path_id(&call, path)?;
    let person = lock(&twin.book).persons.get(&id).map(person_view);
    match person {
        Some(person) => Ok(call.json(StatusCode::OK, &person)),
        None => Err(call.not_found(format!("no person `{id}`"))),
    }
}

async fn get_contact_details(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    let id = path_id(&call, path)?;
    let query = list_query(&call, query)?;
    let contacts: Option<Vec<(String, types::ContactDetails)>> =
        lock(&twin.book).persons.get(&id).map(|record| {
            record
                .contacts
                .iter()
                .map(|c| {
                    let key = c
                        .contact_identification
                        .as_ref()
                        .map(|i| i.as_str().to_string())
                        .unwrap_or_default();
                    (key, c.clone())
                })
                .collect()
        });
    let Some(contacts) = contacts else {
        return Err(call.not_found(format!("no person `{id}`")));
    };
    let (items, next) = page(&call, &format!("contactdetails/{id}"), contacts, &query)?;
    Ok(list_response(&call, &items, next))
}

async fn post_contact_details(
    State(twin): State<Shared>,
    uri: OriginalUri,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Valid<types::ContactDetails>, Invalid>,
) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    let id = path_id(&call, path)?;
    let Valid(mut contact) = body.map_err(|e| call.invalid(e.reason))?;
    let mut book = lock(&twin.book);
    if !book.persons.contains_key(&id) {
        return Err(call.not_found(format!("no person `{id}`")));
    }
    let contact_id = book.new_contact_id();
    contact.contact_identification = contact_id.to_string().parse().ok();
    if let Some(record) = book.persons.get_mut(&id) {
        record.contacts.push(contact.clone());
    }
    drop(book);
    Ok(call.json(StatusCode::CREATED, &contact))
}

// ---- health check and fallbacks --------------------------------------------------------------

async fn healthcheck(State(twin): State<Shared>, uri: OriginalUri, headers: HeaderMap) -> Reply {
    let call = admit(&twin, &uri, &headers)?;
    Ok(call.json(
        StatusCode::OK,
        &types::Healthcheck {
            timestamp: Some(chrono::Utc::now()),
            extra: Map::new(),
        },
    ))
}

async fn unknown_path(uri: OriginalUri, headers: HeaderMap) -> Response {
    let call = Call::new(&uri, &headers);
    call.not_found(format!(
        "no operation of the Customer Management module at `{}`",
        call.instance
    ))
}

async fn wrong_method(uri: OriginalUri, headers: HeaderMap) -> Response {
    let call = Call::new(&uri, &headers);
    call.fail(
        StatusCode::METHOD_NOT_ALLOWED,
        types::CommonErrorType::WrongMethod,
        "Wrong method",
        format!("`{}` does not support this method", call.instance),
    )
}
