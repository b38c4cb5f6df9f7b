//! Stage 1, load: read a spec file and parse its YAML or JSON text into a JSON value.
//! Nothing is interpreted yet; `check` decides whether the value is an OpenAPI we support.

use std::path::{Path, PathBuf};

use crate::error::CodegenError;

/// A spec as read from disk.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The path as given (used in every message about this spec).
    pub path: PathBuf,
    /// The document, YAML or JSON, as a JSON value.
    pub document: serde_json::Value,
}

/// Reads and parses `path` (`.json` as JSON, anything else as YAML, a superset of JSON).
pub fn load(path: &Path) -> Result<LoadedSpec, CodegenError> {
    let text = std::fs::read_to_string(path).map_err(|source| CodegenError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses spec text; `path` is only used to choose the syntax and to name the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<LoadedSpec, CodegenError> {
    let is_json = path.extension().is_some_and(|e| e == "json");
    let document = if is_json {
        serde_json::from_str(text).map_err(|e| CodegenError::Parse {
            path: path.to_path_buf(),
            pointer: String::new(),
            message: format!(
                "invalid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        })?
    } else {
        serde_yaml::from_str(text).map_err(|e| CodegenError::Parse {
            path: path.to_path_buf(),
            pointer: String::new(),
            message: match e.location() {
                Some(at) => format!(
                    "invalid YAML at line {} column {}: {e}",
                    at.line(),
                    at.column()
                ),
                None => format!("invalid YAML: {e}"),
            },
        })?
    };
    Ok(LoadedSpec {
        path: path.to_path_buf(),
        document,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yaml_and_json() {
        let yaml = parse(Path::new("a.yaml"), "openapi: 3.0.3\ninfo: {title: t}\n").unwrap();
        assert_eq!(yaml.document["openapi"], "3.0.3");
        let json = parse(Path::new("a.json"), r#"{"openapi":"3.0.3"}"#).unwrap();
        assert_eq!(json.document["openapi"], "3.0.3");
    }

    #[test]
    fn bad_syntax_names_file_and_line() {
        let err = parse(Path::new("specs/bad.yaml"), "openapi: [3.0\n  x: :\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("specs/bad.yaml"), "{text}");
        assert!(text.contains("line"), "{text}");
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let err = load(Path::new("specs/does-not-exist.yaml")).unwrap_err();
        assert!(matches!(err, CodegenError::Read { .. }), "{err}");
        assert!(err.to_string().contains("does-not-exist.yaml"));
    }
}
