//! Stage 2, check: refuse a spec that the generator would turn into wrong code (or panic on),
//! naming the file and the JSON pointer of every problem, then parse it into `openapiv3`.
//!
//! What is refused here is what neither the `normalise` stage nor progenitor handle: see
//! `../shared/reference/progenitor-notes.md` for where each rule comes from.

use std::collections::{BTreeMap, BTreeSet};

use heck::ToSnakeCase;
use openapiv3::OpenAPI;
use serde_json::Value;

use crate::error::{CodegenError, Finding, for_each_object, pointer};
use crate::load::LoadedSpec;

/// HTTP methods an OpenAPI path item may hold, in the order progenitor reads them.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Checks `spec` and returns it parsed, or every problem found.
pub fn check(spec: &LoadedSpec) -> Result<OpenAPI, CodegenError> {
    let findings = findings(&spec.document);
    if !findings.is_empty() {
        return Err(CodegenError::Rejected {
            path: spec.path.clone(),
            findings,
        });
    }
    parse_typed(spec)
}

/// Every problem in `document`; empty when the spec can be generated.
pub fn findings(document: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    if !check_version(document, &mut out) {
        // Nothing below is meaningful for another version (or for a non-OpenAPI file).
        return out;
    }
    check_refs(document, &mut out);
    check_patterns(document, &mut out);
    out.extend(crate::varnames::findings(document));
    check_operations(document, &mut out);
    out.extend(crate::rules::findings(document));
    out.extend(crate::type_names::findings(document));
    out.extend(crate::secrets::findings(document));
    // A bad tolerant-decoding declaration is refused here, by pointer, not by the generate
    // stage that applies it. Its messages start with the pointer.
    if let Err(message) = crate::tolerant::Decoding::from_document(document) {
        out.push(match message.split_once(": ") {
            Some((at, what)) if at.starts_with('/') => Finding::new(at, what),
            _ => Finding::new("/info", message),
        });
    }
    out
}

fn check_version(document: &Value, out: &mut Vec<Finding>) -> bool {
    if document.get("swagger").is_some() {
        out.push(Finding::new(
            "/swagger",
            "Swagger 2.0 is not supported: convert the document to OpenAPI 3.0.3",
        ));
        return false;
    }
    match document.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.0.") => true,
        Some(v) => {
            out.push(Finding::new(
                "/openapi",
                format!(
                    "OpenAPI {v} is not supported: the generator (progenitor) reads 3.0.x only; \
                     convert the document to 3.0.3"
                ),
            ));
            false
        }
        None => {
            out.push(Finding::new(
                "/openapi",
                "not an OpenAPI document: the `openapi` version field is missing",
            ));
            false
        }
    }
}

/// Every `$ref` must be local (`#/...`) and must resolve.
fn check_refs(root: &Value, out: &mut Vec<Finding>) {
    for_each_object(root, &mut |at, map| {
        let Some(Value::String(target)) = map.get("$ref") else {
            return;
        };
        let here = format!("{at}/$ref");
        match target.strip_prefix('#') {
            Some(local) if root.pointer(local).is_some() => {}
            Some(_) => out.push(Finding::new(
                here,
                format!("`{target}` does not resolve to anything in this document"),
            )),
            None => out.push(Finding::new(
                here,
                format!("`{target}` is an external reference: inline it into the spec"),
            )),
        }
    });
}

/// Every `pattern` must compile with `regress`, the ECMAScript regex engine the generated
/// validators use; otherwise the generated code would fail at run time, not here.
fn check_patterns(root: &Value, out: &mut Vec<Finding>) {
    for_each_object(root, &mut |at, map| {
        if let Some(Value::String(pattern)) = map.get("pattern")
            && let Err(e) = regress::Regex::new(pattern)
        {
            out.push(Finding::new(
                format!("{at}/pattern"),
                format!("pattern `{pattern}` is not a valid ECMAScript regex: {e}"),
            ));
        }
    });
}

/// Follows a local `$ref` (one level at a time) until a non-reference value is reached.
pub fn resolve<'a>(root: &'a Value, mut value: &'a Value) -> &'a Value {
    // Bounded so that a reference cycle cannot hang the generator.
    for _ in 0..32 {
        match value
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| root.pointer(p))
        {
            Some(next) => value = next,
            None => return value,
        }
    }
    value
}

