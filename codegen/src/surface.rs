//! The API surface: a short text, one line per operation and one per type, that the insta
//! snapshots keep. A spec change shows up here as a diff of a few lines, where the same change
//! in the full generated file can be hundreds.
//!
//! Operations come from the normalised spec (method, path, statuses) joined with the generated
//! code (the Rust method, its parameters and result types as compiled); types come from the
//! spec's schemas with their constraints.

mod text;

use std::collections::{BTreeMap, BTreeSet};

use heck::ToUpperCamelCase;
use quote::ToTokens;
use serde_json::Value;

use crate::check::METHODS;
use crate::error::CodegenError;
use crate::normalise::{EMPTY_SUCCESS_EXTENSION, NormalisedSpec};
use crate::services::Service;

/// What the generated builder for one operation takes and returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuilderShape {
    /// `(name, rust type, optional)`, in declaration order.
    pub params: Vec<(String, String, bool)>,
    pub success: String,
    pub error: String,
}

/// The API surface of one service as a model: what the snapshot text says, in a form two
/// versions can be compared in (see [`crate::diff`]). [`Surface::render`] writes the text the
/// snapshots keep and [`Surface::parse`] reads it back, so a checked-in snapshot is a baseline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Surface {
    /// The first line without its `# `: slug, sources, title and version.
    pub title_line: String,
    /// How answers are decoded, when the spec declares tolerant decoding.
    pub decoding_line: Option<String>,
    /// Keyed by the Rust method name.
    pub operations: BTreeMap<String, Operation>,
    /// Keyed by the type name.
    pub types: BTreeMap<String, TypeShape>,
    /// Sections of plain lines after the types (the overlay's actions, normalise notes).
    pub notes: Vec<NoteSection>,
}

/// One operation as the generated client offers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operation {
    /// The Rust method.
    pub method: String,
    /// `GET /persons` for HTTP operations, the operation name for SOAP ones.
    pub route: String,
    /// In the order the client declares them.
    pub params: Vec<Param>,
    /// Success statuses (empty for SOAP, whose answers have none).
    pub success_statuses: Vec<String>,
    /// What `send()` (or the SOAP method) returns on success.
    pub success_type: String,
    /// Success statuses without a body, read as `None` through `.optional()`.
    pub empty_success: Vec<String>,
    pub error_statuses: Vec<String>,
    /// The error body type; empty when no error status is declared.
    pub error_type: String,
    /// The SOAP header the operation sends, if any.
    pub header: Option<String>,
    /// What the runtime does differently for this operation, as the service declares it
    /// (`retry-safe`: repeated after a failure although not idempotent; `anonymous`: sent
    /// without credentials), rendered ` {retry-safe, anonymous}`.
    pub rules: Vec<String>,
}

/// The rule marks of an operation, as the surface shows them.
pub fn rule_marks(rule: &crate::rules::OperationRule) -> Vec<String> {
    let mut marks = Vec::new();
    if rule.retry_safe.is_some() {
        marks.push(RETRY_SAFE_MARK.to_string());
    }
    if rule.anonymous {
        marks.push(ANONYMOUS_MARK.to_string());
    }
    marks
}

/// The mark of an operation the service declares retry-safe.
pub const RETRY_SAFE_MARK: &str = "retry-safe";
/// The mark of an operation sent without credentials.
pub const ANONYMOUS_MARK: &str = "anonymous";

impl Operation {
    /// Whether the client takes the parameters through a progenitor builder (HTTP operations),
    /// rather than as the fields of a request struct (SOAP).
    pub fn is_builder(&self) -> bool {
        self.route.contains(' ')
    }
}

/// One parameter (or, for SOAP, one field of the request).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Param {
    pub name: String,
    /// The Rust type for HTTP operations, the XML schema type for SOAP ones.
    pub rust_type: String,
    pub required: bool,
}

/// What a type looks like to the code that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeShape {
    Object(ObjectShape),
    Enum {
        /// Wire values, with ` (Rust Name)` where the variant is named differently.
        values: Vec<String>,
        /// Whether unknown values decode (`| ..unknown`).
        open: bool,
    },
    /// Anything else, as its description (`string [len 1..=250]`, `oneOf A | [A]`).
    Other(String),
}

/// An object type: its fields and what else it accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectShape {
    /// What precedes the braces (`abstract extends Base ` for SOAP), usually empty.
    pub prefix: String,
    pub fields: BTreeMap<String, Field>,
    /// Members that are not fields: `..: any (kept)`, `(no other members)`.
    pub extra: Vec<String>,
    /// What follows the braces (` + any attribute`, ` | null`), usually empty.
    pub suffix: String,
}

