//! `customers import` and `customers export`: CSV (a header row of our column names) or JSON
//! lines (one object per line with the same member names).
//!
//! Members: `customer_number` (required, non-empty), every [`Column`] by its name (text; empty
//! CSV cell or JSON `null` = none), and `extra_data` (a JSON object of texts; in CSV, its JSON
//! text in the cell).
//!
//! **A file with any bad line is refused whole: nothing of it is written.** The import reads
//! the file twice: once to check every line (so every bad line is reported, by line number and
//! column, never its values: rows hold personal data), then, only if all are good, again to
//! write it in batches of [`BATCH`] through [`Store::put_customers`] (one transaction each).
//! A store failure in the middle leaves the batches before it written (each one whole); running
//! the import again is harmless (a row is replaced by the same row).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use customer_data_sync::{Column, Customer, Store};

use crate::error::{CliError, LineProblem};
use crate::ui::Ui;

/// Customers written per transaction.
pub const BATCH: usize = 1000;
/// Bad lines shown before the count of the rest.
pub const MAX_PROBLEMS_SHOWN: usize = 20;

const NUMBER: &str = "customer_number";
const EXTRA: &str = "extra_data";

/// A file format of import and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row of column names.
    Csv,
    /// JSON lines: one object per line.
    #[value(alias = "ndjson")]
    Jsonl,
}

impl Format {
    /// `--format` if given, else from the file's extension (`.csv`, `.jsonl`, `.ndjson`).
    pub fn of(path: &Path, explicit: Option<Format>) -> Result<Format, CliError> {
        if let Some(format) = explicit {
            return Ok(format);
        }
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
            _ => Err(CliError::Usage(format!(
                "cannot tell the format of {} from its extension: use .csv, .jsonl or .ndjson, or --format csv|jsonl",
                path.display()
            ))),
        }
    }
}

/// One member of a CSV header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Number,
    Text(Column),
    Extra,
}

fn member(name: &str) -> Option<Member> {
    match name {
        NUMBER => Some(Member::Number),
        EXTRA => Some(Member::Extra),
        _ => Column::ALL
            .iter()
            .find(|c| c.name() == name)
            .map(|c| Member::Text(*c)),
    }
}

fn problem(line: u64, column: Option<&str>, text: impl Into<String>) -> LineProblem {
    LineProblem {
        line,
        column: column.map(str::to_string),
        problem: text.into(),
    }
}

