//! The classified surface diff: what a regeneration changed, as the code that uses the client
//! meets it. Each change is BREAKING (code stops compiling, or compiles and fails at run
//! time), additive (new things; existing code keeps working) or docs (only text changed).
//!
//! The baseline is the checked-in surface snapshot ([`baseline_path`]); [`against_checked_in`]
//! compares a fresh generation with it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::Generated;
use crate::error::CodegenError;
use crate::surface::{Field, MIN_EXCLUSIVE, ObjectShape, Operation, Param, Surface, TypeShape};

/// How a change meets the code that uses the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Existing code stops compiling, or compiles and fails at run time.
    Breaking,
    /// Something new; existing code keeps working.
    Additive,
    /// Only text changed (titles, notes); no Rust type or call changed.
    Docs,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Breaking => "BREAKING",
            Class::Additive => "additive",
            Class::Docs => "docs",
        })
    }
}

/// One classified change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub class: Class,
    /// The operation's method, the type's name, `title`, or a note section's heading.
    pub subject: String,
    /// What changed, and for breaking changes how the code meets it.
    pub message: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.class, self.subject, self.message)
    }
}

/// The classified changes of one service: a summary line with counts, then one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub slug: String,
    /// Breaking first, then additive, then docs.
    pub changes: Vec<Change>,
}

impl Report {
    /// How many changes are of `class`.
    pub fn count(&self, class: Class) -> usize {
        self.changes.iter().filter(|c| c.class == class).count()
    }

    /// `slug: 2 BREAKING, 1 additive, 0 docs`, or `slug: no surface changes`.
    pub fn summary(&self) -> String {
        if self.changes.is_empty() {
            return format!("{}: no surface changes", self.slug);
        }
        format!(
            "{}: {} BREAKING, {} additive, {} docs",
            self.slug,
            self.count(Class::Breaking),
            self.count(Class::Additive),
            self.count(Class::Docs)
        )
    }
}

impl Report {
    /// The changes as printed, one line each, except that one change made to several
    /// subjects (a header parameter removed from twelve operations) is one line naming them
    /// all: `BREAKING get_a, get_b: parameter x removed (...)`. Order: first appearance.
    pub fn lines(&self) -> Vec<String> {
        let mut groups: Vec<(Class, &str, Vec<&str>)> = Vec::new();
        let mut index: BTreeMap<(Class, &str), usize> = BTreeMap::new();
        for change in &self.changes {
            match index.get(&(change.class, change.message.as_str())) {
                Some(&at) => groups[at].2.push(change.subject.as_str()),
                None => {
                    index.insert((change.class, change.message.as_str()), groups.len());
                    groups.push((change.class, &change.message, vec![&change.subject]));
                }
            }
        }
        groups
            .into_iter()
            .map(|(class, message, subjects)| format!("{class} {}: {message}", subjects.join(", ")))
            .collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())?;
        for line in self.lines() {
            write!(f, "\n{line}")?;
        }
        Ok(())
    }
}

/// Where the checked-in surface snapshot of `slug` lives, relative to the repository root
/// (the file `codegen/tests/surface.rs` keeps with insta).
pub fn baseline_path(slug: &str) -> PathBuf {
    PathBuf::from(format!("codegen/tests/snapshots/surface__{slug}.snap"))
}

/// Classifies how `generated`'s surface differs from the checked-in snapshot below `root`.
/// A service without a snapshot yet is compared with an empty surface (everything is new).
pub fn against_checked_in(root: &Path, generated: &Generated) -> Result<Report, CodegenError> {
    let slug = generated.service.slug;
    let path = baseline_path(slug);
    let fresh = Surface::parse(&generated.surface).map_err(|e| CodegenError::Format {
        path: PathBuf::from(generated.service.spec),
        message: format!("the rendered surface does not read back ({e})"),
    })?;
    let changes = match std::fs::read_to_string(root.join(&path)) {
        Ok(text) => classify(&parse_snapshot(&path, &text)?, &fresh),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut changes = classify(
                &Surface {
                    title_line: fresh.title_line.clone(),
                    ..Surface::default()
                },
                &fresh,
            );
            changes.push(Change {
                class: Class::Docs,
                subject: "baseline".into(),
                message: format!("no {} yet: everything is new", path.display()),
            });
            changes
        }
        Err(source) => return Err(CodegenError::Output { path, source }),
    };
    Ok(Report {
        slug: slug.to_string(),
        changes,
    })
}

/// The text heading a surface snapshot in `cargo insta review`: the classified diff against
/// the checked-in snapshot, or why it could not be made.
pub fn review_note(root: &Path, generated: &Generated) -> String {
    match against_checked_in(root, generated) {
        Ok(report) => report.to_string(),
        Err(e) => format!("no classified diff: {e}"),
    }
}

/// Reads an insta snapshot file (`---` front matter, then the surface); errors name the file
/// and the line in it.
pub fn parse_snapshot(path: &Path, text: &str) -> Result<Surface, CodegenError> {
    let (front_matter_lines, body) = split_front_matter(text);
    Surface::parse(body).map_err(|e| CodegenError::Baseline {
        path: path.to_path_buf(),
        line: e.line + front_matter_lines,
        message: e.message,
    })
}

/// `(lines of front matter, the rest)`; no front matter when the text does not open with `---`.
fn split_front_matter(text: &str) -> (usize, &str) {
    let Some(rest) = text.strip_prefix("---\n") else {
        return (0, text);
    };
    let mut offset = 4;
    for (index, line) in rest.split_inclusive('\n').enumerate() {
        offset += line.len();
        if line.trim_end() == "---" {
            return (index + 2, &text[offset..]);
        }
    }
    (0, text)
}

