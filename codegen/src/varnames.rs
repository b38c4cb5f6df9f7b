//! `x-enum-varnames`: give enum values Rust names other than the ones typify derives from the
//! wire spelling (CarmaChain's `Panding` stays on the wire, the variant is `Pending`).
//! Applied to the generated syntax tree, so every use (the enum, its `Display`/`FromStr`
//! impls, defaults) is renamed together. Only named component enums may carry it; `check`
//! refuses other uses. A renamed enum or value missing from the output fails generation.

use std::collections::{BTreeMap, BTreeSet};

use heck::ToUpperCamelCase;
use serde_json::Value;
use syn::visit_mut::VisitMut;

/// The extension's name.
pub const EXTENSION: &str = "x-enum-varnames";

/// Rust type name -> (wire value -> new variant name), from `components/schemas`.
pub fn renames(document: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(schemas) = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return out;
    };
    for (name, schema) in schemas {
        let (Some(values), Some(names)) = (
            schema.get("enum").and_then(Value::as_array),
            schema.get(EXTENSION).and_then(Value::as_array),
        ) else {
            continue;
        };
        let map: BTreeMap<String, String> = values
            .iter()
            .zip(names)
            .filter_map(|(v, n)| Some((v.as_str()?.to_string(), n.as_str()?.to_string())))
            .collect();
        out.insert(name.to_upper_camel_case(), map);
    }
    out
}

