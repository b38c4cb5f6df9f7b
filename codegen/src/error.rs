//! The one error type of the pipeline. Every variant names the spec file, and where it is
//! about one place in the document, the JSON pointer to it.

use std::fmt;
use std::path::PathBuf;

/// One reason a spec cannot be turned into a client, located in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// JSON pointer (RFC 6901) into the spec, e.g. `/paths/~1consumers/post/operationId`.
    pub pointer: String,
    /// What is wrong, and what to do instead.
    pub message: String,
    /// The overlay actions that created or changed the node (empty for upstream content or
    /// a spec without overlay); filled in by [`crate::overlay::Review::attribute`].
    pub origins: Vec<crate::overlay::Origin>,
}

impl Finding {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
            origins: Vec::new(),
        }
    }
}

/// Everything that can stop the pipeline.
#[derive(Debug)]
pub enum CodegenError {
    /// The spec file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The spec is not valid YAML/JSON, or does not have the OpenAPI shape.
    Parse {
        path: PathBuf,
        pointer: String,
        message: String,
    },
    /// The spec parses but would generate wrong code; every finding is listed.
    Rejected {
        path: PathBuf,
        findings: Vec<Finding>,
    },
    /// The upstream document changed under these overlay actions since the overlay lock was
    /// written: each may now write old content over the new upstream.
    OverlayStale {
        overlay: PathBuf,
        upstream: PathBuf,
        stale: Vec<crate::overlay::StaleAction>,
    },
    /// progenitor refused the (normalised) spec.
    Generate { path: PathBuf, message: String },
    /// The generated tokens are not valid Rust (a generator bug).
    Format { path: PathBuf, message: String },
    /// Writing or reading generated output failed.
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A checked-in surface snapshot (the baseline a surface diff compares against) does not
    /// read as a surface.
    Baseline {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodegenError::Read { path, source } => {
                write!(f, "{}: cannot read spec: {source}", path.display())
            }
            CodegenError::Parse {
                path,
                pointer,
                message,
            } => write!(f, "{}#{pointer}: {message}", path.display()),
            CodegenError::Rejected { path, findings } => {
                write!(
                    f,
                    "{}: rejected ({} problem{})",
                    path.display(),
                    findings.len(),
                    if findings.len() == 1 { "" } else { "s" }
                )?;
                for finding in findings {
                    write!(
                        f,
                        "\n  {}#{}: {}",
                        path.display(),
                        finding.pointer,
                        finding.message
                    )?;
                    for origin in &finding.origins {
                        write!(f, "\n    from overlay {origin}")?;
                    }
                }
                Ok(())
            }
            CodegenError::OverlayStale {
                overlay,
                upstream,
                stale,
            } => {
                write!(
                    f,
                    "{}: upstream {} changed under {} action{}; review each against the new \
                     upstream (fix or delete it), then record the result: \
                     cargo run -p customer-data-codegen -- generate --accept-upstream",
                    overlay.display(),
                    upstream.display(),
                    stale.len(),
                    if stale.len() == 1 { "" } else { "s" }
                )?;
                for action in stale {
                    write!(f, "\n  STALE {action}")?;
                }
                Ok(())
            }
            CodegenError::Generate { path, message } => {
                write!(f, "{}: generator failed: {message}", path.display())
            }
            CodegenError::Format { path, message } => write!(
                f,
                "{}: generated code is not valid Rust: {message}",
                path.display()
            ),
            CodegenError::Output { path, source } => {
                write!(f, "{}: {source}", path.display())
            }
            CodegenError::Baseline {
                path,
                line,
                message,
            } => write!(
                f,
                "{}:{line}: not a surface snapshot: {message}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CodegenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CodegenError::Read { source, .. } | CodegenError::Output { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Escapes one reference token for a JSON pointer (RFC 6901: `~` -> `~0`, `/` -> `~1`).
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Builds a JSON pointer from unescaped tokens.
pub fn pointer<'a>(tokens: impl IntoIterator<Item = &'a str>) -> String {
    tokens
        .into_iter()
        .map(|t| format!("/{}", escape_pointer_token(t)))
        .collect()
}

/// Calls `visit(pointer, object)` for every JSON object in `value`, depth first, with the
/// JSON pointer of each (the one tree walk every stage shares).
pub fn for_each_object(
    value: &serde_json::Value,
    visit: &mut dyn FnMut(&str, &serde_json::Map<String, serde_json::Value>),
) {
    fn walk(
        at: &mut String,
        value: &serde_json::Value,
        visit: &mut dyn FnMut(&str, &serde_json::Map<String, serde_json::Value>),
    ) {
        let len = at.len();
        match value {
            serde_json::Value::Object(map) => {
                visit(at, map);
                for (key, child) in map {
                    at.push('/');
                    at.push_str(&escape_pointer_token(key));
                    walk(at, child, visit);
                    at.truncate(len);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    at.push_str(&format!("/{i}"));
                    walk(at, child, visit);
                    at.truncate(len);
                }
            }
            _ => {}
        }
    }
    walk(&mut String::new(), value, visit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_every_object_with_its_pointer() {
        let doc = serde_json::json!({"a/b": {"c": [{"d": 1}]}, "e": 2});
        let mut seen = Vec::new();
        for_each_object(&doc, &mut |at, _| seen.push(at.to_string()));
        assert_eq!(seen, vec!["", "/a~1b", "/a~1b/c/0"]);
    }

    #[test]
    fn pointer_escapes_slashes_and_tildes() {
        assert_eq!(
            pointer(["paths", "/persons/{gedi}", "get"]),
            "/paths/~1persons~1{gedi}/get"
        );
        assert_eq!(escape_pointer_token("a~b/c"), "a~0b~1c");
    }

    #[test]
    fn rejected_lists_every_finding_with_file_and_pointer() {
        let err = CodegenError::Rejected {
            path: "specs/x.yaml".into(),
            findings: vec![
                Finding::new("/openapi", "OpenAPI 3.1 is not supported"),
                Finding::new("/paths/~1a/get", "missing operationId"),
            ],
        };
        let text = err.to_string();
        assert!(text.contains("rejected (2 problems)"), "{text}");
        assert!(
            text.contains("specs/x.yaml#/openapi: OpenAPI 3.1"),
            "{text}"
        );
        assert!(
            text.contains("specs/x.yaml#/paths/~1a/get: missing operationId"),
            "{text}"
        );
    }
}
