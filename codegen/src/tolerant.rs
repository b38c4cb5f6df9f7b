//! Tolerant decoding, declared per spec: `info.x-customer-data-decoding`.
//!
//! Some vendors' sources leave the wire casing of member names unconfirmed (a demo that reads
//! case-insensitively), or write `null` for every member they have no value for. A spec says so
//! in its `info`:
//!
//! ```yaml
//! x-customer-data-decoding:
//!   member-names: case-insensitive   # or: exact (the default)
//!   null-members: absent             # or: as-is (the default)
//!   reason: why (required: the vendor fact behind it)
//! ```
//!
//! This stage then rewrites every generated struct that derives serde's traits: serde's derive
//! is kept but made inherent (`#[serde(remote = "Self")]`, exposed as
//! `runtime::tolerant::Derived`), and `Deserialize` is implemented by normalising the input
//! object first (`runtime::tolerant::deserialize`, generic, with the struct's member names and
//! which of them are optional) and then calling the derived code;
//! `Serialize` delegates to the derived code unchanged, so what we send keeps the spec's casing.
//! Rewriting no struct, or not one of the spec's plain component objects, fails generation:
//! the spec declared tolerance that the client would not have.
//! - `member-names: case-insensitive`: a key that equals a declared member ignoring ASCII case
//!   is read as that member (an exact match wins; a second spelling of a member already given
//!   stays an unknown member);
//! - `null-members: absent`: `null` for an optional member (an `Option`, or a member with a
//!   serde default such as a `Vec` or a map) reads as if the member were absent; a required
//!   member keeps its null (and fails as before).
//!
//! No vendor's name appears here: the spec declares, the generator applies.

use std::collections::BTreeSet;

use heck::ToUpperCamelCase;
use quote::{ToTokens, format_ident};
use serde_json::Value;

/// The `info` extension that turns this stage on.
pub const EXTENSION: &str = "x-customer-data-decoding";

/// What a spec declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decoding {
    /// Member names match ignoring ASCII case.
    pub case_insensitive: bool,
    /// `null` for an optional member reads as absent.
    pub null_as_absent: bool,
}

impl Decoding {
    /// The declaration in `document`'s `info`, `None` when there is none (or it changes
    /// nothing); an error names what is wrong with it.
    pub fn from_document(document: &Value) -> Result<Option<Self>, String> {
        let Some(declared) = document.pointer("/info").and_then(|i| i.get(EXTENSION)) else {
            return Ok(None);
        };
        let at = format!("/info/{EXTENSION}");
        let Some(map) = declared.as_object() else {
            return Err(format!("{at}: must be an object"));
        };
        let mut decoding = Self::default();
        for (key, value) in map {
            let text = value.as_str();
            match (key.as_str(), text) {
                ("member-names", Some("case-insensitive")) => decoding.case_insensitive = true,
                ("member-names", Some("exact")) => {}
                ("null-members", Some("absent")) => decoding.null_as_absent = true,
                ("null-members", Some("as-is")) => {}
                ("reason", Some(reason)) if !reason.trim().is_empty() => {}
                ("member-names", _) => {
                    return Err(format!(
                        "{at}/member-names: `case-insensitive` or `exact`, not {value}"
                    ));
                }
                ("null-members", _) => {
                    return Err(format!(
                        "{at}/null-members: `absent` or `as-is`, not {value}"
                    ));
                }
                ("reason", _) => return Err(format!("{at}/reason: must be a non-empty string")),
                (other, _) => return Err(format!("{at}: unknown member `{other}`")),
            }
        }
        if !map.contains_key("reason") {
            return Err(format!(
                "{at}: `reason` is required (the vendor fact that makes decoding tolerant)"
            ));
        }
        Ok((decoding.case_insensitive || decoding.null_as_absent).then_some(decoding))
    }

    /// The line of the API-surface snapshot.
    pub fn surface_line(&self) -> String {
        let names = if self.case_insensitive {
            "member names case-insensitive"
        } else {
            "member names exact"
        };
        let nulls = if self.null_as_absent {
            "null members as absent"
        } else {
            "null members as-is"
        };
        format!("decoding: {names}; {nulls}")
    }
}

/// Rewrites every struct of `file` (at any module depth) that derives both serde traits.
/// Returns the names of the structs rewritten, in file order. The spec declared tolerant
/// decoding, so rewriting none, or missing one of `expected` (see [`expected_structs`]), is
/// an error: those answers would decode strictly.
pub fn apply(
    file: &mut syn::File,
    decoding: Decoding,
    runtime_path: &str,
    expected: &BTreeSet<String>,
) -> Result<Vec<String>, String> {
    let runtime: syn::Path =
        syn::parse_str(runtime_path).map_err(|e| format!("runtime path {runtime_path}: {e}"))?;
    let mut done = Vec::new();
    apply_in_items(&mut file.items, decoding, &runtime, &mut done)?;
    all_rewritten(expected, &done)?;
    Ok(done)
}

