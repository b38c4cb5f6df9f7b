//! AccountsIQ web services v2.0 twin (SOAP 1.1, `integration_2_0.asmx`).
//!
//! Routes: `POST /` (the client posts to the endpoint URL itself) and
//! `POST /system/dashboard/integration/integration_2_0.asmx`. Dispatch, decoding and answers as
//! in the v1.1 twin (see [`super::accountsiq_shared`]).
//!
//! Auth as the Postman collection shows it: `TokenGet(clientId, clientSecret)` answers an
//! access token (lifetime `config.lifetimes.accountsiq_access`) and a refresh token in the
//! `WSResult3` envelope; `TokenRefresh(clientId, clientSecret, refreshToken)` answers a new
//! pair and revokes the refresh token it was given (rotation). Every other operation carries
//! `<soap:Header><AiqSoapHeader><Entity/><AccessToken/></AiqSoapHeader></soap:Header>`; the
//! body's `token` element is ignored. The entity must be
//! [`credentials::ACCOUNTSIQ_COMPANY_ID`].
//!
//! Simulated: `TokenGet`, `TokenRefresh` and the customer operations of
//! [`super::accountsiq_shared`], on the ledger the v1.1 twin shares. Every other operation of
//! the WSDL answers a `soap:Server` fault `<Operation> is not simulated by the sandbox`.
//!
//! Behaviour the sources do not state (the prose only says "OAuth 2.0"), chosen here with codes
//! of the WSDL's `VisorExceptionCodes`:
//! * Refused calls answer the operation's result envelope, `Status` `Failure`, with
//!   `OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED` and `HasExpired` true for an expired access token;
//!   `OAUTH_INTEGRATION_APPS_TOKEN_NOT_PROVIDED_IN_AUTHORIZATION_HEADER` without a header or
//!   token, `OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID` for an unknown one,
//!   `OAUTH_INTEGRATION_APPS_NO_ENTITY_PROVIDED_IN_HEADER` without an entity and
//!   `OAUTH_INTEGRATION_APPS_AIQ_SOAP_HEADER_MISMATCH` for another entity,
//!   `OAUTH_INTEGRATION_APPS_ERROR_VALIDATING_TOKEN` for a header that does not decode. The
//!   token is checked before the entity.
//! * `TokenGet` / `TokenRefresh` failures (`WSResult3`, which has no `HasExpired`):
//!   `OAUTH_INTEGRATION_APPS_CLIENTID_IS_NULL_OR_EMPTY` / `_CLIENTSECRET_IS_NULL_OR_EMPTY`,
//!   `OAUTH_INTEGRATION_APPS_APP_NOT_FOUND` (unknown client id),
//!   `CANNOT_LOGIN_INVALID_CREDENTIALS` (wrong secret), `OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID`
//!   (unknown, revoked or another client's refresh token) and
//!   `OAUTH_INTEGRATION_APPS_REFRESH_TOKEN_EXPIRED`.
//! * Refresh tokens live [`REFRESH_LIFETIME`] (no `SandboxConfig` knob yet). A refresh does
//!   not revoke access tokens issued before it: they run out on their own.
//! * `config.send_unlisted_enum_values`: as in [`super::accountsiq_shared`] (a `LedgerType`
//!   the WSDL does not list, on the shared ledger).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use customer_data::accountsiq_v2_0::{OPERATIONS, types};

use super::accountsiq_shared::{self as aiq, Company, Failure, customer_operations};
use crate::SandboxConfig;
use crate::auth::{TokenError, Tokens};
use crate::credentials;
use crate::lock;

/// How long a refresh token lives (not documented).
pub const REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

struct Twin {
    company: Arc<Company>,
    access: Tokens,
    refresh: Tokens,
    /// Makes check-then-revoke of a refresh token atomic (one rotation per refresh token).
    rotation: Mutex<()>,
}

type Shared = Arc<Twin>;

pub fn router(config: &Arc<SandboxConfig>) -> Router {
    let twin = Arc::new(Twin {
        company: aiq::company(config),
        access: Tokens::new("aiq-access", config.lifetimes.accountsiq_access),
        refresh: Tokens::new("aiq-refresh", REFRESH_LIFETIME),
        rotation: Mutex::new(()),
    });
    Router::new()
        .route("/", post(handle))
        .route(
            "/system/dashboard/integration/integration_2_0.asmx",
            post(handle),
        )
        .with_state(twin)
}

async fn handle(State(twin): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let call = match aiq::read_call(&headers, &body, OPERATIONS) {
        Ok(call) => call,
        Err(fault) => return fault.into_response(),
    };
    match call.operation.as_str() {
        "TokenGet" => return token_get(&twin, &call),
        "TokenRefresh" => return token_refresh(&twin, &call),
        _ => {}
    }
    let header = call.header::<types::AiqSoapHeader>("AiqSoapHeader");
    let auth = |_body_token: Option<&str>| twin.authorise(&header);
    customer_operations!(types, &twin.company, &call, auth)
        .unwrap_or_else(|| aiq::not_simulated(&call.operation))
}

