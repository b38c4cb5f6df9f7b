//! Stage 1c, overlay review: what a user must know about the overlay before anything is
//! generated from a (possibly new) upstream document.
//!
//! The overlay was written against one upstream revision. When the vendor publishes another,
//! an action may select nothing any more, or still select a node whose upstream content has
//! changed, and then quietly write the old revision's content over the new one. So each
//! action's fingerprint (what it found where it acts, [`crate::patch::ActionReport`]) is
//! recorded beside the overlay in `specs/<slug>.overlay.lock.json`, with the upstream file's
//! sha256. On the next run:
//! - upstream unchanged: fingerprints that moved were moved by overlay edits; the lock is
//!   simply rewritten by `generate`;
//! - upstream changed: every action whose fingerprint moved is **stale** and is named (number,
//!   target, what it selects now and then). `generate` refuses to write until a person has
//!   looked at them and runs `generate --accept-upstream`.
//!
//! Always reported: actions that select nothing, and anything the overlay adds under
//! `components` that nothing references. Problems found by later stages are attributed to the
//! action that created or changed the node they are in ([`Review::attribute`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CodegenError, Finding, for_each_object};
use crate::patch::{ActionReport, ChangeKind};

/// What `generate` records about an overlay and the upstream it was applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Why the file exists and how it is written (kept in the file for readers).
    pub about: String,
    pub upstream: UpstreamRecord,
    pub actions: Vec<LockedAction>,
}

/// The upstream file the fingerprints were taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamRecord {
    pub path: String,
    /// The document's `info.version`.
    pub version: String,
    /// `sha256:<hex>` of the file's bytes.
    pub sha256: String,
}

/// One action as it was last accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedAction {
    pub action: usize,
    pub target: String,
    /// Its description, first sentence (with the target, what identifies the action when
    /// others are inserted before it).
    pub description: String,
    /// How many nodes it selected.
    pub selects: usize,
    pub fingerprint: String,
}

const ABOUT: &str = "Written by `cargo run -p customer-data-codegen -- generate`; do not edit. \
    The fingerprint of what each overlay action found in the upstream document when it was \
    last accepted. When the upstream file changes, actions whose fingerprint moves are \
    reported as stale and generate stops until they are reviewed (generate --accept-upstream).";

/// `specs/<slug>.overlay.lock.json` for an overlay at `specs/<slug>.overlay.yaml`.
pub fn lock_path(overlay: &str) -> String {
    let stem = overlay
        .strip_suffix(".yaml")
        .or_else(|| overlay.strip_suffix(".json"))
        .unwrap_or(overlay);
    format!("{stem}.lock.json")
}

/// An action whose upstream content changed since the lock was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleAction {
    pub index: usize,
    pub target: String,
    pub description: String,
    /// Nodes selected when the lock was written, and now.
    pub selected_then: usize,
    pub selected_now: usize,
}

impl fmt::Display for StaleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.selected_then, self.selected_now) {
            (then, now) if then != now => {
                format!("selected {then} node(s), now {now}; upstream changed under it")
            }
            (_, now) => format!("upstream changed under the {now} node(s) it selects"),
        };
        write!(
            f,
            "action {} {}: {what} — {}",
            self.index,
            self.target,
            first_sentence(&self.description)
        )
    }
}

/// Something the overlay adds that nothing in the patched document refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreferenced {
    pub index: usize,
    pub target: String,
    /// The added component, e.g. `/components/schemas/contactMedium`.
    pub pointer: String,
}

/// How the recorded lock relates to this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// The lock matches this run exactly.
    Current,
    /// No lock yet: `generate` writes one.
    Missing,
    /// The upstream file is the one locked; fingerprints moved only through overlay edits,
    /// so `generate` rewrites the lock.
    OverlayEdited,
    /// The upstream file changed (from the locked version to this one).
    UpstreamChanged { from: String, to: String },
}

