//! Stage 3, normalise: rewrite a checked spec into the form the generator types correctly.
//! Every rewrite is generic (it helps every spec) and is recorded as a [`Note`] that the
//! API-surface snapshot shows, so a reviewer sees what the generator was actually given.
//!
//! - `application/problem+json` (any `application/*+json`) responses become
//!   `application/json`, so error bodies are typed instead of raw byte streams.
//! - Inline error-response schemas are lifted into named components, because progenitor can
//!   mistype an unnamed error schema as the success type.
//! - An empty 2xx beside one typed 2xx (e.g. 200 person / 204 no match) is moved into the
//!   operation's `x-customer-data-empty-success` list: progenitor supports one success body
//!   type per operation. The client then reports that status as
//!   `Error::UnexpectedResponse`, which the runtime's `OptionalResponse` turns into `None`.

use std::collections::BTreeMap;

use heck::ToUpperCamelCase;
use openapiv3::OpenAPI;
use serde_json::{Map, Value};

use crate::check::{BodyKind, METHODS, body_kind, is_json_media_type};
use crate::error::{CodegenError, pointer};
use crate::load::LoadedSpec;

/// The operation extension that lists the empty success statuses moved aside.
pub const EMPTY_SUCCESS_EXTENSION: &str = "x-customer-data-empty-success";

/// One rewrite the normalise stage made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Note {
    /// Where in the original document.
    pub pointer: String,
    /// What was done.
    pub action: String,
}

/// A spec ready for the generator: the rewritten document, its typed form, and the notes.
#[derive(Debug, Clone)]
pub struct NormalisedSpec {
    pub path: std::path::PathBuf,
    pub document: Value,
    pub openapi: OpenAPI,
    pub notes: Vec<Note>,
}

/// Applies every rewrite to a checked spec.
pub fn normalise(spec: &LoadedSpec) -> Result<NormalisedSpec, CodegenError> {
    let mut document = spec.document.clone();
    let mut notes = Vec::new();
    json_media_types(&mut document, &mut notes);
    lift_inline_error_schemas(&mut document, &mut notes);
    empty_success_aside(&mut document, &mut notes);
    notes.sort();
    let openapi = crate::check::parse_typed(&LoadedSpec {
        path: spec.path.clone(),
        document: document.clone(),
    })?;
    Ok(NormalisedSpec {
        path: spec.path.clone(),
        document,
        openapi,
        notes,
    })
}

/// Calls `f(pointer, operation)` for every operation, in document order.
fn for_each_operation(document: &mut Value, mut f: impl FnMut(&str, &mut Map<String, Value>)) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                f(&pointer(["paths", path, method]), op);
            }
        }
    }
}

/// The `content` maps of every response, in operations and in `components/responses`.
fn response_contents(document: &mut Value) -> Vec<(String, &mut Map<String, Value>)> {
    let mut out = Vec::new();
    let (paths, components) = match document.as_object_mut() {
        Some(root) => {
            let mut paths = None;
            let mut components = None;
            for (key, value) in root.iter_mut() {
                match key.as_str() {
                    "paths" => paths = Some(value),
                    "components" => components = Some(value),
                    _ => {}
                }
            }
            (paths, components)
        }
        None => return out,
    };
    if let Some(paths) = paths.and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                if !METHODS.contains(&method.as_str()) {
                    continue;
                }
                let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                    continue;
                };
                for (status, response) in responses.iter_mut() {
                    if let Some(content) =
                        response.get_mut("content").and_then(Value::as_object_mut)
                    {
                        let at = pointer(["paths", path, method, "responses", status, "content"]);
                        out.push((at, content));
                    }
                }
            }
        }
    }
    if let Some(responses) = components
        .and_then(|c| c.get_mut("responses"))
        .and_then(Value::as_object_mut)
    {
        for (name, response) in responses.iter_mut() {
            if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) {
                out.push((
                    pointer(["components", "responses", name, "content"]),
                    content,
                ));
            }
        }
    }
    out
}