/// Renames the variants in `file`; returns how many variants were renamed. Every value of
/// `renames` must be found as a variant of its enum (even one already named as asked), else
/// the error names what is missing: the value would keep typify's name.
pub fn apply(
    file: &mut syn::File,
    renames: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<usize, String> {
    let mut renamed = 0;
    let mut found = Found::default();
    for (type_name, by_wire) in renames {
        // Old ident -> new ident, read from the enum itself (wire value = serde rename or ident).
        let mut idents = BTreeMap::new();
        find_enum(&mut file.items, type_name, &mut |item| {
            found.enums.insert(type_name.clone());
            for variant in &mut item.variants {
                let wire =
                    serde_rename(&variant.attrs).unwrap_or_else(|| variant.ident.to_string());
                let Some(new) = by_wire.get(&wire) else {
                    continue;
                };
                found.values.insert((type_name.clone(), wire.clone()));
                if variant.ident != new {
                    idents.insert(variant.ident.to_string(), new.clone());
                    if serde_rename(&variant.attrs).is_none() {
                        // Keep the wire spelling once the ident no longer carries it.
                        variant
                            .attrs
                            .push(syn::parse_quote!(#[serde(rename = #wire)]));
                    }
                    variant.ident = syn::Ident::new(new, variant.ident.span());
                    renamed += 1;
                }
            }
        });
        if idents.is_empty() {
            continue;
        }
        RenamePaths {
            type_name,
            idents: &idents,
            in_impl_of_type: false,
        }
        .visit_file_mut(file);
    }
    all_found(renames, &found)?;
    Ok(renamed)
}

/// The enums and (enum, wire value) variants the stage found in the generated code.
#[derive(Debug, Default)]
pub struct Found {
    /// Enums found by their Rust name.
    pub enums: BTreeSet<String>,
    /// (enum, wire value) pairs found as a variant, renamed or already named as asked.
    pub values: BTreeSet<(String, String)>,
}

/// Every enum and value the spec renames must have been found; the error lists the missing
/// ones (typify names a component enum after its schema, one variant per value).
pub fn all_found(
    renames: &BTreeMap<String, BTreeMap<String, String>>,
    found: &Found,
) -> Result<(), String> {
    let mut missing = Vec::new();
    for (type_name, by_wire) in renames {
        if !found.enums.contains(type_name) {
            missing.push(format!("enum `{type_name}`"));
            continue;
        }
        for wire in by_wire.keys() {
            if !found.values.contains(&(type_name.clone(), wire.clone())) {
                missing.push(format!("`{type_name}` value {wire:?}"));
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(crate::generate::shape_changed(
        "varnames",
        "every enum and value that x-enum-varnames renames",
        &format!("no {}", missing.join(", no ")),
    ))
}

fn find_enum(items: &mut [syn::Item], name: &str, f: &mut dyn FnMut(&mut syn::ItemEnum)) {
    for item in items {
        match item {
            syn::Item::Enum(e) if e.ident == name => f(e),
            syn::Item::Mod(m) => {
                if let Some((_, items)) = &mut m.content {
                    find_enum(items, name, f);
                }
            }
            _ => {}
        }
    }
}

fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                found = Some(lit.value());
            } else if meta.input.peek(syn::Token![=]) {
                // Skip the value of any other `key = value` entry.
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    found
}

/// Rewrites `Type::Old` anywhere and `Self::Old` inside impls of `Type`.
struct RenamePaths<'a> {
    type_name: &'a str,
    idents: &'a BTreeMap<String, String>,
    in_impl_of_type: bool,
}

impl VisitMut for RenamePaths<'_> {
    fn visit_item_impl_mut(&mut self, item: &mut syn::ItemImpl) {
        let is_type = matches!(item.self_ty.as_ref(), syn::Type::Path(p)
            if p.path.segments.last().is_some_and(|s| s.ident == self.type_name));
        let outer = std::mem::replace(&mut self.in_impl_of_type, is_type);
        syn::visit_mut::visit_item_impl_mut(self, item);
        self.in_impl_of_type = outer;
    }

    fn visit_path_mut(&mut self, path: &mut syn::Path) {
        let n = path.segments.len();
        if n >= 2 {
            let owner = path.segments[n - 2].ident.to_string();
            let owner_matches =
                owner == self.type_name || (owner == "Self" && self.in_impl_of_type);
            if owner_matches {
                let last = &mut path.segments[n - 1];
                if let Some(new) = self.idents.get(&last.ident.to_string()) {
                    last.ident = syn::Ident::new(new, last.ident.span());
                }
            }
        }
        syn::visit_mut::visit_path_mut(self, path);
    }
}

/// Findings for misuse of the extension (checked before generation).
pub fn findings(document: &Value) -> Vec<crate::Finding> {
    let mut out = Vec::new();
    crate::error::for_each_object(document, &mut |at, map| {
        let Some(names) = map.get(EXTENSION) else {
            return;
        };
        let here = format!("{at}/{EXTENSION}");
        let is_component = at
            .strip_prefix("/components/schemas/")
            .is_some_and(|rest| !rest.contains('/'));
        if !is_component {
            out.push(crate::Finding::new(
                here,
                "only a named enum in `components/schemas` can carry x-enum-varnames",
            ));
            return;
        }
        let values = map.get("enum").and_then(Value::as_array);
        let names = names.as_array();
        match (values, names) {
            (Some(values), Some(names)) if values.len() == names.len() => {
                for name in names {
                    let valid = name.as_str().is_some_and(|n| syn::parse_str::<syn::Ident>(n).is_ok());
                    if !valid {
                        out.push(crate::Finding::new(&here, format!("{name} is not a Rust identifier")));
                    }
                }
            }
            _ => out.push(crate::Finding::new(
                here,
                "x-enum-varnames needs an `enum` of strings and one name per value, in the same order",
            )),
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renames_the_variant_and_every_use_keeping_the_wire_value() {
        let mut file: syn::File = syn::parse_quote! {
            pub mod types {
                #[derive(Serialize, Deserialize)]
                pub enum RequestStatus {
                    Done,
                    Panding,
                }
                impl ::std::fmt::Display for RequestStatus {
                    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        match *self {
                            Self::Done => f.write_str("Done"),
                            Self::Panding => f.write_str("Panding"),
                        }
                    }
                }
                pub fn default_status() -> RequestStatus { RequestStatus::Panding }
                impl Other { fn x() -> Self { Self::Panding } }
            }
        };
        let doc = json!({"components": {"schemas": {"RequestStatus": {
            "type": "string", "enum": ["Done", "Panding"], "x-enum-varnames": ["Done", "Pending"]
        }}}});
        assert_eq!(apply(&mut file, &renames(&doc)), Ok(1));
        let code = prettyplease::unparse(&file);
        assert!(
            code.contains("#[serde(rename = \"Panding\")]\n        Pending,"),
            "{code}"
        );
        assert!(
            code.contains("Self::Pending => f.write_str(\"Panding\")"),
            "{code}"
        );
        assert!(code.contains("RequestStatus::Pending"), "{code}");
        assert!(
            code.contains("impl Other {\n        fn x() -> Self {\n            Self::Panding"),
            "other types untouched: {code}"
        );
    }

    #[test]
    fn misuse_is_found() {
        let doc = json!({"components": {"schemas": {
            "A": {"enum": ["a", "b"], "x-enum-varnames": ["A"]},
            "B": {"enum": ["a"], "x-enum-varnames": ["not an ident"]},
            "C": {"properties": {"p": {"enum": ["a"], "x-enum-varnames": ["A"]}}}
        }}});
        let found: Vec<String> = findings(&doc)
            .into_iter()
            .map(|f| format!("{}: {}", f.pointer, f.message))
            .collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].starts_with("/components/schemas/A/x-enum-varnames: x-enum-varnames needs")
        );
        assert!(found[1].contains("is not a Rust identifier"));
        assert!(
            found[2].starts_with(
                "/components/schemas/C/properties/p/x-enum-varnames: only a named enum"
            )
        );
    }

    #[test]
    fn a_renamed_enum_or_value_that_is_not_generated_is_refused() {
        // As if typify named the enum differently and spelled a value's variant otherwise.
        let mut file: syn::File = syn::parse_quote! {
            pub mod types {
                pub enum RequestStatus2 { Done, Panding }
                pub enum Kind {
                    #[serde(rename = "a")]
                    A,
                }
            }
        };
        let doc = json!({"components": {"schemas": {
            "RequestStatus": {"type": "string", "enum": ["Done", "Panding"], "x-enum-varnames": ["Done", "Pending"]},
            "Kind": {"type": "string", "enum": ["a", "b"], "x-enum-varnames": ["Alpha", "Beta"]}
        }}});
        let err = apply(&mut file, &renames(&doc)).unwrap_err();
        assert_eq!(
            err,
            "rewrite stage `varnames` looked for every enum and value that x-enum-varnames \
             renames but found no `Kind` value \"b\", no enum `RequestStatus`; progenitor's \
             output shape probably changed (the rewrites were written against progenitor \
             0.15.1), so codegen/src/varnames.rs must learn the new shape"
        );
    }

    #[test]
    fn a_value_already_named_as_asked_counts_as_found() {
        let mut file: syn::File = syn::parse_quote! {
            pub enum RequestStatus { Done, Panding }
        };
        let doc = json!({"components": {"schemas": {"RequestStatus": {
            "type": "string", "enum": ["Done", "Panding"], "x-enum-varnames": ["Done", "Pending"]
        }}}});
        // `Done` keeps its name: found, not renamed.
        assert_eq!(apply(&mut file, &renames(&doc)), Ok(1));
    }
}
