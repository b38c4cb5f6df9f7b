//! BiQ Alert CustomerShadow twin (alert.*): list shadow sources, upload, update and delete
//! shadow customers, list the tenant's shadow customers by page. Every call needs `Authorization: Bearer <jwt>` from the `biq_auth` twin whose
//! `tenatIds` names the path's tenant (401 without a valid unexpired token, 403 for another
//! tenant; see [`super::biq_shared`]).
//!
//! Behaviour the sources do not state, chosen here:
//! * `GET /tenants/{tenantId}/shadowsources` lists two seeded sources (ids derived from the
//!   seed, `100 + seed % 900` and the next; names "Sandbox private customers" / "Sandbox
//!   business customers"), the same for every tenant. Three synthetic customers are already in
//!   each source of the sandbox tenant (`SBX-1001`…`SBX-1006`), so the change generator of
//!   `biq_alert_changes` has customers to report on before any upload.
//! * `POST …/customers` answers 201 with no body and a `Location` of the customer; a customer
//!   number already in that source is a 409 problem; an empty customer number is a 400
//!   validation problem.
//! * `PUT …/customers/{customerNumber}` replaces the stored customer and answers 204; an
//!   unknown customer number is a 404 problem. The path segment arrives percent-decoded (so
//!   `K-1%2FØ` is `K-1/Ø`) and must equal the body's `customerNumber` (else 400: the demo
//!   always builds the path from the body).
//! * `DELETE …/customers/{customerNumber}` (demo ced18a1) removes the customer and answers
//!   204; an unknown customer number is a 404 problem (what the vendor answers then is not
//!   documented).
//! * `GET /tenants/{tenantId}/customers?page&pageSize` (demo ced18a1; page from 0, defaults 0
//!   and 100, chosen here) answers `{"totalItems", "customers": [{"customerNumber",
//!   "shadowSourceId"}]}` over every shadow source of the tenant, ordered by source and
//!   customer number; a negative page or a page size below 1 is a 400 validation problem.
//! * An unknown shadow source is a 404 problem; a non-integer one a 400 validation problem.
//! * Bodies bind as the vendor's do (the generated types decode tolerantly, as the spec
//!   declares): member names in any ASCII case (the demo sends PascalCase), `null` for any
//!   optional member (the demo sends nulls), `created` / `changed` as free text (the demo sends
//!   culture-formatted dates such as `04-12-2026 17:25:42`), `active` as a string, the all-zero
//!   `darAddressId`. Answers are camelCase (the ASP.NET Core default; the vendor's casing is
//!   unconfirmed).
//!
//! `config.send_unlisted_enum_values` changes nothing here: the spec's one enum,
//! `CustomerCategoryText`, is only in request bodies (no answer carries a customer), and a new
//! category reaches a client through the AlertChanges feed instead (see
//! [`super::biq_alert_changes`]).

use crate::lock;
use std::sync::Arc;

use axum::extract::Query;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use customer_data::biq_customer_shadow::types;

use super::biq_shared::{
    BiqState, Refusal, StoredCustomer, invalid_body, problem, shared, validation_problem,
};
use crate::SandboxConfig;
use crate::validate::{Invalid, Valid};

type Shared = Arc<BiqState>;

pub fn router(config: &Arc<SandboxConfig>) -> Router {
    Router::new()
        .route(
            "/tenants/{tenant_id}/shadowsources",
            get(list_shadow_sources),
        )
        .route(
            "/tenants/{tenant_id}/shadowsources/{shadow_source_id}/customers",
            post(create_customer),
        )
        .route(
            "/tenants/{tenant_id}/shadowsources/{shadow_source_id}/customers/{customer_number}",
            put(update_customer).delete(delete_customer),
        )
        .route("/tenants/{tenant_id}/customers", get(list_customers))
        .with_state(shared(config))
}

async fn list_shadow_sources(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(tenant)) = path else {
        return problem(StatusCode::NOT_FOUND, None);
    };
    if let Err(refused) = state.authorise(&headers, &tenant) {
        return refused.into_response();
    }
    Json(state.sources.clone()).into_response()
}

/// The tenant (authorised) and a known shadow source id of the path.
fn source_in_path(
    state: &BiqState,
    headers: &HeaderMap,
    tenant: &str,
    source: &str,
) -> Result<i32, Refusal> {
    state.authorise(headers, tenant)?;
    let Ok(id) = source.parse::<i32>() else {
        return Err(validation_problem(
            "shadowSourceId",
            &format!("The value '{source}' is not valid."),
        )
        .into());
    };
    if !state.has_source(id) {
        return Err(problem(
            StatusCode::NOT_FOUND,
            Some(&format!("Shadow source {id} not found")),
        )
        .into());
    }
    Ok(id)
}