/// Rust names of the plain object schemas in `components/schemas` (with `properties`, no
/// composition or `enum`): typify emits each as a struct with named fields, named after its
/// schema, which this stage must rewrite.
pub fn expected_structs(document: &Value) -> BTreeSet<String> {
    let Some(schemas) = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return BTreeSet::new();
    };
    schemas
        .iter()
        .filter(|(_, schema)| {
            let Some(map) = schema.as_object() else {
                return false;
            };
            let has_properties = map
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| !p.is_empty());
            let plain = ["allOf", "oneOf", "anyOf", "enum", "$ref"]
                .iter()
                .all(|key| !map.contains_key(*key));
            has_properties && plain
        })
        .map(|(name, _)| name.to_upper_camel_case())
        .collect()
}

/// Whether the structs the stage rewrote cover what a spec declaring tolerant decoding needs:
/// at least one, and every one of `expected`.
pub fn all_rewritten(expected: &BTreeSet<String>, rewritten: &[String]) -> Result<(), String> {
    let missing: Vec<String> = expected
        .iter()
        .filter(|name| !rewritten.contains(name))
        .map(|name| format!("`{name}`"))
        .collect();
    let found = if !missing.is_empty() {
        format!("no serde-derived struct {}", missing.join(", "))
    } else if rewritten.is_empty() {
        "none".to_string()
    } else {
        return Ok(());
    };
    Err(crate::generate::shape_changed(
        "tolerant",
        &format!(
            "the structs deriving `Serialize` and `Deserialize` that {EXTENSION} makes tolerant"
        ),
        &format!("{found} (answers would decode strictly although the spec declares otherwise)"),
    ))
}

fn apply_in_items(
    items: &mut Vec<syn::Item>,
    decoding: Decoding,
    runtime: &syn::Path,
    done: &mut Vec<String>,
) -> Result<(), String> {
    let mut added = Vec::new();
    for item in items.iter_mut() {
        match item {
            syn::Item::Struct(item_struct) if derives_serde(&item_struct.attrs) => {
                if let Some(impls) = rewrite_struct(item_struct, decoding, runtime)? {
                    done.push(item_struct.ident.to_string());
                    added.extend(impls);
                }
            }
            syn::Item::Mod(module) => {
                if let Some((_, inner)) = &mut module.content {
                    apply_in_items(inner, decoding, runtime, done)?;
                }
            }
            _ => {}
        }
    }
    items.extend(added);
    Ok(())
}

fn derives_serde(attrs: &[syn::Attribute]) -> bool {
    let derives = crate::open_enums::derived(attrs);
    derives.iter().any(|d| d.ends_with("Serialize"))
        && derives.iter().any(|d| d.ends_with("Deserialize"))
}

/// The `key` or `key = "value"` entries of every `#[serde(...)]` attribute.
fn serde_entries(attrs: &[syn::Attribute]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            let key = meta.path.to_token_stream().to_string();
            let value = match meta.value() {
                Ok(value) => {
                    let expr: syn::Expr = value.parse()?;
                    match expr {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(s),
                            ..
                        }) => Some(s.value()),
                        other => Some(other.to_token_stream().to_string()),
                    }
                }
                Err(_) => None,
            };
            out.push((key, value));
            Ok(())
        });
    }
    out
}

fn is_option(ty: &syn::Type) -> bool {
    let syn::Type::Path(path) = ty else {
        return false;
    };
    path.qself.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "Option")
}

/// One wire member of a struct: its name and whether it may be absent.
struct Member {
    name: String,
    optional: bool,
}

/// The wire members of a struct with named fields; `None` for tuple and unit structs (typify's
/// newtypes), which have no members to match.
fn members(item: &syn::ItemStruct) -> Result<Option<Vec<Member>>, String> {
    let syn::Fields::Named(fields) = &item.fields else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for field in &fields.named {
        let entries = serde_entries(&field.attrs);
        if entries.iter().any(|(k, _)| k == "flatten") {
            continue;
        }
        if entries
            .iter()
            .any(|(k, _)| matches!(k.as_str(), "alias" | "rename_all" | "skip"))
        {
            return Err(format!(
                "struct `{}`: field attributes this stage does not handle (alias, skip)",
                item.ident
            ));
        }
        let ident = field
            .ident
            .as_ref()
            .ok_or_else(|| format!("struct `{}`: a named field without a name", item.ident))?;
        let name = entries
            .iter()
            .find(|(k, _)| k == "rename")
            .and_then(|(_, v)| v.clone())
            .unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_string());
        let optional = is_option(&field.ty) || entries.iter().any(|(k, _)| k == "default");
        out.push(Member { name, optional });
    }
    Ok(Some(out))
}

