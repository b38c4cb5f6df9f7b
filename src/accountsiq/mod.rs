//! What the two AccountsIQ web services (v1.1 and v2.0) share: where they are posted to
//! ([`Region`], [`Endpoint`]), the error of every call ([`AccountsIqError`], with the vendor's
//! result codes) and the incremental-read stream types ([`stream`]). The slug modules use this
//! one and re-export what their users need.

pub mod stream;

use crate::runtime::{ConfigError, config};

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

impl Region {
    /// From its label (`us1`, `eu1`, `eu2`, `uk1`).
    pub fn from_label(label: &str) -> Option<Self> {
        [Region::Us1, Region::Eu1, Region::Eu2, Region::Uk1]
            .into_iter()
            .find(|r| r.label() == label)
    }
}

impl Endpoint {
    /// From `AIQ_ENDPOINT` (a full `.asmx` URL), else `AIQ_REGION` (`us1`/`eu1`/`eu2`/`uk1`).
    pub fn from_env() -> Result<Self, ConfigError> {
        if let Some(url) = config::var("AIQ_ENDPOINT") {
            return Ok(Endpoint::Custom(url));
        }
        let label = config::required("AIQ_REGION")?;
        Region::from_label(&label)
            .map(Endpoint::Region)
            .ok_or(ConfigError::Invalid {
                name: "AIQ_REGION",
                reason: format!("`{label}` is not one of us1, eu1, eu2, uk1"),
            })
    }
}
