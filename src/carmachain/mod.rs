//! CarmaChain consumer-data exchange: ask peers for data about a consumer
//! (`create_request`), then poll for the answers (`respond`).
//!
//! The API runs inside a peer module you deploy, so there is no fixed host: pass its base URL.
//! The vendor's demo peer listens on [`DEMO_PEER_URL`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use customer_data::carmachain::{connect, types, DEMO_PEER_URL};
//! let client = connect(DEMO_PEER_URL)?;
//! let request = types::CreateRequest {
//!     type_request: types::TypeRequest::Array(vec![types::DataCategory::Address]),
//!     value: vec![types::PersonQuery { phone_number: Some("+380990000001".into()), ..Default::default() }],
//! };
//! let created = client.create_request().body(request).send().await?;
//! println!("{:?}", created.parametr_request);
//! # Ok(()) }
//! ```
//!
//! [`wait::wait_until_done`] polls for the answers with backoff until they are done or a
//! deadline passes.

generated_module!("carmachain");

pub mod wait;

use std::sync::Arc;
use std::time::Duration;

use crate::runtime::auth::{self, AuthError, Token, TokenCache, TokenSource};
use crate::runtime::layer::{HeaderAuth, Scheme};
use crate::runtime::{ConnectError, ConnectOptions, Layer, config, jwt};

/// Base URL of the vendor's demo peer module.
pub const DEMO_PEER_URL: &str = "http://localhost:5000";

/// The slug of this service.
pub const SLUG: &str = "carmachain";

/// The documented token lifetime, used when the token carries no JWT `exp`.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The peer module's token, from its own `getToken` (the module is yours: no credentials).
struct PeerToken {
    client: Client,
}

impl TokenSource for PeerToken {
    async fn fetch(&self, _previous: Option<&Token>) -> Result<Token, AuthError> {
        let answer = self
            .client
            .get_token()
            .send()
            .await
            .map_err(|e| e.into_auth_error("getToken"))?
            .into_inner();
        if answer.token.is_empty() {
            return Err(AuthError::Malformed(
                "getToken answered an empty token".into(),
            ));
        }
        // The documented 24 h, unless the token is a JWT that says otherwise.
        let expires_at = jwt::claims(&answer.token)
            .ok()
            .and_then(|claims| jwt::expires_at(&claims))
            .unwrap_or_else(|| auth::expiry(TOKEN_LIFETIME));
        Ok(Token {
            value: answer.token.into(),
            expires_at,
            refresh: None,
        })
    }
}

/// An authenticated client for the peer module at `base_url`: the token is fetched from the
/// module, cached for its 24 hours and renewed after a 401. It is sent bare
/// (`Authorization: <token>`): the vendor documents an api-key header without a scheme.
pub fn connect(base_url: &str) -> Result<Client, ConnectError> {
    connect_with(base_url, &ConnectOptions::default())
}

/// [`connect`] with options (HTTP client, refresh policy).
pub fn connect_with(base_url: &str, options: &ConnectOptions) -> Result<Client, ConnectError> {
    options.check_url("base URL", base_url)?;
    let http = options.http_client()?;
    let source = PeerToken {
        client: Client::new_with_client(base_url, http.clone(), options.layer(&SERVICE_RULES)),
    };
    let cache = Arc::new(TokenCache::new(source, options.refresh));
    let layer = options
        .layer(&SERVICE_RULES)
        .with_auth(HeaderAuth::new(cache, Scheme::Bare));
    Ok(Client::new_with_client(base_url, http, layer))
}

/// [`connect`] to `CARMACHAIN_BASE_URL`.
pub fn connect_from_env() -> Result<Client, ConnectError> {
    connect(&config::required("CARMACHAIN_BASE_URL")?)
}

/// A client that sends no credentials (for tests of refusals).
pub fn connect_anonymous(base_url: &str) -> Result<Client, ConnectError> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(
        base_url,
        http,
        Layer::new(&SERVICE_RULES),
    ))
}
