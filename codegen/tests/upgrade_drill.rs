//! The upgrade drill: a user drops a real later revision of a vendor's spec into `specs/` and
//! runs the loop (regenerate, read the overlay review, fix, read the classified surface
//! diff). The new revision is OpenWealth Customer Management 2.0.6
//! (`tests/fixtures/upgrade_drill/`), under the overlay written for 1.2.1. The bLink client
//! is not upgraded: this runs in a scratch copy of the repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use customer_data_codegen::diff::{Class, Report, classify};
use customer_data_codegen::overlay::LockState;
use customer_data_codegen::surface::Surface;
use customer_data_codegen::{
    CodegenError, Generated, RegenerateOptions, build, default_root, generate_all, prepare, run,
    services,
};

const SLUG: &str = "blink_customer_management";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upgrade_drill/openwealth-CustomerManagementAPI_2.0.6.yaml")
}

/// A scratch copy of `specs/` and `generated/`.
fn scratch_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for sub in ["specs", "generated"] {
        let to = dir.path().join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(default_root().join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// The overlay's actions, as a YAML value, and a way to write back a subset of them.
struct Overlay {
    path: PathBuf,
    document: serde_yaml::Value,
}

impl Overlay {
    fn read(root: &Path) -> Self {
        let path = root.join(format!("specs/{SLUG}.overlay.yaml"));
        let document = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        Self { path, document }
    }

    fn action_count(&self) -> usize {
        self.document["actions"].as_sequence().unwrap().len()
    }

    /// Writes the overlay with only the actions whose original numbers are in `keep`.
    fn write_keeping(&self, keep: &[usize]) {
        let mut document = self.document.clone();
        let actions = document["actions"].as_sequence().unwrap().clone();
        document["actions"] =
            serde_yaml::Value::Sequence(keep.iter().map(|&i| actions[i].clone()).collect());
        std::fs::write(&self.path, serde_yaml::to_string(&document).unwrap()).unwrap();
    }
}

fn surface_of(generated: &Generated) -> Surface {
    Surface::parse(&generated.surface).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn upgrade_drill_openwealth_1_2_1_to_2_0_6() {
    let repo = scratch_repo();
    let root = repo.path();
    let service = services::by_slug(SLUG).unwrap();
    let before = run(root, service).unwrap_or_else(|e| panic!("{e}"));
    let checked_in = std::fs::read_to_string(root.join(service.generated_path())).unwrap();

    // The vendor publishes 2.0.6; the user drops it in.
    std::fs::copy(fixture(), root.join(service.spec)).unwrap();

    // 1. Before any other stage: the overlay review.
    let prepared = prepare(root, service).unwrap_or_else(|e| panic!("{e}"));
    let review = prepared.overlay.clone().expect("bLink has an overlay");
    let report = review.report_lines().join("\n");
    eprintln!("{report}");
    assert_eq!(
        review.lock_state,
        LockState::UpstreamChanged {
            from: "1.2.1".into(),
            to: "2.0.6".into()
        }
    );
    let stale: BTreeSet<usize> = review.stale.iter().map(|s| s.index).collect();
    // Actions that still select a node whose content 2.0.6 changed, so they would write 1.2.1
    // content over it: customer.status (2.0.6 removed a value), naturalPerson's allOf (2.0.6
    // builds it on personBase), the header parameters (2.0.6 has 28 operations, not 12).
    for (index, what) in [
        (26, "customer.status"),
        (41, "naturalPerson.allOf"),
        (42, "naturalPerson"),
        (12, "bLink headers"),
    ] {
        assert!(
            stale.contains(&index),
            "action {index} ({what}) not stale:\n{report}"
        );
    }
    let nothing: BTreeSet<usize> = review.selecting_nothing().map(|a| a.index).collect();
    for (index, what) in [
        (16, "getPersons paging"),
        (17, "contact details paging"),
        (58, "contactDetails.medium"),
    ] {
        assert!(
            nothing.contains(&index),
            "action {index} ({what}) still selects:\n{report}"
        );
    }
    assert!(stale.is_disjoint(&nothing));
    assert!(
        report.contains(&format!(
            "specs/{SLUG}.overlay.yaml: {} of 70 actions select nothing:",
            nothing.len()
        )),
        "{report}"
    );
    assert!(
        report.contains("action 57 $.components.schemas adds /components/schemas/contactMedium\n"),
        "{report}"
    );

    // 2. generate refuses to write anything while actions are stale.
    match generate_all(root, RegenerateOptions::default(), &mut |_| {}) {
        Err(CodegenError::OverlayStale { stale, .. }) => {
            assert_eq!(stale.len(), review.stale.len())
        }
        other => panic!("expected stale actions, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(root.join(service.generated_path())).unwrap(),
        checked_in,
        "nothing is written while actions are stale"
    );

    // 3. Checked anyway: the collision is found in the check stage, with both pointers, and
    // attributed to the action that added the component.
    let error = build(root, prepared).expect_err("2.0.6 + the 1.2.1 overlay must be refused");
    let text = error.to_string();
    eprintln!("{text}");
    let CodegenError::Rejected { findings, .. } = &error else {
        panic!("expected a check-stage rejection, got {text}");
    };
    let collision = findings
        .iter()
        .find(|f| f.message.contains("`ContactMedium`"))
        .unwrap_or_else(|| panic!("no ContactMedium collision in:\n{text}"));
    assert!(
        collision
            .message
            .contains("/components/schemas/contact/properties/medium")
            && collision
                .message
                .contains("/components/schemas/contactMedium"),
        "{text}"
    );
    assert_eq!(
        collision
            .origins
            .iter()
            .map(|o| o.index)
            .collect::<Vec<_>>(),
        [57],
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "from overlay specs/{SLUG}.overlay.yaml#/actions/57 (target $.components.schemas) \
             added /components/schemas/contactMedium"
        )),
        "{text}"
    );

    // 4. The user keeps only the actions that still fit (neither stale nor selecting
    // nothing) and drops, round by round, each action a problem is attributed to. Every
    // problem on the way must name an action: the new upstream alone generates.
    let overlay = Overlay::read(root);
    let mut keep: Vec<usize> = (0..overlay.action_count())
        .filter(|i| !stale.contains(i) && !nothing.contains(i))
        .collect();
    let mut dropped_for_problems = Vec::new();
    let after = loop {
        overlay.write_keeping(&keep);
        // Having reviewed the stale actions (by dropping them), the user accepts the upstream.
        let accept = RegenerateOptions {
            accept_upstream: true,
        };
        let result = generate_all(root, accept, &mut |_| {});
        match result {
            Ok(mut regenerated) => {
                let index = regenerated
                    .iter()
                    .position(|r| r.generated.service.slug == SLUG)
                    .unwrap();
                break regenerated.swap_remove(index).generated;
            }
            Err(CodegenError::Rejected { findings, .. }) => {
                let mut blamed = BTreeSet::new();
                for finding in &findings {
                    assert!(
                        !finding.origins.is_empty(),
                        "a problem not attributed to any action: {}: {}",
                        finding.pointer,
                        finding.message
                    );
                    // Numbers in the reduced overlay -> the original overlay's numbers.
                    blamed.extend(finding.origins.iter().map(|o| keep[o.index]));
                }
                dropped_for_problems.extend(blamed.iter().copied());
                keep.retain(|i| !blamed.contains(i));
            }
            Err(other) => panic!("{other}"),
        }
        assert!(dropped_for_problems.len() < 40, "no convergence");
    };
    assert!(
        !dropped_for_problems.is_empty(),
        "some kept actions must still clash with 2.0.6"
    );
    eprintln!(
        "kept {} of 70 actions; dropped for problems attributed to them: {dropped_for_problems:?}",
        keep.len()
    );

    // 5. Provenance comes from the files, so the docs name 2.0.6, never 1.2.1 by hand.
    assert!(
        after.code.contains(
            "specs/blink_customer_management.yaml (info.version 2.0.6, \
             sha256:d2c96b766dd2718ab421ecafdaf2cbc146ffee93db658e119447d1283b03c679)"
        ),
        "the header does not quote the new upstream"
    );
    assert!(!after.code.contains("1.2.1 document, kept unmodified"));

    // 6. The classified surface diff says what breaks, one change to many operations on one
    // line.
    let report = Report {
        slug: SLUG.to_string(),
        changes: classify(&surface_of(&before), &surface_of(&after)),
    };
    let lines = report.lines();
    eprintln!("{}", report.summary());
    for line in lines.iter().take(30) {
        eprintln!("{line}");
    }
    let breaking = |subject: &str, message: &str| {
        lines.iter().any(|line| {
            line.strip_prefix("BREAKING ")
                .and_then(|rest| rest.split_once(": "))
                .is_some_and(|(subjects, text)| {
                    subjects.split(", ").any(|s| s == subject) && text.starts_with(message)
                })
        })
    };
    assert!(
        breaking(
            "get_persons",
            "new required parameter customer_id (calls without it still compile but fail at run time"
        ),
        "{lines:#?}"
    );
    for removed in [
        "get_contact_details_by_person_id",
        "post_contact_details_by_person_id",
    ] {
        assert!(
            breaking(removed, "operation removed"),
            "{removed} is not reported as removed: {lines:#?}"
        );
    }
    assert!(
        breaking(
            "get_kyc_by_customer_id",
            "returns Vec<Kyc> (was CustomerAndKycResponse)"
        ),
        "the KYC return type change is not breaking: {lines:#?}"
    );
    assert!(report.count(Class::Breaking) > 0 && lines.len() < report.changes.len());
}