/// Everything known about the overlay before the check stage runs.
#[derive(Debug, Clone)]
pub struct Review {
    pub overlay: PathBuf,
    pub upstream: PathBuf,
    pub actions: Vec<ActionReport>,
    pub stale: Vec<StaleAction>,
    pub unreferenced: Vec<Unreferenced>,
    pub lock_state: LockState,
    /// The lock this run would write.
    pub lock: Lock,
}

impl Review {
    /// Actions whose target selects nothing.
    pub fn selecting_nothing(&self) -> impl Iterator<Item = &ActionReport> {
        self.actions.iter().filter(|a| a.matched == 0)
    }

    /// The lines `generate` prints before any other stage runs (empty when there is nothing
    /// to say). Selecting nothing is repeated on every run, with the total.
    pub fn report_lines(&self) -> Vec<String> {
        let overlay = self.overlay.display();
        let mut lines = Vec::new();
        if let LockState::UpstreamChanged { from, to } = &self.lock_state {
            lines.push(format!(
                "{overlay}: upstream {} changed ({from} -> {to})",
                self.upstream.display()
            ));
        }
        if !self.stale.is_empty() {
            lines.push(format!(
                "{overlay}: {} of {} actions are stale (upstream changed under them; each \
                 may now write old content over the new upstream):",
                self.stale.len(),
                self.actions.len()
            ));
            lines.extend(self.stale.iter().map(|s| format!("  STALE {s}")));
        }
        let nothing: Vec<&ActionReport> = self.selecting_nothing().collect();
        if !nothing.is_empty() {
            lines.push(format!(
                "{overlay}: {} of {} actions select nothing:",
                nothing.len(),
                self.actions.len()
            ));
            lines.extend(nothing.iter().map(|a| {
                format!(
                    "  action {} {} — {}",
                    a.index,
                    a.target,
                    first_sentence(&a.description)
                )
            }));
        }
        if !self.unreferenced.is_empty() {
            lines.push(format!(
                "{overlay}: {} addition(s) nothing references:",
                self.unreferenced.len()
            ));
            lines.extend(
                self.unreferenced
                    .iter()
                    .map(|u| format!("  action {} {} adds {}", u.index, u.target, u.pointer)),
            );
        }
        lines
    }

    /// The actions that created or changed the node at `pointer` (or a node inside it, or
    /// the node it is inside), most specific first; for a `$ref` finding also the action that
    /// removed what it points at.
    pub fn origins(&self, finding: &Finding) -> Vec<Origin> {
        let mut found: BTreeMap<(usize, usize), Origin> = BTreeMap::new();
        let pointer = finding.pointer.as_str();
        let referenced = finding
            .message
            .split('`')
            .nth(1)
            .and_then(|r| r.strip_prefix('#'))
            .filter(|_| pointer.ends_with("/$ref"));
        for action in &self.actions {
            for change in &action.changes {
                let related = match change.kind {
                    ChangeKind::Removed => {
                        referenced.is_some_and(|r| is_within(r, &change.pointer))
                    }
                    _ => {
                        is_within(pointer, &change.pointer)
                            || (depth(pointer) >= 2 && is_within(&change.pointer, pointer))
                    }
                };
                if related {
                    // Most specific (longest pointer) first, then by action number.
                    let key = (usize::MAX - change.pointer.len(), action.index);
                    found.entry(key).or_insert_with(|| Origin {
                        overlay: self.overlay.clone(),
                        index: action.index,
                        target: action.target.clone(),
                        pointer: change.pointer.clone(),
                        kind: change.kind,
                    });
                }
            }
        }
        let mut seen = BTreeSet::new();
        found
            .into_values()
            .filter(|origin| seen.insert(origin.index))
            .take(3)
            .collect()
    }