/// One field of an object type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's type with its constraints, e.g. `string [len <= 5] | null`.
    pub description: String,
    pub required: bool,
}

/// A titled section of plain lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSection {
    /// The text after `## `, e.g. `normalised` or `overlay specs/x.overlay.yaml`.
    pub heading: String,
    pub lines: Vec<String>,
}

/// Why a surface text could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number in the text that was parsed.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

const PARAMETER_GROUPS: &str = "parameter groups";
const OPERATIONS: &str = "operations";
const TYPES: &str = "types";
const DECODING_PREFIX: &str = "decoding: ";
const EMPTY_SUCCESS_NOTE: &str = " empty (.optional() -> None)";
const OPEN_ENUM_MARK: &str = "..unknown";
/// A parameter run is shown once as a group when it has at least this many members.
const GROUP_MIN_PARAMS: usize = 3;

impl Param {
    fn render(&self) -> String {
        let mark = if self.required { "" } else { "?" };
        format!("{}{mark}: {}", self.name, self.rust_type)
    }

    fn parse(text: &str) -> Result<Self, String> {
        let (name, rust_type) = text
            .split_once(": ")
            .ok_or_else(|| format!("parameter `{text}` has no `name: type`"))?;
        let (name, required) = match name.strip_suffix('?') {
            Some(name) => (name, false),
            None => (name, true),
        };
        Ok(Self {
            name: name.to_string(),
            rust_type: rust_type.to_string(),
            required,
        })
    }
}

impl TypeShape {
    /// Reads a type description (`{ a: T, b?: U }`, `enum A | B | ..unknown`, anything else).
    pub fn from_description(text: &str) -> Self {
        if let Some(values) = text
            .strip_prefix("enum ")
            .filter(|values| !values.contains(" ["))
        {
            let mut values: Vec<String> = values.split(" | ").map(str::to_string).collect();
            let open = values.last().is_some_and(|v| v == OPEN_ENUM_MARK);
            if open {
                values.pop();
            }
            if !values.is_empty() {
                return TypeShape::Enum { values, open };
            }
        }
        ObjectShape::from_description(text)
            .map(TypeShape::Object)
            .unwrap_or_else(|| TypeShape::Other(text.to_string()))
    }

    /// The description [`TypeShape::from_description`] reads.
    pub fn render(&self) -> String {
        match self {
            TypeShape::Object(object) => object.render(),
            TypeShape::Enum { values, open } => {
                let mut text = format!("enum {}", values.join(" | "));
                if *open {
                    text.push_str(&format!(" | {OPEN_ENUM_MARK}"));
                }
                text
            }
            TypeShape::Other(text) => text.clone(),
        }
    }
}

impl ObjectShape {
    fn from_description(text: &str) -> Option<Self> {
        let open = text.find("{ ")?;
        let prefix = &text[..open];
        // Only SOAP's `abstract` and `extends Base` precede an object's braces; `oneOf { .. }`
        // and the like stay whole descriptions.
        let words: Vec<&str> = prefix.split_whitespace().collect();
        let prefix_ok = matches!(
            words.as_slice(),
            [] | ["abstract"] | ["extends", _] | ["abstract", "extends", _]
        );
        if !prefix_ok || (!prefix.is_empty() && !prefix.ends_with(' ')) {
            return None;
        }
        let close = text::closing(text, open)?;
        let inner = text[open + 1..close].strip_prefix(' ')?.strip_suffix(' ')?;
        let suffix = &text[close + 1..];
        if suffix.contains('{') {
            return None;
        }
        let mut shape = ObjectShape {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
            ..Default::default()
        };
        for member in text::split_list(inner)? {
            if member.starts_with("..: ") || member.starts_with('(') {
                shape.extra.push(member.to_string());
                continue;
            }
            let (name, description) = member.split_once(": ")?;
            let (name, required) = match name.strip_suffix('?') {
                Some(name) => (name, false),
                None => (name, true),
            };
            let field = Field {
                description: description.to_string(),
                required,
            };
            if shape.fields.insert(name.to_string(), field).is_some() {
                return None;
            }
        }
        Some(shape)
    }

    fn render(&self) -> String {
        let members: Vec<String> = self
            .fields
            .iter()
            .map(|(name, field)| {
                let mark = if field.required { "" } else { "?" };
                format!("{name}{mark}: {}", field.description)
            })
            .chain(self.extra.iter().cloned())
            .collect();
        format!("{}{{ {} }}{}", self.prefix, members.join(", "), self.suffix)
    }
}