/// Is `media_type` JSON after normalisation (`application/json`, or any `+json` type)?
pub fn is_json_media_type(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or("").trim();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// What an operation's response body turns into in the generated code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum BodyKind {
    /// A typed JSON body; the string identifies the schema (its `$ref`, or its text).
    Json(String),
    /// A non-JSON body, handed over as a byte stream.
    Raw,
    /// No body.
    Empty,
}

pub(crate) fn body_kind(root: &Value, response: &Value) -> BodyKind {
    let response = resolve(root, response);
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return BodyKind::Empty;
    };
    if content.is_empty() {
        return BodyKind::Empty;
    }
    match content.iter().find(|(mt, _)| is_json_media_type(mt)) {
        Some((_, media)) => {
            let schema = media.get("schema").cloned().unwrap_or(Value::Null);
            let id = match schema.get("$ref").and_then(Value::as_str) {
                Some(r) => r.to_string(),
                None => schema.to_string(),
            };
            BodyKind::Json(id)
        }
        None => BodyKind::Raw,
    }
}

fn is_success_status(status: &str) -> bool {
    status.starts_with('2')
}

fn check_operations(root: &Value, out: &mut Vec<Finding>) {
    let Some(paths) = root.get("paths").and_then(Value::as_object) else {
        return;
    };
    // operationId -> first pointer; snake_case name -> (operationId, pointer)
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut snake: BTreeMap<String, (String, String)> = BTreeMap::new();

    for (path, item) in paths {
        if item.get("$ref").is_some() {
            out.push(Finding::new(
                pointer(["paths", path, "$ref"]),
                "a path item `$ref` is not supported: write the operations inline",
            ));
            continue;
        }
        let shared_params = item.get("parameters");
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let at = pointer(["paths", path, method]);

            match operation.get("operationId").and_then(Value::as_str) {
                None => out.push(Finding::new(
                    at.clone(),
                    "missing operationId: the generated method is named after it",
                )),
                Some(id) => {
                    if let Some(first) = ids.get(id) {
                        out.push(Finding::new(
                            format!("{at}/operationId"),
                            format!("operationId `{id}` is already used at {first}"),
                        ));
                    } else {
                        ids.insert(id.to_string(), at.clone());
                        let method_name = id.to_snake_case();
                        if let Some((other, other_at)) = snake.get(&method_name) {
                            out.push(Finding::new(
                                format!("{at}/operationId"),
                                format!(
                                    "operationId `{id}` and `{other}` (at {other_at}) both \
                                     become the Rust method `{method_name}`"
                                ),
                            ));
                        } else {
                            snake.insert(method_name, (id.to_string(), at.clone()));
                        }
                    }
                }
            }

            let params = shared_params
                .into_iter()
                .chain(operation.get("parameters"))
                .filter_map(Value::as_array)
                .flatten();
            check_parameters(root, &at, params, out);
            check_request_body(root, &at, operation.get("requestBody"), out);
            check_responses(root, &at, operation.get("responses"), out);
        }
    }
}

fn check_parameters<'a>(
    root: &Value,
    at: &str,
    params: impl Iterator<Item = &'a Value>,
    out: &mut Vec<Finding>,
) {
    for param in params {
        let param = resolve(root, param);
        let name = param.get("name").and_then(Value::as_str).unwrap_or("?");
        match param.get("in").and_then(Value::as_str) {
            Some("cookie") => out.push(Finding::new(
                format!("{at}/parameters"),
                format!("cookie parameter `{name}` is not supported by the generator"),
            )),
            Some("query") if param.get("style").and_then(Value::as_str) == Some("deepObject") => {
                out.push(Finding::new(
                    format!("{at}/parameters"),
                    format!("query parameter `{name}` uses style deepObject, which the generator cannot encode"),
                ))
            }
            _ => {}
        }
    }
}

