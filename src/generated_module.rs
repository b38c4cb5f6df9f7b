//! The one way a service module takes in its generated client.

/// Includes `OUT_DIR/<slug>.rs` (written by build.rs, byte-identical to `generated/<slug>.rs`)
/// as a private `generated` module and re-exports its contents.
macro_rules! generated_module {
    ($slug:literal) => {
        // Generated code: lints are the generator's business (unused_mut: a request whose
        // only header was api-version keeps its now-unmutated header map).
        #[allow(
            clippy::all,
            clippy::pedantic,
            unused_imports,
            unused_mut,
            missing_docs
        )]
        mod generated {
            include!(concat!(env!("OUT_DIR"), "/", $slug, ".rs"));
        }
        pub use generated::*;
    };
}