/// `application/*+json` -> `application/json` where no plain JSON entry exists.
fn json_media_types(document: &mut Value, notes: &mut Vec<Note>) {
    for (at, content) in response_contents(document) {
        if content.contains_key("application/json") {
            continue;
        }
        let Some(media_type) = content.keys().find(|mt| is_json_media_type(mt)).cloned() else {
            continue;
        };
        let Some(value) = content.shift_remove(&media_type) else {
            continue;
        };
        content.insert("application/json".to_string(), value);
        notes.push(Note {
            pointer: format!("{at}/{}", crate::error::escape_pointer_token(&media_type)),
            action: format!("`{media_type}` read as `application/json` so the body is typed"),
        });
    }
}

fn is_error_status(status: &str) -> bool {
    status.starts_with('4') || status.starts_with('5')
}

/// Moves every inline schema of an error response into `components/schemas`.
/// Identical inline schemas share one name, so an operation keeps one error type.
fn lift_inline_error_schemas(document: &mut Value, notes: &mut Vec<Note>) {
    let mut lifted: BTreeMap<String, String> = BTreeMap::new(); // schema text -> name
    let mut new_schemas: Vec<(String, Value)> = Vec::new();
    let mut taken: std::collections::BTreeSet<String> = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();

    let mut lift = |at: String, base: String, schema: &mut Value, notes: &mut Vec<Note>| {
        if schema.get("$ref").is_some() {
            return;
        }
        let text = schema.to_string();
        let name = match lifted.get(&text) {
            Some(name) => name.clone(),
            None => {
                let mut name = base.clone();
                let mut n = 2;
                while taken.contains(&name) {
                    name = format!("{base}{n}");
                    n += 1;
                }
                taken.insert(name.clone());
                lifted.insert(text, name.clone());
                new_schemas.push((name.clone(), schema.clone()));
                name
            }
        };
        *schema = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
        notes.push(Note {
            pointer: at,
            action: format!("inline error schema lifted to `#/components/schemas/{name}`"),
        });
    };

    // Shared responses first: their names are the natural ones.
    if let Some(responses) = document
        .pointer_mut("/components/responses")
        .and_then(Value::as_object_mut)
    {
        for (name, response) in responses.iter_mut() {
            if let Some(schema) = response.pointer_mut("/content/application~1json/schema") {
                let at = pointer([
                    "components",
                    "responses",
                    name,
                    "content",
                    "application/json",
                    "schema",
                ]);
                lift(
                    at,
                    format!("{}Body", name.to_upper_camel_case()),
                    schema,
                    notes,
                );
            }
        }
    }
    for_each_operation(document, |at, op| {
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or("operation")
            .to_upper_camel_case();
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        for (status, response) in responses.iter_mut() {
            if !is_error_status(status) {
                continue;
            }
            if let Some(schema) = response.pointer_mut("/content/application~1json/schema") {
                let here = format!("{at}/responses/{status}/content/application~1json/schema");
                lift(here, format!("{id}Error"), schema, notes);
            }
        }
    });

    if new_schemas.is_empty() {
        return;
    }
    let Some(root) = document.as_object_mut() else {
        return;
    };
    let components = root
        .entry("components")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(components) = components.as_object_mut() else {
        return;
    };
    let schemas = components
        .entry("schemas")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(schemas) = schemas.as_object_mut() {
        for (name, schema) in new_schemas {
            schemas.insert(name, schema);
        }
    }
}

