//! Stage 1b, patch: apply an OpenAPI Overlay 1.0 document to an upstream spec that we keep
//! byte for byte (e.g. OpenWealth's Customer Management API for SIX bLink), so every vendor
//! difference is a separate, reviewable action.
//!
//! Each action has a `target` (an RFC 9535 JSONPath) and either `update` or `remove: true`.
//! `update` is merged into every node the target selects: objects merge recursively, where both
//! sides hold an array the update's items are appended, any other value replaces; when the
//! target node itself is an array, the update's items are appended to it. Actions apply in
//! order. An action that selects nothing is not an error: it is reported (and shown in the
//! API-surface snapshot) as no longer applying, which is what a user needs to see after
//! dropping in a new upstream version.

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::error::{CodegenError, Finding, escape_pointer_token};
use crate::load::LoadedSpec;

/// What one overlay action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionReport {
    /// Position in the overlay's `actions` list.
    pub index: usize,
    pub target: String,
    pub description: String,
    /// How many nodes the target selected (0: the action no longer applies).
    pub matched: usize,
    /// `sha256:<hex>` of what the action found where it acts, before it acted: the pointer of
    /// every selected node and, of each, only the part the action overwrites, appends to or
    /// removes (for an `update`, the members the update names, recursively; a member the
    /// update adds counts as absent). An upstream change anywhere else leaves it unchanged;
    /// a change under the action changes it ([`crate::overlay`] compares it with the lock).
    pub fingerprint: String,
    /// Every node the action added, replaced, appended to or removed, by JSON pointer into
    /// the patched document (what problems found later are attributed by).
    pub changes: Vec<NodeChange>,
}

/// One node an overlay action changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeChange {
    /// JSON pointer of the node (for `Removed`, where it was).
    pub pointer: String,
    pub kind: ChangeKind,
}

/// How an overlay action changed a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The node did not exist upstream; the action created it.
    Added,
    /// The action replaced an upstream value.
    Replaced,
    /// The action appended this item to an upstream array.
    Appended,
    /// The action removed the node.
    Removed,
}

impl ActionReport {
    /// One line for the surface snapshot.
    pub fn summary(&self) -> String {
        let outcome = match self.matched {
            0 => "NO LONGER APPLIES (selects nothing)".to_string(),
            1 => "1 node".to_string(),
            n => format!("{n} nodes"),
        };
        format!(
            "action {} {}: {outcome} — {}",
            self.index, self.target, self.description
        )
    }
}

#[derive(Debug)]
enum Change {
    Update(Value),
    Remove,
}

#[derive(Debug)]
struct Action {
    target: String,
    path: JsonPath,
    description: String,
    change: Change,
}

/// Applies `overlay` to `spec`; the result keeps `spec`'s path.
pub fn apply(
    spec: &LoadedSpec,
    overlay: &LoadedSpec,
) -> Result<(LoadedSpec, Vec<ActionReport>), CodegenError> {
    let actions = read_actions(overlay)?;
    let mut document = spec.document.clone();
    let mut reports = Vec::with_capacity(actions.len());
    for (index, action) in actions.into_iter().enumerate() {
        let mut locations: Vec<Vec<Token>> = action
            .path
            .query_located(&document)
            .locations()
            .map(|location| {
                location
                    .iter()
                    .map(|element| match element {
                        serde_json_path::PathElement::Name(name) => Token::Key(name.to_string()),
                        serde_json_path::PathElement::Index(i) => Token::Index(*i),
                    })
                    .collect()
            })
            .collect();
        let matched = locations.len();
        let mut seen = Vec::with_capacity(matched);
        let mut changes = Vec::new();
        match &action.change {
            Change::Update(update) => {
                for location in &locations {
                    let mut at = pointer_of(location);
                    if let Some(node) = node_mut(&mut document, location) {
                        seen.push(Value::Array(vec![
                            Value::String(at.clone()),
                            projection(node, update),
                        ]));
                        merge(node, update, &mut at, &mut changes);
                    }
                }
            }
            Change::Remove => {
                for location in &locations {
                    if let Some(node) = node_mut(&mut document, location) {
                        seen.push(Value::Array(vec![
                            Value::String(pointer_of(location)),
                            node.clone(),
                        ]));
                    }
                }
                // Later siblings first, so removing one array item does not shift the next.
                locations.sort();
                for location in locations.iter().rev() {
                    remove(&mut document, location);
                    changes.push(NodeChange {
                        pointer: pointer_of(location),
                        kind: ChangeKind::Removed,
                    });
                }
            }
        }
        reports.push(ActionReport {
            index,
            target: action.target,
            description: action.description,
            matched,
            fingerprint: fingerprint(&Value::Array(seen)),
            changes,
        });
    }
    Ok((
        LoadedSpec {
            path: spec.path.clone(),
            document,
        },
        reports,
    ))
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    Key(String),
    Index(usize),
}