impl Operation {
    /// `method: ROUTE (params) -> result`, with parameter runs replaced by their group names.
    fn render(&self, groups: &[ParameterGroup]) -> String {
        let mut params = Vec::new();
        let mut i = 0;
        while i < self.params.len() {
            let group = groups.iter().find(|g| {
                g.users.contains(&self.method) && self.params[i..].starts_with(&g.params)
            });
            match group {
                Some(group) => {
                    params.push(group.name.clone());
                    i += group.params.len();
                }
                None => {
                    params.push(self.params[i].render());
                    i += 1;
                }
            }
        }
        let mut line = format!(
            "{}: {} ({}) -> ",
            self.method,
            self.route,
            params.join(", ")
        );
        if !self.success_statuses.is_empty() {
            line.push_str(&format!("{} ", self.success_statuses.join("/")));
        }
        line.push_str(&self.success_type);
        if !self.empty_success.is_empty() {
            line.push_str(&format!(
                " | {}{EMPTY_SUCCESS_NOTE}",
                self.empty_success.join("/")
            ));
        }
        if !self.error_statuses.is_empty() {
            line.push_str(&format!(
                " ! {} {}",
                self.error_statuses.join("/"),
                self.error_type
            ));
        }
        if let Some(header) = &self.header {
            line.push_str(&format!(" [header {header}]"));
        }
        if !self.rules.is_empty() {
            line.push_str(&format!(" {{{}}}", self.rules.join(", ")));
        }
        line
    }

    fn parse(line: &str, groups: &BTreeMap<String, Vec<Param>>) -> Result<Self, String> {
        let (method, rest) = line
            .split_once(": ")
            .ok_or("an operation line starts with `method: `")?;
        let open = rest
            .find(" (")
            .ok_or("an operation line has its parameters in `( )`")?
            + 1;
        let close = text::closing(rest, open).ok_or("the parameter list is not closed")?;
        let result = rest[close + 1..]
            .strip_prefix(" -> ")
            .ok_or("`) -> ` must follow the parameters")?;
        let mut op = Operation {
            method: method.to_string(),
            route: rest[..open - 1].to_string(),
            ..Default::default()
        };
        let list = text::split_list(&rest[open + 1..close])
            .ok_or("the parameter list has unbalanced brackets")?;
        for item in list {
            if item.starts_with('@') {
                let members = groups
                    .get(item)
                    .ok_or_else(|| format!("unknown parameter group {item}"))?;
                op.params.extend(members.iter().cloned());
            } else {
                op.params.push(Param::parse(item)?);
            }
        }
        op.parse_result(result);
        Ok(op)
    }

    /// Reads `200/201 T | 204 empty (...) ! 400/404 E [header H] {rules}` (every part but `T`
    /// optional).
    fn parse_result(&mut self, result: &str) {
        let mut result = result;
        if let Some(start) = result.rfind(" {")
            && let Some(marks) = result[start + 2..].strip_suffix('}')
            && marks
                .split(", ")
                .all(|m| m == RETRY_SAFE_MARK || m == ANONYMOUS_MARK)
        {
            self.rules = marks.split(", ").map(str::to_string).collect();
            result = &result[..start];
        }
        if let Some(start) = result.rfind(" [header ")
            && let Some(header) = result[start + 9..].strip_suffix(']')
        {
            self.header = Some(header.to_string());
            result = &result[..start];
        }
        if let Some((success, error)) = result.rsplit_once(" ! ") {
            let (statuses, ty) = error.split_once(' ').unwrap_or((error, ""));
            self.error_statuses = statuses.split('/').map(str::to_string).collect();
            self.error_type = ty.to_string();
            result = success;
        }
        if let Some((success, empty)) = result.split_once(" | ")
            && let Some(statuses) = empty.strip_suffix(EMPTY_SUCCESS_NOTE)
        {
            self.empty_success = statuses.split('/').map(str::to_string).collect();
            result = success;
        }
        match result.split_once(' ') {
            Some((statuses, ty)) if is_success_statuses(statuses) => {
                self.success_statuses = statuses.split('/').map(str::to_string).collect();
                self.success_type = ty.to_string();
            }
            _ => self.success_type = result.to_string(),
        }
    }
}

/// `200`, `200/201`, `2XX`: the status list that starts an HTTP operation's result.
fn is_success_statuses(text: &str) -> bool {
    text.split('/').all(|s| {
        s.len() == 3 && s.starts_with('2') && s.chars().all(|c| c.is_ascii_digit() || c == 'X')
    })
}

