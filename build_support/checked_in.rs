// How the root build script decides whether a checked-in `generated/<slug>.rs` may be
// compiled as it is: it reads the provenance header the generator wrote
// (`codegen/src/format.rs`) and compares each recorded sha256 with the file's now. Included by
// `build.rs` and by `tests/build_check.rs` (which tests it), after
// `codegen/build_support/generator_hash.rs`.

/// The command that brings `generated/` in line with `specs/`.
const REGENERATE: &str = "cargo run -p customer-data-codegen -- generate";

/// What a generated file's header records (see `codegen/src/format.rs`).
#[derive(Debug, Default)]
struct Header {
    /// `(path relative to the crate, sha256:<hex>)` of each source.
    sources: Vec<(String, String)>,
    generator: Option<String>,
    feature: Option<String>,
}

fn read_header(text: &str) -> Header {
    let mut header = Header::default();
    for line in text.lines().take_while(|line| line.starts_with("//")) {
        if let Some(hash) = line.strip_prefix("//   generator ") {
            header.generator = Some(hash.trim().to_string());
        } else if let Some(feature) = line.strip_prefix("//   cargo feature ") {
            header.feature = Some(feature.trim().to_string());
        } else if let Some(source) = line.strip_prefix("//   ")
            && let Some((path, rest)) = source.split_once(" (")
            && let Some(at) = rest.rfind("sha256:")
        {
            let hash = rest[at..].trim_end_matches(')').to_string();
            header.sources.push((path.to_string(), hash));
        }
    }
    header
}

fn sha256_of(path: &std::path::Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).ok()?;
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Some(format!("sha256:{hex}"))
}

/// Why `generated/<slug>.rs` (its `header`) no longer matches what it was generated from;
/// `None` when it does. A source that is not there (a packaged crate) is not checked.
fn mismatch(root: &std::path::Path, slug: &str, header: &Header) -> Option<String> {
    if header.sources.is_empty() || header.generator.is_none() {
        return Some(format!(
            "generated/{slug}.rs has no provenance header (sources, generator)"
        ));
    }
    for (path, recorded) in &header.sources {
        match sha256_of(&root.join(path)) {
            Some(now) if &now != recorded => {
                return Some(format!(
                    "{path} changed since generated/{slug}.rs was generated from it \
                     ({recorded} then, {now} now)"
                ));
            }
            _ => {}
        }
    }
    let codegen = root.join("codegen");
    if let (Some(now), Some(recorded)) = (generator_sha256(&codegen), &header.generator)
        && &now != recorded
    {
        return Some(format!(
            "the generator (codegen/) changed since generated/{slug}.rs was generated \
             ({recorded} then, {now} now)"
        ));
    }
    None
}