/// Marks the struct's derives inherent and returns the trait impls that replace them.
fn rewrite_struct(
    item: &mut syn::ItemStruct,
    decoding: Decoding,
    runtime: &syn::Path,
) -> Result<Option<Vec<syn::Item>>, String> {
    let name = item.ident.clone();
    if !item.generics.params.is_empty() {
        return Err(format!(
            "struct `{name}` is generic, which this stage does not handle"
        ));
    }
    if !matches!(item.fields, syn::Fields::Named(_)) {
        // typify's newtypes (`#[serde(transparent)]` wrappers) have no members to match.
        return Ok(None);
    }
    let container = serde_entries(&item.attrs);
    if container.iter().any(|(k, _)| {
        matches!(
            k.as_str(),
            "remote" | "transparent" | "rename_all" | "untagged"
        )
    }) {
        return Err(format!(
            "struct `{name}`: container attributes this stage does not handle \
             (remote, transparent, rename_all)"
        ));
    }
    let Some(members) = members(item)? else {
        return Ok(None);
    };
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let optional: Vec<&str> = members
        .iter()
        .filter(|m| m.optional)
        .map(|m| m.name.as_str())
        .collect();
    let case_insensitive = decoding.case_insensitive;
    let null_as_absent = decoding.null_as_absent;
    let after_derive = item
        .attrs
        .iter()
        .rposition(|a| a.path().is_ident("derive"))
        .map_or(item.attrs.len(), |at| at + 1);
    item.attrs
        .insert(after_derive, syn::parse_quote!(#[serde(remote = "Self")]));
    let members_const = format_ident!("MEMBERS");
    let derived: syn::Item = syn::parse_quote! {
        impl #runtime::tolerant::Derived for #name {
            fn derived<'de, D>(deserializer: D) -> ::std::result::Result<Self, D::Error>
            where
                D: ::serde::Deserializer<'de>,
            {
                #name::deserialize(deserializer)
            }
        }
    };
    let de: syn::Item = syn::parse_quote! {
        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D>(deserializer: D) -> ::std::result::Result<Self, D::Error>
            where
                D: ::serde::Deserializer<'de>,
            {
                const #members_const: #runtime::tolerant::Members = #runtime::tolerant::Members {
                    names: &[#(#names),*],
                    optional: &[#(#optional),*],
                    case_insensitive: #case_insensitive,
                    null_as_absent: #null_as_absent,
                };
                #runtime::tolerant::deserialize(deserializer, &#members_const)
            }
        }
    };
    let ser: syn::Item = syn::parse_quote! {
        impl ::serde::Serialize for #name {
            fn serialize<S>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error>
            where
                S: ::serde::Serializer,
            {
                #name::serialize(self, serializer)
            }
        }
    };
    Ok(Some(vec![derived, de, ser]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use serde_json::json;

    #[test]
    fn reads_the_declaration() {
        let doc = json!({"info": {EXTENSION: {
            "member-names": "case-insensitive", "null-members": "absent", "reason": "demo"}}});
        assert_eq!(
            Decoding::from_document(&doc).unwrap(),
            Some(Decoding {
                case_insensitive: true,
                null_as_absent: true
            })
        );
        assert_eq!(Decoding::from_document(&json!({"info": {}})).unwrap(), None);
        let exact = json!({"info": {EXTENSION: {"member-names": "exact", "reason": "x"}}});
        assert_eq!(Decoding::from_document(&exact).unwrap(), None);
        let no_reason = json!({"info": {EXTENSION: {"member-names": "case-insensitive"}}});
        assert!(
            Decoding::from_document(&no_reason)
                .unwrap_err()
                .contains("reason")
        );
        let bad = json!({"info": {EXTENSION: {"member-names": "loose", "reason": "x"}}});
        assert!(
            Decoding::from_document(&bad)
                .unwrap_err()
                .contains("member-names")
        );
        let unknown = json!({"info": {EXTENSION: {"casing": "any", "reason": "x"}}});
        assert!(
            Decoding::from_document(&unknown)
                .unwrap_err()
                .contains("casing")
        );
        assert_eq!(
            Decoding {
                case_insensitive: true,
                null_as_absent: true
            }
            .surface_line(),
            "decoding: member names case-insensitive; null members as absent"
        );
    }

    #[test]
    fn rewrites_structs_with_their_members_and_leaves_the_rest() {
        let mut file: syn::File = syn::parse_quote! {
            pub mod types {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                pub struct Thing {
                    #[serde(rename = "existingName", skip_serializing_if = "::std::option::Option::is_none")]
                    pub existing_name: ::std::option::Option<::std::string::String>,
                    #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
                    pub items: ::std::vec::Vec<i32>,
                    pub more: bool,
                    #[serde(rename = "type")]
                    pub type_: ::std::string::String,
                    #[serde(flatten)]
                    pub extra: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
                }
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                #[serde(transparent)]
                pub struct Newtype(pub ::std::string::String);
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
                pub enum Closed { A }
                pub mod builder {
                    #[derive(Clone, Debug)]
                    pub struct Thing { more: bool }
                }
            }
        };
        let done = apply(
            &mut file,
            Decoding {
                case_insensitive: true,
                null_as_absent: true,
            },
            "crate::runtime",
            &BTreeSet::from(["Thing".to_string()]),
        )
        .unwrap();
        assert_eq!(done, ["Thing"]);
        let code = quote!(#file).to_string();
        assert!(code.contains("# [serde (remote = \"Self\")] pub struct Thing"));
        assert!(code.contains("names : & [\"existingName\" , \"items\" , \"more\" , \"type\"]"));
        assert!(code.contains("optional : & [\"existingName\" , \"items\"]"));
        assert!(code.contains("case_insensitive : true"));
        assert!(code.contains("impl :: serde :: Serialize for Thing"));
        assert!(code.contains("tolerant :: Derived for Thing"));
        assert!(code.contains("impl < 'de > :: serde :: Deserialize < 'de > for Thing"));
        // The newtype, the enum and the builder are not touched.
        assert!(!code.contains("for Newtype"));
        assert!(!code.contains("for Closed"));
        assert_eq!(code.matches("remote").count(), 1);
    }

    #[test]
    fn refuses_shapes_it_does_not_know() {
        let mut file: syn::File = syn::parse_quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize)]
            #[serde(rename_all = "camelCase")]
            pub struct T { pub a: i32 }
        };
        let err = apply(
            &mut file,
            Decoding::default(),
            "crate::runtime",
            &BTreeSet::new(),
        )
        .unwrap_err();
        assert!(err.contains("struct `T`"));
    }

    /// The end of every "found nothing where it must" message of this stage.
    const CHANGED_HERE: &str = "progenitor's output shape probably changed (the rewrites were \
        written against progenitor 0.15.1), so codegen/src/tolerant.rs must learn the new shape";

    fn tolerant() -> Decoding {
        Decoding {
            case_insensitive: true,
            null_as_absent: false,
        }
    }

    #[test]
    fn a_declaration_with_no_serde_struct_to_rewrite_is_refused() {
        // As if the derives were spelled another way (here: one `serde` derive macro).
        let mut file: syn::File = syn::parse_quote! {
            pub mod types {
                #[derive(Clone, Debug, ::serde_derive::SerDe)]
                pub struct Thing { pub more: bool }
            }
        };
        let err = apply(&mut file, tolerant(), "crate::runtime", &BTreeSet::new()).unwrap_err();
        assert_eq!(
            err,
            format!(
                "rewrite stage `tolerant` looked for the structs deriving `Serialize` and \
                 `Deserialize` that x-customer-data-decoding makes tolerant but found none \
                 (answers would decode strictly although the spec declares otherwise); \
                 {CHANGED_HERE}"
            )
        );
    }

    #[test]
    fn a_component_object_not_rewritten_is_refused() {
        let mut file: syn::File = syn::parse_quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize)]
            pub struct Thing { pub more: bool }
            #[derive(Clone, Debug)]
            pub struct Other { pub more: bool }
        };
        let doc = json!({"components": {"schemas": {
            "Thing": {"type": "object", "properties": {"more": {"type": "boolean"}}},
            "other": {"type": "object", "properties": {"more": {"type": "boolean"}}},
            "Either": {"oneOf": [{"$ref": "#/components/schemas/Thing"}], "properties": {"a": {}}},
            "Free": {"type": "object"}
        }}});
        let expected = expected_structs(&doc);
        assert_eq!(
            expected,
            BTreeSet::from(["Other".to_string(), "Thing".to_string()])
        );
        let err = apply(&mut file, tolerant(), "crate::runtime", &expected).unwrap_err();
        assert_eq!(
            err,
            format!(
                "rewrite stage `tolerant` looked for the structs deriving `Serialize` and \
                 `Deserialize` that x-customer-data-decoding makes tolerant but found no \
                 serde-derived struct `Other` (answers would decode strictly although the spec \
                 declares otherwise); {CHANGED_HERE}"
            )
        );
    }
}
