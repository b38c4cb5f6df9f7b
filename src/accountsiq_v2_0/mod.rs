//! AccountsIQ web services v2.0 (SOAP 1.1), generated from the vendor's WSDL
//! (`specs/accountsiq_v2_0.wsdl`, every operation). Authenticate with [`Client::token_get`]
//! (client id and secret), renew with [`Client::token_refresh`]; every call then carries the
//! `AiqSoapHeader` (entity and access token) set with [`Client::set_soap_header`].

generated_module!("accountsiq_v2_0");

pub use crate::accountsiq_v1_1::{AccountsIqError, Endpoint, Region};

/// A v2.0 client for `endpoint`, over the shared HTTP stack.
pub fn connect(endpoint: &Endpoint) -> Result<Client, reqwest::Error> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new(endpoint.url("integration_2_0.asmx"), http))
}