/// A run of parameters that several operations take, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParameterGroup {
    /// `@group1`, `@group2`, ... in order of first use.
    name: String,
    params: Vec<Param>,
    /// The methods that take the run.
    users: BTreeSet<String>,
}

/// The parameter runs of at least [`GROUP_MIN_PARAMS`] that recur on two or more operations.
/// Parameters taken by exactly the same operations form a candidate; it becomes a group when
/// every one of those operations takes them as one run in one order (so the text can show
/// the run in place and be read back to the same order).
fn parameter_groups(operations: &BTreeMap<String, Operation>) -> Vec<ParameterGroup> {
    let mut users: BTreeMap<&Param, BTreeSet<String>> = BTreeMap::new();
    for op in operations.values() {
        for param in &op.params {
            users.entry(param).or_default().insert(op.method.clone());
        }
    }
    let mut candidates: Vec<(BTreeSet<String>, Vec<Param>)> = Vec::new();
    for op in operations.values() {
        for param in &op.params {
            let set = &users[param];
            if set.len() < 2 {
                continue;
            }
            match candidates.iter_mut().find(|(s, _)| s == set) {
                Some((_, params)) if !params.contains(param) => params.push(param.clone()),
                Some(_) => {}
                None => candidates.push((set.clone(), vec![param.clone()])),
            }
        }
    }
    candidates
        .into_iter()
        .filter(|(set, params)| {
            params.len() >= GROUP_MIN_PARAMS
                && set.iter().all(|method| {
                    operations[method]
                        .params
                        .windows(params.len())
                        .any(|run| run == params.as_slice())
                })
        })
        .enumerate()
        .map(|(i, (users, params))| ParameterGroup {
            name: format!("@group{}", i + 1),
            params,
            users,
        })
        .collect()
}