/// `extra_data` as a JSON object of texts.
fn extra_data(value: serde_json::Value) -> Option<BTreeMap<String, String>> {
    match value {
        serde_json::Value::Null => Some(BTreeMap::new()),
        serde_json::Value::Object(members) => members
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(v) => Some((k, v)),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

const NOT_EXTRA: &str = "expected a JSON object whose members are texts";

/// The customers of a file, one item per record: a customer, a bad line, or a failure to read
/// the file at all.
enum Records {
    Csv {
        reader: csv::Reader<BufReader<File>>,
        members: Vec<Member>,
        record: csv::StringRecord,
    },
    Jsonl {
        reader: BufReader<File>,
        line: u64,
        buffer: Vec<u8>,
    },
}

type Record = Result<Result<Customer, LineProblem>, CliError>;

fn unreadable(path: &Path, error: impl std::fmt::Display) -> CliError {
    CliError::Input(format!("cannot read {}: {error}", path.display()))
}

impl Records {
    /// Opens `path`; for CSV, the header's problems (the file is refused when there are any).
    fn open(path: &Path, format: Format) -> Result<(Records, Vec<LineProblem>), CliError> {
        let file = File::open(path).map_err(|e| unreadable(path, e))?;
        let reader = BufReader::new(file);
        match format {
            Format::Jsonl => Ok((
                Records::Jsonl {
                    reader,
                    line: 0,
                    buffer: Vec::new(),
                },
                Vec::new(),
            )),
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .from_reader(reader);
                let mut problems = Vec::new();
                let mut members = Vec::new();
                match reader.headers() {
                    Ok(headers) => {
                        for name in headers.iter() {
                            let name = name.trim();
                            match member(name) {
                                Some(m) if members.contains(&m) => {
                                    problems.push(problem(1, Some(name), "column given twice"))
                                }
                                Some(m) => members.push(m),
                                None => problems.push(problem(1, Some(name), "unknown column")),
                            }
                        }
                        if !members.contains(&Member::Number) {
                            problems.push(problem(
                                1,
                                Some(NUMBER),
                                "the header has no such column",
                            ));
                        }
                    }
                    Err(e) => match e.kind() {
                        csv::ErrorKind::Io(e) => return Err(unreadable(path, e)),
                        _ => problems.push(problem(
                            1,
                            None,
                            "the header row cannot be read (not valid UTF-8 CSV)",
                        )),
                    },
                }
                Ok((
                    Records::Csv {
                        reader,
                        members,
                        record: csv::StringRecord::new(),
                    },
                    problems,
                ))
            }
        }
    }

    fn next_csv(
        reader: &mut csv::Reader<BufReader<File>>,
        members: &[Member],
        record: &mut csv::StringRecord,
    ) -> Option<Record> {
        match reader.read_record(record) {
            Ok(false) => None,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                Some(Ok(csv_customer(line, members, record)))
            }
            Err(error) => Some(match error.kind() {
                csv::ErrorKind::Io(e) => Err(CliError::Input(format!("cannot read the file: {e}"))),
                csv::ErrorKind::Utf8 { pos, err } => {
                    let column = members.get(err.field()).map(member_name);
                    Ok(Err(problem(
                        pos.as_ref().map_or(0, |p| p.line()),
                        column,
                        "not valid UTF-8",
                    )))
                }
                csv::ErrorKind::UnequalLengths {
                    pos,
                    expected_len,
                    len,
                } => Ok(Err(problem(
                    pos.as_ref().map_or(0, |p| p.line()),
                    None,
                    format!("{len} field(s) where the header has {expected_len}"),
                ))),
                _ => Ok(Err(problem(
                    error.position().map_or(0, |p| p.line()),
                    None,
                    "cannot be read as CSV",
                ))),
            }),
        }
    }

    fn next_jsonl(
        reader: &mut BufReader<File>,
        line: &mut u64,
        buffer: &mut Vec<u8>,
    ) -> Option<Record> {
        loop {
            buffer.clear();
            match reader.read_until(b'\n', buffer) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(CliError::Input(format!("cannot read the file: {e}")))),
            }
            *line += 1;
            // Editors on Windows start a UTF-8 file with a byte order mark.
            let text = match buffer.strip_prefix(b"\xef\xbb\xbf") {
                Some(rest) if *line == 1 => rest,
                _ => buffer.as_slice(),
            };
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(Ok(json_customer(*line, text)));
        }
    }
}

impl Iterator for Records {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        match self {
            Records::Csv {
                reader,
                members,
                record,
            } => Records::next_csv(reader, members, record),
            Records::Jsonl {
                reader,
                line,
                buffer,
            } => Records::next_jsonl(reader, line, buffer),
        }
    }
}

fn member_name(member: &Member) -> &'static str {
    match member {
        Member::Number => NUMBER,
        Member::Text(column) => column.name(),
        Member::Extra => EXTRA,
    }
}

fn csv_customer(
    line: u64,
    members: &[Member],
    record: &csv::StringRecord,
) -> Result<Customer, LineProblem> {
    let mut customer = Customer::default();
    for (member, value) in members.iter().zip(record.iter()) {
        match member {
            Member::Number => customer.customer_number = value.to_string(),
            Member::Text(column) => {
                customer.set(*column, (!value.is_empty()).then(|| value.to_string()))
            }
            Member::Extra if value.is_empty() => {}
            Member::Extra => {
                customer.extra_data = serde_json::from_str(value)
                    .ok()
                    .and_then(extra_data)
                    .ok_or_else(|| problem(line, Some(EXTRA), NOT_EXTRA))?;
            }
        }
    }
    if customer.customer_number.trim().is_empty() {
        return Err(problem(line, Some(NUMBER), "missing (required)"));
    }
    Ok(customer)
}

