//! Check rule: two different schemas must not become the same Rust type.
//!
//! typify names every schema that becomes a type of its own: a component by its name, an
//! inline one after where it sits (`contact.medium` -> `ContactMedium`, an array's items ->
//! `…Item`, a map's values -> `…Value`), unless the inline schema has a `title`; progenitor
//! names inline parameter, body and response schemas after the operation
//! (`getPersons-limit`, `getPersons-body`, `getPersons-response`). When a second, different
//! schema gets a name already taken, typify silently reuses the first type for it
//! (typify-impl 0.8 `TypeSpace::assign_type`), so one of the two is decoded as the other. This
//! rule predicts those names and refuses such a collision with both pointers.

use std::collections::BTreeMap;

use heck::{ToPascalCase, ToSnakeCase};
use serde_json::Value;

use crate::check::METHODS;
use crate::error::{Finding, pointer};

/// A schema that becomes a named Rust type.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedSchema {
    /// JSON pointer of the schema.
    pub pointer: String,
    pub schema: Value,
}

/// Every schema the generator turns into a named type, by the Rust name it gets.
pub fn named_schemas(document: &Value) -> BTreeMap<String, Vec<NamedSchema>> {
    let mut names: BTreeMap<String, Vec<NamedSchema>> = BTreeMap::new();
    let mut add = |name: String, at: String, schema: &Value| {
        names.entry(name).or_default().push(NamedSchema {
            pointer: at,
            schema: schema.clone(),
        });
    };
    if let Some(schemas) = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in schemas {
            let at = pointer(["components", "schemas", name]);
            let rust = rust_name(name);
            add(rust.clone(), at.clone(), schema);
            inline_names(schema, &rust, &at, &mut add);
        }
    }
    let paths = document.get("paths").and_then(Value::as_object);
    for (path, item) in paths.into_iter().flatten() {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let Some(id) = operation.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let at = pointer(["paths", path, method]);
            let params = item
                .get("parameters")
                .into_iter()
                .chain(operation.get("parameters"))
                .filter_map(Value::as_array)
                .flatten();
            for (i, param) in params.enumerate() {
                let (Some(name), Some(schema)) = (
                    param.get("name").and_then(Value::as_str),
                    param.get("schema"),
                ) else {
                    continue;
                };
                suggest(
                    schema,
                    &rust_name(&format!("{id}-{name}")),
                    &format!("{at}/parameters/{i}/schema"),
                    &mut add,
                );
            }
            let body = operation.pointer("/requestBody/content");
            for (media, content) in body.and_then(Value::as_object).into_iter().flatten() {
                if let Some(schema) = content.get("schema") {
                    let media = crate::error::escape_pointer_token(media);
                    suggest(
                        schema,
                        &rust_name(&format!("{id}-body")),
                        &format!("{at}/requestBody/content/{media}/schema"),
                        &mut add,
                    );
                }
            }
            let responses = operation.get("responses").and_then(Value::as_object);
            for (status, response) in responses.into_iter().flatten() {
                let content = response.get("content").and_then(Value::as_object);
                for (media, content) in content.into_iter().flatten() {
                    if let Some(schema) = content.get("schema") {
                        let status = crate::error::escape_pointer_token(status);
                        let media = crate::error::escape_pointer_token(media);
                        suggest(
                            schema,
                            &rust_name(&format!("{id}-response")),
                            &format!("{at}/responses/{status}/content/{media}/schema"),
                            &mut add,
                        );
                    }
                }
            }
        }
    }
    names
}

/// One finding per Rust name that two different schemas would share.
pub fn findings(document: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, schemas) in named_schemas(document) {
        let Some(first) = schemas.first() else {
            continue;
        };
        for other in schemas.iter().skip(1) {
            if other.schema != first.schema {
                out.push(Finding::new(
                    other.pointer.clone(),
                    format!(
                        "the schemas at {} and {} both become the Rust type `{name}`, and the \
                         generator would silently use the first for both: rename the \
                         component, or give the inline schema a `title`",
                        first.pointer, other.pointer
                    ),
                ));
            }
        }
    }
    out
}

/// typify's name for a schema called `name` (`sanitize(name, Case::Pascal)`).
pub fn rust_name(name: &str) -> String {
    let cleaned: String = name
        .replace('\'', "")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let pascal = cleaned.to_pascal_case();
    match pascal.chars().next() {
        Some(c) if c.is_alphabetic() || c == '_' => pascal,
        _ => format!("X{pascal}"),
    }
}

