//! One classification rule per test, each driven by a small edit of a spec (not of the
//! surface text): the spec runs through the real stages (check, normalise, generate with
//! progenitor, surface), so each test also shows that the rule sees what progenitor makes of
//! the change.

use customer_data_codegen::diff::classify;
use customer_data_codegen::load::parse;
use customer_data_codegen::services::{FrontEnd, Service};
use customer_data_codegen::surface::{Surface, openapi_surface};
use customer_data_codegen::{check, format, generate, normalise};

static SERVICE: Service = Service {
    slug: "things",
    feature: "things",
    spec: "specs/things.yaml",
    overlay: None,
    front_end: FrontEnd::OpenApi,
};

const BASE: &str = r#"
openapi: 3.0.3
info: {title: Things, version: '1'}
paths:
  /things:
    get:
      operationId: listThings
      parameters:
        - {name: cursor, in: query, required: false, schema: {type: string}}
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: array, items: {$ref: '#/components/schemas/Thing'}}}}}
    post:
      operationId: createThing
      requestBody: {required: true, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
      responses:
        '201': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}
components:
  schemas:
    Thing:
      type: object
      required: [id]
      properties:
        id: {type: string, maxLength: 35}
        kind: {$ref: '#/components/schemas/Kind'}
    Kind: {type: string, enum: [small, large]}
"#;

/// The surface of a spec text, through every OpenAPI stage.
fn surface(text: &str) -> Surface {
    let loaded = parse(std::path::Path::new(SERVICE.spec), text).unwrap();
    check::check(&loaded).unwrap_or_else(|e| panic!("{e}"));
    let normalised = normalise::normalise(&loaded).unwrap();
    let tokens = generate::generate(&normalised, &generate::GenerateOptions::default()).unwrap();
    let provenance = format::Provenance {
        files: &[],
        feature: SERVICE.feature,
    };
    let code = format::format(SERVICE.spec, &provenance, tokens).unwrap();
    openapi_surface(&SERVICE, &normalised, &code, &[]).unwrap()
}

/// The classified lines after replacing `from` by `to` in the base spec.
fn change(from: &str, to: &str) -> Vec<String> {
    assert!(BASE.contains(from), "the base spec has no `{from}`");
    let changed = BASE.replacen(from, to, 1);
    classify(&surface(BASE), &surface(&changed))
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn an_unchanged_spec_has_no_changes() {
    assert_eq!(change("small", "small"), Vec::<String>::new());
}

#[test]
fn a_new_required_query_parameter_is_breaking_at_run_time() {
    let lines = change(
        "        - {name: cursor, in: query, required: false, schema: {type: string}}\n",
        "        - {name: cursor, in: query, required: false, schema: {type: string}}\n        - {name: owner, in: query, required: true, schema: {type: string}}\n",
    );
    assert_eq!(
        lines,
        [
            "BREAKING list_things: new required parameter owner (calls without it still compile \
          but fail at run time: \"owner was not initialized\")"
        ]
    );
}

#[test]
fn a_removed_operation_is_breaking() {
    let lines = change(
        "    post:\n      operationId: createThing",
        "    patch:\n      operationId: createThing",
    );
    // A moved method is not a removal: the Rust method stays, only the route changes.
    assert!(
        lines.iter().all(|l| !l.starts_with("BREAKING")),
        "{lines:?}"
    );
    let lines = change("operationId: createThing", "operationId: makeThing");
    assert!(
        lines.contains(&"BREAKING create_thing: operation removed (POST /things)".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"additive make_thing: new operation (POST /things)".to_string()),
        "{lines:?}"
    );
}

#[test]
fn a_new_enum_value_is_additive_and_a_removed_one_breaking() {
    assert_eq!(
        change("enum: [small, large]", "enum: [small, large, huge]"),
        [
            "additive Kind: new enum value huge (open enum: clients built before read it as \
          unknown)"
        ]
    );
    let lines = change("enum: [small, large]", "enum: [small]");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("BREAKING Kind: enum value large removed"),
        "{lines:?}"
    );
}

#[test]
fn a_new_optional_field_is_additive_and_a_new_required_one_breaking() {
    let lines = change(
        "        kind: {$ref: '#/components/schemas/Kind'}\n",
        "        kind: {$ref: '#/components/schemas/Kind'}\n        note: {type: string}\n",
    );
    assert_eq!(lines, ["additive Thing: new optional field note: string"]);
    let lines = change("required: [id]", "required: [id, kind]");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("BREAKING Thing: field kind became required"),
        "{lines:?}"
    );
}

#[test]
fn a_narrowed_constraint_is_breaking_and_a_widened_one_additive() {
    let lines = change("maxLength: 35", "maxLength: 20");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("BREAKING Thing: field id"),
        "{lines:?}"
    );
    let lines = change("maxLength: 35", "maxLength: 70");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("additive Thing: field id"),
        "{lines:?}"
    );
}

#[test]
fn a_changed_field_type_is_breaking() {
    let lines = change("id: {type: string, maxLength: 35}", "id: {type: integer}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("BREAKING Thing: field id: type "),
        "{lines:?}"
    );
}

#[test]
fn a_changed_return_type_is_breaking() {
    let lines = change(
        "'200': {description: ok, content: {application/json: {schema: {type: array, items: {$ref: '#/components/schemas/Thing'}}}}}",
        "'200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}}",
    );
    assert_eq!(
        lines,
        ["BREAKING list_things: returns Thing (was Vec<Thing>)"]
    );
}
