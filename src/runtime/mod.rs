//! What every generated client shares: one place to build HTTP clients, one layer every call
//! passes through (credentials, fixed headers, 401 replay), one token cache, validated bounded
//! integers, helpers for reading results, and one pagination helper every list stream is built on.

pub mod auth;
pub mod bounded;
pub mod bulk;
pub mod config;
pub mod connect;
pub mod dedup;
pub mod error;
pub mod http;
pub mod jwt;
pub mod layer;
pub mod limits;
pub mod oauth2;
mod open_enum;
pub mod paginate;
pub mod path;
// Used by the services that receive pushes (Consumer Intelligence, BiQ).
#[cfg_attr(
    not(any(feature = "consumer-intelligence", feature = "biq-alert-changes")),
    allow(dead_code)
)]
pub mod receive;
pub mod response;
pub mod retry;
pub mod rules;
#[cfg(feature = "soap")]
pub mod soap;
pub mod tolerant;
pub mod transport;

pub use bounded::{BoundedInt, OutOfRange};
pub use config::ConfigError;
pub use connect::{ConnectError, ConnectOptions};
pub use error::Error;
pub use layer::Layer;
pub use limits::{CallLimits, Limits};
pub use paginate::{Cursor, Page, Pages, StreamError};
pub use response::OptionalResponse;
pub use rules::{FinalAnswerRule, OperationRule, ServiceRules};
pub use transport::{TlsFailure, TransportError};