fn json_customer(line: u64, bytes: &[u8]) -> Result<Customer, LineProblem> {
    let text = std::str::from_utf8(bytes).map_err(|_| problem(line, None, "not valid UTF-8"))?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        // serde_json's message can quote the input: only its category and position are used.
        let kind = match e.classify() {
            serde_json::error::Category::Eof => "incomplete",
            _ => "syntax error",
        };
        problem(
            line,
            None,
            format!("not valid JSON ({kind} at character {})", e.column()),
        )
    })?;
    let serde_json::Value::Object(members) = value else {
        return Err(problem(line, None, "expected a JSON object"));
    };
    let mut customer = Customer::default();
    for (name, value) in members {
        match (member(&name), value) {
            (Some(Member::Number), serde_json::Value::String(number)) => {
                customer.customer_number = number
            }
            (Some(Member::Number), _) => {
                return Err(problem(line, Some(NUMBER), "expected text"));
            }
            (Some(Member::Text(column)), serde_json::Value::String(text)) => {
                customer.set(column, Some(text))
            }
            (Some(Member::Text(_)), serde_json::Value::Null) => {}
            (Some(Member::Text(column)), _) => {
                return Err(problem(line, Some(column.name()), "expected text or null"));
            }
            (Some(Member::Extra), value) => {
                customer.extra_data =
                    extra_data(value).ok_or_else(|| problem(line, Some(EXTRA), NOT_EXTRA))?;
            }
            (None, _) => return Err(problem(line, Some(&name), "unknown member")),
        }
    }
    if customer.customer_number.trim().is_empty() {
        return Err(problem(line, Some(NUMBER), "missing (required)"));
    }
    Ok(customer)
}

/// What [`check`] found: the number of good records, or why the file is refused.
fn check(path: &Path, format: Format) -> Result<u64, CliError> {
    let (records, mut problems) = Records::open(path, format)?;
    // The header is one line, however many problems it has.
    let mut bad_lines = u64::from(!problems.is_empty());
    let mut good = 0u64;
    if problems.is_empty() {
        for record in records {
            match record? {
                Ok(_) => good += 1,
                Err(p) => {
                    bad_lines += 1;
                    if problems.len() < MAX_PROBLEMS_SHOWN {
                        problems.push(p);
                    }
                }
            }
        }
    }
    problems.truncate(MAX_PROBLEMS_SHOWN);
    if bad_lines > 0 {
        return Err(CliError::Rejected {
            file: path.display().to_string(),
            problems,
            bad_lines,
        });
    }
    Ok(good)
}

/// Imports `path` into `store` (see the module documentation for the rules); returns how many
/// customers were written.
pub async fn import<S: Store>(
    store: &S,
    path: &Path,
    format: Format,
    ui: &Ui,
) -> Result<u64, CliError> {
    let total = check(path, format)?;
    let bar = ui.bar(total, "importing");
    let (records, _) = Records::open(path, format)?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut written = 0u64;
    for record in records {
        match record? {
            Ok(customer) => batch.push(customer),
            Err(p) => {
                return Err(CliError::Input(format!(
                    "{} changed while it was imported ({p}); {written} customer(s) were written before it",
                    path.display()
                )));
            }
        }
        if batch.len() == BATCH {
            written += write_batch(store, &mut batch).await?;
            bar.set_position(written);
        }
    }
    written += write_batch(store, &mut batch).await?;
    bar.finish_and_clear();
    tracing::info!(customers = written, "import done");
    Ok(written)
}

async fn write_batch<S: Store>(store: &S, batch: &mut Vec<Customer>) -> Result<u64, CliError> {
    if batch.is_empty() {
        return Ok(0);
    }
    let count = batch.len() as u64;
    store
        .put_customers(std::mem::take(batch))
        .await
        .map_err(|e| CliError::Store(format!("writing customers failed: {e}")))?;
    Ok(count)
}

fn output_error(error: io::Error) -> Option<CliError> {
    // A reader that stopped early (`| head`) is not a failure.
    (error.kind() != io::ErrorKind::BrokenPipe)
        .then(|| CliError::Failed(format!("cannot write the output: {error}")))
}