fn check_request_body(root: &Value, at: &str, body: Option<&Value>, out: &mut Vec<Finding>) {
    let Some(body) = body else { return };
    let body = resolve(root, body);
    let Some(content) = body.get("content").and_then(Value::as_object) else {
        return;
    };
    let at = format!("{at}/requestBody/content");
    if content.len() > 1 {
        let types: Vec<&str> = content.keys().map(String::as_str).collect();
        out.push(Finding::new(
            at.clone(),
            format!(
                "more than one request body type ({}): the generator supports one per operation",
                types.join(", ")
            ),
        ));
    }
    for media_type in content.keys() {
        if media_type.starts_with("multipart/") || media_type.contains("merge-patch") {
            out.push(Finding::new(
                format!("{at}/{}", crate::error::escape_pointer_token(media_type)),
                format!("request body type `{media_type}` is not supported by the generator"),
            ));
        }
    }
}

fn check_responses(root: &Value, at: &str, responses: Option<&Value>, out: &mut Vec<Finding>) {
    let Some(responses) = responses.and_then(Value::as_object) else {
        out.push(Finding::new(at, "the operation declares no responses"));
        return;
    };
    let at = format!("{at}/responses");
    if responses.contains_key("default") {
        out.push(Finding::new(
            format!("{at}/default"),
            "a `default` response counts as both success and error in the generator: \
             list the status codes (or `4XX`/`5XX`) instead",
        ));
    }
    let mut success: BTreeSet<BodyKind> = BTreeSet::new();
    let mut errors: BTreeMap<BodyKind, Vec<&str>> = BTreeMap::new();
    for (status, response) in responses {
        if status == "default" {
            continue;
        }
        let has_schemaless_json = resolve(root, response)
            .get("content")
            .and_then(Value::as_object)
            .is_some_and(|c| {
                c.iter()
                    .any(|(mt, media)| is_json_media_type(mt) && media.get("schema").is_none())
            });
        if has_schemaless_json {
            out.push(Finding::new(
                format!(
                    "{at}/{}/content",
                    crate::error::escape_pointer_token(status)
                ),
                "a JSON response without a `schema`: give it one (`{}` for any JSON)",
            ));
        }
        let kind = body_kind(root, response);
        if is_success_status(status) {
            success.insert(kind);
        } else if status.starts_with('4') || status.starts_with('5') {
            errors.entry(kind).or_default().push(status);
        }
    }
    // One typed success plus empty siblings (200 + 204) is handled by `normalise`.
    let typed_or_raw: Vec<&BodyKind> = success.iter().filter(|k| **k != BodyKind::Empty).collect();
    if typed_or_raw.len() > 1 {
        out.push(Finding::new(
            at.clone(),
            format!(
                "success responses have {} different body types ({}): the generator supports one; \
                 give them one schema",
                typed_or_raw.len(),
                describe(typed_or_raw.iter().copied())
            ),
        ));
    }
    if errors.len() > 1 {
        let detail: Vec<String> = errors
            .iter()
            .map(|(kind, statuses)| format!("{} for {}", describe([kind]), statuses.join("/")))
            .collect();
        out.push(Finding::new(
            at,
            format!(
                "error responses have {} different body types ({}): the generator supports one; \
                 use one error schema (e.g. a problem document) for every error status",
                errors.len(),
                detail.join("; ")
            ),
        ));
    }
}