impl Surface {
    /// The snapshot text: title, parameter groups, operations sorted by method, types sorted
    /// by name, then the note sections.
    pub fn render(&self) -> String {
        let mut out = format!("# {}\n", self.title_line);
        if let Some(decoding) = &self.decoding_line {
            out.push_str(&format!("{DECODING_PREFIX}{decoding}\n"));
        }
        let groups = parameter_groups(&self.operations);
        if !groups.is_empty() {
            out.push_str(&format!("\n## {PARAMETER_GROUPS}\n"));
            for group in &groups {
                let params: Vec<String> = group.params.iter().map(Param::render).collect();
                out.push_str(&format!("{} = {}\n", group.name, params.join(", ")));
            }
        }
        out.push_str(&format!("\n## {OPERATIONS}\n"));
        for op in self.operations.values() {
            out.push_str(&op.render(&groups));
            out.push('\n');
        }
        out.push_str(&format!("\n## {TYPES}\n"));
        for (name, shape) in &self.types {
            out.push_str(&format!("{name}: {}\n", shape.render()));
        }
        for section in &self.notes {
            out.push_str(&format!("\n## {}\n", section.heading));
            for line in &section.lines {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Reads text written by [`Surface::render`] (blank lines anywhere are ignored).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut surface = Surface::default();
        let mut groups: BTreeMap<String, Vec<Param>> = BTreeMap::new();
        let mut section: Option<String> = None;
        let mut seen_title = false;
        for (index, line) in text.lines().enumerate() {
            let fail = |message: String| ParseError {
                line: index + 1,
                message,
            };
            if line.trim().is_empty() {
                continue;
            }
            if !seen_title {
                surface.title_line = line
                    .strip_prefix("# ")
                    .ok_or_else(|| fail("the surface starts with a `# ` title line".into()))?
                    .to_string();
                seen_title = true;
                continue;
            }
            if let Some(heading) = line.strip_prefix("## ") {
                if ![PARAMETER_GROUPS, OPERATIONS, TYPES].contains(&heading) {
                    surface.notes.push(NoteSection {
                        heading: heading.to_string(),
                        lines: Vec::new(),
                    });
                }
                section = Some(heading.to_string());
                continue;
            }
            match section.as_deref() {
                None => match line.strip_prefix(DECODING_PREFIX) {
                    Some(decoding) if surface.decoding_line.is_none() => {
                        surface.decoding_line = Some(decoding.to_string());
                    }
                    _ => return Err(fail(format!("unexpected line before the sections: {line}"))),
                },
                Some(PARAMETER_GROUPS) => {
                    let (name, list) = line
                        .split_once(" = ")
                        .filter(|(name, _)| name.starts_with('@'))
                        .ok_or_else(|| fail("a group line reads `@name = params`".into()))?;
                    let params = text::split_list(list)
                        .ok_or_else(|| fail("unbalanced brackets".into()))?
                        .into_iter()
                        .map(Param::parse)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(fail)?;
                    groups.insert(name.to_string(), params);
                }
                Some(OPERATIONS) => {
                    let op = Operation::parse(line, &groups).map_err(fail)?;
                    if surface.operations.contains_key(&op.method) {
                        return Err(fail(format!("operation {} listed twice", op.method)));
                    }
                    surface.operations.insert(op.method.clone(), op);
                }
                Some(TYPES) => {
                    let (name, description) = line
                        .split_once(": ")
                        .ok_or_else(|| fail("a type line reads `Name: description`".into()))?;
                    let shape = TypeShape::from_description(description);
                    if surface.types.insert(name.to_string(), shape).is_some() {
                        return Err(fail(format!("type {name} listed twice")));
                    }
                }
                Some(_) => {
                    if let Some(notes) = surface.notes.last_mut() {
                        notes.lines.push(line.to_string());
                    }
                }
            }
        }
        if !seen_title {
            return Err(ParseError {
                line: 1,
                message: "the surface is empty".into(),
            });
        }
        Ok(surface)
    }
}

/// Renders the surface of `service` (the text [`Surface::render`] writes).
pub fn surface(
    service: &Service,
    spec: &NormalisedSpec,
    code: &str,
    overlay_actions: &[crate::patch::ActionReport],
) -> Result<String, CodegenError> {
    Ok(openapi_surface(service, spec, code, overlay_actions)?.render())
}

/// The surface model of an OpenAPI service: operations from the normalised spec joined with
/// the generated builders, types from the spec's schemas.
pub fn openapi_surface(
    service: &Service,
    spec: &NormalisedSpec,
    code: &str,
    overlay_actions: &[crate::patch::ActionReport],
) -> Result<Surface, CodegenError> {
    let builders = builder_shapes(code).map_err(|message| CodegenError::Format {
        path: spec.path.clone(),
        message,
    })?;
    let doc = &spec.document;
    let text_at = |pointer: &str| doc.pointer(pointer).and_then(Value::as_str).unwrap_or("?");
    let mut surface = Surface {
        title_line: format!(
            "{} — API surface of {} ({} {})",
            service.slug,
            service.sources(),
            text_at("/info/title"),
            text_at("/info/version"),
        ),
        ..Default::default()
    };
    if let Ok(Some(decoding)) = crate::tolerant::Decoding::from_document(doc) {
        let line = decoding.surface_line();
        surface.decoding_line = Some(
            line.strip_prefix(DECODING_PREFIX)
                .unwrap_or(&line)
                .to_string(),
        );
    }
    let rules = crate::rules::openapi_rules(doc);
    for mut op in operations(doc, &builders) {
        if let Some(rule) = rules.iter().find(|rule| rule.id == op.method) {
            op.rules = rule_marks(rule);
        }
        surface.operations.insert(op.method.clone(), op);
    }
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in schemas {
            let shape = TypeShape::from_description(&describe_type(schema));
            surface.types.insert(name.clone(), shape);
        }
    }
    if let Some(overlay) = service.overlay {
        surface.notes.push(NoteSection {
            heading: format!("overlay {overlay}"),
            lines: overlay_actions.iter().map(|a| a.summary()).collect(),
        });
    }
    if !spec.notes.is_empty() {
        surface.notes.push(NoteSection {
            heading: "normalised".to_string(),
            lines: spec
                .notes
                .iter()
                .map(|note| format!("{}: {}", note.pointer, note.action))
                .collect(),
        });
    }
    Ok(surface)
}

fn operations(doc: &Value, builders: &BTreeMap<String, BuilderShape>) -> Vec<Operation> {
    let mut operations = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return operations;
    };
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let id = op.get("operationId").and_then(Value::as_str).unwrap_or("?");
            let shape = builders
                .get(&id.to_upper_camel_case())
                .cloned()
                .unwrap_or_default();
            let mut operation = Operation {
                method: heck::ToSnakeCase::to_snake_case(id),
                route: format!("{} {path}", method.to_uppercase()),
                params: shape
                    .params
                    .iter()
                    .map(|(name, ty, optional)| Param {
                        name: name.clone(),
                        rust_type: ty.clone(),
                        required: !optional,
                    })
                    .collect(),
                success_type: shape.success,
                ..Default::default()
            };
            if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                for status in responses.keys() {
                    if status.starts_with('2') {
                        operation.success_statuses.push(status.clone());
                    } else {
                        operation.error_statuses.push(status.clone());
                    }
                }
            }
            // Without an error status the error type is never shown (nor compared).
            if !operation.error_statuses.is_empty() {
                operation.error_type = shape.error;
            }
            operation.empty_success = op
                .get(EMPTY_SUCCESS_EXTENSION)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            operations.push(operation);
        }
    }
    operations
}

