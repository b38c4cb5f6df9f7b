//! The service rules are data generated beside each client, and the runtime names no service:
//! a rule keyed by a slug in `src/runtime/` is what this layout replaced (a mistyped slug there
//! silently got no rule).

use std::path::{Path, PathBuf};

use customer_data::runtime::ServiceRules;
use customer_data_codegen::services::SERVICES;

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_runtime_names_no_service() {
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime");
    let mut files = Vec::new();
    rust_files(&runtime, &mut files);
    assert!(files.len() > 10, "src/runtime/ not found: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        for service in SERVICES {
            for (number, line) in text.lines().enumerate() {
                if line.contains(service.slug) {
                    found.push(format!(
                        "{}:{}: `{}`",
                        file.display(),
                        number + 1,
                        service.slug
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "src/runtime/ must not name a service (its rules come from the generated \
         SERVICE_RULES):\n{}",
        found.join("\n")
    );
}

/// Every compiled service's rules, by slug.
fn compiled_rules() -> Vec<(&'static str, &'static ServiceRules)> {
    #[allow(unused_mut)]
    let mut rules: Vec<(&'static str, &'static ServiceRules)> = Vec::new();
    #[cfg(feature = "accountsiq")]
    {
        use customer_data::{accountsiq_v1_1, accountsiq_v2_0};
        rules.push((accountsiq_v1_1::SLUG, &accountsiq_v1_1::SERVICE_RULES));
        rules.push((accountsiq_v2_0::SLUG, &accountsiq_v2_0::SERVICE_RULES));
    }
    #[cfg(feature = "biq")]
    {
        use customer_data::{biq_alert_changes, biq_auth, biq_customer_shadow};
        rules.push((biq_auth::SLUG, &biq_auth::SERVICE_RULES));
        rules.push((
            biq_customer_shadow::SLUG,
            &biq_customer_shadow::SERVICE_RULES,
        ));
        rules.push((biq_alert_changes::SLUG, &biq_alert_changes::SERVICE_RULES));
    }
    #[cfg(feature = "blink")]
    {
        use customer_data::blink_customer_management as blink;
        rules.push((blink::SLUG, &blink::SERVICE_RULES));
    }
    #[cfg(feature = "carmachain")]
    rules.push((
        customer_data::carmachain::SLUG,
        &customer_data::carmachain::SERVICE_RULES,
    ));
    #[cfg(feature = "consumer-intelligence")]
    rules.push((
        customer_data::consumer_intelligence::SLUG,
        &customer_data::consumer_intelligence::SERVICE_RULES,
    ));
    rules
}

#[test]
fn every_service_declares_well_formed_rules_under_its_own_slug() {
    for (slug, rules) in compiled_rules() {
        assert_eq!(rules.slug, slug);
        assert!(
            rules.is_well_formed(),
            "{slug}: operations not sorted by id"
        );
        assert!(!rules.operations.is_empty(), "{slug}: no operations");
        for rule in rules.operations {
            if let Some(reason) = rule.retry_safe {
                assert!(
                    !reason.trim().is_empty(),
                    "{slug} {}: empty reason",
                    rule.id
                );
            }
        }
    }
}

/// The rules the hand-written `is_retry_safe` lists and `ANONYMOUS` list said before they
/// moved into the specs: the same operations, nothing more.
#[test]
fn the_declared_rules_are_the_ones_the_services_had() {
    let safe = |rules: &ServiceRules| -> Vec<&str> {
        rules
            .operations
            .iter()
            .filter(|rule| rule.retry_safe.is_some())
            .map(|rule| rule.id)
            .collect()
    };
    let anonymous = |rules: &ServiceRules| -> Vec<&str> {
        rules
            .operations
            .iter()
            .filter(|rule| rule.anonymous)
            .map(|rule| rule.id)
            .collect()
    };
    for (slug, rules) in compiled_rules() {
        let expected_safe: Vec<&str> = match slug {
            "consumer_intelligence" => vec!["find_person", "upload_consumers"],
            "biq_auth" => vec!["login"],
            "biq_alert_changes" => vec!["next_approved_changes", "next_notifications"],
            "carmachain" => vec!["respond"],
            "biq_customer_shadow" | "blink_customer_management" => vec![],
            "accountsiq_v1_1" | "accountsiq_v2_0" => {
                // Every read, `Check*Validity`, and the one call that opens a session.
                let opener = if slug == "accountsiq_v1_1" {
                    "Login"
                } else {
                    "TokenGet"
                };
                rules
                    .operations
                    .iter()
                    .map(|rule| rule.id)
                    .filter(|id| {
                        id.starts_with("Get")
                            || (id.starts_with("Check") && id.ends_with("Validity"))
                            || *id == opener
                    })
                    .collect()
            }
            other => panic!("a service this test does not know: {other}"),
        };
        assert_eq!(safe(rules), expected_safe, "{slug}");
        let expected_anonymous: Vec<&str> = match slug {
            "carmachain" => vec!["get_token"],
            _ => vec![],
        };
        assert_eq!(anonymous(rules), expected_anonymous, "{slug}");
    }
    #[cfg(feature = "accountsiq")]
    {
        let v2 = &customer_data::accountsiq_v2_0::SERVICE_RULES;
        assert_eq!(
            v2.retry_safe("TokenRefresh"),
            None,
            "the refresh token rotates"
        );
        assert!(v2.retry_safe("GetCustomer").is_some());
        assert_eq!(
            v2.final_answer,
            customer_data::runtime::FinalAnswerRule::SoapFault
        );
    }
}
