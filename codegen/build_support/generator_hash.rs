// The generator's fingerprint: sha256 over every file of the codegen crate that can change
// what it generates (`Cargo.toml` and everything under `src/`), each as its path relative to
// the crate, a NUL, its bytes and a NUL, in path order. Included by `codegen/build.rs`, which
// bakes it into the generator, and by the root `build.rs`, which compares it with the hash a
// generated file records. Plain functions only: it is compiled into both build scripts.

/// `sha256:<hex>` of the generator sources below `codegen_dir`; `None` when they are not there
/// (a packaged crate without the generator).
pub fn generator_sha256(codegen_dir: &std::path::Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut files = vec![std::path::PathBuf::from("Cargo.toml")];
    let mut pending = vec![std::path::PathBuf::from("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(codegen_dir.join(&dir)).ok()? {
            let relative = dir.join(entry.ok()?.file_name());
            if codegen_dir.join(&relative).is_dir() {
                pending.push(relative);
            } else {
                files.push(relative);
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for relative in &files {
        let bytes = std::fs::read(codegen_dir.join(relative)).ok()?;
        // Forward slashes, so the hash is the same on every platform.
        let name = relative.to_string_lossy().replace('\\', "/");
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(&bytes);
        hasher.update([0]);
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Some(format!("sha256:{hex}"))
}