/// Moves empty 2xx responses aside when the operation also has a typed 2xx.
fn empty_success_aside(document: &mut Value, notes: &mut Vec<Note>) {
    let root = document.clone();
    for_each_operation(document, |at, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        let success: Vec<(String, bool)> = responses
            .iter()
            .filter(|(status, _)| status.starts_with('2'))
            .map(|(status, r)| (status.clone(), body_kind(&root, r) == BodyKind::Empty))
            .collect();
        let typed = success.iter().filter(|(_, empty)| !empty).count();
        if typed != 1 {
            return;
        }
        let empties: Vec<String> = success
            .into_iter()
            .filter(|(_, empty)| *empty)
            .map(|(status, _)| status)
            .collect();
        if empties.is_empty() {
            return;
        }
        for status in &empties {
            responses.shift_remove(status);
            notes.push(Note {
                pointer: format!("{at}/responses/{status}"),
                action: format!(
                    "empty {status} moved to `{EMPTY_SUCCESS_EXTENSION}`: the client reports it as \
                     Error::UnexpectedResponse (use OptionalResponse to read it as None)"
                ),
            });
        }
        op.insert(
            EMPTY_SUCCESS_EXTENSION.to_string(),
            Value::Array(empties.into_iter().map(Value::String).collect()),
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(document: Value) -> LoadedSpec {
        LoadedSpec {
            path: "specs/t.yaml".into(),
            document,
        }
    }

    fn base() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/p/{id}": {"get": {
                "operationId": "getP",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/P"}}}},
                    "204": {"description": "none"},
                    "404": {"description": "nf", "content": {"application/problem+json": {"schema": {"type": "object", "properties": {"title": {"type": "string"}}}}}},
                    "500": {"description": "se", "content": {"application/problem+json": {"schema": {"type": "object", "properties": {"title": {"type": "string"}}}}}}
                }
            }}},
            "components": {"schemas": {"P": {"type": "object"}, "GetPError": {"type": "string"}}}
        })
    }

    #[test]
    fn problem_json_becomes_json_with_a_note() {
        let out = normalise(&spec(base())).unwrap();
        let content = out
            .document
            .pointer("/paths/~1p~1{id}/get/responses/404/content")
            .unwrap();
        assert!(content.get("application/json").is_some());
        assert!(content.get("application/problem+json").is_none());
        assert!(out.notes.iter().any(|n| n.pointer
            == "/paths/~1p~1{id}/get/responses/404/content/application~1problem+json"
            && n.action.contains("read as `application/json`")));
    }

    #[test]
    fn identical_inline_error_schemas_share_one_lifted_name_avoiding_collisions() {
        let out = normalise(&spec(base())).unwrap();
        // `GetPError` is taken, so the lifted schema is `GetPError2`, used by 404 and 500.
        for status in ["404", "500"] {
            let schema = out
                .document
                .pointer(&format!(
                    "/paths/~1p~1{{id}}/get/responses/{status}/content/application~1json/schema"
                ))
                .unwrap();
            assert_eq!(schema, &json!({"$ref": "#/components/schemas/GetPError2"}));
        }
        assert_eq!(
            out.document
                .pointer("/components/schemas/GetPError2/properties/title/type"),
            Some(&json!("string"))
        );
        assert_eq!(
            out.document.pointer("/components/schemas/GetPError"),
            Some(&json!({"type": "string"}))
        );
    }

    #[test]
    fn empty_success_beside_typed_success_is_moved_aside() {
        let out = normalise(&spec(base())).unwrap();
        let op = out.document.pointer("/paths/~1p~1{id}/get").unwrap();
        assert!(op.pointer("/responses/204").is_none());
        assert!(op.pointer("/responses/200").is_some());
        assert_eq!(op[EMPTY_SUCCESS_EXTENSION], json!(["204"]));
        assert!(
            out.notes
                .iter()
                .any(|n| n.pointer.ends_with("/responses/204"))
        );
    }

    #[test]
    fn only_empty_successes_are_left_alone() {
        let mut doc = base();
        let responses = doc.pointer_mut("/paths/~1p~1{id}/get/responses").unwrap();
        responses.as_object_mut().unwrap().remove("200");
        responses["202"] = json!({"description": "accepted"});
        let out = normalise(&spec(doc)).unwrap();
        let op = out.document.pointer("/paths/~1p~1{id}/get").unwrap();
        assert!(op.pointer("/responses/204").is_some());
        assert!(op.pointer("/responses/202").is_some());
        assert!(op.get(EMPTY_SUCCESS_EXTENSION).is_none());
    }

    #[test]
    fn a_clean_spec_passes_through_unchanged() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"get": {"operationId": "a", "responses": {"200": {"description": "ok"}}}}}
        });
        let out = normalise(&spec(doc.clone())).unwrap();
        assert_eq!(out.document, doc);
        assert!(out.notes.is_empty());
    }
}
