//! One module per twin; each exposes `router(&Arc<SandboxConfig>) -> Router` with its routes
//! relative to its own prefix. Fault injection is one shared layer, per twin.

use std::sync::Arc;

use axum::Router;

use crate::SandboxConfig;
use crate::faults::{FaultInjector, Faults, inject};

// twin modules (one line each, keep sorted)
pub mod carmachain;

/// Every twin under `/<slug>`, each behind its own fault injector.
pub fn router(config: &Arc<SandboxConfig>) -> Router {
    let twins: Vec<(&str, Router)> = vec![
        // twin routes (one line each, keep sorted)
        ("carmachain", carmachain::router(config)),
    ];
    let mut app = Router::new();
    for (slug, twin) in twins {
        let faults = config
            .faults
            .get(slug)
            .cloned()
            .unwrap_or_else(Faults::none);
        let twin = twin.layer(axum::middleware::from_fn_with_state(
            FaultInjector::new(faults),
            inject,
        ));
        app = app.nest(&format!("/{slug}"), twin);
    }
    app
}
