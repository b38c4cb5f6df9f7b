//! `--db`: which store to open. A PostgreSQL URL may hold a password, so it is never shown:
//! not in `Debug`, not in errors ([`DbTarget::secrets`] lists what the caller must scrub from
//! any text it prints).

use std::fmt;
use std::path::PathBuf;

use customer_data_sync::sqlite::SqliteStore;

use crate::error::CliError;

/// The default `--db`: a SQLite file in the current directory.
pub const DEFAULT_DB: &str = "sqlite:customer-data.sqlite";

/// A parsed `--db`.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// `sqlite:PATH` (or `sqlite://PATH`).
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...` (kept whole for the driver).
    Postgres(String),
}

impl fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbTarget::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            DbTarget::Postgres(_) => f.write_str("Postgres(<hidden>)"),
        }
    }
}

impl DbTarget {
    /// Parses `--db`. The error never repeats the value (it may be a URL with a password).
    pub fn parse(value: &str) -> Result<Self, CliError> {
        if let Some(rest) = value.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(CliError::Config(
                    "--db sqlite: needs a file path (sqlite:PATH)".into(),
                ));
            }
            return Ok(DbTarget::Sqlite(PathBuf::from(path)));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(DbTarget::Postgres(value.to_string()));
        }
        Err(CliError::Config(
            "--db must be sqlite:PATH or postgres://... (the value given is not repeated: it may hold a password)"
                .into(),
        ))
    }

    /// How output may name the store: the SQLite path, or only `postgres` (the URL may hold a
    /// password).
    pub fn describe(&self) -> String {
        match self {
            DbTarget::Sqlite(path) => format!("sqlite:{}", path.display()),
            DbTarget::Postgres(_) => "postgres (URL hidden)".to_string(),
        }
    }

    /// Texts that must never be printed: the whole PostgreSQL URL and its password (as written
    /// and percent-decoded).
    pub fn secrets(&self) -> Vec<String> {
        match self {
            DbTarget::Sqlite(_) => Vec::new(),
            DbTarget::Postgres(url) => {
                let mut secrets = vec![url.clone()];
                if let Some(password) = url_password(url) {
                    secrets.push(percent_decode(&password));
                    secrets.push(password);
                }
                secrets.retain(|s| !s.is_empty());
                secrets
            }
        }
    }
}

/// The password of `scheme://user:password@host...`, or of a `password=` query parameter.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if let Some((userinfo, _host)) = authority.rsplit_once('@')
        && let Some((_user, password)) = userinfo.split_once(':')
    {
        return Some(password.to_string());
    }
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("password="))
        .map(str::to_string)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Replaces every secret in `text` with `***`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_string();
    // Longest first: the URL before the password inside it.
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

/// An open store of either kind.
#[derive(Debug)]
pub enum Database {
    /// The embedded SQLite store.
    Sqlite(SqliteStore),
    /// The PostgreSQL store.
    #[cfg(feature = "postgres")]
    Postgres(customer_data_sync::postgres::PostgresStore),
}

/// Runs `$body` with `$store` bound to the open store, whatever its type (the [`Store`] trait
/// is not object-safe, so each command is generic and this picks the instance).
///
/// [`Store`]: customer_data_sync::Store
#[macro_export]
macro_rules! with_store {
    ($database:expr, $store:ident => $body:expr) => {
        match $database {
            $crate::db::Database::Sqlite($store) => $body,
            #[cfg(feature = "postgres")]
            $crate::db::Database::Postgres($store) => $body,
        }
    };
}

/// Opens (creating and migrating as needed) the store `target` names.
pub async fn open(target: &DbTarget) -> Result<Database, CliError> {
    match target {
        DbTarget::Sqlite(path) => SqliteStore::open(path)
            .await
            .map(Database::Sqlite)
            .map_err(|e| {
                CliError::Store(format!("cannot open {}: {e}", target.describe()))
            }),
        #[cfg(feature = "postgres")]
        DbTarget::Postgres(url) => customer_data_sync::postgres::PostgresStore::connect(url)
            .await
            .map(Database::Postgres)
            .map_err(|e| {
                CliError::Store(scrub(
                    &format!("cannot connect to PostgreSQL: {e}"),
                    &target.secrets(),
                ))
            }),
        #[cfg(not(feature = "postgres"))]
        DbTarget::Postgres(_) => Err(CliError::Config(
            "this build has no PostgreSQL support (build customer-data-cli with the `postgres` feature)"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_and_postgres_urls_parse_and_anything_else_is_refused_without_echo() {
        assert_eq!(
            DbTarget::parse("sqlite:a/b.sqlite").unwrap(),
            DbTarget::Sqlite("a/b.sqlite".into())
        );
        assert_eq!(
            DbTarget::parse("sqlite:///tmp/x.db").unwrap(),
            DbTarget::Sqlite("/tmp/x.db".into())
        );
        assert!(matches!(
            DbTarget::parse("postgresql://u@h/db").unwrap(),
            DbTarget::Postgres(_)
        ));
        for bad in ["mysql://u:hunter2@h/db", "sqlite:", "hunter2"] {
            let error = DbTarget::parse(bad).unwrap_err();
            assert_eq!(error.exit_code(), crate::error::EXIT_CONFIG);
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn a_postgres_url_and_its_password_are_hidden_from_debug_describe_and_scrubbed_text() {
        let target = DbTarget::parse("postgres://app:s%40cret@db.example:5432/crm").unwrap();
        assert!(!format!("{target:?}").contains("cret"));
        assert!(!target.describe().contains("cret"));
        let secrets = target.secrets();
        let text =
            "failed for postgres://app:s%40cret@db.example:5432/crm; password s@cret, s%40cret";
        let scrubbed = scrub(text, &secrets);
        assert!(!scrubbed.contains("cret"), "{scrubbed}");
        assert_eq!(scrubbed, "failed for ***; password ***, ***");
    }

    #[test]
    fn a_password_in_the_query_is_a_secret_too() {
        let target = DbTarget::parse("postgres://h/db?user=a&password=qwerty").unwrap();
        assert!(target.secrets().contains(&"qwerty".to_string()));
    }
}