/// A schema at `at` that typify would name `suggested` (unless it has a `title`).
fn suggest(schema: &Value, suggested: &str, at: &str, add: &mut dyn FnMut(String, String, &Value)) {
    if schema.get("$ref").is_some() {
        return;
    }
    let name = match schema.get("title").and_then(Value::as_str) {
        Some(title) => rust_name(title),
        None => suggested.to_string(),
    };
    if is_named_type(schema) {
        add(name.clone(), at.to_string(), schema);
    }
    inline_names(schema, &name, at, add);
}

/// The inline schemas inside `schema` (named `base`) that become types of their own.
fn inline_names(schema: &Value, base: &str, at: &str, add: &mut dyn FnMut(String, String, &Value)) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (prop, sub) in properties {
            let suggested = rust_name(&format!("{base}_{}", prop.to_snake_case()));
            let sub_at = format!(
                "{at}/properties/{}",
                crate::error::escape_pointer_token(prop)
            );
            suggest(sub, &suggested, &sub_at, add);
        }
    }
    if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
        suggest(items, &format!("{base}Item"), &format!("{at}/items"), add);
    }
    if let Some(values) = schema
        .get("additionalProperties")
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    {
        suggest(
            values,
            &format!("{base}Value"),
            &format!("{at}/additionalProperties"),
            add,
        );
    }
}

/// Does typify make a named type of this (inline) schema: an enum, an object with members, a
/// union, or a string with constraints (a validated newtype)?
fn is_named_type(schema: &Value) -> bool {
    let has = |key: &str| schema.get(key).is_some();
    has("enum")
        || schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty())
        || has("oneOf")
        || has("anyOf")
        || schema
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|parts| parts.len() > 1)
        || (schema.get("type").and_then(Value::as_str) == Some("string")
            && (has("maxLength") || has("minLength") || has("pattern")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_typify() {
        assert_eq!(rust_name("contactMedium"), "ContactMedium");
        assert_eq!(rust_name("getPersons-limit"), "GetPersonsLimit");
        assert_eq!(rust_name("Contact_medium"), "ContactMedium");
        assert_eq!(rust_name("3ds"), "X3ds");
    }

    #[test]
    fn an_inline_enum_and_a_component_of_the_same_name_collide() {
        let doc = json!({"components": {"schemas": {
            "contact": {"type": "object", "properties": {
                "medium": {"type": "string", "enum": ["email", "phone"]}
            }},
            "contactMedium": {"type": "string", "enum": ["EMAIL", "PHONE"]}
        }}});
        let found: Vec<String> = findings(&doc)
            .into_iter()
            .map(|f| format!("{}: {}", f.pointer, f.message))
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "/components/schemas/contactMedium: the schemas at \
                 /components/schemas/contact/properties/medium and \
                 /components/schemas/contactMedium both become the Rust type `ContactMedium`"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn identical_schemas_and_titled_ones_do_not_collide() {
        let doc = json!({"components": {"schemas": {
            "contact": {"type": "object", "properties": {
                "medium": {"type": "string", "enum": ["EMAIL"]},
                "kind": {"title": "ContactKindOfMedium", "type": "string", "enum": ["A"]}
            }},
            "contactMedium": {"type": "string", "enum": ["EMAIL"]},
            "contactKind": {"type": "string", "enum": ["B"]}
        }}});
        assert_eq!(findings(&doc), Vec::<Finding>::new());
    }

    #[test]
    fn operation_schemas_are_named_after_the_operation() {
        let doc = json!({
            "paths": {"/a": {"get": {"operationId": "getA",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "string", "maxLength": 3}}],
                "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "properties": {"x": {"type": "string"}}}}}}}
            }}},
            "components": {"schemas": {"GetALimit": {"type": "string"}, "getAResponse": {"type": "object"}}}
        });
        let pointers: Vec<String> = findings(&doc).into_iter().map(|f| f.pointer).collect();
        assert_eq!(
            pointers,
            [
                "/paths/~1a/get/parameters/0/schema",
                "/paths/~1a/get/responses/200/content/application~1json/schema"
            ]
        );
    }
}
