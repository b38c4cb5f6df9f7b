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

generated_module!("carmachain");

/// Base URL of the vendor's demo peer module.
pub const DEMO_PEER_URL: &str = "http://localhost:5000";

/// A client for the peer module at `base_url`, over the shared HTTP stack.
pub fn connect(base_url: &str) -> Result<Client, reqwest::Error> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new_with_client(base_url, http))
}