/// Reads the operation builders (`pub mod builder` at the top of the generated file).
pub fn builder_shapes(code: &str) -> Result<BTreeMap<String, BuilderShape>, String> {
    let file = syn::parse_file(code).map_err(|e| format!("cannot read generated code: {e}"))?;
    let mut shapes = BTreeMap::new();
    let Some(items) = file.items.iter().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == "builder" => m.content.as_ref().map(|(_, items)| items),
        _ => None,
    }) else {
        return Ok(shapes);
    };
    for item in items {
        match item {
            syn::Item::Struct(s) => {
                let shape: &mut BuilderShape = shapes.entry(s.ident.to_string()).or_default();
                for field in &s.fields {
                    let Some(name) = field.ident.as_ref().map(ToString::to_string) else {
                        continue;
                    };
                    if name == "client" {
                        continue;
                    }
                    // Fields are `Result<T, String>`; T is `Option<U>` for optional ones.
                    let inner = first_generic(&field.ty).unwrap_or_else(|| field.ty.clone());
                    let (ty, optional) = match option_inner(&inner) {
                        Some(t) => (t, true),
                        None => (inner, false),
                    };
                    shape.params.push((name, short_type(&ty), optional));
                }
            }
            syn::Item::Impl(imp) => {
                let syn::Type::Path(self_ty) = imp.self_ty.as_ref() else {
                    continue;
                };
                let Some(ident) = self_ty.path.segments.last().map(|s| s.ident.to_string()) else {
                    continue;
                };
                for impl_item in &imp.items {
                    let syn::ImplItem::Fn(f) = impl_item else {
                        continue;
                    };
                    if f.sig.ident != "send" {
                        continue;
                    }
                    if let syn::ReturnType::Type(_, ret) = &f.sig.output {
                        let args = generics(ret);
                        let shape = shapes.entry(ident.clone()).or_default();
                        if let Some(ok) = args.first() {
                            shape.success = first_generic(ok)
                                .map(|t| short_type(&t))
                                .unwrap_or_else(|| short_type(ok));
                        }
                        if let Some(err) = args.get(1) {
                            shape.error = first_generic(err)
                                .map(|t| short_type(&t))
                                .unwrap_or_else(|| short_type(err));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(shapes)
}

fn generics(ty: &syn::Type) -> Vec<syn::Type> {
    let syn::Type::Path(p) = ty else {
        return Vec::new();
    };
    let Some(last) = p.path.segments.last() else {
        return Vec::new();
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return Vec::new();
    };
    args.args
        .iter()
        .filter_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn first_generic(ty: &syn::Type) -> Option<syn::Type> {
    generics(ty).into_iter().next()
}

fn option_inner(ty: &syn::Type) -> Option<syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    (p.path.segments.last()?.ident == "Option")
        .then(|| first_generic(ty))
        .flatten()
}

/// A type as a reader wants it: no `types::`, `crate::runtime::` or `::std::...` paths.
fn short_type(ty: &syn::Type) -> String {
    let text = ty.to_token_stream().to_string();
    let mut text = text
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" < ", "<")
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",");
    for prefix in [
        "::std::string::",
        "::std::vec::",
        "::std::option::",
        "::std::num::",
        "::std::collections::",
        "::uuid::",
        "::chrono::naive::",
        "::chrono::offset::",
        "::chrono::",
        "::serde_json::",
        "crate::runtime::",
        "types::builder::",
        "types::",
    ] {
        text = text.replace(prefix, "");
    }
    text
}

/// One schema, described with its constraints.
pub fn describe_type(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    let composite = ["oneOf", "anyOf", "allOf"]
        .into_iter()
        .find_map(|k| Some((k, schema.get(k)?.as_array()?)));
    let mut text = if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let rust_names = schema
            .get(crate::varnames::EXTENSION)
            .and_then(Value::as_array);
        let values: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let wire = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                match rust_names.and_then(|n| n.get(i)).and_then(Value::as_str) {
                    Some(rust) if rust != wire => format!("{wire} (Rust {rust})"),
                    _ => wire,
                }
            })
            .collect();
        // Every string enum is generated open (`open_enums.rs`), as the SOAP surface says too.
        let open = if strings_only(schema) {
            " | ..unknown"
        } else {
            ""
        };
        format!("enum {}{open}", values.join(" | "))
    } else if let Some((keyword, parts)) = composite {
        let parts: Vec<String> = parts.iter().map(describe_type).collect();
        format!("{keyword} {}", parts.join(" | "))
    } else {
        match schema.get("type").and_then(Value::as_str) {
            Some("object") | None if schema.get("properties").is_some() => describe_object(schema),
            Some("object") => describe_map(schema),
            Some("array") => {
                let item = schema
                    .get("items")
                    .map(describe_type)
                    .unwrap_or_else(|| "any".into());
                format!("[{item}]")
            }
            Some(t) => match schema.get("format").and_then(Value::as_str) {
                Some(f) => format!("{t}({f})"),
                None => t.to_string(),
            },
            None => "any".to_string(),
        }
    };
    let constraints = constraints(schema);
    if !constraints.is_empty() {
        text.push_str(&format!(" [{}]", constraints.join(", ")));
    }
    if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        text.push_str(" | null");
    }
    if crate::secrets::is_secret(schema) {
        text.push_str(REDACTED_MARK);
    }
    text
}

