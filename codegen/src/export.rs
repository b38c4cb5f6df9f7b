//! Export: an OpenAPI document as the generator sees it after the [`load`](crate::load) and
//! [`patch`](crate::patch) (overlay) stages, checked by [`check`](crate::check), and before
//! [`normalise`](crate::normalise). Independent validators (`.ci/validate/`) judge the twins'
//! messages against it: the vendor's contract plus our overlay, not our normalisations.
//!
//! `customer-data-codegen export <slug> <out.json>` or `export-all <dir>` (every OpenAPI
//! service as `<dir>/<slug>.json`).

use std::path::{Path, PathBuf};

use crate::error::CodegenError;
use crate::load::{self, LoadedSpec};
use crate::patch::{self, ActionReport};
use crate::services::{FrontEnd, SERVICES, Service};

/// The stages load and patch for an OpenAPI `service` whose spec lives below `root`: the
/// document (paths in messages as written in the repository) and what each overlay action did.
pub fn patched(
    root: &Path,
    service: &Service,
) -> Result<(LoadedSpec, Vec<ActionReport>), CodegenError> {
    let mut loaded = load::load(&root.join(service.spec))?;
    loaded.path = PathBuf::from(service.spec);
    let Some(overlay_path) = service.overlay else {
        return Ok((loaded, Vec::new()));
    };
    let mut overlay = load::load(&root.join(overlay_path))?;
    overlay.path = PathBuf::from(overlay_path);
    patch::apply(&loaded, &overlay)
}

/// The patched document of `service`, checked as the generator would check it, as pretty JSON.
pub fn export_json(root: &Path, service: &Service) -> Result<String, CodegenError> {
    if service.front_end != FrontEnd::OpenApi {
        return Err(CodegenError::Parse {
            path: PathBuf::from(service.spec),
            pointer: String::new(),
            message: format!(
                "`{}` is a SOAP service: its WSDL is the document to validate against, \
                 there is no OpenAPI to export",
                service.slug
            ),
        });
    }
    let (spec, _) = patched(root, service)?;
    crate::check::check(&spec)?;
    serde_json::to_string_pretty(&spec.document).map_err(|e| CodegenError::Parse {
        path: spec.path.clone(),
        pointer: String::new(),
        message: format!("cannot write the document as JSON: {e}"),
    })
}

/// Writes the patched document of `service` to `out`.
pub fn export(root: &Path, service: &Service, out: &Path) -> Result<(), CodegenError> {
    let text = export_json(root, service)?;
    std::fs::write(out, text + "\n").map_err(|source| CodegenError::Output {
        path: out.to_path_buf(),
        source,
    })
}

/// Writes every OpenAPI service's patched document to `<dir>/<slug>.json`; the files written.
pub fn export_all(root: &Path, dir: &Path) -> Result<Vec<PathBuf>, CodegenError> {
    std::fs::create_dir_all(dir).map_err(|source| CodegenError::Output {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for service in SERVICES.iter().filter(|s| s.front_end == FrontEnd::OpenApi) {
        let out = dir.join(format!("{}.json", service.slug));
        export(root, service, &out)?;
        written.push(out);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::by_slug;
    use serde_json::Value;

    fn exported(slug: &str) -> Value {
        let service = by_slug(slug).unwrap();
        serde_json::from_str(&export_json(&crate::default_root(), service).unwrap()).unwrap()
    }

    #[test]
    fn the_overlay_is_applied_and_nothing_is_normalised() {
        let document = exported("blink_customer_management");
        // Overlay actions: the version, the added path and security scheme.
        assert_eq!(document["openapi"], "3.0.3");
        assert!(document["paths"]["/healthcheck"]["get"].is_object());
        assert!(document["components"]["securitySchemes"]["blinkOAuth"].is_object());
        // normalise would have turned problem+json into application/json: not here.
        let text = document.to_string();
        assert!(text.contains("application/problem+json"), "not normalised");
        // The generator's own view of the same stages agrees.
        let (spec, reports) = patched(
            &crate::default_root(),
            by_slug("blink_customer_management").unwrap(),
        )
        .unwrap();
        assert_eq!(spec.document, document);
        assert!(reports.iter().all(|r| r.matched > 0));
    }

    #[test]
    fn without_an_overlay_the_spec_is_exported_as_loaded() {
        let root = crate::default_root();
        let loaded = load::load(&root.join("specs/carmachain.yaml")).unwrap();
        assert_eq!(exported("carmachain"), loaded.document);
    }

    #[test]
    fn a_soap_service_has_nothing_to_export() {
        let service = by_slug("accountsiq_v1_1").unwrap();
        let err = export_json(&crate::default_root(), service).unwrap_err();
        assert!(err.to_string().contains("SOAP"), "{err}");
    }

    #[test]
    fn export_all_writes_one_file_per_openapi_service() {
        let dir = std::env::temp_dir().join(format!(
            "codegen-export-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let written = export_all(&crate::default_root(), &dir).unwrap();
        let openapi = SERVICES
            .iter()
            .filter(|s| s.front_end == FrontEnd::OpenApi)
            .count();
        assert_eq!(written.len(), openapi);
        for file in &written {
            let text = std::fs::read_to_string(file).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert!(value["paths"].is_object(), "{}", file.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
