//! The services this project generates, one entry per slug. The slug is the same word in
//! `specs/`, `generated/`, `src/`, `tests/`, the cargo feature (with `-` for `_`) and the docs.

/// Which front end reads a service's spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontEnd {
    /// OpenAPI 3.0.x, generated with progenitor.
    OpenApi,
}

/// One generated client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The slug: `specs/<slug>.<ext>`, `generated/<slug>.rs`, `src/<slug>/`.
    pub slug: &'static str,
    /// The cargo feature of the root crate that compiles this client.
    pub feature: &'static str,
    /// The spec file, relative to the repository root.
    pub spec: &'static str,
    /// An OpenAPI Overlay applied to `spec` by the patch stage (upstream kept byte for byte).
    pub overlay: Option<&'static str>,
    pub front_end: FrontEnd,
}

impl Service {
    /// The spec files this service is generated from, for messages and the header.
    pub fn sources(&self) -> String {
        match self.overlay {
            Some(overlay) => format!("{} + overlay {overlay}", self.spec),
            None => self.spec.to_string(),
        }
    }

    /// `generated/<slug>.rs`, relative to the repository root.
    pub fn generated_path(&self) -> String {
        format!("generated/{}.rs", self.slug)
    }

    /// The environment variable cargo sets for a build script when this service's
    /// feature is enabled, e.g. `CARGO_FEATURE_CONSUMER_INTELLIGENCE`.
    pub fn cargo_feature_env(&self) -> String {
        format!(
            "CARGO_FEATURE_{}",
            self.feature.to_ascii_uppercase().replace('-', "_")
        )
    }
}

/// An OpenAPI service whose spec is `specs/<slug>.yaml` (and overlay `specs/<slug>.overlay.yaml`).
macro_rules! openapi {
    ($slug:literal, $feature:literal) => {
        Service {
            slug: $slug,
            feature: $feature,
            spec: concat!("specs/", $slug, ".yaml"),
            overlay: None,
            front_end: FrontEnd::OpenApi,
        }
    };
    ($slug:literal, $feature:literal, overlay) => {
        Service {
            overlay: Some(concat!("specs/", $slug, ".overlay.yaml")),
            ..openapi!($slug, $feature)
        }
    };
}

/// Every service, in a stable order.
pub const SERVICES: &[Service] = &[
    openapi!("biq_auth", "biq"),
    openapi!("biq_customer_shadow", "biq"),
    openapi!("biq_alert_changes", "biq"),
    openapi!("blink_customer_management", "blink", overlay),
    openapi!("carmachain", "carmachain"),
    openapi!("consumer_intelligence", "consumer-intelligence"),
];

/// Looks a service up by its slug.
pub fn by_slug(slug: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.slug == slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_paths_and_features_agree() {
        for service in SERVICES {
            assert!(
                service
                    .spec
                    .starts_with(&format!("specs/{}.", service.slug))
            );
            // A feature may group several slugs of one vendor (`biq` -> `biq_auth`, ...).
            assert!(service.slug.starts_with(&service.feature.replace('-', "_")));
            assert_eq!(by_slug(service.slug), Some(service));
        }
        assert_eq!(
            by_slug("consumer_intelligence")
                .unwrap()
                .cargo_feature_env(),
            "CARGO_FEATURE_CONSUMER_INTELLIGENCE"
        );
        assert!(by_slug("nope").is_none());
    }
}