    /// Attributes every finding of a rejection to the overlay actions behind it.
    pub fn attribute(&self, error: CodegenError) -> CodegenError {
        match error {
            CodegenError::Rejected { path, findings } => CodegenError::Rejected {
                path,
                findings: findings
                    .into_iter()
                    .map(|mut finding| {
                        finding.origins = self.origins(&finding);
                        finding
                    })
                    .collect(),
            },
            other => other,
        }
    }

    /// The error `generate` returns for stale actions (`None` when there are none).
    pub fn stale_error(&self) -> Option<CodegenError> {
        (!self.stale.is_empty()).then(|| CodegenError::OverlayStale {
            overlay: self.overlay.clone(),
            upstream: self.upstream.clone(),
            stale: self.stale.clone(),
        })
    }
}

/// An overlay action a problem is attributed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub overlay: PathBuf,
    pub index: usize,
    pub target: String,
    /// The node the action changed.
    pub pointer: String,
    pub kind: ChangeKind,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.kind {
            ChangeKind::Added => "added",
            ChangeKind::Replaced => "replaced",
            ChangeKind::Appended => "appended",
            ChangeKind::Removed => "removed",
        };
        write!(
            f,
            "{}#/actions/{} (target {}) {verb} {}",
            self.overlay.display(),
            self.index,
            self.target,
            self.pointer
        )
    }
}

/// Is `pointer` the node at `ancestor` or inside it?
fn is_within(pointer: &str, ancestor: &str) -> bool {
    pointer == ancestor
        || (pointer.starts_with(ancestor) && pointer[ancestor.len()..].starts_with('/'))
}

fn depth(pointer: &str) -> usize {
    pointer.matches('/').count()
}

fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = flat
        .find(". ")
        .map(|i| i + 1)
        .unwrap_or(flat.len())
        .min(160);
    let mut cut = end;
    while !flat.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = flat[..cut].to_string();
    if cut < flat.len() && !out.ends_with('.') {
        out.push('…');
    }
    out
}

/// `sha256:<hex>` of a file's bytes.
pub fn file_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", crate::patch::hex(&Sha256::digest(bytes)))
}

