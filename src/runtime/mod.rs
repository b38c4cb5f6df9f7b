//! What every generated client shares: one place to build HTTP clients, validated bounded
//! integers, and helpers for reading results. Auth, retries and pagination join here.

pub mod bounded;
pub mod http;
pub mod response;

pub use bounded::{BoundedInt, OutOfRange};
pub use response::OptionalResponse;
