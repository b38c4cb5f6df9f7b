//! One module per twin; each exposes `router(&Arc<SandboxConfig>) -> Router` with its routes
//! relative to its own prefix. Request counting and fault injection are shared layers, per
//! twin.

use std::sync::Arc;

use axum::Router;

use crate::SandboxConfig;
use crate::faults::{FaultAnswer, FaultInjector, Faults, inject};
use crate::record::{Recorder, Recording, record};
use crate::requests::{Counter, RequestCounts, count};
use crate::sandbox_only::{self, SandboxKey};

// twin modules (one line each, keep sorted)
pub mod accountsiq_shared;
pub mod accountsiq_v1_1;
pub mod accountsiq_v2_0;
pub mod biq_alert_changes;
pub mod biq_auth;
pub mod biq_customer_shadow;
pub mod biq_shared;
pub mod blink_customer_management;
pub mod carmachain;
pub mod consumer_intelligence;

/// Every twin under `/<slug>`, each behind its own fault injector, and, when recording, behind
/// the recorder (outermost: it sees the answer as fault injection left it). The sandbox-only
/// routes of every twin are guarded by `sandbox_key` ([`crate::sandbox_only`], innermost).
pub fn router(
    config: &Arc<SandboxConfig>,
    requests: &Arc<RequestCounts>,
    recorder: Option<&Arc<Recorder>>,
    sandbox_key: &Arc<str>,
) -> Router {
    let twins: Vec<(&'static str, Router)> = vec![
        // twin routes (one line each, keep sorted)
        ("accountsiq_v1_1", accountsiq_v1_1::router(config)),
        ("accountsiq_v2_0", accountsiq_v2_0::router(config)),
        (
            "blink_customer_management",
            blink_customer_management::router(config),
        ),
        (
            "consumer_intelligence",
            consumer_intelligence::router(config),
        ),
        ("biq_alert_changes", biq_alert_changes::router(config)),
        ("biq_auth", biq_auth::router(config)),
        ("biq_customer_shadow", biq_customer_shadow::router(config)),
        ("carmachain", carmachain::router(config)),
    ];
    let mut app = Router::new();
    for (slug, twin) in twins {
        let faults = config
            .faults
            .get(slug)
            .cloned()
            .unwrap_or_else(Faults::none);
        let injector = match fault_answer(slug) {
            Some(answer) => FaultInjector::new(faults).answering(answer),
            None => FaultInjector::new(faults),
        };
        // Counted before faults are injected: a request the fault layer refuses still arrived.
        let mut twin = twin
            .layer(axum::middleware::from_fn_with_state(
                SandboxKey(sandbox_key.clone()),
                sandbox_only::guard,
            ))
            .layer(axum::middleware::from_fn_with_state(injector, inject))
            .layer(axum::middleware::from_fn_with_state(
                Counter {
                    counts: requests.clone(),
                    slug,
                },
                count,
            ));
        if let Some(recorder) = recorder {
            twin = twin.layer(axum::middleware::from_fn_with_state(
                Recording {
                    recorder: recorder.clone(),
                    slug,
                    deviates: config.send_unlisted_enum_values,
                },
                record,
            ));
        }
        app = app.nest(&format!("/{slug}"), twin);
    }
    app
}

/// How a twin words injected 429 / 5xx answers, when its vendor documents an error body (the
/// others answer plain text, [`crate::faults::plain_answer`]).
fn fault_answer(slug: &str) -> Option<FaultAnswer> {
    match slug {
        // fault answers (one line each, keep sorted)
        "consumer_intelligence" => Some(consumer_intelligence::fault_answer),
        _ => None,
    }
}
