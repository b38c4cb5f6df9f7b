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
pub mod overlay;
pub mod patch;
pub mod path_segments;
pub mod rules;
pub mod secrets;
pub mod services;
pub mod surface;
pub mod tolerant;
pub mod type_names;
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
    /// What the overlay did and what changed under it (`None` without an overlay).
    pub overlay: Option<overlay::Review>,
}

impl Generated {
    /// What each overlay action did (empty without an overlay).
    pub fn overlay_actions(&self) -> &[patch::ActionReport] {
        self.overlay
            .as_ref()
            .map(|review| review.actions.as_slice())
            .unwrap_or_default()
    }
}

/// A service's spec after the stages load, patch (overlay) and overlay review: what a user
/// must hear about before the check stage runs.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub service: &'static Service,
    /// The patched OpenAPI document (`None` for a WSDL service, read by its own front end).
    pub document: Option<load::LoadedSpec>,
    pub overlay: Option<overlay::Review>,
}

/// Runs the stages load, patch and overlay review for `service` below `root`.
pub fn prepare(root: &Path, service: &'static Service) -> Result<Prepared, CodegenError> {
    if !matches!(service.front_end, services::FrontEnd::OpenApi) {
        return Ok(Prepared {
            service,
            document: None,
            overlay: None,
        });
    }
    // Messages and the header name the spec as it is written in the repository.
    let (loaded, actions) = export::patched(root, service)?;
    let overlay = match service.overlay {
        None => None,
        Some(overlay_path) => {
            let upstream = PathBuf::from(service.spec);
            let bytes =
                std::fs::read(root.join(&upstream)).map_err(|source| CodegenError::Read {
                    path: upstream.clone(),
                    source,
                })?;
            let recorded = overlay::read_lock(root, overlay_path)?;
            Some(overlay::review(
                Path::new(overlay_path),
                &upstream,
                &bytes,
                &loaded.document,
                actions,
                recorded.as_ref(),
            ))
        }
    };
    Ok(Prepared {
        service,
        document: Some(loaded),
        overlay,
    })
}

/// Runs the stages after [`prepare`]: check, normalise, generate, format, surface. A problem
/// in a node an overlay action created or changed names that action.
pub fn build(root: &Path, prepared: Prepared) -> Result<Generated, CodegenError> {
    let service = prepared.service;
    match (service.front_end, prepared.document) {
        (services::FrontEnd::Wsdl(options), _) => run_wsdl(root, service, options),
        (services::FrontEnd::OpenApi, Some(loaded)) => {
            let attribute = |error| match &prepared.overlay {
                Some(review) => review.attribute(error),
                None => error,
            };
            check::check(&loaded).map_err(attribute)?;
            let files = service.source_files(root)?;
            let normalised =
                normalise::normalise(&with_provenance(loaded, &files)).map_err(attribute)?;
            let options = generate::GenerateOptions::default();
            let mut tokens = generate::generate(&normalised, &options).map_err(attribute)?;
            let rules = rules::openapi_rules(&normalised.document);
            rules::every_rule_named(&rules, &tokens.to_string()).map_err(|message| {
                CodegenError::Generate {
                    path: PathBuf::from(service.spec),
                    message,
                }
            })?;
            tokens.extend(rules::tokens(
                service.slug,
                &rules,
                rules::FinalAnswer::StatusDecides,
                &options.runtime_path,
            ));
            let provenance = format::Provenance {
                files: &files,
                feature: service.feature,
            };
            let code = format::format(&service.sources(), &provenance, tokens)?;
            let actions = prepared
                .overlay
                .as_ref()
                .map(|review| review.actions.as_slice())
                .unwrap_or_default();
            let surface = surface::surface(service, &normalised, &code, actions)?;
            Ok(Generated {
                service,
                code,
                surface,
                overlay: prepared.overlay,
            })
        }
        (services::FrontEnd::OpenApi, None) => Err(CodegenError::Parse {
            path: PathBuf::from(service.spec),
            pointer: String::new(),
            message: "build() needs the document prepare() loaded".to_string(),
        }),
    }
}

