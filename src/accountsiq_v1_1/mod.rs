//! AccountsIQ web services v1.1 (SOAP 1.1), generated from the vendor's WSDL
//! (`specs/accountsiq_v1_1.wsdl`, every operation). Authenticate with [`Client::login`]
//! (company id, partner key, user key): the session token it returns (valid 20 minutes) is the
//! `token` element of every other request. Results wrapped in AccountsIQ's `WSResult*`
//! envelope come back as `Result<T, AccountsIqError>` with the vendor's codes kept; a session
//! that expired reports [`AccountsIqError::is_expired`].

generated_module!("accountsiq_v1_1");

/// The error of every AccountsIQ call: transport, SOAP Fault, undecodable body, or a result
/// envelope that reports failure (`Status`, `ErrorCode`, `ErrorMessage`, `HasExpired`).
pub type AccountsIqError = crate::runtime::soap::SoapError;

/// AccountsIQ's hosting regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    Us1,
    Eu1,
    Eu2,
    Uk1,
}

impl Region {
    /// The region's host name label, e.g. `eu1`.
    pub fn label(self) -> &'static str {
        match self {
            Region::Us1 => "us1",
            Region::Eu1 => "eu1",
            Region::Eu2 => "eu2",
            Region::Uk1 => "uk1",
        }
    }
}

/// Where a versioned AccountsIQ service is posted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `https://<region>.accountsiq.com/system/dashboard/integration/<service>.asmx`.
    Region(Region),
    /// Any other `.asmx` URL (staging, a local twin).
    Custom(String),
}

impl Endpoint {
    /// The URL for the service file `asmx` (e.g. `integration_1_1.asmx`).
    pub fn url(&self, asmx: &str) -> String {
        match self {
            Endpoint::Region(region) => format!(
                "https://{}.accountsiq.com/system/dashboard/integration/{asmx}",
                region.label()
            ),
            Endpoint::Custom(url) => url.clone(),
        }
    }
}

/// A v1.1 client for `endpoint`, over the shared HTTP stack.
pub fn connect(endpoint: &Endpoint) -> Result<Client, reqwest::Error> {
    let http = crate::runtime::http::default_client()?;
    Ok(Client::new(endpoint.url("integration_1_1.asmx"), http))
}
