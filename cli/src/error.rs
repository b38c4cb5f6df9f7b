//! The errors of a command and the exit code each one gives: the codes a script can rely on.

use std::fmt;

/// Exit code: the command did what it was asked.
pub const EXIT_OK: u8 = 0;
/// Exit code: a flow failed after its retries (or a vendor call needed to start it), or the
/// output could not be written.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the command line is wrong (clap's own code), e.g. an unknown flow name.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: configuration: a malformed `--db`, missing or bad credentials.
pub const EXIT_CONFIG: u8 = 3;
/// Exit code: the store could not be opened or reached, or failed.
pub const EXIT_STORE: u8 = 4;
/// Exit code: the import file cannot be read or has bad lines (nothing was written).
pub const EXIT_INPUT: u8 = 5;
/// Exit code: stopped by Ctrl-C or SIGTERM (flows stopped gracefully, leases released).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The exit codes as `--help` and the README show them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    done
  1    a flow failed after its retries (or a vendor call needed to start it failed)
  2    usage: bad arguments, unknown flow name
  3    configuration: malformed --db, credentials missing or refused by the settings
  4    store: the database cannot be opened or reached, or failed
  5    input: the import file cannot be read or has bad lines (nothing was written)
  130  interrupted (Ctrl-C or SIGTERM): flows stopped gracefully, leases released";

/// One bad line of an import file: where, never what (rows hold personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// 1-based line number in the file (the header is line 1 of a CSV file).
    pub line: u64,
    /// The column (member) concerned, when there is one.
    pub column: Option<String>,
    /// What is wrong, in words that quote no value.
    pub problem: String,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "line {}, column {column}: {}", self.line, self.problem),
            None => write!(f, "line {}: {}", self.line, self.problem),
        }
    }
}

/// Why a command failed. No variant carries a secret or a row value.
#[derive(Debug)]
#[non_exhaustive]
pub enum CliError {
    /// The command line is wrong.
    Usage(String),
    /// A flow name that is not one of [`crate::flows::KNOWN_FLOWS`].
    UnknownFlow {
        /// The name asked for.
        name: String,
    },
    /// A malformed setting or missing credentials.
    Config(String),
    /// The store failed (opening, reading or writing).
    Store(String),
    /// The import file was rejected; nothing of it was written.
    Rejected {
        /// The file, as given.
        file: String,
        /// The first bad lines (at most [`crate::customers::MAX_PROBLEMS_SHOWN`]).
        problems: Vec<LineProblem>,
        /// How many lines were bad in all.
        bad_lines: u64,
    },
    /// The import file cannot be read.
    Input(String),
    /// A vendor call or the output failed.
    Failed(String),
    /// One or more flows failed; one line per flow. `store` is set when one of them failed
    /// because of the store (the exit code is then [`EXIT_STORE`]).
    Flows {
        /// `flow: error`, one per failed flow.
        lines: Vec<String>,
        /// A store failure among them.
        store: bool,
    },
    /// Stopped by a signal.
    Interrupted,
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::UnknownFlow { .. } => EXIT_USAGE,
            CliError::Config(_) => EXIT_CONFIG,
            CliError::Store(_) => EXIT_STORE,
            CliError::Rejected { .. } | CliError::Input(_) => EXIT_INPUT,
            CliError::Failed(_) => EXIT_FAILED,
            CliError::Flows { store: true, .. } => EXIT_STORE,
            CliError::Flows { store: false, .. } => EXIT_FAILED,
            CliError::Interrupted => EXIT_INTERRUPTED,
        }
    }

    /// The error as lines for stderr (one per problem).
    pub fn lines(&self) -> Vec<String> {
        match self {
            CliError::Rejected {
                file,
                problems,
                bad_lines,
            } => {
                let mut lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                if *bad_lines > problems.len() as u64 {
                    lines.push(format!(
                        "... and {} more bad line(s)",
                        bad_lines - problems.len() as u64
                    ));
                }
                lines.push(format!(
                    "{file} rejected: {bad_lines} bad line(s); nothing was written"
                ));
                lines
            }
            CliError::Flows { lines, .. } => lines.clone(),
            other => vec![other.to_string()],
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(e) => write!(f, "{e}"),
            CliError::UnknownFlow { name } => {
                let known = crate::flows::KNOWN_FLOWS.join(", ");
                write!(f, "unknown flow {name} (known flows: {known})")
            }
            CliError::Config(e) => write!(f, "configuration: {e}"),
            CliError::Store(e) => write!(f, "store: {e}"),
            CliError::Rejected { .. } => write!(f, "{}", self.lines().join("; ")),
            CliError::Input(e) => write!(f, "input: {e}"),
            CliError::Failed(e) => write!(f, "{e}"),
            CliError::Flows { lines, .. } => write!(f, "{}", lines.join("; ")),
            CliError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_documented_exit_code() {
        let cases = [
            (CliError::Usage("x".into()), 2),
            (CliError::UnknownFlow { name: "x".into() }, 2),
            (CliError::Config("x".into()), 3),
            (CliError::Store("x".into()), 4),
            (CliError::Input("x".into()), 5),
            (CliError::Failed("x".into()), 1),
            (
                CliError::Flows {
                    lines: vec![],
                    store: false,
                },
                1,
            ),
            (
                CliError::Flows {
                    lines: vec![],
                    store: true,
                },
                4,
            ),
            (CliError::Interrupted, 130),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error:?}");
            assert!(
                EXIT_CODES_HELP.contains(&format!("\n  {code} ")),
                "{code} not documented"
            );
        }
    }

    #[test]
    fn a_rejected_file_lists_its_bad_lines_then_the_count_beyond_them() {
        let error = CliError::Rejected {
            file: "in.csv".into(),
            problems: vec![LineProblem {
                line: 3,
                column: Some("cpr".into()),
                problem: "expected text".into(),
            }],
            bad_lines: 4,
        };
        assert_eq!(
            error.lines(),
            vec![
                "line 3, column cpr: expected text".to_string(),
                "... and 3 more bad line(s)".to_string(),
                "in.csv rejected: 4 bad line(s); nothing was written".to_string(),
            ]
        );
    }
}