/// Ends the description of a member declared secret (`format: password` or `x-secret`):
/// its type prints it as `<redacted>` in `Debug` (`secrets.rs`).
pub const REDACTED_MARK: &str = " (redacted in Debug)";

/// Whether the schema's `enum` lists strings only (what typify makes a string enum of).
fn strings_only(schema: &Value) -> bool {
    schema
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|values| !values.is_empty() && values.iter().all(Value::is_string))
}

fn describe_object(schema: &Value) -> String {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, prop)| {
                    let optional = if required.contains(&name.as_str()) {
                        ""
                    } else {
                        "?"
                    };
                    format!("{name}{optional}: {}", describe_type(prop))
                })
                .collect()
        })
        .unwrap_or_default();
    match schema.get("additionalProperties") {
        Some(Value::Bool(false)) => fields.push("(no other members)".into()),
        Some(Value::Bool(true)) | None => {}
        Some(extra) => fields.push(format!("..: {} (kept)", describe_type(extra))),
    }
    format!("{{ {} }}", fields.join(", "))
}

fn describe_map(schema: &Value) -> String {
    match schema.get("additionalProperties") {
        Some(Value::Bool(false)) => "{}".to_string(),
        Some(Value::Bool(true)) | None => "object".to_string(),
        Some(v) if v.as_object().is_some_and(|m| m.is_empty()) => "object".to_string(),
        Some(v) => format!("map<string, {}>", describe_type(v)),
    }
}

/// Splits `string [len <= 5]` into `("string", ["len <= 5"])`; `None` without a trailing
/// constraint list (`[A]` and `oneOf A | [B]` end in brackets that are not constraints).
pub fn trailing_constraints(description: &str) -> Option<(&str, Vec<&str>)> {
    let open = text::trailing_bracket(description)?;
    let list = text::split_list(&description[open + 1..description.len() - 1])?;
    let is_constraint = |c: &&str| {
        ["len ", "items ", "pattern ", "default "]
            .iter()
            .any(|p| c.starts_with(p))
            || c.contains("..")
    };
    (!list.is_empty() && list.iter().all(is_constraint)).then(|| (&description[..open - 1], list))
}

/// Marks a range whose minimum is exclusive (`1..=5 (min exclusive)`).
pub const MIN_EXCLUSIVE: &str = " (min exclusive)";

