//! The generation loop as users meet it: the compiled client is the checked-in file, a stale
//! `generated/` fails with the command that fixes it, a spec edit reads as a short surface
//! diff, and each service's API surface is an insta snapshot.

use std::path::{Path, PathBuf};

use customer_data_codegen::{
    CodegenError, SERVICES, check_all, format::REGENERATE_COMMAND, output, run, services,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// `COMPILED`: (slug, code) of every service build.rs compiled into this build.
include!(concat!(env!("OUT_DIR"), "/compiled_services.rs"));

#[test]
fn the_compiled_client_is_the_checked_in_file() {
    assert!(!COMPILED.is_empty(), "no service feature enabled");
    for (slug, code) in COMPILED {
        let service = services::by_slug(slug).expect("known slug");
        let path = root().join(service.generated_path());
        if let Some(drift) = output::compare(&path, code).expect("readable generated/") {
            panic!("{drift}");
        }
    }
}

#[test]
fn generated_matches_specs() {
    let drifts = check_all(&root()).unwrap_or_else(|e| panic!("{e}"));
    let report: Vec<String> = drifts.iter().map(ToString::to_string).collect();
    assert!(report.is_empty(), "\n{}", report.join("\n"));
}

/// A scratch copy of `specs/` and `generated/` to edit.
fn scratch_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for sub in ["specs", "generated"] {
        let from = root().join(sub);
        let to = dir.path().join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    dir
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_stale_generated_file_fails_with_the_fix_command() {
    let repo = scratch_repo();
    let spec = repo.path().join("specs/consumer_intelligence.yaml");
    edit(&spec, "maximum: 1000", "maximum: 500");

    let drifts = check_all(repo.path()).unwrap();
    assert_eq!(drifts.len(), 1);
    let text = drifts[0].to_string();
    assert!(
        text.starts_with("generated/consumer_intelligence.rs is stale"),
        "{text}"
    );
    assert!(
        text.contains(&format!("fix: {REGENERATE_COMMAND}")),
        "{text}"
    );
    assert!(
        text.contains("+") && text.contains("BoundedInt<1, 500>"),
        "{text}"
    );

    // Regenerating makes it current again.
    customer_data_codegen::generate_all(repo.path(), Default::default(), &mut |_| {}).unwrap();
    assert!(check_all(repo.path()).unwrap().is_empty());
}

#[test]
fn a_spec_edit_is_a_short_readable_surface_diff() {
    let repo = scratch_repo();
    let service = services::by_slug("consumer_intelligence").unwrap();
    let before = run(repo.path(), service).unwrap();
    edit(
        &repo.path().join(service.spec),
        "        - OTHER\n",
        "        - OTHER\n        - UNSPECIFIED\n",
    );
    let after = run(repo.path(), service).unwrap();

    let changed: Vec<(&str, &str)> = before
        .surface
        .lines()
        .zip(after.surface.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        before.surface.lines().count(),
        after.surface.lines().count()
    );
    assert_eq!(
        changed,
        vec![(
            "Gender: enum MALE | FEMALE | OTHER | ..unknown",
            "Gender: enum MALE | FEMALE | OTHER | UNSPECIFIED | ..unknown"
        )]
    );
    assert_ne!(before.code, after.code);
}

#[test]
fn a_spec_the_generator_would_mishandle_is_rejected_by_file_and_pointer() {
    let repo = scratch_repo();
    let service = services::by_slug("consumer_intelligence").unwrap();
    edit(
        &repo.path().join(service.spec),
        "openapi: 3.0.3",
        "openapi: 3.1.0",
    );
    match run(repo.path(), service) {
        Err(e @ CodegenError::Rejected { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(
                    "specs/consumer_intelligence.yaml#/openapi: OpenAPI 3.1.0 is not supported"
                ),
                "{text}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn api_surface_snapshots() {
    for service in SERVICES {
        let generated = run(&root(), service).unwrap_or_else(|e| panic!("{e}"));
        insta::assert_snapshot!(format!("{}_surface", service.slug), generated.surface);
    }
}

/// AccountsIQ publishes a new version: regenerating from the WSDLs gives a surface diff made of
/// whole operation and type lines, small enough to review.
#[cfg(feature = "accountsiq")]
#[test]
fn accountsiq_v1_1_to_v2_0_is_a_readable_surface_diff() {
    use std::collections::BTreeSet;
    let surface = |slug| {
        run(&root(), services::by_slug(slug).unwrap())
            .unwrap()
            .surface
    };
    let (old, new) = (surface("accountsiq_v1_1"), surface("accountsiq_v2_0"));
    let body = |s: &str| {
        s.lines()
            .skip(1)
            .map(str::to_string)
            .collect::<BTreeSet<_>>()
    };
    let (old_lines, new_lines) = (body(&old), body(&new));
    let added: Vec<&String> = new_lines.difference(&old_lines).collect();
    let removed: Vec<&String> = old_lines.difference(&new_lines).collect();
    assert!(!added.is_empty() && !removed.is_empty());

    // v2.0 adds the token operations and the header type ...
    for line in [
        "TokenGet -> token_get(",
        "TokenRefresh -> token_refresh(",
        "AiqSoapHeader: {",
    ] {
        assert!(
            added.iter().any(|l| l.starts_with(line)),
            "`{line}` not among the added lines"
        );
    }
    // ... drops v1.1's Login ...
    assert!(removed.iter().any(|l| l.starts_with("Login -> login(")));
    // ... and every changed line is one whole operation or type line.
    for line in added.iter().chain(&removed) {
        assert!(
            line.contains(" -> ") || line.contains(": "),
            "not a surface line: {line}"
        );
    }
    let drift =
        customer_data_codegen::output::diff(std::path::Path::new("surface"), &old, &new).unwrap();
    assert!(
        drift.added < new.lines().count(),
        "the diff is smaller than the surface"
    );
    eprintln!(
        "accountsiq v1.1 -> v2.0 surface: +{} -{} lines",
        drift.added, drift.removed
    );
}
