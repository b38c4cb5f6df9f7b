//! How many requests each twin received, per route: lets tests and benchmarks count token
//! requests (the property the auth layer promises) from the server's side.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::lock;

/// Request counts keyed by `<slug> <route>`; the route is the path below the twin's prefix,
/// or for SOAP calls the operation named by `SOAPAction` (e.g. `accountsiq_v1_1 Login`).
#[derive(Debug, Default)]
pub struct RequestCounts {
    counts: Mutex<HashMap<String, u64>>,
}

impl RequestCounts {
    /// Requests `slug` received on `route` so far.
    pub fn get(&self, slug: &str, route: &str) -> u64 {
        lock(&self.counts)
            .get(&format!("{slug} {route}"))
            .copied()
            .unwrap_or(0)
    }

    fn add(&self, key: String) {
        *lock(&self.counts).entry(key).or_default() += 1;
    }
}

/// Middleware state: the shared counts and the twin's slug.
#[derive(Clone)]
pub struct Counter {
    pub counts: Arc<RequestCounts>,
    pub slug: &'static str,
}

/// Counts the request, then passes it on.
pub async fn count(State(counter): State<Counter>, request: Request, next: Next) -> Response {
    let route = match request
        .headers()
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
    {
        Some(action) => action
            .trim_matches('"')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
        None => request.uri().path().to_string(),
    };
    counter.counts.add(format!("{} {route}", counter.slug));
    next.run(request).await
}