/// Reads the lock beside `overlay` below `root` (`None` when there is none yet).
pub fn read_lock(root: &Path, overlay: &str) -> Result<Option<Lock>, CodegenError> {
    let path = PathBuf::from(lock_path(overlay));
    let text = match std::fs::read_to_string(root.join(&path)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CodegenError::Read { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| CodegenError::Parse {
            path,
            pointer: String::new(),
            message: format!(
                "not an overlay lock (line {} column {}): {e}; delete it and run generate to \
                 record a new one",
                e.line(),
                e.column()
            ),
        })
}

/// The lock file's text.
pub fn render_lock(lock: &Lock) -> String {
    // A struct of strings and numbers always serialises.
    serde_json::to_string_pretty(lock).unwrap_or_default() + "\n"
}

/// Compares this run's actions with the recorded lock and looks for unreferenced additions.
pub fn review(
    overlay: &Path,
    upstream: &Path,
    upstream_bytes: &[u8],
    patched: &Value,
    actions: Vec<ActionReport>,
    recorded: Option<&Lock>,
) -> Review {
    let lock = Lock {
        about: ABOUT.to_string(),
        upstream: UpstreamRecord {
            path: upstream.display().to_string(),
            version: patched_upstream_version(upstream_bytes),
            sha256: file_sha256(upstream_bytes),
        },
        actions: actions
            .iter()
            .map(|a| LockedAction {
                action: a.index,
                target: a.target.clone(),
                description: first_sentence(&a.description),
                selects: a.matched,
                fingerprint: a.fingerprint.clone(),
            })
            .collect(),
    };
    let lock_state = match recorded {
        None => LockState::Missing,
        Some(recorded) if *recorded == lock => LockState::Current,
        Some(recorded) if recorded.upstream.sha256 == lock.upstream.sha256 => {
            LockState::OverlayEdited
        }
        Some(recorded) => LockState::UpstreamChanged {
            from: recorded.upstream.version.clone(),
            to: lock.upstream.version.clone(),
        },
    };
    let stale = match (recorded, &lock_state) {
        (Some(recorded), LockState::UpstreamChanged { .. }) => stale_actions(recorded, &actions),
        _ => Vec::new(),
    };
    let unreferenced = unreferenced_additions(patched, &actions);
    Review {
        overlay: overlay.to_path_buf(),
        upstream: upstream.to_path_buf(),
        actions,
        stale,
        unreferenced,
        lock_state,
        lock,
    }
}

/// `info.version` of the upstream text ("?" when it has none or does not parse).
fn patched_upstream_version(bytes: &[u8]) -> String {
    serde_yaml::from_slice::<Value>(bytes)
        .ok()
        .and_then(|doc| {
            doc.pointer("/info/version").map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })
        .unwrap_or_else(|| "?".to_string())
}

/// Actions whose fingerprint differs from the recorded one. An action is matched with its
/// locked entry by target and description (and, among equal ones, by order), not by number,
/// so inserting or deleting an action elsewhere in the overlay does not make others stale.
pub fn stale_actions(recorded: &Lock, actions: &[ActionReport]) -> Vec<StaleAction> {
    let mut then: BTreeMap<(&str, &str, usize), &LockedAction> = BTreeMap::new();
    let mut occurrences: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for locked in &recorded.actions {
        let identity = (locked.target.as_str(), locked.description.as_str());
        let n = occurrences.entry(identity).or_default();
        then.insert((identity.0, identity.1, *n), locked);
        *n += 1;
    }
    let descriptions: Vec<String> = actions
        .iter()
        .map(|a| first_sentence(&a.description))
        .collect();
    let mut occurrences: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut stale = Vec::new();
    for (action, description) in actions.iter().zip(&descriptions) {
        let identity = (action.target.as_str(), description.as_str());
        let n = occurrences.entry(identity).or_default();
        let key = (identity.0, identity.1, *n);
        *n += 1;
        let Some(locked) = then.get(&key) else {
            continue; // a new (or reworded) action: nothing to compare with
        };
        // An action that now selects nothing cannot write old content; it is reported with
        // the others that select nothing.
        if locked.fingerprint != action.fingerprint && action.matched > 0 {
            stale.push(StaleAction {
                index: action.index,
                target: action.target.clone(),
                description: action.description.clone(),
                selected_then: locked.selects,
                selected_now: action.matched,
            });
        }
    }
    stale
}

/// Components (`/components/<kind>/<name>`) an action added that no `$ref` in `patched`
/// points at (security schemes count as used when a `security` requirement names them).
pub fn unreferenced_additions(patched: &Value, actions: &[ActionReport]) -> Vec<Unreferenced> {
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    for_each_object(patched, &mut |_, map| {
        if let Some(Value::String(target)) = map.get("$ref")
            && let Some(local) = target.strip_prefix('#')
        {
            referenced.insert(local.to_string());
        }
    });
    let mut security = BTreeSet::new();
    let mut collect_security = |requirements: Option<&Value>| {
        for requirement in requirements.and_then(Value::as_array).into_iter().flatten() {
            if let Some(map) = requirement.as_object() {
                security.extend(map.keys().cloned());
            }
        }
    };
    collect_security(patched.get("security"));
    for item in patched
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|paths| paths.values())
    {
        for op in item.as_object().into_iter().flat_map(|ops| ops.values()) {
            collect_security(op.get("security"));
        }
    }
    let mut out = Vec::new();
    for action in actions {
        for change in &action.changes {
            if change.kind == ChangeKind::Removed {
                continue;
            }
            for added in added_components(patched, &change.pointer) {
                let used = if let Some(name) = added.strip_prefix("/components/securitySchemes/") {
                    security.contains(name)
                } else {
                    referenced.iter().any(|r| is_within(r, &added))
                };
                if !used && patched.pointer(&added).is_some() {
                    out.push(Unreferenced {
                        index: action.index,
                        target: action.target.clone(),
                        pointer: added,
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| (a.index, &a.pointer).cmp(&(b.index, &b.pointer)));
    out.dedup();
    out
}

/// The components a change at `pointer` adds: the component itself when the pointer is one
/// (`/components/schemas/x`), every component below when it is a component map.
fn added_components(patched: &Value, pointer: &str) -> Vec<String> {
    let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
    match tokens.as_slice() {
        ["components", _kind, _name] => vec![pointer.to_string()],
        ["components", _kind] => patched
            .pointer(pointer)
            .and_then(Value::as_object)
            .map(|map| {
                map.keys()
                    .map(|name| format!("{pointer}/{}", crate::error::escape_pointer_token(name)))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadedSpec;
    use serde_json::json;

    fn upstream(version: &str) -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "Up", "version": version},
            "paths": {"/a": {"get": {"responses": {"200": {"$ref": "#/components/responses/A"}}}}},
            "components": {
                "schemas": {"a": {"type": "object", "properties": {"kind": {"type": "string"}}}},
                "responses": {"A": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/a"}}}}}
            }
        })
    }

    fn overlay_actions() -> Value {
        json!([
            {"target": "$.components.schemas", "description": "Lift kind. Then more.", "update": {
                "kind": {"type": "string", "enum": ["A"]},
                "unused": {"type": "string"}
            }},
            {"target": "$.components.schemas.a.properties.kind", "remove": true},
            {"target": "$.components.schemas.a.properties", "update": {"kind": {"$ref": "#/components/schemas/kind"}}},
            {"target": "$.components.schemas.gone", "update": {"x": 1}}
        ])
    }

    /// Reviews the overlay applied to `document` (as the text of the upstream file).
    fn reviewed(document: Value, recorded: Option<&Lock>) -> Review {
        let text = serde_json::to_string(&document).unwrap();
        let spec = LoadedSpec {
            path: "specs/up.yaml".into(),
            document,
        };
        let overlay = LoadedSpec {
            path: "specs/up.overlay.yaml".into(),
            document: json!({"overlay": "1.0.0", "actions": overlay_actions()}),
        };
        let (patched, actions) = crate::patch::apply(&spec, &overlay).unwrap();
        review(
            Path::new("specs/up.overlay.yaml"),
            Path::new("specs/up.yaml"),
            text.as_bytes(),
            &patched.document,
            actions,
            recorded,
        )
    }

    #[test]
    fn the_lock_sits_beside_the_overlay() {
        assert_eq!(
            lock_path("specs/blink_customer_management.overlay.yaml"),
            "specs/blink_customer_management.overlay.lock.json"
        );
    }

    #[test]
    fn a_first_run_records_and_a_second_is_current() {
        let first = reviewed(upstream("1"), None);
        assert_eq!(first.lock_state, LockState::Missing);
        assert_eq!(first.lock.upstream.version, "1");
        let text = render_lock(&first.lock);
        let read: Lock = serde_json::from_str(&text).unwrap();
        assert_eq!(read, first.lock);
        let second = reviewed(upstream("1"), Some(&read));
        assert_eq!(second.lock_state, LockState::Current);
        assert!(second.stale.is_empty());
    }

    #[test]
    fn an_upstream_change_under_an_action_makes_it_stale() {
        let locked = reviewed(upstream("1"), None).lock;
        let mut moved = upstream("2");
        moved["components"]["schemas"]["a"]["properties"]["kind"]["maxLength"] = json!(3);
        let review = reviewed(moved, Some(&locked));
        assert_eq!(
            review.lock_state,
            LockState::UpstreamChanged {
                from: "1".into(),
                to: "2".into()
            }
        );
        let stale: Vec<String> = review.stale.iter().map(ToString::to_string).collect();
        // Action 2 adds `kind` after action 1 removed it: it overwrites nothing upstream.
        assert_eq!(
            stale,
            [
                "action 1 $.components.schemas.a.properties.kind: upstream changed under the 1 \
              node(s) it selects — "
            ]
        );
        assert!(review.stale_error().unwrap().to_string().contains(
            "upstream specs/up.yaml changed under 1 action; review each against the new \
             upstream (fix or delete it), then record the result: \
             cargo run -p customer-data-codegen -- generate --accept-upstream\n  STALE action 1"
        ));
    }

    #[test]
    fn a_new_upstream_that_changes_nothing_under_the_overlay_is_not_stale() {
        let locked = reviewed(upstream("1"), None).lock;
        let mut elsewhere = upstream("2");
        elsewhere["paths"]["/b"] = json!({"get": {}});
        let review = reviewed(elsewhere, Some(&locked));
        assert!(matches!(
            review.lock_state,
            LockState::UpstreamChanged { .. }
        ));
        assert!(review.stale.is_empty(), "{:?}", review.stale);
    }

    #[test]
    fn actions_are_matched_by_target_not_position() {
        let locked = reviewed(upstream("1"), None).lock;
        let mut review = reviewed(upstream("2"), Some(&locked));
        // An action inserted at the front shifts every index; none becomes stale.
        for action in &mut review.actions {
            action.index += 1;
        }
        assert!(stale_actions(&locked, &review.actions).is_empty());
    }

    #[test]
    fn reports_selecting_nothing_and_unreferenced_additions_every_run() {
        let review = reviewed(upstream("1"), None);
        let lines = review.report_lines();
        assert_eq!(
            lines,
            [
                "specs/up.overlay.yaml: 1 of 4 actions select nothing:",
                "  action 3 $.components.schemas.gone — ",
                "specs/up.overlay.yaml: 1 addition(s) nothing references:",
                "  action 0 $.components.schemas adds /components/schemas/unused",
            ]
        );
    }

    #[test]
    fn problems_name_the_action_that_made_the_node() {
        let review = reviewed(upstream("1"), None);
        let inside = Finding::new(
            "/components/schemas/a/properties/kind/$ref",
            "`#/components/schemas/kind` does not resolve to anything in this document",
        );
        let origins = review.origins(&inside);
        assert_eq!(origins.len(), 1, "{origins:?}");
        assert_eq!(
            origins[0].to_string(),
            "specs/up.overlay.yaml#/actions/2 (target $.components.schemas.a.properties) added \
             /components/schemas/a/properties/kind"
        );
        // A reference to a node an action removed names that action.
        let dangling = Finding::new(
            "/paths/~1a/get/x/$ref",
            "`#/components/schemas/a/properties/kind` does not resolve",
        );
        assert_eq!(
            review
                .origins(&dangling)
                .iter()
                .map(|o| o.index)
                .collect::<Vec<_>>(),
            [1]
        );
        // Upstream content is nobody's action.
        let upstream_only = Finding::new("/paths/~1a/get/responses/200", "x");
        assert!(review.origins(&upstream_only).is_empty());

        let error = review.attribute(CodegenError::Rejected {
            path: "specs/up.yaml".into(),
            findings: vec![inside],
        });
        assert!(
            error.to_string().contains(
                "specs/up.yaml#/components/schemas/a/properties/kind/$ref: `#/components/schemas/kind` \
                 does not resolve to anything in this document\n    from overlay \
                 specs/up.overlay.yaml#/actions/2"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_broken_lock_is_a_clear_error() {
        let dir = tempdir();
        std::fs::create_dir_all(dir.join("specs")).unwrap();
        std::fs::write(dir.join("specs/up.overlay.lock.json"), "{\"about\": 1}").unwrap();
        let text = read_lock(&dir, "specs/up.overlay.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            text.starts_with("specs/up.overlay.lock.json#: not an overlay lock (line 1"),
            "{text}"
        );
        assert!(
            read_lock(&dir, "specs/none.overlay.yaml")
                .unwrap()
                .is_none()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cd-codegen-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