/// Appends a generated "Provenance" paragraph to `info.description` (the client's doc
/// comment): which files, at which `info.version` and sha256, so the docs never quote a stale
/// version by hand.
fn with_provenance(mut spec: load::LoadedSpec, files: &[format::SourceFile]) -> load::LoadedSpec {
    let lines: Vec<String> = files
        .iter()
        .map(|file| match &file.version {
            Some(version) => format!("- `{}`: info.version {version}, {}", file.path, file.sha256),
            None => format!("- `{}`: {}", file.path, file.sha256),
        })
        .collect();
    let paragraph = format!(
        "Provenance (written by the generator from the files):\n{}",
        lines.join("\n")
    );
    if let Some(info) = spec
        .document
        .get_mut("info")
        .and_then(serde_json::Value::as_object_mut)
    {
        let description = match info.get("description").and_then(serde_json::Value::as_str) {
            Some(text) => format!("{}\n\n{paragraph}", text.trim_end()),
            None => paragraph,
        };
        info.insert("description".into(), serde_json::Value::String(description));
    }
    spec
}

/// Runs every stage for `service`, reading its spec below `root` (the repository root).
pub fn run(root: &Path, service: &'static Service) -> Result<Generated, CodegenError> {
    build(root, prepare(root, service)?)
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
    let files = service.source_files(root)?;
    let provenance = format::Provenance {
        files: &files,
        feature: service.feature,
    };
    let code = format::format(&service.sources(), &provenance, tokens)?;
    let surface = wsdl::surface(service.slug, &service.sources(), &model, options);
    Ok(Generated {
        service,
        code,
        surface,
        overlay: None,
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

/// How `generate` treats an upstream document that changed under overlay actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegenerateOptions {
    /// Record the new fingerprints of stale actions (after a person reviewed them) instead of
    /// stopping.
    pub accept_upstream: bool,
}

/// Regenerates every service's file under `root/generated/` (and each overlay's lock).
/// Nothing is written unless every service generates; stale overlay actions stop it unless
/// `options.accept_upstream`. `on_review` hears each overlay review before that service's
/// check stage runs.
pub fn generate_all(
    root: &Path,
    options: RegenerateOptions,
    on_review: &mut dyn FnMut(&overlay::Review),
) -> Result<Vec<Regenerated>, CodegenError> {
    let mut built = Vec::new();
    for service in SERVICES {
        let prepared = prepare(root, service)?;
        if let Some(review) = &prepared.overlay {
            on_review(review);
            if !options.accept_upstream
                && let Some(error) = review.stale_error()
            {
                return Err(error);
            }
        }
        built.push(build(root, prepared)?);
    }
    let mut out = Vec::new();
    for generated in built {
        let service = generated.service;
        if let (Some(review), Some(overlay_path)) = (&generated.overlay, service.overlay) {
            output::write(
                &root.join(overlay::lock_path(overlay_path)),
                &overlay::render_lock(&review.lock),
            )?;
        }
        let changed = output::write(&root.join(service.generated_path()), &generated.code)?;
        out.push(Regenerated { generated, changed });
    }
    Ok(out)
}

/// Compares every checked-in file (clients and overlay locks) with a fresh generation; empty
/// when nothing drifted. Stale overlay actions are an error: they need a person, not a rerun.
pub fn check_all(root: &Path) -> Result<Vec<Drift>, CodegenError> {
    check_all_reporting(root, &mut |_| {})
}

/// [`check_all`], telling `on_review` each overlay review before that service's check stage.
pub fn check_all_reporting(
    root: &Path,
    on_review: &mut dyn FnMut(&overlay::Review),
) -> Result<Vec<Drift>, CodegenError> {
    let mut drifts = Vec::new();
    for service in SERVICES {
        let prepared = prepare(root, service)?;
        if let Some(review) = &prepared.overlay {
            on_review(review);
        }
        let generated = build(root, prepared)?;
        if let (Some(review), Some(overlay_path)) = (&generated.overlay, service.overlay) {
            if let Some(error) = review.stale_error() {
                return Err(error);
            }
            let lock = overlay::lock_path(overlay_path);
            if let Some(mut drift) =
                output::compare(&root.join(&lock), &overlay::render_lock(&review.lock))?
            {
                drift.path = PathBuf::from(lock);
                drifts.push(drift);
            }
        }
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