fn describe<'a>(kinds: impl IntoIterator<Item = &'a BodyKind>) -> String {
    kinds
        .into_iter()
        .map(|k| match k {
            BodyKind::Json(id) if id.starts_with("#/") => id.clone(),
            BodyKind::Json(_) => "an inline JSON schema".to_string(),
            BodyKind::Raw => "a non-JSON body".to_string(),
            BodyKind::Empty => "no body".to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses the checked document into the typed model, locating any shape error.
pub(crate) fn parse_typed(spec: &LoadedSpec) -> Result<OpenAPI, CodegenError> {
    serde_path_to_error::deserialize(&spec.document).map_err(|e| {
        let at = e.path().to_string();
        CodegenError::Parse {
            path: spec.path.clone(),
            pointer: if at == "." {
                String::new()
            } else {
                format!("/{}", at.replace('.', "/"))
            },
            message: format!("not a valid OpenAPI 3.0 document: {}", e.inner()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/things": {
                    "get": {
                        "operationId": "listThings",
                        "responses": {
                            "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                            "400": {"$ref": "#/components/responses/Problem"},
                            "5XX": {"$ref": "#/components/responses/Problem"}
                        }
                    }
                }
            },
            "components": {
                "schemas": {"Thing": {"type": "object"}, "Problem": {"type": "object"}},
                "responses": {"Problem": {"description": "p", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
            }
        })
    }

    fn messages(doc: &Value) -> Vec<String> {
        findings(doc)
            .into_iter()
            .map(|f| format!("{}: {}", f.pointer, f.message))
            .collect()
    }

    #[test]
    fn accepts_a_clean_spec() {
        assert_eq!(messages(&minimal()), Vec::<String>::new());
        let spec = LoadedSpec {
            path: "specs/t.yaml".into(),
            document: minimal(),
        };
        let parsed = check(&spec).unwrap();
        assert_eq!(parsed.paths.paths.len(), 1);
    }

    #[test]
    fn rejects_openapi_3_1_naming_file_and_pointer() {
        let mut doc = minimal();
        doc["openapi"] = json!("3.1.0");
        let spec = LoadedSpec {
            path: "specs/new.yaml".into(),
            document: doc,
        };
        let text = check(&spec).unwrap_err().to_string();
        assert!(
            text.contains("specs/new.yaml#/openapi: OpenAPI 3.1.0 is not supported"),
            "{text}"
        );
    }

    #[test]
    fn rejects_a_retry_safe_declaration_without_a_reason() {
        let mut doc = minimal();
        doc["paths"]["/things"]["get"]["x-customer-data-retry-safe"] = json!(true);
        assert_eq!(
            messages(&doc),
            vec![
                "/paths/~1things/get/x-customer-data-retry-safe: must be a string saying why \
                 repeating this operation is harmless, not a boolean"
                    .to_string()
            ]
        );
        doc["paths"]["/things"]["get"]["x-customer-data-retry-safe"] = json!("a read");
        assert_eq!(messages(&doc), Vec::<String>::new());
    }

    #[test]
    fn rejects_swagger_and_non_openapi() {
        assert!(messages(&json!({"swagger": "2.0"}))[0].starts_with("/swagger: Swagger 2.0"));
        assert!(messages(&json!({"info": {}}))[0].contains("`openapi` version field is missing"));
    }

    #[test]
    fn rejects_missing_duplicate_and_colliding_operation_ids() {
        let mut doc = minimal();
        let op = doc["paths"]["/things"]["get"].clone();
        let mut no_id = op.clone();
        no_id.as_object_mut().unwrap().remove("operationId");
        doc["paths"]["/things"]["delete"] = no_id;
        doc["paths"]["/other"] = json!({"get": op.clone()});
        let mut colliding = op;
        colliding["operationId"] = json!("list_things");
        doc["paths"]["/third"] = json!({"get": colliding});
        let found = messages(&doc);
        assert!(
            found.contains(&"/paths/~1things/delete: missing operationId: the generated method is named after it".to_string()),
            "{found:?}"
        );
        assert!(
            found.iter().any(|m| m.starts_with("/paths/~1other/get/operationId: operationId `listThings` is already used at /paths/~1things/get")),
            "{found:?}"
        );
        assert!(
            found.iter().any(
                |m| m.contains("`list_things` and `listThings`") && m.contains("`list_things`")
            ),
            "{found:?}"
        );
    }

    #[test]
    fn rejects_two_request_body_types_and_multipart() {
        let mut doc = minimal();
        doc["paths"]["/things"]["get"]["requestBody"] = json!({"content": {
            "application/json": {"schema": {"type": "object"}},
            "multipart/form-data": {"schema": {"type": "object"}}
        }});
        let found = messages(&doc);
        assert!(found.iter().any(|m| m.starts_with("/paths/~1things/get/requestBody/content: more than one request body type (application/json, multipart/form-data)")), "{found:?}");
        assert!(
            found.iter().any(|m| m.starts_with(
                "/paths/~1things/get/requestBody/content/multipart~1form-data: request body type"
            )),
            "{found:?}"
        );
    }

    #[test]
    fn rejects_default_and_mixed_response_types_but_not_empty_siblings() {
        let mut doc = minimal();
        let responses = &mut doc["paths"]["/things"]["get"]["responses"];
        responses["204"] = json!({"description": "none"});
        assert_eq!(
            messages(&doc),
            Vec::<String>::new(),
            "200 + empty 204 is normalised"
        );

        let responses = &mut doc["paths"]["/things"]["get"]["responses"];
        responses["201"] = json!({"description": "x", "content": {"application/json": {"schema": {"type": "string"}}}});
        responses["404"] = json!({"description": "x", "content": {"text/plain": {}}});
        responses["default"] = json!({"description": "x"});
        let found = messages(&doc);
        assert!(
            found
                .iter()
                .any(|m| m
                    .starts_with("/paths/~1things/get/responses/default: a `default` response")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|m| m.contains("success responses have 2 different body types")),
            "{found:?}"
        );
        assert!(
            found.iter().any(
                |m| m.contains("error responses have 2 different body types")
                    && m.contains("a non-JSON body for 404")
            ),
            "{found:?}"
        );
    }

    #[test]
    fn rejects_a_json_response_without_schema() {
        let mut doc = minimal();
        doc["paths"]["/things"]["get"]["responses"]["200"]["content"]["application/json"] =
            json!({});
        let found = messages(&doc);
        assert!(
            found.iter().any(|m| m.starts_with(
                "/paths/~1things/get/responses/200/content: a JSON response without a `schema`"
            )),
            "{found:?}"
        );
    }

    #[test]
    fn rejects_cookie_and_deep_object_parameters() {
        let mut doc = minimal();
        doc["paths"]["/things"]["get"]["parameters"] = json!([
            {"name": "session", "in": "cookie", "schema": {"type": "string"}},
            {"name": "filter", "in": "query", "style": "deepObject", "schema": {"type": "object"}}
        ]);
        let found = messages(&doc);
        assert!(
            found
                .iter()
                .any(|m| m.contains("cookie parameter `session`")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|m| m.contains("`filter` uses style deepObject")),
            "{found:?}"
        );
    }

    #[test]
    fn rejects_dangling_and_external_refs() {
        let mut doc = minimal();
        doc["components"]["schemas"]["Thing"] = json!({"properties": {
            "a": {"$ref": "#/components/schemas/Missing"},
            "b": {"$ref": "other.yaml#/X"}
        }});
        let found = messages(&doc);
        assert!(found.contains(&"/components/schemas/Thing/properties/a/$ref: `#/components/schemas/Missing` does not resolve to anything in this document".to_string()), "{found:?}");
        assert!(
            found
                .iter()
                .any(|m| m.contains("`other.yaml#/X` is an external reference")),
            "{found:?}"
        );
    }

    #[test]
    fn rejects_patterns_the_validators_cannot_compile() {
        let mut doc = minimal();
        doc["components"]["schemas"]["Thing"] = json!({"properties": {
            "ok": {"type": "string", "pattern": "^(?!_)[a-z]+$"},
            "bad": {"type": "string", "pattern": "([a-z"}
        }});
        let found = messages(&doc);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("/components/schemas/Thing/properties/bad/pattern: pattern `([a-z` is not a valid ECMAScript regex"), "{found:?}");
    }

    #[test]
    fn rejects_a_bad_decoding_declaration_by_pointer() {
        let mut doc = minimal();
        doc["info"]["x-customer-data-decoding"] = json!({"member-names": "loose", "reason": "r"});
        assert_eq!(
            messages(&doc),
            [
                "/info/x-customer-data-decoding/member-names: `case-insensitive` or `exact`, not \"loose\""
            ]
        );
    }

    #[test]
    fn shape_errors_are_located() {
        let mut doc = minimal();
        doc["paths"]["/things"]["get"]["responses"]["200"]["description"] = json!(42);
        let spec = LoadedSpec {
            path: "specs/t.yaml".into(),
            document: doc,
        };
        let text = check(&spec).unwrap_err().to_string();
        assert!(text.starts_with("specs/t.yaml#/paths"), "{text}");
        assert!(text.contains("not a valid OpenAPI 3.0 document"), "{text}");
    }
}
