//! Configuration from environment variables: the same names in every service module, the
//! README and the quickstart.

use std::fmt;

/// A required variable is missing, or a variable holds something unusable. Names the
/// variable, never its value (it may be a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Missing(&'static str),
    Invalid { name: &'static str, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(name) => write!(f, "environment variable {name} is not set"),
            ConfigError::Invalid { name, reason } => {
                write!(f, "environment variable {name} is unusable: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// The variable's value; unset, empty and non-Unicode all count as absent.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The variable's value, or [`ConfigError::Missing`].
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name).ok_or(ConfigError::Missing(name))
}
