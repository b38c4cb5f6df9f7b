//! The compiled client is the checked-in file: what `build.rs` generated for this build is
//! byte for byte `generated/<slug>.rs`. The rest of the generation loop (drift, surface
//! snapshots and their classified diff) is tested in the codegen crate, which needs neither
//! this crate nor its build script: `cargo test -p customer-data-codegen`.

use std::path::PathBuf;

use customer_data_codegen::{output, services};

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
