//! BiQ Alert authorization twin (auth-api): `POST /api/auth/login` with `{"apikey": ...}`
//! answers `{"access_token": <JWT>}`.
//!
//! * Method: the vendor page's step-by-step guide says "GET /api/Auth/login with only your
//!   api-key"; BiQ's demo code POSTs the JSON body, and the spec follows the code. The twin
//!   does too: a GET answers 405 (with `Allow: POST`), so a client that follows the page's
//!   prose finds out at once. `/api/Auth/login` (the page's casing) is routed as well, since
//!   ASP.NET Core routing ignores case.
//! * The JWT (HS256, signed with a per-sandbox key shared with the other two BiQ twins) holds
//!   the tenant [`credentials::BIQ_TENANT_ID`] in `tenatIds` (the page's spelling) and in
//!   `tenantIds` (the probable real name), as an array; `exp` is now +
//!   `config.lifetimes.biq` in unix seconds (the lifetime is not documented), plus `iat`,
//!   `nbf` and `iss`. The answer has no member besides `access_token` (none is documented).
//! * Errors (none documented; ASP.NET Core shapes, inferred): a wrong api key is a 401
//!   problem (`{"type":…,"title":"Unauthorized","status":401}`), a body that is not a
//!   LoginRequest a 400 validation problem naming the member.
//! * The spec has no enum, so `config.send_unlisted_enum_values` changes nothing here.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use customer_data::biq_auth::types;

use super::biq_shared::{BiqState, invalid_body, problem, shared};
use crate::SandboxConfig;
use crate::credentials;
use crate::validate::{Invalid, Valid};

pub fn router(config: &Arc<SandboxConfig>) -> Router {
    let state = shared(config);
    Router::new()
        .route("/api/auth/login", post(login).get(login_by_get))
        .route("/api/Auth/login", post(login).get(login_by_get))
        .with_state(state)
}

async fn login(
    State(state): State<Arc<BiqState>>,
    body: Result<Valid<types::LoginRequest>, Invalid>,
) -> Response {
    let Valid(body) = match body {
        Ok(body) => body,
        Err(invalid) => return invalid_body(&invalid),
    };
    if body.apikey != credentials::BIQ_API_KEY {
        return problem(StatusCode::UNAUTHORIZED, None);
    }
    Json(types::LoginResponse {
        access_token: state.issue_token(),
        extra: Default::default(),
    })
    .into_response()
}

/// The seed page's "GET /api/Auth/login": not how the service is called (see the module doc).
async fn login_by_get() -> Response {
    let mut response = problem(
        StatusCode::METHOD_NOT_ALLOWED,
        Some("POST the api key as JSON: {\"apikey\": \"...\"}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}
