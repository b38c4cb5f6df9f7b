//! CarmaChain twin: a peer module. `GET /auth/getToken` issues a 24-hour token (its input is
//! not documented, so the twin asks for none); `POST /api/createrequest` opens one request per
//! person queried; `POST /api/respond` answers `Panding` until the configured delay has passed,
//! then `Done` with synthetic details per requested category.
//!
//! With `config.send_unlisted_enum_values` on, every result of `/api/respond` has the `status`
//! [`UNLISTED_REQUEST_STATUS`], which the spec's `RequestStatus` does not list (its details are
//! still those of the real status).

use crate::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use customer_data::carmachain::types;

use crate::SandboxConfig;
use crate::auth::Tokens;
use crate::synthetic::{Person, population};
use crate::validate::{Invalid, Valid};

struct Request {
    query: types::PersonQuery,
    categories: Vec<types::DataCategory>,
    created: Instant,
    person: Person,
}

struct Twin {
    config: Arc<SandboxConfig>,
    tokens: Tokens,
    requests: Mutex<BTreeMap<String, Request>>,
    people: Vec<Person>,
}

type Shared = Arc<Twin>;

/// The request status `/api/respond` answers with `config.send_unlisted_enum_values` on: one
/// the spec's `RequestStatus` does not list.
pub const UNLISTED_REQUEST_STATUS: &str = "Expired";

pub fn router(config: &Arc<SandboxConfig>) -> Router {
    let twin = Arc::new(Twin {
        config: config.clone(),
        tokens: Tokens::new("carma", config.lifetimes.carmachain),
        requests: Mutex::new(BTreeMap::new()),
        people: population(config.seed ^ 0xCA47A, 100),
    });
    Router::new()
        .route("/auth/getToken", get(get_token))
        .route("/api/createrequest", post(create_request))
        .route("/api/respond", post(respond))
        .with_state(twin)
}

async fn get_token(State(twin): State<Shared>) -> Json<types::TokenResponse> {
    Json(types::TokenResponse {
        token: twin.tokens.issue("peer"),
        extra: Default::default(),
    })
}

/// The token in `Authorization`, bare or as `Bearer` (the page does not say which).
fn authorised(twin: &Twin, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let raw = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = raw.map(|v| v.strip_prefix("Bearer ").unwrap_or(v));
    twin.tokens
        .check(token)
        .map(|_| ())
        .map_err(|e| (StatusCode::UNAUTHORIZED, format!("token refused: {e:?}")))
}

fn categories(type_request: &types::TypeRequest) -> Vec<types::DataCategory> {
    match type_request {
        types::TypeRequest::DataCategory(c) => vec![c.clone()],
        types::TypeRequest::Array(list) => list.clone(),
    }
}

async fn create_request(
    State(twin): State<Shared>,
    headers: HeaderMap,
    body: Result<Valid<types::CreateRequest>, Invalid>,
) -> Response {
    if let Err(refused) = authorised(&twin, &headers) {
        return refused.into_response();
    }
    let Valid(body) = match body {
        Ok(body) => body,
        Err(invalid) => return invalid.into_response(),
    };
    let mut requests = lock(&twin.requests);
    let created: Vec<types::CreatedRequest> = body
        .value
        .iter()
        .map(|query| {
            let id = format!("req-{}", requests.len() + 1);
            let person = twin.people[requests.len() % twin.people.len()].clone();
            requests.insert(
                id.clone(),
                Request {
                    query: query.clone(),
                    categories: categories(&body.type_request),
                    created: Instant::now(),
                    person,
                },
            );
            types::CreatedRequest {
                id_document: query.id_document.clone(),
                phone_number: query.phone_number.clone(),
                id_request: Some(id),
                extra: Default::default(),
            }
        })
        .collect();
    Json(types::CreateRequestResponse {
        response: Some(types::ApiRequestStatus(serde_json::Map::from_iter([(
            "status".to_string(),
            serde_json::Value::from("accepted"),
        )]))),
        parametr_request: created,
        extra: Default::default(),
    })
    .into_response()
}

fn details(person: &Person, categories: &[types::DataCategory]) -> Vec<types::RequestDetail> {
    use types::DataCategory as C;
    let all = categories.contains(&C::AllCategories);
    let mut out = Vec::new();
    let mut push = |category: C, field: &str, value: String| {
        if all || categories.contains(&category) {
            out.push(types::RequestDetail {
                id_ppeers: Some(format!("peer-{}", 1 + person.index % 3)),
                group_data: Some(category),
                field_name: Some(field.to_string()),
                field_value: Some(value),
                extra: Default::default(),
            });
        }
    };
    push(C::Name, "fullName", person.full_name());
    push(
        C::Address,
        "address",
        format!(
            "{}, {} {}",
            person.address_line(),
            person.postal_code,
            person.city
        ),
    );
    push(C::Contacts, "email", person.email.clone());
    push(C::Identity, "birthDate", person.birth_date.to_string());
    out
}

async fn respond(
    State(twin): State<Shared>,
    headers: HeaderMap,
    body: Result<Valid<types::RespondRequest>, Invalid>,
) -> Response {
    if let Err(refused) = authorised(&twin, &headers) {
        return refused.into_response();
    }
    let Valid(body) = match body {
        Ok(body) => body,
        Err(invalid) => return invalid.into_response(),
    };
    let requests = lock(&twin.requests);
    let selected: Vec<(&String, &Request)> = if !body.id_request.is_empty() {
        body.id_request
            .iter()
            .filter_map(|id| requests.get_key_value(id))
            .collect()
    } else if let Some(minutes) = body.period {
        let window = std::time::Duration::from_secs_f64((minutes.max(0.0)) * 60.0);
        requests
            .iter()
            .filter(|(_, r)| r.created.elapsed() <= window)
            .collect()
    } else {
        return (StatusCode::BAD_REQUEST, "give idRequest or period").into_response();
    };
    let results = selected
        .into_iter()
        .map(|(id, request)| {
            let done = request.created.elapsed() >= twin.config.carmachain_answer_delay;
            types::RequestResult {
                id_document: request.query.id_document.clone(),
                phone_number: request.query.phone_number.clone(),
                id_request: Some(id.clone()),
                status: Some(if twin.config.send_unlisted_enum_values {
                    types::RequestStatus::UnknownValue(UNLISTED_REQUEST_STATUS.into())
                } else if done {
                    types::RequestStatus::Done
                } else {
                    types::RequestStatus::Pending
                }),
                request_details: if done {
                    details(&request.person, &request.categories)
                } else {
                    Vec::new()
                },
                extra: Default::default(),
            }
        })
        .collect();
    Json(types::RespondResponse {
        response: None,
        parametr_request: results,
        extra: Default::default(),
    })
    .into_response()
}