fn node_mut<'a>(mut node: &'a mut Value, location: &[Token]) -> Option<&'a mut Value> {
    for token in location {
        node = match token {
            Token::Key(key) => node.as_object_mut()?.get_mut(key)?,
            Token::Index(i) => node.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(node)
}

fn remove(document: &mut Value, location: &[Token]) {
    let Some((last, parent)) = location.split_last() else {
        // The root cannot be removed; `read_actions` refuses `$` with `remove`.
        return;
    };
    match (node_mut(document, parent), last) {
        (Some(Value::Object(map)), Token::Key(key)) => {
            map.shift_remove(key);
        }
        (Some(Value::Array(items)), Token::Index(i)) if *i < items.len() => {
            items.remove(*i);
        }
        _ => {}
    }
}

/// Overlay merge: objects recursively, arrays appended, anything else replaced. Every node
/// added, appended or replaced is recorded in `changes` (`at`: the pointer of `target`).
fn merge(target: &mut Value, update: &Value, at: &mut String, changes: &mut Vec<NodeChange>) {
    let mut record = |pointer: String, kind| changes.push(NodeChange { pointer, kind });
    match (target, update) {
        (Value::Object(target), Value::Object(update)) => {
            for (key, value) in update {
                let len = at.len();
                at.push('/');
                at.push_str(&escape_pointer_token(key));
                match target.get_mut(key) {
                    Some(existing) => merge(existing, value, at, changes),
                    None => {
                        target.insert(key.clone(), value.clone());
                        changes.push(NodeChange {
                            pointer: at.clone(),
                            kind: ChangeKind::Added,
                        });
                    }
                }
                at.truncate(len);
            }
        }
        (Value::Array(target), Value::Array(update)) => {
            for item in update {
                record(format!("{at}/{}", target.len()), ChangeKind::Appended);
                target.push(item.clone());
            }
        }
        (Value::Array(target), update) => {
            record(format!("{at}/{}", target.len()), ChangeKind::Appended);
            target.push(update.clone());
        }
        (target, update) => {
            record(at.clone(), ChangeKind::Replaced);
            *target = update.clone();
        }
    }
}

/// The part of `node` that merging `update` into it reads or overwrites: for two objects,
/// only the members `update` names (recursively; a member `update` adds is left out, so its
/// later appearance upstream shows); otherwise the whole node (an array appended to, a value
/// replaced).
fn projection(node: &Value, update: &Value) -> Value {
    match (node, update) {
        (Value::Object(node), Value::Object(update)) => Value::Object(
            update
                .iter()
                .filter_map(|(key, value)| Some((key.clone(), projection(node.get(key)?, value))))
                .collect(),
        ),
        (node, _) => node.clone(),
    }
}

/// `sha256:<hex>` of `value` written with sorted object keys, so that upstream reordering
/// members (which changes nothing) does not change the fingerprint.
pub fn fingerprint(value: &Value) -> String {
    use sha2::{Digest, Sha256};
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    format!("sha256:{}", hex(&digest))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn pointer_of(location: &[Token]) -> String {
    location
        .iter()
        .map(|token| match token {
            Token::Key(key) => format!("/{}", escape_pointer_token(key)),
            Token::Index(i) => format!("/{i}"),
        })
        .collect()
}

fn read_actions(overlay: &LoadedSpec) -> Result<Vec<Action>, CodegenError> {
    let doc = &overlay.document;
    let mut findings = Vec::new();
    match doc.get("overlay").and_then(Value::as_str) {
        Some(v) if v.starts_with("1.0.") => {}
        Some(v) => findings.push(Finding::new(
            "/overlay",
            format!("Overlay {v} is not supported: write an Overlay 1.0.x document"),
        )),
        None => findings.push(Finding::new(
            "/overlay",
            "not an Overlay document: the `overlay` version field is missing",
        )),
    }
    let empty = Vec::new();
    let raw_actions = match doc.get("actions") {
        Some(Value::Array(actions)) => actions,
        _ => {
            findings.push(Finding::new(
                "/actions",
                "an overlay needs an `actions` list",
            ));
            &empty
        }
    };
    let mut actions = Vec::new();
    for (i, raw) in raw_actions.iter().enumerate() {
        let at = format!("/actions/{i}");
        let empty_map = Map::new();
        let raw = raw.as_object().unwrap_or(&empty_map);
        let Some(target) = raw.get("target").and_then(Value::as_str) else {
            findings.push(Finding::new(
                format!("{at}/target"),
                "an action needs a `target`",
            ));
            continue;
        };
        let path = match JsonPath::parse(target) {
            Ok(path) => path,
            Err(e) => {
                findings.push(Finding::new(
                    format!("{at}/target"),
                    format!("`{target}` is not a valid JSONPath (RFC 9535): {e}"),
                ));
                continue;
            }
        };
        let remove = raw.get("remove").and_then(Value::as_bool).unwrap_or(false);
        let change = match (raw.get("update"), remove) {
            (Some(_), true) => {
                findings.push(Finding::new(
                    at,
                    "an action has `update` or `remove: true`, not both",
                ));
                continue;
            }
            (Some(update), false) => Change::Update(update.clone()),
            (None, true) if target.trim() == "$" => {
                findings.push(Finding::new(at, "the whole document cannot be removed"));
                continue;
            }
            (None, true) => Change::Remove,
            (None, false) => {
                findings.push(Finding::new(
                    at,
                    "an action needs `update` or `remove: true`",
                ));
                continue;
            }
        };
        actions.push(Action {
            target: target.to_string(),
            path,
            description: raw
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string(),
            change,
        });
    }
    if findings.is_empty() {
        Ok(actions)
    } else {
        Err(CodegenError::Rejected {
            path: overlay.path.clone(),
            findings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(document: Value) -> LoadedSpec {
        LoadedSpec {
            path: "specs/up.yaml".into(),
            document,
        }
    }

    fn overlay(actions: Value) -> LoadedSpec {
        LoadedSpec {
            path: "specs/up.overlay.yaml".into(),
            document: json!({"overlay": "1.0.0", "info": {"title": "t", "version": "1"}, "actions": actions}),
        }
    }

    fn upstream() -> Value {
        json!({
            "info": {"title": "Up", "version": "1.2.1"},
            "paths": {
                "/a": {"get": {"parameters": [{"name": "x"}]}, "post": {"parameters": [{"name": "x"}]}},
                "/b": {"get": {"parameters": []}}
            },
            "components": {"schemas": {"s": {"required": ["gone", "here"], "properties": {"here": {}}}}}
        })
    }

    #[test]
    fn update_merges_objects_appends_arrays_and_replaces_scalars() {
        let (out, reports) = apply(
            &spec(upstream()),
            &overlay(json!([
                {"target": "$.info", "description": "rename", "update": {"title": "Up (bLink)", "x-extra": {"a": 1}}},
                {"target": "$.paths[*][*].parameters", "description": "add header", "update": [{"name": "H", "in": "header"}]},
                {"target": "$.paths['/a'].get", "update": {"parameters": [{"name": "y"}]}}
            ])),
        )
        .unwrap();
        assert_eq!(
            out.document["info"],
            json!({"title": "Up (bLink)", "version": "1.2.1", "x-extra": {"a": 1}})
        );
        assert_eq!(
            out.document["paths"]["/a"]["get"]["parameters"],
            json!([{"name": "x"}, {"name": "H", "in": "header"}, {"name": "y"}])
        );
        assert_eq!(
            out.document["paths"]["/b"]["get"]["parameters"],
            json!([{"name": "H", "in": "header"}])
        );
        assert_eq!(
            reports.iter().map(|r| r.matched).collect::<Vec<_>>(),
            vec![1, 3, 1]
        );
        assert_eq!(reports[0].summary(), "action 0 $.info: 1 node — rename");
    }

    #[test]
    fn remove_deletes_every_selected_node_and_keeps_order() {
        let (out, _) = apply(
            &spec(upstream()),
            &overlay(json!([
                {"target": "$.components.schemas.s.required", "remove": true},
                {"target": "$.paths['/a'][*].parameters[0]", "remove": true}
            ])),
        )
        .unwrap();
        assert!(
            out.document
                .pointer("/components/schemas/s/required")
                .is_none()
        );
        assert_eq!(out.document["paths"]["/a"]["get"]["parameters"], json!([]));
        let keys: Vec<&String> = out.document["paths"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["/a", "/b"]);
    }

    #[test]
    fn an_action_that_selects_nothing_is_reported_not_fatal() {
        let (out, reports) = apply(
            &spec(upstream()),
            &overlay(json!([{"target": "$.paths['/gone'].get", "description": "fix /gone", "update": {"x": 1}}])),
        )
        .unwrap();
        assert_eq!(out.document, upstream());
        assert_eq!(
            reports[0].summary(),
            "action 0 $.paths['/gone'].get: NO LONGER APPLIES (selects nothing) — fix /gone"
        );
    }

    #[test]
    fn changes_name_every_node_added_replaced_appended_or_removed() {
        let (_, reports) = apply(
            &spec(upstream()),
            &overlay(json!([
                {"target": "$.info", "update": {"title": "T", "x-new": 1}},
                {"target": "$.paths['/b'].get.parameters", "update": [{"name": "H"}]},
                {"target": "$.components.schemas.s.required", "remove": true}
            ])),
        )
        .unwrap();
        let changes: Vec<Vec<(String, ChangeKind)>> = reports
            .iter()
            .map(|r| {
                r.changes
                    .iter()
                    .map(|c| (c.pointer.clone(), c.kind))
                    .collect()
            })
            .collect();
        assert_eq!(
            changes,
            vec![
                vec![
                    ("/info/title".to_string(), ChangeKind::Replaced),
                    ("/info/x-new".to_string(), ChangeKind::Added)
                ],
                vec![(
                    "/paths/~1b/get/parameters/0".to_string(),
                    ChangeKind::Appended
                )],
                vec![(
                    "/components/schemas/s/required".to_string(),
                    ChangeKind::Removed
                )],
            ]
        );
    }

    /// The fingerprint of each action, applied to `document`.
    fn fingerprints(document: Value, actions: Value) -> Vec<String> {
        let (_, reports) = apply(&spec(document), &overlay(actions)).unwrap();
        reports.into_iter().map(|r| r.fingerprint).collect()
    }

    #[test]
    fn a_fingerprint_moves_only_when_upstream_changes_under_the_action() {
        let actions = json!([
            {"target": "$.info", "update": {"title": "T", "x-new": 1}},
            {"target": "$.components.schemas.s", "remove": true}
        ]);
        let before = fingerprints(upstream(), actions.clone());

        // Elsewhere: a new path, a new info member the update does not name, reordered keys.
        let mut elsewhere = upstream();
        elsewhere["paths"]["/c"] = json!({"get": {}});
        elsewhere["info"]["contact"] = json!({"name": "x"});
        elsewhere["info"] = json!({"version": "1.2.1", "title": "Up", "contact": {"name": "x"}});
        assert_eq!(fingerprints(elsewhere, actions.clone()), before);

        // Under action 0: the title it overwrites; upstream now has the member it adds.
        let mut title = upstream();
        title["info"]["title"] = json!("Up 2");
        let moved = fingerprints(title, actions.clone());
        assert_ne!(moved[0], before[0]);
        assert_eq!(moved[1], before[1]);
        let mut added = upstream();
        added["info"]["x-new"] = json!(2);
        assert_ne!(fingerprints(added, actions.clone())[0], before[0]);

        // Under action 1: anything inside the node it removes.
        let mut removed = upstream();
        removed["components"]["schemas"]["s"]["properties"]["new"] = json!({});
        let moved = fingerprints(removed, actions);
        assert_eq!(moved[0], before[0]);
        assert_ne!(moved[1], before[1]);
    }

    #[test]
    fn malformed_overlays_are_rejected_by_pointer() {
        let bad = LoadedSpec {
            path: "specs/up.overlay.yaml".into(),
            document: json!({"overlay": "2.0.0", "actions": [
                {"update": {}},
                {"target": "$[", "update": {}},
                {"target": "$.a", "update": {}, "remove": true},
                {"target": "$.a"},
                {"target": "$", "remove": true}
            ]}),
        };
        let text = apply(&spec(upstream()), &bad).unwrap_err().to_string();
        for expected in [
            "#/overlay: Overlay 2.0.0 is not supported",
            "#/actions/0/target: an action needs a `target`",
            "#/actions/1/target: `$[` is not a valid JSONPath",
            "#/actions/2: an action has `update` or `remove: true`, not both",
            "#/actions/3: an action needs `update` or `remove: true`",
            "#/actions/4: the whole document cannot be removed",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
    }
}