/// The changes from `old` to `new`, breaking first, then additive, then docs.
pub fn classify(old: &Surface, new: &Surface) -> Vec<Change> {
    let mut out = Changes::default();
    if old.title_line != new.title_line {
        out.docs("title", format!("{} -> {}", old.title_line, new.title_line));
    }
    if old.decoding_line != new.decoding_line {
        let show = |line: &Option<String>| line.clone().unwrap_or_else(|| "(none)".into());
        out.docs(
            "decoding",
            format!(
                "{} -> {}",
                show(&old.decoding_line),
                show(&new.decoding_line)
            ),
        );
    }
    classify_operations(&old.operations, &new.operations, &mut out);
    classify_types(&old.types, &new.types, &mut out);
    classify_notes(old, new, &mut out);
    let mut changes = out.0;
    changes.sort_by_key(|c| c.class);
    changes
}

/// The changes found so far, in the order found.
#[derive(Default)]
struct Changes(Vec<Change>);

impl Changes {
    fn push(&mut self, class: Class, subject: &str, message: String) {
        self.0.push(Change {
            class,
            subject: subject.to_string(),
            message,
        });
    }
    fn breaking(&mut self, subject: &str, message: String) {
        self.push(Class::Breaking, subject, message);
    }
    fn additive(&mut self, subject: &str, message: String) {
        self.push(Class::Additive, subject, message);
    }
    fn docs(&mut self, subject: &str, message: String) {
        self.push(Class::Docs, subject, message);
    }
}

fn classify_operations(
    old: &BTreeMap<String, Operation>,
    new: &BTreeMap<String, Operation>,
    out: &mut Changes,
) {
    for (method, before) in old {
        match new.get(method) {
            None => out.breaking(method, format!("operation removed ({})", before.route)),
            Some(after) => classify_operation(before, after, out),
        }
    }
    for (method, after) in new {
        if !old.contains_key(method) {
            out.additive(method, format!("new operation ({})", after.route));
        }
    }
}

fn classify_operation(old: &Operation, new: &Operation, out: &mut Changes) {
    let subject = new.method.as_str();
    if old.route != new.route {
        out.docs(
            subject,
            format!(
                "now calls {} (was {}); the Rust call is unchanged",
                new.route, old.route
            ),
        );
    }
    classify_params(old, new, out);
    if old.success_type != new.success_type {
        out.breaking(
            subject,
            format!("returns {} (was {})", new.success_type, old.success_type),
        );
    }
    if !old.error_type.is_empty() && !new.error_type.is_empty() && old.error_type != new.error_type
    {
        out.breaking(
            subject,
            format!("error type {} (was {})", new.error_type, old.error_type),
        );
    }
    classify_statuses(
        subject,
        "status",
        &old.success_statuses,
        &new.success_statuses,
        out,
    );
    classify_statuses(
        subject,
        "empty status",
        &old.empty_success,
        &new.empty_success,
        out,
    );
    classify_statuses(
        subject,
        "error status",
        &old.error_statuses,
        &new.error_statuses,
        out,
    );
    classify_rules(old, new, out);
    if old.header != new.header {
        let show = |h: &Option<String>| h.clone().unwrap_or_else(|| "none".into());
        out.docs(
            subject,
            format!(
                "SOAP header {} (was {})",
                show(&new.header),
                show(&old.header)
            ),
        );
    }
}

/// A rule changes what the runtime does with the call, not the code that makes it: docs, with
/// the consequence spelled out.
fn classify_rules(old: &Operation, new: &Operation, out: &mut Changes) {
    use crate::surface::{ANONYMOUS_MARK, RETRY_SAFE_MARK};
    let subject = new.method.as_str();
    let had = |mark: &str| old.rules.iter().any(|m| m == mark);
    let has = |mark: &str| new.rules.iter().any(|m| m == mark);
    match (had(RETRY_SAFE_MARK), has(RETRY_SAFE_MARK)) {
        (false, true) => out.docs(
            subject,
            "now declared retry-safe: repeated after a failure although its method is not \
             idempotent"
                .into(),
        ),
        (true, false) => out.docs(
            subject,
            "no longer declared retry-safe: not repeated after a failure unless its method is \
             idempotent"
                .into(),
        ),
        _ => {}
    }
    match (had(ANONYMOUS_MARK), has(ANONYMOUS_MARK)) {
        (false, true) => out.docs(subject, "now sent without credentials".into()),
        (true, false) => out.docs(subject, "now sent with credentials".into()),
        _ => {}
    }
}

fn classify_params(old: &Operation, new: &Operation, out: &mut Changes) {
    let subject = new.method.as_str();
    let by_name = |params: &[Param]| -> BTreeMap<String, Param> {
        params.iter().map(|p| (p.name.clone(), p.clone())).collect()
    };
    let (before, after) = (by_name(&old.params), by_name(&new.params));
    for (name, param) in &before {
        let Some(now) = after.get(name) else {
            out.breaking(
                subject,
                format!("parameter {name} removed (code that sets it no longer compiles)"),
            );
            continue;
        };
        if param.rust_type != now.rust_type {
            out.breaking(
                subject,
                format!(
                    "parameter {name}: type {} -> {}",
                    param.rust_type, now.rust_type
                ),
            );
        }
        match (param.required, now.required, new.is_builder()) {
            (false, true, true) => out.breaking(
                subject,
                format!(
                    "parameter {name} became required (calls without it still compile but fail \
                     at run time: \"{name} was not initialized\")"
                ),
            ),
            (false, true, false) => out.breaking(
                subject,
                format!("parameter {name} became required (its field changes from Option<T> to T)"),
            ),
            (true, false, true) => out.additive(
                subject,
                format!("parameter {name} became optional (calls that set it still compile)"),
            ),
            (true, false, false) => out.breaking(
                subject,
                format!("parameter {name} became optional (its field changes from T to Option<T>)"),
            ),
            _ => {}
        }
    }
    for (name, param) in &after {
        if before.contains_key(name) {
            continue;
        }
        match (param.required, new.is_builder()) {
            (true, true) => out.breaking(
                subject,
                format!(
                    "new required parameter {name} (calls without it still compile but fail at \
                     run time: \"{name} was not initialized\")"
                ),
            ),
            (true, false) => out.breaking(
                subject,
                format!(
                    "new required parameter {name} (the request gains a field: building it \
                     without one no longer compiles)"
                ),
            ),
            (false, _) => out.additive(
                subject,
                format!("new optional parameter {name}: {}", param.rust_type),
            ),
        }
    }
}