async fn create_customer(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Valid<types::Customer>, Invalid>,
) -> Response {
    let Ok(Path((tenant, source))) = path else {
        return problem(StatusCode::NOT_FOUND, None);
    };
    let source_id = match source_in_path(&state, &headers, &tenant, &source) {
        Ok(id) => id,
        Err(refused) => return refused.into_response(),
    };
    let Valid(customer) = match body {
        Ok(body) => body,
        Err(invalid) => return invalid_body(&invalid),
    };
    let number = match customer.customer_number.as_deref().map(str::trim) {
        Some(number) if !number.is_empty() => number.to_string(),
        _ => {
            return validation_problem("$.customerNumber", "The customerNumber field is required.");
        }
    };
    {
        let mut customers = lock(&state.customers);
        let key = (tenant.clone(), source_id, number.clone());
        if customers.contains_key(&key) {
            return problem(
                StatusCode::CONFLICT,
                Some(&format!(
                    "Customer '{number}' already exists in shadow source {source_id}"
                )),
            );
        }
        customers.insert(
            key,
            StoredCustomer {
                customer,
                received: Utc::now(),
            },
        );
    }
    let mut response = StatusCode::CREATED.into_response();
    let location = format!(
        "/tenants/{}/shadowsources/{source_id}/customers/{}",
        encode_segment(&tenant),
        encode_segment(&number)
    );
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn update_customer(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Valid<types::Customer>, Invalid>,
) -> Response {
    let Ok(Path((tenant, source, number))) = path else {
        return problem(StatusCode::NOT_FOUND, None);
    };
    let source_id = match source_in_path(&state, &headers, &tenant, &source) {
        Ok(id) => id,
        Err(refused) => return refused.into_response(),
    };
    let Valid(customer) = match body {
        Ok(body) => body,
        Err(invalid) => return invalid_body(&invalid),
    };
    if customer.customer_number.as_deref() != Some(number.as_str()) {
        return validation_problem(
            "customerNumber",
            &format!(
                "The path's customer number '{number}' differs from the body's '{}'.",
                customer.customer_number.as_deref().unwrap_or_default()
            ),
        );
    }
    let mut customers = lock(&state.customers);
    match customers.get_mut(&(tenant, source_id, number.clone())) {
        None => customer_not_found(&number, source_id),
        Some(stored) => {
            *stored = StoredCustomer {
                customer,
                received: Utc::now(),
            };
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

async fn delete_customer(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((tenant, source, number))) = path else {
        return problem(StatusCode::NOT_FOUND, None);
    };
    let source_id = match source_in_path(&state, &headers, &tenant, &source) {
        Ok(id) => id,
        Err(refused) => return refused.into_response(),
    };
    match lock(&state.customers).remove(&(tenant, source_id, number.clone())) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => customer_not_found(&number, source_id),
    }
}

/// The 404 for a customer number the shadow source does not hold.
fn customer_not_found(number: &str, source_id: i32) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        Some(&format!(
            "Customer '{number}' not found in shadow source {source_id}"
        )),
    )
}

/// The page size when the query gives none (ours; not documented).
const DEFAULT_PAGE_SIZE: i64 = 100;

async fn list_customers(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<
        Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Response {
    let Ok(Path(tenant)) = path else {
        return problem(StatusCode::NOT_FOUND, None);
    };
    if let Err(refused) = state.authorise(&headers, &tenant) {
        return refused.into_response();
    }
    let Ok(Query(query)) = query else {
        return validation_problem("$", "The query string is not valid.");
    };
    let number = |name: &str, default: i64, min: i64| -> Result<i64, Refusal> {
        match query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
        {
            None => Ok(default),
            Some(text) => match text.parse::<i32>() {
                Ok(n) if i64::from(n) >= min => Ok(i64::from(n)),
                _ => Err(
                    validation_problem(name, &format!("The value '{text}' is not valid.")).into(),
                ),
            },
        }
    };
    let (page, size) = match (
        number("page", 0, 0),
        number("pageSize", DEFAULT_PAGE_SIZE, 1),
    ) {
        (Ok(page), Ok(size)) => (page, size),
        (Err(refused), _) | (_, Err(refused)) => return refused.into_response(),
    };
    let customers = lock(&state.customers);
    let all: Vec<types::CustomerInfo> = customers
        .keys()
        .filter(|(t, _, _)| *t == tenant)
        .map(|(_, source, number)| types::CustomerInfo {
            customer_number: Some(number.clone()),
            shadow_source_id: Some(*source),
            extra: Default::default(),
        })
        .collect();
    let skip = usize::try_from(page.saturating_mul(size)).unwrap_or(usize::MAX);
    let take = usize::try_from(size).unwrap_or(usize::MAX);
    Json(types::ShadowCustomersPage {
        total_items: i32::try_from(all.len()).unwrap_or(i32::MAX),
        customers: Some(all.into_iter().skip(skip).take(take).collect()),
        extra: Default::default(),
    })
    .into_response()
}

/// Percent-encodes a path segment (everything but unreserved characters).
fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