impl Twin {
    /// The `AiqSoapHeader` names the sandbox entity and a live access token.
    fn authorise(
        &self,
        header: &Result<Option<types::AiqSoapHeader>, String>,
    ) -> Result<(), Failure> {
        let header = match header {
            Err(reason) => {
                return Err(Failure::new(
                    "OAUTH_INTEGRATION_APPS_ERROR_VALIDATING_TOKEN",
                    format!("The AiqSoapHeader cannot be read: {reason}"),
                ));
            }
            Ok(None) => {
                return Err(Failure::new(
                    "OAUTH_INTEGRATION_APPS_TOKEN_NOT_PROVIDED_IN_AUTHORIZATION_HEADER",
                    "No AiqSoapHeader was given.",
                ));
            }
            Ok(Some(header)) => header,
        };
        match self.access.check(header.access_token.as_deref()) {
            Ok(_) => {}
            Err(TokenError::Expired) => {
                return Err(Failure::expired(
                    "OAUTH_INTEGRATION_APPS_TOKEN_EXPIRED",
                    "The access token has expired. Call TokenRefresh.",
                ));
            }
            Err(TokenError::Missing) => {
                return Err(Failure::new(
                    "OAUTH_INTEGRATION_APPS_TOKEN_NOT_PROVIDED_IN_AUTHORIZATION_HEADER",
                    "No access token was given.",
                ));
            }
            Err(TokenError::Unknown) => {
                return Err(Failure::new(
                    "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID",
                    "The access token is not valid.",
                ));
            }
        }
        match header.entity.as_deref().map(str::trim) {
            None | Some("") => Err(Failure::new(
                "OAUTH_INTEGRATION_APPS_NO_ENTITY_PROVIDED_IN_HEADER",
                "No entity was given in the AiqSoapHeader.",
            )),
            Some(credentials::ACCOUNTSIQ_COMPANY_ID) => Ok(()),
            Some(other) => Err(Failure::new(
                "OAUTH_INTEGRATION_APPS_AIQ_SOAP_HEADER_MISMATCH",
                format!("The integration application has no access to entity '{other}'."),
            )),
        }
    }
}

/// The client id and secret identify the sandbox's integration application.
fn client(id: Option<&str>, secret: Option<&str>) -> Result<String, Failure> {
    let id = id.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
        Failure::new(
            "OAUTH_INTEGRATION_APPS_CLIENTID_IS_NULL_OR_EMPTY",
            "The client id is null or empty.",
        )
    })?;
    let secret = secret.filter(|s| !s.is_empty()).ok_or_else(|| {
        Failure::new(
            "OAUTH_INTEGRATION_APPS_CLIENTSECRET_IS_NULL_OR_EMPTY",
            "The client secret is null or empty.",
        )
    })?;
    if id != credentials::ACCOUNTSIQ_CLIENT_ID {
        return Err(Failure::new(
            "OAUTH_INTEGRATION_APPS_APP_NOT_FOUND",
            format!("No integration application has the client id '{id}'."),
        ));
    }
    if secret != credentials::ACCOUNTSIQ_CLIENT_SECRET {
        return Err(Failure::new(
            "CANNOT_LOGIN_INVALID_CREDENTIALS",
            "Invalid client credentials.",
        ));
    }
    Ok(id.to_string())
}

/// The pair both token operations answer.
struct Pair {
    access_token: String,
    refresh_token: String,
}

impl Twin {
    fn issue(&self, client: &str) -> Pair {
        Pair {
            access_token: self.access.issue(client),
            refresh_token: self.refresh.issue(client),
        }
    }

    fn rotate(&self, client: &str, refresh_token: Option<&str>) -> Result<Pair, Failure> {
        let _rotation = lock(&self.rotation);
        match self.refresh.check(refresh_token) {
            Ok(owner) if owner == client => {}
            Err(TokenError::Expired) => {
                return Err(Failure::new(
                    "OAUTH_INTEGRATION_APPS_REFRESH_TOKEN_EXPIRED",
                    "The refresh token has expired. Call TokenGet.",
                ));
            }
            Ok(_) | Err(TokenError::Missing | TokenError::Unknown) => {
                return Err(Failure::new(
                    "OAUTH_INTEGRATION_APPS_TOKEN_IS_INVALID",
                    "The refresh token is not valid.",
                ));
            }
        }
        if let Some(old) = refresh_token {
            self.refresh.revoke(old);
        }
        Ok(self.issue(client))
    }
}

fn token_get(twin: &Twin, call: &aiq::Call) -> Response {
    aiq::answer(call, |r: types::TokenGet| {
        let outcome = client(r.client_id.as_deref(), r.client_secret.as_deref())
            .map(|client| twin.issue(&client));
        let (result, status, error_code, error_message) = match outcome {
            Ok(pair) => (
                Some(types::TokenGetResponse {
                    access_token: Some(pair.access_token),
                    refresh_token: Some(pair.refresh_token),
                }),
                "Success",
                "SUCCESS",
                None,
            ),
            Err(failure) => (None, "Failure", failure.code, Some(failure.message)),
        };
        types::TokenGetResponseElement {
            token_get_result: Some(types::WSResult3OfTokenGetResponse {
                result,
                status: Some(status.into()),
                error_code: Some(error_code.into()),
                error_message,
            }),
        }
    })
}

fn token_refresh(twin: &Twin, call: &aiq::Call) -> Response {
    aiq::answer(call, |r: types::TokenRefresh| {
        let outcome = client(r.client_id.as_deref(), r.client_secret.as_deref())
            .and_then(|client| twin.rotate(&client, r.refresh_token.as_deref()));
        let (result, status, error_code, error_message) = match outcome {
            Ok(pair) => (
                Some(types::TokenRefreshResponse {
                    access_token: Some(pair.access_token),
                    refresh_token: Some(pair.refresh_token),
                }),
                "Success",
                "SUCCESS",
                None,
            ),
            Err(failure) => (None, "Failure", failure.code, Some(failure.message)),
        };
        types::TokenRefreshResponseElement {
            token_refresh_result: Some(types::WSResult3OfTokenRefreshResponse {
                result,
                status: Some(status.into()),
                error_code: Some(error_code.into()),
                error_message,
            }),
        }
    })
}
