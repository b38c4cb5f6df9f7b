//! Twins validate what they receive against our specs by decoding into the generated types:
//! a client bug cannot pass silently. [`Valid`] is the JSON extractor that does it.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A JSON body that decoded into `T`.
pub struct Valid<T>(pub T);

/// Why a body did not decode, with the path of the offending member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub reason: String,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Valid<T> {
    type Rejection = Invalid;

    async fn from_request(request: Request, state: &S) -> Result<Self, Invalid> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| Invalid {
                reason: format!("cannot read the body: {e}"),
            })?;
        decode(&bytes).map(Valid)
    }
}

/// Decodes `bytes` as `T`, naming the member that did not fit.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Invalid> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| Invalid {
        reason: if e.path().to_string() == "." {
            e.inner().to_string()
        } else {
            format!("{}: {}", e.path(), e.inner())
        },
    })
}

impl axum::response::IntoResponse for Invalid {
    fn into_response(self) -> axum::response::Response {
        (axum::http::StatusCode::BAD_REQUEST, self.reason).into_response()
    }
}
