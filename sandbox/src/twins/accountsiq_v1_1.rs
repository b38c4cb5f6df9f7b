//! AccountsIQ web services v1.1 twin (SOAP 1.1, `integration_1_1.asmx`).
//!
//! Routes: `POST /` (the client posts to the endpoint URL itself) and
//! `POST /system/dashboard/integration/integration_1_1.asmx`. Every request is dispatched on
//! its `SOAPAction` (namespace + operation, quoted or bare) and decoded into the generated
//! request type; answers are the generated `…Response` types, `text/xml; charset=utf-8`.
//!
//! Auth as the wiki documents it: `Login(companyID, partnerKey, userKey)` answers a session
//! token valid `config.lifetimes.accountsiq_session` (20 minutes by default), which every other
//! operation carries as its `token` element.
//!
//! Simulated: `Login` and the customer operations of [`super::accountsiq_shared`] (create,
//! read, update, list, delete, contacts) on the sandbox entity's ledger, which the v2.0 twin
//! shares. Every other operation of the WSDL answers a `soap:Server` fault
//! `<Operation> is not simulated by the sandbox`.
//!
//! Behaviour the sources do not state, chosen here:
//! * Wrong `Login` keys: a `soap:Client` fault `Invalid credentials` (HTTP 500). The wiki's
//!   troubleshooting only says the server then "is not sending back a session token".
//! * A session lasts its lifetime from `Login` (not sliding).
//! * An expired session: the operation's result envelope with `Status` `Failure`, `ErrorCode`
//!   `NOT_AUTHORIZED` (the WSDL's `VisorExceptionCodes` has no session code) and
//!   `HasExpired` true, the flag the wiki says tells the caller to log in again. A missing or
//!   unknown token: the same code with `HasExpired` false.
//! * Faults and customer-ledger behaviour: see [`super::accountsiq_shared`]. So is what
//!   `config.send_unlisted_enum_values` does (a `LedgerType` the WSDL does not list).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use customer_data::accountsiq_v1_1::{OPERATIONS, types};

use super::accountsiq_shared::{self as aiq, Company, Failure, customer_operations};
use crate::SandboxConfig;
use crate::auth::{TokenError, Tokens};
use crate::credentials;

/// The `ErrorCode` of a refused session token.
pub const SESSION_REFUSED: &str = "NOT_AUTHORIZED";

struct Twin {
    company: Arc<Company>,
    sessions: Tokens,
}

type Shared = Arc<Twin>;

pub fn router(config: &Arc<SandboxConfig>) -> Router {
    let twin = Arc::new(Twin {
        company: aiq::company(config),
        sessions: Tokens::new("aiq-session", config.lifetimes.accountsiq_session),
    });
    Router::new()
        .route("/", post(handle))
        .route(
            "/system/dashboard/integration/integration_1_1.asmx",
            post(handle),
        )
        .with_state(twin)
}

async fn handle(State(twin): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let call = match aiq::read_call(&headers, &body, OPERATIONS) {
        Ok(call) => call,
        Err(fault) => return fault.into_response(),
    };
    if call.operation == "Login" {
        return login(&twin, &call);
    }
    let auth = |token: Option<&str>| twin.session(token);
    customer_operations!(types, &twin.company, &call, auth)
        .unwrap_or_else(|| aiq::not_simulated(&call.operation))
}

impl Twin {
    /// The `token` element names a live session.
    fn session(&self, token: Option<&str>) -> Result<(), Failure> {
        match self.sessions.check(token) {
            Ok(_) => Ok(()),
            Err(TokenError::Expired) => Err(Failure::expired(
                SESSION_REFUSED,
                "The session has expired. Call Login again.",
            )),
            Err(TokenError::Missing) => Err(Failure::new(
                SESSION_REFUSED,
                "No session token was given. Call Login first.",
            )),
            Err(TokenError::Unknown) => Err(Failure::new(
                SESSION_REFUSED,
                "The session token is not valid.",
            )),
        }
    }
}

fn login(twin: &Twin, call: &aiq::Call) -> Response {
    let request: types::Login = match aiq::decode(call) {
        Ok(request) => request,
        Err(fault) => return fault.into_response(),
    };
    let valid = request.company_id.as_deref() == Some(credentials::ACCOUNTSIQ_COMPANY_ID)
        && request.partner_key.as_deref() == Some(credentials::ACCOUNTSIQ_PARTNER_KEY)
        && request.user_key.as_deref() == Some(credentials::ACCOUNTSIQ_USER_KEY);
    if !valid {
        return aiq::Fault::client("Invalid credentials").into_response();
    }
    let token = twin.sessions.issue(credentials::ACCOUNTSIQ_COMPANY_ID);
    aiq::respond(
        call,
        &types::LoginResponse {
            login_result: Some(token),
        },
    )
}