/// New statuses are additive; a status no longer declared changes no Rust type (docs).
fn classify_statuses(subject: &str, what: &str, old: &[String], new: &[String], out: &mut Changes) {
    for status in new.iter().filter(|s| !old.contains(s)) {
        out.additive(subject, format!("new {what} {status}"));
    }
    for status in old.iter().filter(|s| !new.contains(s)) {
        out.docs(
            subject,
            format!("{what} {status} no longer declared (no Rust type changes)"),
        );
    }
}

fn classify_types(
    old: &BTreeMap<String, TypeShape>,
    new: &BTreeMap<String, TypeShape>,
    out: &mut Changes,
) {
    let removed: Vec<(&String, &TypeShape)> =
        old.iter().filter(|(n, _)| !new.contains_key(*n)).collect();
    let added: Vec<(&String, &TypeShape)> =
        new.iter().filter(|(n, _)| !old.contains_key(*n)).collect();
    let same_shape = |shape: &TypeShape, among: &[(&String, &TypeShape)]| {
        among
            .iter()
            .find(|(_, s)| *s == shape)
            .map(|(n, _)| n.to_string())
    };
    for (name, shape) in &removed {
        let hint = same_shape(shape, &added)
            .map(|to| format!(" (renamed to {to}?)"))
            .unwrap_or_default();
        out.breaking(name, format!("type removed{hint}"));
    }
    for (name, before) in old {
        if let Some(after) = new.get(name) {
            classify_type(name, before, after, out);
        }
    }
    for (name, shape) in &added {
        let hint = same_shape(shape, &removed)
            .map(|from| format!(" (renamed from {from}?)"))
            .unwrap_or_default();
        out.additive(name, format!("new type{hint}"));
    }
}

fn classify_type(name: &str, old: &TypeShape, new: &TypeShape, out: &mut Changes) {
    match (old, new) {
        (TypeShape::Object(a), TypeShape::Object(b)) => classify_object(name, a, b, out),
        (
            TypeShape::Enum {
                values: a,
                open: a_open,
            },
            TypeShape::Enum {
                values: b,
                open: b_open,
            },
        ) => classify_enum(name, (a, *a_open), (b, *b_open), out),
        (TypeShape::Other(a), TypeShape::Other(b)) => {
            classify_description(name, "", a, b, true, out)
        }
        (a, b) if a != b => out.breaking(name, format!("is now {} (was {})", kind(b), kind(a))),
        _ => {}
    }
}

fn kind(shape: &TypeShape) -> String {
    match shape {
        TypeShape::Object(_) => "an object".to_string(),
        TypeShape::Enum { .. } => "an enum".to_string(),
        TypeShape::Other(text) => format!("`{text}`"),
    }
}

fn classify_enum(
    name: &str,
    (old, old_open): (&[String], bool),
    (new, new_open): (&[String], bool),
    out: &mut Changes,
) {
    for value in old.iter().filter(|v| !new.contains(v)) {
        out.breaking(
            name,
            format!("enum value {value} removed (code naming it no longer compiles)"),
        );
    }
    for value in new.iter().filter(|v| !old.contains(v)) {
        if new_open {
            out.additive(
                name,
                format!(
                    "new enum value {value} (open enum: clients built before read it as unknown)"
                ),
            );
        } else {
            out.breaking(
                name,
                format!(
                    "new enum value {value} (closed enum: exhaustive matches no longer compile)"
                ),
            );
        }
    }
    match (old_open, new_open) {
        (true, false) => out.breaking(
            name,
            "enum closed (values not listed no longer decode; the unknown variant is gone)".into(),
        ),
        (false, true) => out.breaking(
            name,
            "enum opened (a new unknown variant: exhaustive matches no longer compile)".into(),
        ),
        _ => {}
    }
}

fn classify_object(name: &str, old: &ObjectShape, new: &ObjectShape, out: &mut Changes) {
    if old.prefix != new.prefix {
        out.breaking(
            name,
            format!(
                "declared `{}` (was `{}`)",
                new.prefix.trim(),
                old.prefix.trim()
            ),
        );
    }
    let (old_suffix, old_directions) = split_directions(&old.suffix);
    let (new_suffix, new_directions) = split_directions(&new.suffix);
    if old_suffix != new_suffix {
        out.breaking(
            name,
            format!("ends `{}` (was `{}`)", new_suffix.trim(), old_suffix.trim()),
        );
    }
    classify_directions(name, &old_directions, &new_directions, out);
    classify_extra_members(name, &old.extra, &new.extra, out);
    for (field, before) in &old.fields {
        match new.fields.get(field) {
            None => out.breaking(
                name,
                format!("field {field} removed (code reading or setting it no longer compiles)"),
            ),
            Some(after) => classify_field(name, field, before, after, out),
        }
    }
    for (field, after) in &new.fields {
        if old.fields.contains_key(field) {
            continue;
        }
        if after.required {
            out.breaking(
                name,
                format!(
                    "new required field {field}: {} (code building a {name} without it no \
                     longer compiles)",
                    after.description
                ),
            );
        } else {
            out.additive(
                name,
                format!("new optional field {field}: {}", after.description),
            );
        }
    }
}

