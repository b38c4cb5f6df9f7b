//! BiQ Alert CustomerShadow twin (alert.*): list shadow sources, upload and update shadow
//! customers. Every call needs `Authorization: Bearer <jwt>` from the `biq_auth` twin whose
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
//! * An unknown shadow source is a 404 problem; a non-integer one a 400 validation problem.
//! * Deleting customers and listing them are not offered (no known path; see the spec).
//!
//! `config.send_unlisted_enum_values` changes nothing here: the spec's one enum,
//! `CustomerCategoryText`, is only in request bodies (no answer carries a customer), and a new
//! category reaches a client through the AlertChanges feed instead (see
//! [`super::biq_alert_changes`]).

use crate::lock;
use std::sync::Arc;

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
            put(update_customer),
        )
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
    if customer.customer_number.trim().is_empty() {
        return validation_problem("$.customerNumber", "The customerNumber field is required.");
    }
    let number = customer.customer_number.clone();
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
    if customer.customer_number != number {
        return validation_problem(
            "customerNumber",
            &format!(
                "The path's customer number '{number}' differs from the body's '{}'.",
                customer.customer_number
            ),
        );
    }
    let mut customers = lock(&state.customers);
    match customers.get_mut(&(tenant, source_id, number.clone())) {
        None => problem(
            StatusCode::NOT_FOUND,
            Some(&format!(
                "Customer '{number}' not found in shadow source {source_id}"
            )),
        ),
        Some(stored) => {
            *stored = StoredCustomer {
                customer,
                received: Utc::now(),
            };
            StatusCode::NO_CONTENT.into_response()
        }
    }
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
