//! The generation loop as users meet it, without compiling the clients: `generated/` matches
//! `specs/`, a stale file fails with the command that fixes it, a spec edit is a short
//! classified surface diff, and a spec the generator would mishandle is rejected by pointer.

use std::path::{Path, PathBuf};

use customer_data_codegen::surface::Surface;
use customer_data_codegen::{
    CodegenError, check_all, default_root, diff, format::REGENERATE_COMMAND, run, services,
};

fn root() -> PathBuf {
    default_root()
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

    // The classified diff calls it what it is for the code using the client.
    let changes = diff::classify(
        &Surface::parse(&before.surface).unwrap(),
        &Surface::parse(&after.surface).unwrap(),
    );
    let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "additive Gender: new enum value UNSPECIFIED (open enum: clients built before read \
          it as unknown)"
        ]
    );
}

/// `diff` compares a fresh generation with the checked-in snapshot: a scratch repository
/// holding the real baseline and an edited spec reports the edit, classified.
#[test]
fn a_spec_edit_is_classified_against_the_checked_in_snapshot() {
    let repo = scratch_repo();
    let service = services::by_slug("consumer_intelligence").unwrap();
    let baseline = diff::baseline_path(service.slug);
    std::fs::create_dir_all(repo.path().join(baseline.parent().unwrap())).unwrap();
    std::fs::copy(root().join(&baseline), repo.path().join(&baseline)).unwrap();
    edit(
        &repo.path().join(service.spec),
        "maximum: 1000",
        "maximum: 500",
    );

    let generated = run(repo.path(), service).unwrap();
    let report = diff::against_checked_in(repo.path(), &generated).unwrap();
    assert_eq!(
        report.to_string(),
        "consumer_intelligence: 3 BREAKING, 0 additive, 0 docs\n\
         BREAKING list_audit_events, list_consumers, list_subscribed_persons: parameter \
         page_size: type BoundedInt<1, 1000> -> BoundedInt<1, 500>"
    );
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
