//! What every generated client shares: one place to build HTTP clients, validated bounded
//! integers, and helpers for reading results. Auth, retries and pagination join here.

pub mod auth;
pub mod bounded;
pub mod http;
mod open_enum;
pub mod response;
#[cfg(feature = "soap")]
pub mod soap;

pub use bounded::{BoundedInt, OutOfRange};
pub use response::OptionalResponse;
