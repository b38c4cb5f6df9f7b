//! `customer-data-codegen generate | check [--root DIR]`
//!
//! `generate` rewrites `generated/` from `specs/`; `check` exits 1 when any checked-in file
//! differs from what its spec generates now, printing a short diff summary per file.

use std::path::PathBuf;
use std::process::ExitCode;

use customer_data_codegen::{check_all, default_root, generate_all};

const USAGE: &str = "usage: customer-data-codegen <generate|check|surface SLUG> [--root DIR]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut command = None;
    let mut slug = None;
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
            _ if command.as_deref() == Some("surface") && slug.is_none() => slug = Some(arg),
            _ => return usage_error(),
        }
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
        Some("surface") => {
            let Some(service) = slug
                .as_deref()
                .and_then(customer_data_codegen::services::by_slug)
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
        _ => usage_error(),
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
