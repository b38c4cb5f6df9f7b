//! Compiles the checked-in clients: for each enabled feature, `generated/<slug>.rs` is copied
//! to `OUT_DIR`, after checking that the sha256 of every source its header names (the spec,
//! the overlay) and of the generator still match what it recorded. No generator runs here,
//! so a consumer compiles the generated code and its dependencies, not progenitor.
//!
//! A spec edited without regenerating is a build error naming the command that fixes it. With
//! the `regenerate` feature (for people editing specs), the clients are generated from the
//! specs instead, by the same codegen library the `customer-data-codegen` binary uses, and a
//! warning says while `generated/` is behind.
//!
//! `OUT_DIR/compiled_services.rs` lists what was compiled, for `tests/pipeline.rs`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

include!("codegen/build_support/generator_hash.rs");
include!("build_support/checked_in.rs");

fn feature_enabled(feature: &str) -> bool {
    let var = format!(
        "CARGO_FEATURE_{}",
        feature.to_ascii_uppercase().replace('-', "_")
    );
    std::env::var_os(var).is_some()
}

/// The client to compile for `slug`: the checked-in file, or with `regenerate` a fresh
/// generation from its spec.
#[cfg(not(feature = "regenerate"))]
fn client_code(
    root: &Path,
    slug: &str,
    checked_in: String,
    header: &Header,
) -> Result<String, String> {
    match mismatch(root, slug, header) {
        None => Ok(checked_in),
        Some(why) => Err(format!(
            "{why}. Regenerate with `{REGENERATE}` (or build with `--features regenerate` to \
             compile clients straight from the specs)"
        )),
    }
}

#[cfg(feature = "regenerate")]
fn client_code(
    root: &Path,
    slug: &str,
    checked_in: String,
    header: &Header,
) -> Result<String, String> {
    let service = customer_data_codegen::services::by_slug(slug).ok_or_else(|| {
        format!("generated/{slug}.rs: no service `{slug}` in codegen/src/services.rs")
    })?;
    let generated = customer_data_codegen::run(root, service).map_err(|e| e.to_string())?;
    if generated.code != checked_in {
        let why = mismatch(root, slug, header)
            .unwrap_or_else(|| format!("generated/{slug}.rs differs from its spec"));
        println!("cargo:warning={why}; compiling the spec's version. Run: {REGENERATE}");
    }
    Ok(generated.code)
}

fn main() -> ExitCode {
    let (Some(root), Some(out_dir)) = (
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::var_os("OUT_DIR").map(PathBuf::from),
    ) else {
        eprintln!("build.rs must run under cargo (CARGO_MANIFEST_DIR and OUT_DIR unset)");
        return ExitCode::FAILURE;
    };
    println!("cargo:rerun-if-changed=generated");
    // The generator's sources are only there in a checkout (a path that does not exist would
    // make cargo rerun this script on every build).
    for generator in ["codegen/src", "codegen/Cargo.toml"] {
        if root.join(generator).exists() {
            println!("cargo:rerun-if-changed={generator}");
        }
    }
    let mut files: Vec<PathBuf> = match std::fs::read_dir(root.join("generated")) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .collect(),
        Err(error) => {
            eprintln!("error: cannot read generated/: {error}");
            return ExitCode::FAILURE;
        }
    };
    files.sort();
    // (slug, path in OUT_DIR) of every compiled service, for tests/pipeline.rs.
    let mut compiled = Vec::new();
    for path in files {
        let Some(slug) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let checked_in = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("error: {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
        };
        let header = read_header(&checked_in);
        let Some(feature) = header.feature.clone() else {
            eprintln!(
                "error: generated/{slug}.rs names no cargo feature in its header; regenerate \
                 with `{REGENERATE}`"
            );
            return ExitCode::FAILURE;
        };
        if !feature_enabled(&feature) {
            continue;
        }
        for (source, _) in &header.sources {
            println!("cargo:rerun-if-changed={source}");
        }
        let code = match client_code(&root, &slug, checked_in, &header) {
            Ok(code) => code,
            Err(error) => {
                // Cargo shows stderr of a failed build script; keep the whole message.
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let target = out_dir.join(format!("{slug}.rs"));
        if let Err(error) = write_if_changed(&target, &code) {
            eprintln!("error: {}: {error}", target.display());
            return ExitCode::FAILURE;
        }
        compiled.push((slug, target));
    }
    let entries: String = compiled
        .iter()
        .map(|(slug, path)| {
            format!(
                "    ({slug:?}, include_str!({:?})),\n",
                path.display().to_string()
            )
        })
        .collect();
    let list = format!(
        "/// Every service compiled into this build, with the code build.rs compiled for it.\n\
         pub const COMPILED: &[(&str, &str)] = &[\n{entries}];\n"
    );
    if let Err(error) = write_if_changed(&out_dir.join("compiled_services.rs"), &list) {
        eprintln!("error: compiled_services.rs: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Writes `text` unless the file already holds it (so rustc sees no change).
fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|current| current == text) {
        return Ok(());
    }
    std::fs::write(path, text)
}