/// A SOAP type's suffix without its serde directions (`[sent, received]`), and the directions.
fn split_directions(suffix: &str) -> (&str, Vec<&str>) {
    let trimmed = suffix.trim_end();
    match trimmed.strip_suffix(']').and_then(|s| s.rsplit_once('[')) {
        Some((rest, list))
            if list
                .split(", ")
                .all(|d| matches!(d, "sent" | "received" | "unused")) =>
        {
            (rest, list.split(", ").collect())
        }
        _ => (suffix, Vec::new()),
    }
}

/// A SOAP type derives `Serialize` when sent and `Deserialize` when received (the other only
/// with `server-serde`): gaining a direction adds a derive, losing one removes it.
fn classify_directions(name: &str, old: &[&str], new: &[&str], out: &mut Changes) {
    let derive = |direction: &str| match direction {
        "sent" => "Serialize",
        _ => "Deserialize",
    };
    for direction in ["sent", "received"] {
        match (old.contains(&direction), new.contains(&direction)) {
            (true, false) if !new.contains(&"unused") => out.breaking(
                name,
                format!(
                    "no longer {direction}: `{}` is only derived with the server-serde feature \
                     (code using it without that feature no longer compiles)",
                    derive(direction)
                ),
            ),
            (false, true) if !old.contains(&"unused") => out.additive(
                name,
                format!("now also {direction}: derives `{}`", derive(direction)),
            ),
            _ => {}
        }
    }
}

/// `..: T (kept)` keeps unknown members in a map field; `(no other members)` refuses them.
fn classify_extra_members(name: &str, old: &[String], new: &[String], out: &mut Changes) {
    for member in old.iter().filter(|m| !new.contains(m)) {
        if member.starts_with('(') {
            out.additive(name, format!("no longer `{member}`"));
        } else {
            out.breaking(
                name,
                format!("no longer keeps other members `{member}` (code reading them no longer compiles)"),
            );
        }
    }
    for member in new.iter().filter(|m| !old.contains(m)) {
        if member.starts_with('(') {
            out.breaking(
                name,
                format!("now `{member}` (answers with other members no longer decode)"),
            );
        } else {
            out.additive(name, format!("now keeps other members `{member}`"));
        }
    }
}

fn classify_field(name: &str, field: &str, old: &Field, new: &Field, out: &mut Changes) {
    match (old.required, new.required) {
        (false, true) => out.breaking(
            name,
            format!(
                "field {field} became required (its Rust type changes from Option<T> to T; \
                 code building a {name} without it no longer compiles)"
            ),
        ),
        (true, false) => out.breaking(
            name,
            format!(
                "field {field} became optional (its Rust type changes from T to Option<T>; \
                 code reading it no longer compiles)"
            ),
        ),
        _ => {}
    }
    classify_description(
        name,
        &format!("field {field}: "),
        &old.description,
        &new.description,
        new.required,
        out,
    );
}

/// A type description split into its base type, its `[constraints]`, whether it may be
/// null (`| null`, SOAP's `| nil`) and whether it is declared secret.
struct Described<'a> {
    base: &'a str,
    constraints: Vec<&'a str>,
    nullable: bool,
    redacted: bool,
}

