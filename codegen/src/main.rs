//! `customer-data-codegen generate [--accept-upstream] | check | surface SLUG | diff SLUG |
//! export SLUG OUT.json | export-all DIR [--root DIR]`
//!
//! `generate` rewrites `generated/` from `specs/` (and each overlay's lock), printing first what
//! the overlay review found: stale actions (it stops on those unless `--accept-upstream`),
//! actions that select nothing, unreferenced additions. `check` exits 1 when any checked-in file
//! differs from what its spec generates now, printing a short diff summary per file. `export`
//! writes a service's OpenAPI document after the load and patch (overlay) stages, before
//! normalise (what `.ci/validate/` judges the sandbox against); `export-all` does it for every
//! OpenAPI service into `DIR/<slug>.json`. `diff` prints how a service's surface changed
//! against its checked-in snapshot, each change classified BREAKING, additive or docs
//! (`generate` prints the same for every service, at its end).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use customer_data_codegen::{
    RegenerateOptions, build, check_all_reporting, default_root, diff, generate_all, prepare,
};

const USAGE: &str = "usage: customer-data-codegen \
    <generate [--accept-upstream]|check|surface SLUG|diff SLUG|export SLUG OUT.json|export-all DIR> \
    [--root DIR]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut command = None;
    let mut operands = Vec::new();
    let mut root = default_root();
    let mut options = RegenerateOptions::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--accept-upstream" => options.accept_upstream = true,
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
        Some("generate") => match generate_all(&root, options, &mut print_review) {
            Ok(services) => {
                for service in &services {
                    println!("{}", service.summary());
                }
                for service in &services {
                    match diff::against_checked_in(&root, &service.generated) {
                        Ok(report) => println!("{report}"),
                        Err(e) => eprintln!("error: {e}"),
                    }
                }
                if services.iter().any(|s| s.changed) {
                    println!(
                        "review the surface diff: cargo test -p customer-data-codegen --test surface, then cargo insta review"
                    );
                }
                println!("done in {:.2?}", started.elapsed());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Some("check") => match check_all_reporting(&root, &mut print_review) {
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
            let service = match service_operand(&operands) {
                Ok(service) => service,
                Err(code) => return code,
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
        Some("diff") => {
            let service = match service_operand(&operands) {
                Ok(service) => service,
                Err(code) => return code,
            };
            let generated = prepare(&root, service).and_then(|prepared| {
                if let Some(review) = &prepared.overlay {
                    print_review(review);
                }
                build(&root, prepared)
            });
            match generated.and_then(|generated| diff::against_checked_in(&root, &generated)) {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Some("surface") => {
            let service = match service_operand(&operands) {
                Ok(service) => service,
                Err(code) => return code,
            };
            match customer_data_codegen::run(&root, service) {
                Ok(generated) => {
                    print!("{}", generated.surface);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        _ => usage_error(),
    }
}

/// The service named by the first operand; an unknown slug is an error listing the known ones.
fn service_operand(
    operands: &[String],
) -> Result<&'static customer_data_codegen::services::Service, ExitCode> {
    let slug = operands.first().ok_or_else(usage_error)?;
    customer_data_codegen::services::by_slug(slug).ok_or_else(|| {
        let known: Vec<&str> = customer_data_codegen::SERVICES
            .iter()
            .map(|s| s.slug)
            .collect();
        eprintln!(
            "error: unknown service `{slug}`; one of: {}",
            known.join(", ")
        );
        ExitCode::from(2)
    })
}

/// How many operands `command` takes.
fn operand_count(command: Option<&str>) -> usize {
    match command {
        Some("surface" | "diff" | "export-all") => 1,
        Some("export") => 2,
        _ => 0,
    }
}

/// Prints the overlay review, before that service's check stage runs.
fn print_review(review: &customer_data_codegen::overlay::Review) {
    for line in review.report_lines() {
        println!("{line}");
    }
}

fn fail(error: &customer_data_codegen::CodegenError) -> ExitCode {
    let text = error.to_string();
    match error {
        // The stale actions were printed above, with the rest of the overlay review.
        customer_data_codegen::CodegenError::OverlayStale { .. } => {
            eprintln!("error: {}", text.lines().next().unwrap_or_default())
        }
        _ => eprintln!("error: {text}"),
    }
    ExitCode::from(2)
}

fn usage_error() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
