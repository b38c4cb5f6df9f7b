//! Stage 6, write or compare: put generated text under `generated/`, or report how the
//! checked-in file differs from what the spec generates now (drift).

use std::path::{Path, PathBuf};

use similar::{ChangeTag, TextDiff};

use crate::error::CodegenError;
use crate::format::REGENERATE_COMMAND;

/// How a checked-in file differs from a fresh generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub path: PathBuf,
    pub added: usize,
    pub removed: usize,
    /// The first changed lines, `+`/`-` prefixed (a short excerpt, not the whole diff).
    pub excerpt: Vec<String>,
    /// The file does not exist yet.
    pub missing: bool,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.missing {
            write!(f, "{} is missing", self.path.display())?;
        } else {
            write!(
                f,
                "{} is stale (+{} -{} lines)",
                self.path.display(),
                self.added,
                self.removed
            )?;
            for line in &self.excerpt {
                write!(f, "\n    {line}")?;
            }
        }
        write!(f, "\n  fix: {REGENERATE_COMMAND}")
    }
}

/// Lines of excerpt a drift report shows.
const EXCERPT_LINES: usize = 12;

/// Compares `fresh` with the text at `path`; `None` when they are the same bytes.
pub fn compare(path: &Path, fresh: &str) -> Result<Option<Drift>, CodegenError> {
    let current = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(Drift {
                path: path.to_path_buf(),
                added: fresh.lines().count(),
                removed: 0,
                excerpt: Vec::new(),
                missing: true,
            }));
        }
        Err(source) => {
            return Err(CodegenError::Output {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    Ok(diff(path, &current, fresh))
}

/// The drift from `current` to `fresh`, or `None` when equal.
pub fn diff(path: &Path, current: &str, fresh: &str) -> Option<Drift> {
    if current == fresh {
        return None;
    }
    let diff = TextDiff::from_lines(current, fresh);
    let mut drift = Drift {
        path: path.to_path_buf(),
        added: 0,
        removed: 0,
        excerpt: Vec::new(),
        missing: false,
    };
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            ChangeTag::Equal => continue,
            ChangeTag::Insert => {
                drift.added += 1;
                '+'
            }
            ChangeTag::Delete => {
                drift.removed += 1;
                '-'
            }
        };
        if drift.excerpt.len() < EXCERPT_LINES {
            drift
                .excerpt
                .push(format!("{sign}{}", change.value().trim_end()));
        }
    }
    Some(drift)
}

/// Writes `text` to `path` (creating `generated/` if needed); returns whether it changed.
pub fn write(path: &Path, text: &str) -> Result<bool, CodegenError> {
    let err = |source| CodegenError::Output {
        path: path.to_path_buf(),
        source,
    };
    if std::fs::read_to_string(path).is_ok_and(|current| current == text) {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, text).map_err(err)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_text_has_no_drift() {
        assert_eq!(diff(Path::new("g.rs"), "a\nb\n", "a\nb\n"), None);
    }

    #[test]
    fn drift_counts_lines_and_names_the_fix() {
        let d = diff(Path::new("generated/x.rs"), "a\nb\nc\n", "a\nB\nc\nd\n").unwrap();
        assert_eq!((d.added, d.removed), (2, 1));
        assert_eq!(d.excerpt, vec!["-b", "+B", "+d"]);
        let text = d.to_string();
        assert!(
            text.starts_with("generated/x.rs is stale (+2 -1 lines)"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("fix: {REGENERATE_COMMAND}")),
            "{text}"
        );
    }

    #[test]
    fn write_then_compare_round_trips() {
        let dir = std::env::temp_dir().join(format!("cd-codegen-output-{}", std::process::id()));
        let path = dir.join("generated").join("x.rs");
        assert!(compare(&path, "x\n").unwrap().unwrap().missing);
        assert!(write(&path, "x\n").unwrap());
        assert!(
            !write(&path, "x\n").unwrap(),
            "unchanged text is not rewritten"
        );
        assert_eq!(compare(&path, "x\n").unwrap(), None);
        assert!(compare(&path, "y\n").unwrap().is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