fn described(text: &str) -> Described<'_> {
    let (text, redacted) = match text.strip_suffix(crate::surface::REDACTED_MARK) {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (text, nullable) = match text
        .strip_suffix(" | null")
        .or_else(|| text.strip_suffix(" | nil"))
    {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (base, constraints) =
        crate::surface::trailing_constraints(text).unwrap_or((text, Vec::new()));
    Described {
        base,
        constraints,
        nullable,
        redacted,
    }
}

/// `string(password)` is a `String` like `string`: only the redaction differs.
fn same_rust_type(before: &str, after: &str) -> bool {
    let plain = |base: &str| base.strip_suffix("(password)").unwrap_or(base).to_string();
    plain(before) == plain(after)
}

/// Compares two descriptions of one value (a field's, or a whole type's when `what` is
/// empty); `required` says whether a null would change its Rust type.
fn classify_description(
    subject: &str,
    what: &str,
    old: &str,
    new: &str,
    required: bool,
    out: &mut Changes,
) {
    if old == new {
        return;
    }
    let (before, after) = (described(old), described(new));
    match (before.redacted, after.redacted) {
        (false, true) => out.docs(
            subject,
            format!("{what}now declared secret (redacted in Debug)"),
        ),
        (true, false) => out.docs(
            subject,
            format!("{what}no longer declared secret (printed in Debug)"),
        ),
        _ => {}
    }
    if before.base != after.base && !same_rust_type(before.base, after.base) {
        out.breaking(
            subject,
            format!("{what}type {} -> {}", before.base, after.base),
        );
        return;
    }
    match (before.nullable, after.nullable, required) {
        (false, true, true) => out.breaking(
            subject,
            format!("{what}may now be null (its Rust type becomes Option<T>)"),
        ),
        (false, true, false) => out.additive(subject, format!("{what}may now be null")),
        (true, false, true) => out.breaking(
            subject,
            format!("{what}no longer null (its Rust type changes from Option<T> to T)"),
        ),
        (true, false, false) => out.docs(subject, format!("{what}no longer declared nullable")),
        _ => {}
    }
    classify_constraints(subject, what, &before.constraints, &after.constraints, out);
}

/// One constraint of a description, read for comparison.
#[derive(Debug, Clone, PartialEq)]
enum Constraint {
    /// `len`, `items` or the value range, with its bounds.
    Bounds(&'static str, Bounds),
    Pattern(String),
    Default(String),
    /// A constraint this reader does not know; any change to it is taken as breaking.
    Unknown(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Bounds {
    min: Option<f64>,
    min_exclusive: bool,
    max: Option<f64>,
    max_exclusive: bool,
}

impl Constraint {
    fn read(text: &str) -> Self {
        if let Some(p) = text.strip_prefix("pattern ") {
            return Constraint::Pattern(p.to_string());
        }
        if let Some(d) = text.strip_prefix("default ") {
            return Constraint::Default(d.to_string());
        }
        let parsed = match text.split_once(' ') {
            Some(("len", rest)) => length_bounds(rest).map(|b| Constraint::Bounds("len", b)),
            Some(("items", rest)) => length_bounds(rest).map(|b| Constraint::Bounds("items", b)),
            _ => range_bounds(text).map(|b| Constraint::Bounds("range", b)),
        };
        parsed.unwrap_or_else(|| Constraint::Unknown(text.to_string()))
    }

    /// What two constraints must share to be compared (one of each kind per description).
    fn kind(&self) -> String {
        match self {
            Constraint::Bounds(kind, _) => kind.to_string(),
            Constraint::Pattern(_) => "pattern".into(),
            Constraint::Default(_) => "default".into(),
            Constraint::Unknown(text) => text.clone(),
        }
    }
}

/// `1..=250`, `>= 1`, `<= 5`.
fn length_bounds(text: &str) -> Option<Bounds> {
    let number = |t: &str| t.parse::<f64>().ok();
    if let Some(min) = text.strip_prefix(">= ") {
        return Some(Bounds {
            min: Some(number(min)?),
            ..Default::default()
        });
    }
    if let Some(max) = text.strip_prefix("<= ") {
        return Some(Bounds {
            max: Some(number(max)?),
            ..Default::default()
        });
    }
    let (min, max) = text.split_once("..=")?;
    Some(Bounds {
        min: Some(number(min)?),
        max: Some(number(max)?),
        ..Default::default()
    })
}

/// `1..=1000`, `..=5`, `0..10`, each maybe with ` (min exclusive)`.
fn range_bounds(text: &str) -> Option<Bounds> {
    let (text, min_exclusive) = match text.strip_suffix(MIN_EXCLUSIVE) {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (min, rest) = text.split_once("..")?;
    let (max, max_exclusive) = match rest.strip_prefix('=') {
        Some(max) => (max, false),
        None => (rest, true),
    };
    let bound = |t: &str| -> Option<Option<f64>> {
        if t.is_empty() {
            Some(None)
        } else {
            t.parse::<f64>().ok().map(Some)
        }
    };
    Some(Bounds {
        min: bound(min)?,
        min_exclusive,
        max: bound(max)?,
        max_exclusive,
    })
}

impl Bounds {
    /// Whether some value `old` allowed is refused by `self`.
    fn narrower_than(&self, old: &Bounds) -> bool {
        let min_narrower = match (old.min, self.min) {
            (None, Some(_)) => true,
            (Some(a), Some(b)) => b > a || (b == a && self.min_exclusive && !old.min_exclusive),
            _ => false,
        };
        let max_narrower = match (old.max, self.max) {
            (None, Some(_)) => true,
            (Some(a), Some(b)) => b < a || (b == a && self.max_exclusive && !old.max_exclusive),
            _ => false,
        };
        min_narrower || max_narrower
    }
}

fn classify_constraints(subject: &str, what: &str, old: &[&str], new: &[&str], out: &mut Changes) {
    let read = |list: &[&str]| -> BTreeMap<String, (String, Constraint)> {
        list.iter()
            .map(|text| {
                let c = Constraint::read(text);
                (c.kind(), (text.to_string(), c))
            })
            .collect()
    };
    let (before, after) = (read(old), read(new));
    let kinds: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for kind in kinds {
        match (before.get(kind), after.get(kind)) {
            (None, Some((text, Constraint::Default(_)))) => {
                out.docs(subject, format!("{what}new {text}"))
            }
            (Some((text, Constraint::Default(_))), None) => {
                out.docs(subject, format!("{what}{text} dropped"))
            }
            (None, Some((text, _))) => out.breaking(
                subject,
                format!(
                    "{what}narrowed: new constraint {text} (values valid before may be refused)"
                ),
            ),
            (Some((text, _)), None) => {
                out.additive(subject, format!("{what}widened: constraint {text} dropped"))
            }
            (Some((a, ca)), Some((b, cb))) if a != b => {
                classify_constraint_change(subject, what, (a, ca), (b, cb), out)
            }
            _ => {}
        }
    }
}

fn classify_constraint_change(
    subject: &str,
    what: &str,
    (old_text, old): (&str, &Constraint),
    (new_text, new): (&str, &Constraint),
    out: &mut Changes,
) {
    let change = format!("{old_text} -> {new_text}");
    match (old, new) {
        (Constraint::Default(_), _) => out.docs(subject, format!("{what}{change}")),
        (Constraint::Bounds(_, a), Constraint::Bounds(_, b)) if !b.narrower_than(a) => {
            out.additive(subject, format!("{what}widened {change}"))
        }
        _ => out.breaking(
            subject,
            format!("{what}narrowed {change} (values valid before may be refused)"),
        ),
    }
}

fn classify_notes(old: &Surface, new: &Surface, out: &mut Changes) {
    let lines = |s: &Surface| -> BTreeSet<(String, String)> {
        s.notes
            .iter()
            .flat_map(|n| n.lines.iter().map(|l| (n.heading.clone(), l.clone())))
            .collect()
    };
    let (before, after) = (lines(old), lines(new));
    for (heading, line) in before.difference(&after) {
        out.docs(heading, format!("- {line}"));
    }
    for (heading, line) in after.difference(&before) {
        out.docs(heading, format!("+ {line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A surface with these operation and type lines.
    fn surface(operations: &[&str], types: &[&str]) -> Surface {
        let text = format!(
            "# s — API surface\n\n## operations\n{}\n\n## types\n{}\n",
            operations.join("\n"),
            types.join("\n")
        );
        Surface::parse(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The classified lines from `old` to `new` (operations, then types).
    fn lines(old: (&[&str], &[&str]), new: (&[&str], &[&str])) -> Vec<String> {
        classify(&surface(old.0, old.1), &surface(new.0, new.1))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// The classified lines when only one type line changes.
    fn type_change(old: &str, new: &str) -> Vec<String> {
        lines((&[], &[old]), (&[], &[new]))
    }

    /// The classified lines when only one operation line changes.
    fn operation_change(old: &str, new: &str) -> Vec<String> {
        lines((&[old], &[]), (&[new], &[]))
    }

    const GET_PERSONS: &str =
        "get_persons: GET /persons (cursor?: String) -> 200 Vec<Person> ! 400 Problem";

    #[test]
    fn a_removed_operation_is_breaking() {
        assert_eq!(
            lines((&[GET_PERSONS], &[]), (&[], &[])),
            ["BREAKING get_persons: operation removed (GET /persons)"]
        );
    }

    #[test]
    fn a_new_operation_is_additive() {
        assert_eq!(
            lines((&[], &[]), (&[GET_PERSONS], &[])),
            ["additive get_persons: new operation (GET /persons)"]
        );
    }

    #[test]
    fn a_new_required_parameter_fails_at_run_time() {
        assert_eq!(
            operation_change(
                GET_PERSONS,
                "get_persons: GET /persons (cursor?: String, customer_id: String) -> 200 Vec<Person> ! 400 Problem"
            ),
            [
                "BREAKING get_persons: new required parameter customer_id (calls without it still \
              compile but fail at run time: \"customer_id was not initialized\")"
            ]
        );
    }

    #[test]
    fn a_new_required_soap_parameter_no_longer_compiles() {
        assert_eq!(
            operation_change(
                "get_thing: GetThing (token?: string) -> ()",
                "get_thing: GetThing (token?: string, id: int) -> ()"
            ),
            [
                "BREAKING get_thing: new required parameter id (the request gains a field: \
              building it without one no longer compiles)"
            ]
        );
    }

    #[test]
    fn a_new_optional_parameter_is_additive() {
        assert_eq!(
            operation_change(
                GET_PERSONS,
                "get_persons: GET /persons (cursor?: String, limit?: NonZeroU32) -> 200 Vec<Person> ! 400 Problem"
            ),
            ["additive get_persons: new optional parameter limit: NonZeroU32"]
        );
    }

    #[test]
    fn a_removed_parameter_is_breaking() {
        assert_eq!(
            operation_change(
                GET_PERSONS,
                "get_persons: GET /persons () -> 200 Vec<Person> ! 400 Problem"
            ),
            [
                "BREAKING get_persons: parameter cursor removed (code that sets it no longer compiles)"
            ]
        );
    }

    #[test]
    fn a_parameter_whose_type_changed_is_breaking() {
        assert_eq!(
            operation_change(
                GET_PERSONS,
                "get_persons: GET /persons (cursor?: Uuid) -> 200 Vec<Person> ! 400 Problem"
            ),
            ["BREAKING get_persons: parameter cursor: type String -> Uuid"]
        );
    }

    #[test]
    fn an_optional_parameter_that_became_required_is_breaking() {
        assert_eq!(
            operation_change(
                GET_PERSONS,
                "get_persons: GET /persons (cursor: String) -> 200 Vec<Person> ! 400 Problem"
            ),
            [
                "BREAKING get_persons: parameter cursor became required (calls without it still \
              compile but fail at run time: \"cursor was not initialized\")"
            ]
        );
    }

    #[test]
    fn a_required_parameter_that_became_optional_is_additive() {
        assert_eq!(
            operation_change(
                "get_person: GET /persons/{id} (id: String) -> 200 Person",
                "get_person: GET /persons/{id} (id?: String) -> 200 Person"
            ),
            ["additive get_person: parameter id became optional (calls that set it still compile)"]
        );
    }

    #[test]
    fn a_changed_success_type_is_breaking() {
        assert_eq!(
            operation_change(
                "get_customer: GET /customers/{id} (id: String) -> 200 Customer",
                "get_customer: GET /customers/{id} (id: String) -> 200 Vec<Customer>"
            ),
            ["BREAKING get_customer: returns Vec<Customer> (was Customer)"]
        );
    }

    #[test]
    fn a_changed_error_type_is_breaking() {
        assert_eq!(
            operation_change(
                GET_PERSONS,
                "get_persons: GET /persons (cursor?: String) -> 200 Vec<Person> ! 400 CommonError"
            ),
            ["BREAKING get_persons: error type CommonError (was Problem)"]
        );
    }

    #[test]
    fn a_new_status_is_additive_and_a_dropped_one_docs() {
        assert_eq!(
            operation_change(
                GET_PERSONS,
                "get_persons: GET /persons (cursor?: String) -> 200 Vec<Person> ! 404 Problem"
            ),
            [
                "additive get_persons: new error status 404",
                "docs get_persons: error status 400 no longer declared (no Rust type changes)"
            ]
        );
    }

    #[test]
    fn a_removed_type_is_breaking() {
        assert_eq!(
            lines((&[], &["Person: { id: string }"]), (&[], &[])),
            ["BREAKING Person: type removed"]
        );
    }

    #[test]
    fn a_new_type_shaped_like_a_removed_one_is_a_rename() {
        assert_eq!(
            lines(
                (&[], &["Person: { id: string }"]),
                (&[], &["Human: { id: string }"])
            ),
            [
                "BREAKING Person: type removed (renamed to Human?)",
                "additive Human: new type (renamed from Person?)"
            ]
        );
    }

    #[test]
    fn a_removed_field_is_breaking() {
        assert_eq!(
            type_change(
                "Person: { id: string, name?: string }",
                "Person: { id: string }"
            ),
            ["BREAKING Person: field name removed (code reading or setting it no longer compiles)"]
        );
    }

    #[test]
    fn a_new_required_field_is_breaking() {
        assert_eq!(
            type_change(
                "Person: { id: string }",
                "Person: { id: string, name: string }"
            ),
            [
                "BREAKING Person: new required field name: string (code building a Person without \
              it no longer compiles)"
            ]
        );
    }

    #[test]
    fn a_new_optional_field_is_additive() {
        assert_eq!(
            type_change(
                "Person: { id: string }",
                "Person: { id: string, name?: string }"
            ),
            ["additive Person: new optional field name: string"]
        );
    }

    #[test]
    fn a_field_that_became_required_is_breaking() {
        assert_eq!(
            type_change("Person: { name?: string }", "Person: { name: string }"),
            [
                "BREAKING Person: field name became required (its Rust type changes from \
              Option<T> to T; code building a Person without it no longer compiles)"
            ]
        );
    }

    #[test]
    fn a_field_that_became_optional_breaks_reading_code() {
        assert_eq!(
            type_change("Person: { name: string }", "Person: { name?: string }"),
            [
                "BREAKING Person: field name became optional (its Rust type changes from T to \
              Option<T>; code reading it no longer compiles)"
            ]
        );
    }

    #[test]
    fn a_field_whose_type_changed_is_breaking() {
        assert_eq!(
            type_change("Person: { id: string }", "Person: { id: string(uuid) }"),
            ["BREAKING Person: field id: type string -> string(uuid)"]
        );
    }

    #[test]
    fn a_member_declared_secret_is_a_docs_change() {
        // `format: password` keeps the Rust type (String); only Debug changes.
        assert_eq!(
            type_change(
                "Login: { key: string }",
                "Login: { key: string(password) (redacted in Debug) }"
            ),
            ["docs Login: field key: now declared secret (redacted in Debug)"]
        );
        assert_eq!(
            type_change(
                "Login: { key: string (redacted in Debug) }",
                "Login: { key: string }"
            ),
            ["docs Login: field key: no longer declared secret (printed in Debug)"]
        );
    }

    #[test]
    fn a_smaller_max_length_is_breaking() {
        assert_eq!(
            type_change(
                "Person: { name: string [len <= 70] }",
                "Person: { name: string [len <= 35] }"
            ),
            [
                "BREAKING Person: field name: narrowed len <= 70 -> len <= 35 (values valid \
              before may be refused)"
            ]
        );
    }

    #[test]
    fn a_larger_minimum_is_breaking() {
        assert_eq!(
            type_change("Size: integer [1..=1000]", "Size: integer [10..=1000]"),
            ["BREAKING Size: narrowed 1..=1000 -> 10..=1000 (values valid before may be refused)"]
        );
    }

    #[test]
    fn a_new_pattern_is_breaking() {
        assert_eq!(
            type_change("Market: string", "Market: string [pattern `^[A-Z]{2}$`]"),
            [
                "BREAKING Market: narrowed: new constraint pattern `^[A-Z]{2}$` (values valid \
              before may be refused)"
            ]
        );
    }

    #[test]
    fn a_larger_max_length_is_additive() {
        assert_eq!(
            type_change("Id: string [len 1..=35]", "Id: string [len 1..=70]"),
            ["additive Id: widened len 1..=35 -> len 1..=70"]
        );
    }

    #[test]
    fn a_changed_default_is_docs() {
        assert_eq!(
            type_change("Size: integer [default 100]", "Size: integer [default 50]"),
            ["docs Size: default 100 -> default 50"]
        );
    }

    #[test]
    fn a_field_that_may_now_be_null_is_breaking_when_required() {
        assert_eq!(
            type_change(
                "Person: { name: string }",
                "Person: { name: string | null }"
            ),
            ["BREAKING Person: field name: may now be null (its Rust type becomes Option<T>)"]
        );
    }

    #[test]
    fn a_removed_enum_value_is_breaking() {
        assert_eq!(
            type_change(
                "Gender: enum MALE | FEMALE | ..unknown",
                "Gender: enum MALE | ..unknown"
            ),
            ["BREAKING Gender: enum value FEMALE removed (code naming it no longer compiles)"]
        );
    }

    #[test]
    fn a_new_value_of_an_open_enum_is_additive() {
        assert_eq!(
            type_change(
                "Gender: enum MALE | FEMALE | ..unknown",
                "Gender: enum MALE | FEMALE | OTHER | ..unknown"
            ),
            [
                "additive Gender: new enum value OTHER (open enum: clients built before read it \
              as unknown)"
            ]
        );
    }

    #[test]
    fn a_new_value_of_a_closed_enum_is_breaking() {
        assert_eq!(
            type_change("Level: enum 1 | 2", "Level: enum 1 | 2 | 3"),
            [
                "BREAKING Level: new enum value 3 (closed enum: exhaustive matches no longer compile)"
            ]
        );
    }

    #[test]
    fn a_closed_enum_is_breaking() {
        assert_eq!(
            type_change("Gender: enum MALE | ..unknown", "Gender: enum MALE"),
            [
                "BREAKING Gender: enum closed (values not listed no longer decode; the unknown \
              variant is gone)"
            ]
        );
    }

    #[test]
    fn a_type_of_another_kind_is_breaking() {
        assert_eq!(
            type_change("Gender: enum MALE | ..unknown", "Gender: string"),
            ["BREAKING Gender: is now `string` (was an enum)"]
        );
    }

    #[test]
    fn title_and_note_lines_are_docs() {
        let old = Surface::parse("# s 1.0\n\n## operations\n\n## types\n\n## normalised\n/a: x\n")
            .unwrap();
        let new = Surface::parse("# s 1.1\n\n## operations\n\n## types\n\n## normalised\n/a: y\n")
            .unwrap();
        let lines: Vec<String> = classify(&old, &new)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "docs title: s 1.0 -> s 1.1",
                "docs normalised: - /a: x",
                "docs normalised: + /a: y"
            ]
        );
    }

    #[test]
    fn a_report_leads_with_its_counts() {
        let old = surface(&[GET_PERSONS], &["Gender: enum MALE | ..unknown"]);
        let new = surface(&[], &["Gender: enum MALE | FEMALE | ..unknown"]);
        let report = Report {
            slug: "s".into(),
            changes: classify(&old, &new),
        };
        assert_eq!(
            report.to_string(),
            "s: 1 BREAKING, 1 additive, 0 docs\n\
             BREAKING get_persons: operation removed (GET /persons)\n\
             additive Gender: new enum value FEMALE (open enum: clients built before read it as unknown)"
        );
        let same = Report {
            slug: "s".into(),
            changes: classify(&old, &old),
        };
        assert_eq!(same.to_string(), "s: no surface changes");
    }

    #[test]
    fn one_change_to_several_subjects_is_one_line() {
        let change = |subject: &str, message: &str| Change {
            class: Class::Breaking,
            subject: subject.into(),
            message: message.into(),
        };
        let report = Report {
            slug: "s".into(),
            changes: vec![
                change("get_a", "parameter h removed"),
                change("get_a", "returns Vec<A> (was A)"),
                change("get_b", "parameter h removed"),
            ],
        };
        assert_eq!(
            report.lines(),
            [
                "BREAKING get_a, get_b: parameter h removed",
                "BREAKING get_a: returns Vec<A> (was A)"
            ]
        );
        assert!(report.summary().starts_with("s: 3 BREAKING"));
    }

    #[test]
    fn a_baseline_that_does_not_parse_names_the_file_and_line() {
        let text = "---\nsource: x\n---\n# s\n\n## operations\nnot an operation\n";
        let err = parse_snapshot(Path::new("codegen/tests/snapshots/surface__s.snap"), text)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "codegen/tests/snapshots/surface__s.snap:7: not a surface snapshot: an operation \
             line starts with `method: `"
        );
    }

    #[test]
    fn a_snapshot_front_matter_is_skipped() {
        let text = "---\nsource: x\ndescription: \"a\\nb\"\n---\n# s\n\n## operations\n\n## types\nA: string\n";
        let surface = parse_snapshot(Path::new("x.snap"), text).unwrap();
        assert_eq!(surface.title_line, "s");
        assert_eq!(surface.types["A"], TypeShape::Other("string".into()));
    }

    #[test]
    fn a_soap_type_gaining_a_direction_is_additive_and_losing_one_breaking() {
        let gained = type_change(
            "Customer: { Name?: string } [received]",
            "Customer: { Name?: string } [sent, received]",
        );
        assert_eq!(
            gained,
            ["additive Customer: now also sent: derives `Serialize`"],
            "{gained:?}"
        );
        let lost = type_change(
            "Customer: { Name?: string } [sent, received]",
            "Customer: { Name?: string } [sent]",
        );
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert!(
            lost[0].starts_with("BREAKING Customer: no longer received"),
            "{lost:?}"
        );
        let other = type_change(
            "Customer: { Name?: string } + any attribute [sent]",
            "Customer: { Name?: string } [sent]",
        );
        assert!(other[0].starts_with("BREAKING Customer: ends"), "{other:?}");
    }

    #[test]
    fn a_declared_rule_is_a_behaviour_note() {
        let before = "upload: POST /consumers (body: Vec<Consumer>) -> 202 () ! 400 Problem";
        let after =
            "upload: POST /consumers (body: Vec<Consumer>) -> 202 () ! 400 Problem {retry-safe}";
        assert_eq!(
            operation_change(before, after),
            [
                "docs upload: now declared retry-safe: repeated after a failure although its method is not idempotent"
            ]
        );
        assert_eq!(
            operation_change(after, before),
            [
                "docs upload: no longer declared retry-safe: not repeated after a failure unless its method is idempotent"
            ]
        );
        let token = "get_token: POST /token () -> 200 Token";
        assert_eq!(
            operation_change(token, &format!("{token} {{anonymous}}")),
            ["docs get_token: now sent without credentials"]
        );
    }
}
