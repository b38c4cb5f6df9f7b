//! `customer-data-codegen generate | check | surface SLUG | diff SLUG | export SLUG OUT.json |
//! export-all DIR [--root DIR]`
//!
//! `generate` rewrites `generated/` from `specs/`; `check` exits 1 when any checked-in file
//! differs from what its spec generates now, printing a short diff summary per file. `export`
//! writes a service's OpenAPI document after the load and patch (overlay) stages, before
//! normalise (what `.ci/validate/` judges the sandbox against); `export-all` does it for every
//! OpenAPI service into `DIR/<slug>.json`. `diff` prints how a service's surface changed
//! against its checked-in snapshot, each change classified BREAKING, additive or docs
//! (`generate` prints the same for every service).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use customer_data_codegen::{check_all, default_root, diff, generate_all};

const USAGE: &str = "usage: customer-data-codegen \
    <generate|check|surface SLUG|diff SLUG|export SLUG OUT.json|export-all DIR> [--root DIR]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut command = None;
    let mut operands = Vec::new();
    let mut root = default_root();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--root" => match args.next() {
                Some(dir) => root = PathBuf::from(dir),
                None => return usage_error(),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if command.is_none() => command = Some(arg),
            _ if operands.len() < operand_count(command.as_deref()) => operands.push(arg),
            _ => return usage_error(),
        }
    }
    if operands.len() != operand_count(command.as_deref()) {
        return usage_error();
    }
    let started = std::time::Instant::now();
    match command.as_deref() {
        Some("generate") => match generate_all(&root) {
            Ok(services) => {
                for service in &services {
                    println!("{}", service.summary());
                }
                if services.iter().any(|s| s.changed) {
                    println!("review the API-surface diff: cargo test, then cargo insta review");
                }
                for service in &services {
                    match diff::against_checked_in(&root, &service.generated) {
                        Ok(report) => println!("{report}"),
                        Err(e) => eprintln!("error: {e}"),
                    }
                }
                println!("done in {:.2?}", started.elapsed());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Some("check") => match check_all(&root) {
            Ok(drifts) if drifts.is_empty() => {
                println!("generated/ matches specs/ ({:.2?})", started.elapsed());
                ExitCode::SUCCESS
            }
            Ok(drifts) => {
                for drift in drifts {
                    eprintln!("{drift}");
                }
                ExitCode::from(1)
            }
            Err(e) => fail(&e),
        },
        Some("export") => {
            let Some(service) = operands
                .first()
                .and_then(|slug| customer_data_codegen::services::by_slug(slug))
            else {
                return usage_error();
            };
            let out = PathBuf::from(&operands[1]);
            match customer_data_codegen::export::export(&root, service, &out) {
                Ok(()) => {
                    println!("{}: {}", service.slug, out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Some("export-all") => {
            match customer_data_codegen::export::export_all(&root, Path::new(&operands[0])) {
                Ok(written) => {
                    for file in written {
                        println!("{}", file.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Some("surface") => {
            let Some(service) = operands
                .first()
                .and_then(|slug| customer_data_codegen::services::by_slug(slug))
            else {
                return usage_error();
            };
            match customer_data_codegen::run(&root, service) {
                Ok(generated) => {
                    print!("{}", generated.surface);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Some("diff") => {
            let Some(service) = operands
                .first()
                .and_then(|slug| customer_data_codegen::services::by_slug(slug))
            else {
                return usage_error();
            };
            match customer_data_codegen::run(&root, service)
                .and_then(|generated| diff::against_checked_in(&root, &generated))
            {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        _ => usage_error(),
    }
}

/// How many operands `command` takes.
fn operand_count(command: Option<&str>) -> usize {
    match command {
        Some("surface" | "diff" | "export-all") => 1,
        Some("export") => 2,
        _ => 0,
    }
}

fn fail(error: &customer_data_codegen::CodegenError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}

fn usage_error() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