/// Writes every customer, ordered by number, to `out`; returns how many.
pub async fn export<S: Store>(
    store: &S,
    format: Format,
    out: &mut dyn Write,
) -> Result<u64, CliError> {
    let customers = store
        .customers()
        .await
        .map_err(|e| CliError::Store(format!("reading customers failed: {e}")))?;
    let written = match format {
        Format::Jsonl => write_jsonl(&customers, out),
        Format::Csv => write_csv(&customers, out),
    };
    match written {
        Ok(()) => Ok(customers.len() as u64),
        Err(e) => output_error(e).map_or(Ok(customers.len() as u64), Err),
    }
}

fn write_jsonl(customers: &[Customer], out: &mut dyn Write) -> io::Result<()> {
    for customer in customers {
        let mut object = serde_json::Map::new();
        object.insert(NUMBER.into(), customer.customer_number.clone().into());
        for column in Column::ALL {
            if let Some(value) = customer.get(*column) {
                object.insert(column.name().into(), value.into());
            }
        }
        if !customer.extra_data.is_empty() {
            object.insert(EXTRA.into(), extra_json(&customer.extra_data));
        }
        serde_json::to_writer(&mut *out, &object)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn extra_json(extra: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(
        extra
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

fn write_csv(customers: &[Customer], out: &mut dyn Write) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    let header = std::iter::once(NUMBER)
        .chain(Column::ALL.iter().map(|c| c.name()))
        .chain(std::iter::once(EXTRA));
    writer.write_record(header).map_err(io::Error::from)?;
    for customer in customers {
        let extra = if customer.extra_data.is_empty() {
            String::new()
        } else {
            extra_json(&customer.extra_data).to_string()
        };
        let row = std::iter::once(customer.customer_number.as_str())
            .chain(Column::ALL.iter().map(|c| customer.get(*c).unwrap_or("")))
            .chain(std::iter::once(extra.as_str()));
        writer.write_record(row).map_err(io::Error::from)?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_with_a_wrong_type_names_line_and_column_but_not_the_value() {
        let error = json_customer(7, br#"{"customer_number":"C1","cpr":1234567890}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 7, column cpr: expected text or null"
        );
        let error = json_customer(2, br#"{"customer_number":"C1","name":"Jens "#).unwrap_err();
        assert!(!error.to_string().contains("Jens"), "{error}");
        assert!(
            error.to_string().starts_with("line 2: not valid JSON"),
            "{error}"
        );
    }

    #[test]
    fn a_json_line_fills_columns_and_extra_data_and_needs_a_number() {
        let customer = json_customer(
            1,
            br#"{"customer_number":"C1","name":"A","email":null,"extra_data":{"k":"v"}}"#,
        )
        .unwrap();
        assert_eq!(customer.customer_number, "C1");
        assert_eq!(customer.name.as_deref(), Some("A"));
        assert_eq!(customer.email, None);
        assert_eq!(customer.extra_data.get("k").map(String::as_str), Some("v"));
        let error = json_customer(4, br#"{"name":"A"}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 4, column customer_number: missing (required)"
        );
    }

    #[test]
    fn a_byte_order_mark_before_the_first_json_line_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("excel.jsonl");
        std::fs::write(&path, b"\xef\xbb\xbf{\"customer_number\":\"C-1\"}\r\n").unwrap();
        assert_eq!(check(&path, Format::Jsonl).unwrap(), 1);
    }

    #[test]
    fn a_header_with_several_problems_is_one_bad_line_with_each_problem_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, "customer_number,nmae,emial\nC-1,a,b\n").unwrap();
        let Err(CliError::Rejected {
            problems,
            bad_lines,
            ..
        }) = check(&path, Format::Csv)
        else {
            panic!("refused");
        };
        assert_eq!(bad_lines, 1);
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "line 1, column nmae: unknown column",
                "line 1, column emial: unknown column"
            ]
        );
    }

    #[test]
    fn the_format_comes_from_the_flag_or_the_extension() {
        assert_eq!(Format::of(Path::new("a.CSV"), None).unwrap(), Format::Csv);
        assert_eq!(
            Format::of(Path::new("a.ndjson"), None).unwrap(),
            Format::Jsonl
        );
        assert_eq!(
            Format::of(Path::new("a.txt"), Some(Format::Csv)).unwrap(),
            Format::Csv
        );
        assert_eq!(
            Format::of(Path::new("a.txt"), None)
                .unwrap_err()
                .exit_code(),
            crate::error::EXIT_USAGE
        );
    }
}
