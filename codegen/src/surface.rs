//! The API surface: a short text, one line per operation and one per type, that the insta
//! snapshots keep. A spec change shows up here as a diff of a few lines, where the same change
//! in the full generated file can be hundreds.
//!
//! Operations come from the normalised spec (method, path, statuses) joined with the generated
//! code (the Rust method, its parameters and result types as compiled); types come from the
//! spec's schemas with their constraints.

use std::collections::BTreeMap;

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

/// Renders the surface of `service`.
pub fn surface(
    service: &Service,
    spec: &NormalisedSpec,
    code: &str,
    overlay_actions: &[crate::patch::ActionReport],
) -> Result<String, CodegenError> {
    let builders = builder_shapes(code).map_err(|message| CodegenError::Format {
        path: spec.path.clone(),
        message,
    })?;
    let doc = &spec.document;
    let mut out = String::new();
    out.push_str(&format!(
        "# {} — API surface of {} ({} {})\n",
        service.slug,
        service.sources(),
        doc.pointer("/info/title")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        doc.pointer("/info/version")
            .and_then(Value::as_str)
            .unwrap_or("?"),
    ));
    if let Ok(Some(decoding)) = crate::tolerant::Decoding::from_document(doc) {
        out.push_str(&decoding.surface_line());
        out.push('\n');
    }
    out.push_str("\n## operations\n");
    for line in operation_lines(doc, &builders) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("\n## types\n");
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in schemas {
            out.push_str(&format!("{name}: {}\n", describe_type(schema)));
        }
    }
    if let Some(overlay) = service.overlay {
        out.push_str(&format!("\n## overlay {overlay}\n"));
        for action in overlay_actions {
            out.push_str(&action.summary());
            out.push('\n');
        }
    }
    if !spec.notes.is_empty() {
        out.push_str("\n## normalised\n");
        for note in &spec.notes {
            out.push_str(&format!("{}: {}\n", note.pointer, note.action));
        }
    }
    Ok(out)
}

fn operation_lines(doc: &Value, builders: &BTreeMap<String, BuilderShape>) -> Vec<String> {
    let mut lines = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return lines;
    };
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let id = op.get("operationId").and_then(Value::as_str).unwrap_or("?");
            let shape = builders
                .get(&id.to_upper_camel_case())
                .cloned()
                .unwrap_or_default();
            let params: Vec<String> = shape
                .params
                .iter()
                .map(|(name, ty, optional)| {
                    format!("{name}{}: {ty}", if *optional { "?" } else { "" })
                })
                .collect();
            let mut ok = Vec::new();
            let mut err = Vec::new();
            if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                for status in responses.keys() {
                    if status.starts_with('2') {
                        ok.push(status.clone());
                    } else {
                        err.push(status.clone());
                    }
                }
            }
            let empty: Vec<String> = op
                .get(EMPTY_SUCCESS_EXTENSION)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let mut line = format!(
                "{} {path} -> {}({}) -> {} {}",
                method.to_uppercase(),
                heck::ToSnakeCase::to_snake_case(id),
                params.join(", "),
                ok.join("/"),
                shape.success,
            );
            if !empty.is_empty() {
                line.push_str(&format!(
                    " | {} empty (.optional() -> None)",
                    empty.join("/")
                ));
            }
            if !err.is_empty() {
                line.push_str(&format!(" ! {} {}", err.join("/"), shape.error));
            }
            lines.push(line);
        }
    }
    lines
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
    text
}

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
        out.push(format!("pattern {p}"));
    }
    let excl = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
    match (num("minimum"), num("maximum")) {
        (None, None) => {}
        (lo, hi) => out.push(format!(
            "{}{}..{}{}",
            if excl("exclusiveMinimum") { "(" } else { "" },
            lo.unwrap_or_default(),
            if excl("exclusiveMaximum") { "" } else { "=" },
            hi.unwrap_or_default()
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
            "string [len 1..=250, pattern ^x$]"
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
