//! Compiles each enabled service's client from its spec, with the same codegen library the
//! `customer-data-codegen` binary uses: after a spec edit, `cargo build` compiles the new
//! client. The file written to OUT_DIR is byte-for-byte what `generated/<slug>.rs` must hold;
//! `tests/pipeline.rs` fails when they differ, and a build warning says so early.

use std::path::PathBuf;
use std::process::ExitCode;

use customer_data_codegen::{SERVICES, format::REGENERATE_COMMAND, output, run};

fn main() -> ExitCode {
    let (Some(root), Some(out_dir)) = (
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::var_os("OUT_DIR").map(PathBuf::from),
    ) else {
        eprintln!("build.rs must run under cargo (CARGO_MANIFEST_DIR and OUT_DIR unset)");
        return ExitCode::FAILURE;
    };
    // (slug, generated file) of every compiled service, for tests/pipeline.rs.
    let mut compiled = Vec::new();
    for service in SERVICES {
        if std::env::var_os(service.cargo_feature_env()).is_none() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", service.spec);
        println!("cargo:rerun-if-changed={}", service.generated_path());
        let generated = match run(&root, service) {
            Ok(generated) => generated,
            Err(error) => {
                // Cargo shows stderr of a failed build script; keep the whole message.
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let target = out_dir.join(format!("{}.rs", service.slug));
        if let Err(error) = output::write(&target, &generated.code) {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
        compiled.push((service.slug, target));
        match output::compare(&root.join(service.generated_path()), &generated.code) {
            Ok(None) => {}
            Ok(Some(_)) => println!(
                "cargo:warning={} differs from its spec; compiling the spec's version. Run: {REGENERATE_COMMAND}",
                service.generated_path()
            ),
            Err(error) => println!("cargo:warning={error}"),
        }
    }
    let entries: String = compiled
        .iter()
        .map(|(slug, path)| {
            format!(
                "    ({slug:?}, include_str!({:?})),\n",
                path.display().to_string()
            )
        })
        .collect();
    let list = format!(
        "/// Every service compiled into this build, with the code build.rs generated for it.\npub const COMPILED: &[(&str, &str)] = &[\n{entries}];\n"
    );
    if let Err(error) = output::write(&out_dir.join("compiled_services.rs"), &list) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
