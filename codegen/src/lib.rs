//! The customer-data code generator: checked-in API descriptions in `specs/` become the typed
//! clients in `generated/`.
//!
//! The pipeline is a sequence of stages, each a function that can be tested alone:
//! [`load`] -> [`patch`] (overlays) -> [`check`] -> [`normalise`] -> [`generate`] -> [`format`](mod@format) -> [`output`]
//! (write, or compare for drift). [`surface`] renders the short API summary that the
//! snapshot tests review. [`export`] writes the document after load + patch (what the
//! validators in CI judge the sandbox's messages against). The root crate's `build.rs` and the `customer-data-codegen`
//! binary both call [`run`], so what is compiled and what is checked in come from one place.

pub mod check;
pub mod diff;
pub mod error;
pub mod export;
pub mod format;
pub mod generate;
pub mod layer;
pub mod load;
pub mod normalise;
pub mod open_enums;
pub mod output;
pub mod patch;
pub mod services;
pub mod surface;
pub mod tolerant;
pub mod varnames;
pub mod wsdl;

use std::path::{Path, PathBuf};

pub use error::{CodegenError, Finding};
pub use output::Drift;
pub use services::{SERVICES, Service};

/// The result of running the pipeline for one service.
#[derive(Debug, Clone)]
pub struct Generated {
    pub service: &'static Service,
    /// The formatted client, header included: the bytes of `generated/<slug>.rs`.
    pub code: String,
    /// The API-surface summary reviewed in snapshots.
    pub surface: String,
    /// What each overlay action did (empty without an overlay).
    pub overlay_actions: Vec<patch::ActionReport>,
}

/// Runs every stage for `service`, reading its spec below `root` (the repository root).
pub fn run(root: &Path, service: &'static Service) -> Result<Generated, CodegenError> {
    match service.front_end {
        services::FrontEnd::OpenApi => run_openapi(root, service),
        services::FrontEnd::Wsdl(options) => run_wsdl(root, service, options),
    }
}

fn run_openapi(root: &Path, service: &'static Service) -> Result<Generated, CodegenError> {
    // Messages and the header name the spec as it is written in the repository.
    let (loaded, overlay_actions) = export::patched(root, service)?;
    check::check(&loaded)?;
    let normalised = normalise::normalise(&loaded)?;
    let tokens = generate::generate(&normalised, &generate::GenerateOptions::default())?;
    let code = format::format(&service.sources(), tokens)?;
    let surface = surface::surface(service, &normalised, &code, &overlay_actions)?;
    Ok(Generated {
        service,
        code,
        surface,
        overlay_actions,
    })
}

fn run_wsdl(
    root: &Path,
    service: &'static Service,
    options: &wsdl::SoapOptions,
) -> Result<Generated, CodegenError> {
    let path = PathBuf::from(service.spec);
    let text = std::fs::read_to_string(root.join(&path)).map_err(|source| CodegenError::Read {
        path: path.clone(),
        source,
    })?;
    let (model, tokens) = wsdl::generate(&path, &text, service.slug, options)?;
    let code = format::format(&service.sources(), tokens)?;
    let surface = wsdl::surface(service.slug, &service.sources(), &model, options);
    Ok(Generated {
        service,
        code,
        surface,
        overlay_actions: Vec::new(),
    })
}

/// What `generate_all` did for one service.
#[derive(Debug, Clone)]
pub struct Regenerated {
    pub generated: Generated,
    /// Whether `generated/<slug>.rs` was rewritten (false: it was already current).
    pub changed: bool,
}

impl Regenerated {
    /// One line for people: slug, size of the surface, file, and whether it changed.
    pub fn summary(&self) -> String {
        let section = |name: &str| {
            self.generated
                .surface
                .split(&format!("## {name}\n"))
                .nth(1)
                .map(|rest| rest.lines().take_while(|l| !l.is_empty()).count())
                .unwrap_or(0)
        };
        format!(
            "{}: {} operations, {} types, {} lines -> {} ({})",
            self.generated.service.slug,
            section("operations"),
            section("types"),
            self.generated.code.lines().count(),
            self.generated.service.generated_path(),
            if self.changed {
                "written"
            } else {
                "up to date"
            }
        )
    }
}

/// Regenerates every service's file under `root/generated/`.
pub fn generate_all(root: &Path) -> Result<Vec<Regenerated>, CodegenError> {
    let mut out = Vec::new();
    for service in SERVICES {
        let generated = run(root, service)?;
        let changed = output::write(&root.join(service.generated_path()), &generated.code)?;
        out.push(Regenerated { generated, changed });
    }
    Ok(out)
}

/// Compares every checked-in file with a fresh generation; empty when nothing drifted.
pub fn check_all(root: &Path) -> Result<Vec<Drift>, CodegenError> {
    let mut drifts = Vec::new();
    for service in SERVICES {
        let generated = run(root, service)?;
        let path = root.join(service.generated_path());
        if let Some(mut drift) = output::compare(&path, &generated.code)? {
            drift.path = PathBuf::from(service.generated_path());
            drifts.push(drift);
        }
    }
    Ok(drifts)
}

/// The repository root when running from this workspace (the codegen crate's parent).
pub fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
