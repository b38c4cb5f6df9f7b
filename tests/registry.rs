//! One registry of services: `customer_data_codegen::SERVICES`. Every other list of services
//! (cargo features, the modules of `src/lib.rs`, the sandbox's twins, the generated files, the
//! test files) is checked against it here, both ways, so adding a service and forgetting a
//! place fails with the place named. And the module graph of `src/`: slug modules use their
//! vendor module and never each other, and nothing forms a cycle. (That `src/runtime/` names no
//! service at all, not even in a string, is `tests/service_rules.rs`.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use customer_data_codegen::SERVICES;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn slugs() -> BTreeSet<&'static str> {
    SERVICES.iter().map(|s| s.slug).collect()
}

/// The modules that are not a slug: the runtime and the vendor modules.
const SHARED_MODULES: [&str; 3] = ["runtime", "accountsiq", "biq"];

/// `[features]` of the root Cargo.toml: name -> what it enables.
fn features() -> BTreeMap<String, Vec<String>> {
    let manifest = read("Cargo.toml");
    let mut out = BTreeMap::new();
    let mut in_features = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_features = line == "[features]";
            continue;
        }
        if !in_features || line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            let enables = value
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|s| s.trim().trim_matches('"').to_string())
                .filter(|s| !s.is_empty())
                .collect();
            out.insert(name.trim().to_string(), enables);
        }
    }
    out
}

#[test]
fn every_service_has_its_feature_and_every_client_feature_a_service() {
    let features = features();
    for service in SERVICES {
        assert!(
            features.contains_key(service.feature),
            "Cargo.toml has no feature `{}` for {}",
            service.feature,
            service.slug
        );
        assert_eq!(service.feature.replace('-', "_"), service.slug);
    }
    // A feature that looks like a slug must be one.
    for name in features.keys() {
        let as_slug = name.replace('-', "_");
        if SERVICES
            .iter()
            .any(|s| as_slug.starts_with(&format!("{}_", s.slug)))
        {
            panic!("feature `{name}` looks like a client but names no service");
        }
    }
    // The default build compiles every client.
    let mut enabled: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<String> = features["default"].clone();
    while let Some(feature) = pending.pop() {
        if enabled.insert(feature.clone())
            && let Some(more) = features.get(&feature)
        {
            pending.extend(more.iter().cloned());
        }
    }
    for service in SERVICES {
        assert!(
            enabled.contains(service.feature),
            "{} is not in default",
            service.feature
        );
    }
}

#[test]
fn lib_rs_declares_one_module_per_service_behind_its_feature() {
    let lib = read("src/lib.rs");
    let mut declared = BTreeMap::new();
    let mut gate = None;
    for line in lib.lines() {
        let line = line.trim();
        if let Some(cfg) = line.strip_prefix("#[cfg(") {
            gate = Some(cfg.trim_end_matches(")]").to_string());
        } else if let Some(module) = line
            .strip_prefix("pub mod ")
            .and_then(|m| m.strip_suffix(';'))
        {
            declared.insert(module.to_string(), gate.take());
        } else if !line.starts_with("#[") {
            gate = None;
        }
    }
    for service in SERVICES {
        assert_eq!(
            declared.get(service.slug),
            Some(&Some(format!("feature = \"{}\"", service.feature))),
            "src/lib.rs: `pub mod {}` behind `#[cfg(feature = \"{}\")]`",
            service.slug,
            service.feature
        );
    }
    for module in declared.keys() {
        assert!(
            slugs().contains(module.as_str()) || SHARED_MODULES.contains(&module.as_str()),
            "src/lib.rs declares `{module}`, which is neither a service nor a shared module"
        );
    }
}

#[test]
fn every_service_has_a_twin_a_generated_file_and_tests() {
    let twins: BTreeSet<&str> = customer_data_sandbox::SLUGS.iter().copied().collect();
    assert_eq!(twins, slugs(), "sandbox SLUGS and codegen SERVICES differ");
    let routed = read("sandbox/src/twins/mod.rs");
    for slug in slugs() {
        assert!(
            routed.contains(&format!("\"{slug}\"")),
            "sandbox/src/twins/mod.rs routes no twin for {slug}"
        );
        for file in [
            format!("generated/{slug}.rs"),
            format!("src/{slug}/mod.rs"),
            format!("tests/{slug}.rs"),
            format!("sandbox/src/twins/{slug}.rs"),
        ] {
            assert!(root().join(&file).exists(), "{file} is missing for {slug}");
        }
    }
}

/// Top-level module of `src/` -> the top-level modules its files name as `crate::<module>`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut modules: BTreeSet<String> = SHARED_MODULES.iter().map(|m| m.to_string()).collect();
    modules.extend(slugs().iter().map(|s| s.to_string()));
    let mut graph = BTreeMap::new();
    for module in &modules {
        let mut files = Vec::new();
        collect_rs(&root().join("src").join(module), &mut files);
        let mut uses = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for other in &modules {
                if other != module && names_module(&text, other) {
                    uses.insert(other.clone());
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// Does `text` use `crate::<module>` (as a path, not as the prefix of a longer name)?
fn names_module(text: &str, module: &str) -> bool {
    let needle = format!("crate::{module}");
    text.match_indices(&needle).any(|(at, _)| {
        let after = text[at + needle.len()..].chars().next();
        !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn slug_modules_use_no_other_slug_and_modules_form_no_cycle() {
    let graph = module_graph();
    for (module, uses) in &graph {
        if slugs().contains(module.as_str()) {
            for other in uses {
                assert!(
                    !slugs().contains(other.as_str()),
                    "{module} uses {other}: a slug module uses its vendor module, not another slug"
                );
            }
        }
    }
    // No cycle: repeatedly remove modules that use nothing left.
    let mut left = graph.clone();
    while let Some(leaf) = left
        .iter()
        .find(|(_, uses)| uses.iter().all(|u| !left.contains_key(u)))
        .map(|(m, _)| m.clone())
    {
        left.remove(&leaf);
    }
    assert!(left.is_empty(), "modules in a cycle: {left:?}");
}

#[test]
fn the_graph_check_sees_a_use() {
    assert!(names_module("use crate::biq::Session;", "biq"));
    assert!(!names_module("use crate::biq_auth::Client;", "biq"));
    assert!(names_module("x: &crate::biq_auth::Session", "biq_auth"));
    assert!(module_graph()["biq_customer_shadow"].contains("biq"));
}
