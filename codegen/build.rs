//! Bakes the generator's fingerprint (`build_support/generator_hash.rs`) into the generator,
//! so every generated file can record which generator wrote it.

include!("build_support/generator_hash.rs");

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=build_support");
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let hash = generator_sha256(&dir).unwrap_or_else(|| "sha256:unknown".to_string());
    println!("cargo:rustc-env=CUSTOMER_DATA_GENERATOR_SHA256={hash}");
}
