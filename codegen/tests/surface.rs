//! Each service's API surface is an insta snapshot (`snapshots/surface__<slug>.snap`), the
//! baseline `customer-data-codegen diff` compares against. The classified diff against the
//! checked-in snapshot heads the snapshot's description, so `cargo insta review` shows what
//! broke before the lines; the compared contents stay the surface alone.

use std::collections::BTreeSet;
use std::path::PathBuf;

use customer_data_codegen::diff::{self, Class};
use customer_data_codegen::{SERVICES, default_root, run, services};

fn root() -> PathBuf {
    default_root()
}

#[test]
fn api_surface_snapshots() {
    for service in SERVICES {
        let generated = run(&root(), service).unwrap_or_else(|e| panic!("{e}"));
        let review_note = diff::review_note(&root(), &generated);
        insta::with_settings!({description => review_note, omit_expression => true}, {
            insta::assert_snapshot!(service.slug, generated.surface);
        });
    }
}

#[test]
fn every_checked_in_surface_is_the_baseline_of_an_empty_diff() {
    for service in SERVICES {
        let generated = run(&root(), service).unwrap_or_else(|e| panic!("{e}"));
        let report =
            diff::against_checked_in(&root(), &generated).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            report.to_string(),
            format!("{}: no surface changes", service.slug)
        );
    }
}

/// AccountsIQ publishes a new version: the classified diff from v1.1 to v2.0 names the
/// operations v2.0 adds and drops, one line each.
#[test]
fn accountsiq_v1_1_to_v2_0_is_a_classified_surface_diff() {
    let surface = |slug| {
        let generated = run(&root(), services::by_slug(slug).unwrap()).unwrap();
        customer_data_codegen::surface::Surface::parse(&generated.surface).unwrap()
    };
    let (old, new) = (surface("accountsiq_v1_1"), surface("accountsiq_v2_0"));
    let changes = diff::classify(&old, &new);
    let lines: BTreeSet<String> = changes.iter().map(ToString::to_string).collect();

    // v2.0 adds the token operations and the header type ...
    for line in [
        "additive token_get: new operation (TokenGet)",
        "additive token_refresh: new operation (TokenRefresh)",
        "additive AiqSoapHeader: new type",
    ] {
        assert!(lines.contains(line), "`{line}` not among:\n{lines:#?}");
    }
    // ... and drops v1.1's Login, which breaks the code that called it.
    assert!(lines.contains("BREAKING login: operation removed (Login)"));
    let breaking = changes
        .iter()
        .filter(|c| c.class == Class::Breaking)
        .count();
    assert!(breaking > 0 && breaking < changes.len());
    eprintln!(
        "accountsiq v1.1 -> v2.0: {} changes, {breaking} breaking",
        changes.len()
    );
}