fn constraints(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let num = |k: &str| {
        schema
            .get(k)
            .filter(|v| v.is_number())
            .map(Value::to_string)
    };
    match (num("minLength"), num("maxLength")) {
        (Some(a), Some(b)) => out.push(format!("len {a}..={b}")),
        (Some(a), None) => out.push(format!("len >= {a}")),
        (None, Some(b)) => out.push(format!("len <= {b}")),
        (None, None) => {}
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        // Quoted: a pattern may hold any bracket or comma, and the text is read back.
        out.push(format!("pattern `{p}`"));
    }
    let excl = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
    match (num("minimum"), num("maximum")) {
        (None, None) => {}
        (lo, hi) => out.push(format!(
            "{}..{}{}{}",
            lo.unwrap_or_default(),
            if excl("exclusiveMaximum") { "" } else { "=" },
            hi.unwrap_or_default(),
            if excl("exclusiveMinimum") {
                MIN_EXCLUSIVE
            } else {
                ""
            },
        )),
    }
    match (num("minItems"), num("maxItems")) {
        (Some(a), Some(b)) => out.push(format!("items {a}..={b}")),
        (Some(a), None) => out.push(format!("items >= {a}")),
        (None, Some(b)) => out.push(format!("items <= {b}")),
        (None, None) => {}
    }
    if let Some(d) = schema.get("default") {
        out.push(format!("default {d}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The surface model of `service`, built from the pipeline's stages as `run` does.
    fn model_of(service: &'static Service) -> Surface {
        let root = crate::default_root();
        let generated = crate::run(&root, service).unwrap_or_else(|e| panic!("{e}"));
        match service.front_end {
            crate::services::FrontEnd::OpenApi => {
                let (loaded, actions) = crate::export::patched(&root, service).unwrap();
                let normalised = crate::normalise::normalise(&loaded).unwrap();
                openapi_surface(service, &normalised, &generated.code, &actions).unwrap()
            }
            crate::services::FrontEnd::Wsdl(options) => {
                let text = std::fs::read_to_string(root.join(service.spec)).unwrap();
                let (wsdl, _) =
                    crate::wsdl::generate(service.spec.as_ref(), &text, service.slug, options)
                        .unwrap();
                crate::wsdl::surface_model(service.slug, &service.sources(), &wsdl, options)
            }
        }
    }

    #[test]
    fn every_service_surface_reads_back_as_the_same_model() {
        for service in crate::SERVICES {
            let model = model_of(service);
            let text = model.render();
            let parsed = Surface::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", service.slug));
            assert_eq!(parsed, model, "{}", service.slug);
            assert_eq!(parsed.render(), text, "{}", service.slug);
            if std::env::var_os("SURFACE_DUMP").is_some() {
                std::fs::write(format!("/tmp/surface_{}.txt", service.slug), &text).unwrap();
            }
        }
    }

    #[test]
    fn rule_marks_read_back_after_the_header() {
        let line = "login: Login (partnerKey: String) -> String [header AiqSoapHeader] {retry-safe, anonymous}";
        let op = Operation::parse(line, &BTreeMap::new()).unwrap();
        assert_eq!(op.rules, ["retry-safe", "anonymous"]);
        assert_eq!(op.header.as_deref(), Some("AiqSoapHeader"));
        assert_eq!(op.success_type, "String");
        assert_eq!(op.render(&[]), line);
    }

    #[test]
    fn types_show_fields_and_constraints() {
        let s = json!({"type": "object", "required": ["id"], "properties": {
            "id": {"$ref": "#/components/schemas/ConsumerId"},
            "size": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 1000, "default": 100},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 3},
            "next": {"type": "string", "nullable": true}
        }, "additionalProperties": {}});
        assert_eq!(
            describe_type(&s),
            "{ id: ConsumerId, size?: integer(int32) [1..=1000, default 100], \
             tags?: [string [len <= 5]] [items <= 3], next?: string | null, ..: any (kept) }"
        );
        assert_eq!(
            describe_type(&json!({"type": "string", "enum": ["A", "*"]})),
            "enum A | * | ..unknown"
        );
        assert_eq!(
            describe_type(
                &json!({"enum": ["Done", "Panding"], "x-enum-varnames": ["Done", "Pending"]})
            ),
            "enum Done | Panding (Rust Pending) | ..unknown"
        );
        assert_eq!(
            describe_type(&json!({"type": "integer", "enum": [1, 2]})),
            "enum 1 | 2"
        );
        assert_eq!(
            describe_type(
                &json!({"oneOf": [{"$ref": "#/components/schemas/C"}, {"type": "array", "items": {"$ref": "#/components/schemas/C"}}]})
            ),
            "oneOf C | [C]"
        );
        assert_eq!(
            describe_type(
                &json!({"type": "string", "minLength": 1, "maxLength": 250, "pattern": "^x$"})
            ),
            "string [len 1..=250, pattern `^x$`]"
        );
    }

    #[test]
    fn builder_shapes_read_params_and_results() {
        let code = r#"
            pub mod builder {
                pub struct GetThing<'a> {
                    client: &'a super::Client,
                    id: Result<types::ThingId, String>,
                    size: Result<Option<crate::runtime::BoundedInt<1, 1000>>, String>,
                }
                impl<'a> GetThing<'a> {
                    pub async fn send(self) -> Result<ResponseValue<types::Thing>, Error<types::Problem>> { todo!() }
                }
            }
        "#;
        let shapes = builder_shapes(code).unwrap();
        let shape = &shapes["GetThing"];
        assert_eq!(
            shape.params,
            vec![
                ("id".to_string(), "ThingId".to_string(), false),
                ("size".to_string(), "BoundedInt<1, 1000>".to_string(), true)
            ]
        );
        assert_eq!(
            (shape.success.as_str(), shape.error.as_str()),
            ("Thing", "Problem")
        );
    }
}
