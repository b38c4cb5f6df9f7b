//! Secret members of OpenAPI types: declared in the spec, redacted in the generated `Debug`.
//!
//! A property is secret when its schema says `format: password` (the OpenAPI meaning: a value
//! to obscure) or carries the extension `x-secret: true` (for a secret that is not a password,
//! such as a token in an answer; its description says why). typify derives `Debug` on every
//! type and has no per-type way to drop a derive, so the generate stage rewrites each struct
//! that holds a secret: `Debug` leaves its derive list and a written `impl Debug` prints every
//! member, the secret ones as `<redacted>` (the shape the SOAP emitter writes,
//! `wsdl/emit.rs`). Only properties of named schemas (`components/schemas/<Name>/properties`)
//! can be declared, since those are the types we can name; the check stage refuses the
//! extension anywhere else.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The extension that declares a non-password secret.
pub const EXTENSION: &str = "x-secret";

/// What a secret member's value is printed as.
pub const REDACTED: &str = "<redacted>";

/// Whether a property schema declares a secret.
pub fn is_secret(schema: &Value) -> bool {
    schema.get("format").and_then(Value::as_str) == Some("password")
        || schema.get(EXTENSION).and_then(Value::as_bool) == Some(true)
}

/// The declared secret members: Rust type name -> JSON member names.
pub fn secret_members(document: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let schemas = document
        .pointer("/components/schemas")
        .and_then(Value::as_object);
    for (name, schema) in schemas.into_iter().flatten() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for (member, property) in properties.into_iter().flatten() {
            if is_secret(property) {
                out.entry(crate::type_names::rust_name(name))
                    .or_default()
                    .insert(member.clone());
            }
        }
    }
    out
}

/// Misplaced or malformed declarations (checked before generation): `x-secret` must be
/// `true` on a property of a named schema.
pub fn findings(document: &Value) -> Vec<crate::Finding> {
    let mut out = Vec::new();
    crate::error::for_each_object(document, &mut |at, map| {
        let Some(value) = map.get(EXTENSION) else {
            return;
        };
        let here = format!("{at}/{EXTENSION}");
        let is_named_property = at
            .strip_prefix("/components/schemas/")
            .and_then(|rest| rest.split_once("/properties/"))
            .is_some_and(|(schema, property)| !schema.contains('/') && !property.contains('/'));
        if !is_named_property {
            out.push(crate::Finding::new(
                here,
                "x-secret can only mark a property of a named schema \
                 (`components/schemas/<Name>/properties/<member>`): the generator redacts that \
                 member in the type's Debug output",
            ));
        } else if value != &Value::Bool(true) {
            out.push(crate::Finding::new(
                here,
                format!("x-secret must be `true` (remove it for a member that is not secret), not {value}"),
            ));
        }
    });
    out
}

/// Gives each struct of `secrets` a `Debug` that prints its secret members as `<redacted>`,
/// instead of the derived one: the type in `types` and typify's builder of the same name in
/// `types::builder` (whose members hold the same values, as `Result`s; the operation builders
/// print it). Fails when a declared type or member is not found, so a declared secret never
/// silently stays printable.
pub fn redact_debug(
    file: &mut syn::File,
    secrets: &BTreeMap<String, BTreeSet<String>>,
) -> Result<(), String> {
    // The Rust names of the secret members, read from the types' serde renames.
    let mut rust_names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut redacted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for_each_struct(&file.items, &mut |item| {
        let name = item.ident.to_string();
        let Some(members) = secrets.get(&name) else {
            return;
        };
        for field in &item.fields {
            let Some(ident) = &field.ident else { continue };
            let rust = ident.to_string();
            let wire = serde_rename(&field.attrs).unwrap_or_else(|| rust.clone());
            if members.contains(&wire) {
                redacted.entry(name.clone()).or_default().insert(wire);
                rust_names.entry(name.clone()).or_default().insert(rust);
            }
        }
    });
    if &redacted != secrets {
        let missing: Vec<String> = secrets
            .iter()
            .flat_map(|(name, members)| {
                members
                    .iter()
                    .filter(|m| !redacted.get(name).is_some_and(|r| r.contains(*m)))
                    .map(move |m| format!("{name}.{m}"))
            })
            .collect();
        return Err(crate::generate::shape_changed(
            "secrets",
            "a struct member for every declared secret",
            &format!("none for {}", missing.join(", ")),
        ));
    }
    rewrite_structs(&mut file.items, &rust_names)
}

fn for_each_struct(items: &[syn::Item], visit: &mut dyn FnMut(&syn::ItemStruct)) {
    for item in items {
        match item {
            syn::Item::Struct(item) => visit(item),
            syn::Item::Mod(module) => {
                if let Some((_, inner)) = &module.content {
                    for_each_struct(inner, visit);
                }
            }
            _ => {}
        }
    }
}

/// Replaces the derived `Debug` of every struct named in `secret_fields` (in any inline
/// module) with a written one placed right after it.
fn rewrite_structs(
    items: &mut Vec<syn::Item>,
    secret_fields: &BTreeMap<String, BTreeSet<String>>,
) -> Result<(), String> {
    let mut at = 0;
    while at < items.len() {
        let debug = match &mut items[at] {
            syn::Item::Mod(module) => {
                if let Some((_, inner)) = &mut module.content {
                    rewrite_structs(inner, secret_fields)?;
                }
                None
            }
            syn::Item::Struct(item) => match secret_fields.get(&item.ident.to_string()) {
                Some(secret) => Some(redacting_debug(item, secret)?),
                None => None,
            },
            _ => None,
        };
        if let Some(debug) = debug {
            items.insert(at + 1, debug);
            at += 1;
        }
        at += 1;
    }
    Ok(())
}

/// Drops `Debug` from the struct's derives and returns the `impl Debug` that replaces it.
fn redacting_debug(
    item: &mut syn::ItemStruct,
    secret: &BTreeSet<String>,
) -> Result<syn::Item, String> {
    let name = item.ident.to_string();
    if !remove_derive(&mut item.attrs, "Debug") {
        return Err(crate::generate::shape_changed(
            "secrets",
            &format!("`Debug` in the derive list of `{name}`"),
            "none",
        ));
    }
    let entries = item.fields.iter().filter_map(|field| {
        let ident = field.ident.as_ref()?;
        let rust = ident.to_string();
        let label = rust.trim_start_matches("r#");
        Some(if !secret.contains(&rust) {
            quote::quote!(.field(#label, &self.#ident))
        } else if is_option_or_result(&field.ty) {
            // Keeps whether there is a value (and a builder's error), hides the value.
            quote::quote!(.field(#label, &self.#ident.as_ref().map(|_| #REDACTED)))
        } else {
            quote::quote!(.field(#label, &#REDACTED))
        })
    });
    let ident = &item.ident;
    let (impl_generics, type_generics, where_clause) = item.generics.split_for_impl();
    Ok(syn::parse_quote! {
        impl #impl_generics ::std::fmt::Debug for #ident #type_generics #where_clause {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(#name) #(#entries)* .finish()
            }
        }
    })
}

/// The member's name on the wire, from `#[serde(rename = "..")]`.
fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    let mut rename = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let value: syn::LitStr = meta.value()?.parse()?;
                rename = Some(value.value());
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    rename
}

fn is_option_or_result(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p)
        if p.path.segments.last().is_some_and(|s| s.ident == "Option" || s.ident == "Result"))
}

/// Removes `name` from the `#[derive(..)]` lists; whether it was there.
fn remove_derive(attrs: &mut [syn::Attribute], name: &str) -> bool {
    let mut removed = false;
    for attr in attrs.iter_mut().filter(|a| a.path().is_ident("derive")) {
        let Ok(paths) = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        ) else {
            continue;
        };
        let before = paths.len();
        let kept: Vec<syn::Path> = paths
            .into_iter()
            .filter(|p| p.segments.last().is_none_or(|s| s.ident != name))
            .collect();
        if kept.len() < before {
            removed = true;
            *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
        }
    }
    removed
}

/// One generated struct that holds a secret: its module path and the Rust names of the
/// secret members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedType {
    pub path: String,
    pub members: Vec<String>,
}

/// Reads generated code and finds every struct holding a secret member
/// (`is_secret(type name, wire name)`, the wire name being the serde rename or the Rust
/// name; a struct of the same name elsewhere, such as typify's builder, holds the same
/// members by Rust name). Each must have no derived `Debug` and a written one, in the same
/// module, that prints those members as `<redacted>`. Returns them all, or every problem.
pub fn audit(
    code: &str,
    is_secret: &dyn Fn(&str, &str) -> bool,
) -> Result<Vec<RedactedType>, Vec<String>> {
    let file = syn::parse_file(code).map_err(|e| vec![format!("cannot read the code: {e}")])?;
    let mut secret_names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for_each_struct(&file.items, &mut |item| {
        for field in &item.fields {
            let Some(ident) = &field.ident else { continue };
            let rust = ident.to_string();
            let wire = serde_rename(&field.attrs).unwrap_or_else(|| rust.clone());
            if is_secret(&item.ident.to_string(), &wire) {
                secret_names
                    .entry(item.ident.to_string())
                    .or_default()
                    .insert(rust);
            }
        }
    });
    let mut found = Vec::new();
    let mut problems = Vec::new();
    audit_items(&file.items, "", &secret_names, &mut found, &mut problems);
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(problems)
    }
}

fn audit_items(
    items: &[syn::Item],
    module: &str,
    secret_names: &BTreeMap<String, BTreeSet<String>>,
    found: &mut Vec<RedactedType>,
    problems: &mut Vec<String>,
) {
    use quote::ToTokens;
    for item in items {
        if let syn::Item::Mod(inner) = item
            && let Some((_, content)) = &inner.content
        {
            let path = format!("{module}{}::", inner.ident);
            audit_items(content, &path, secret_names, found, problems);
            continue;
        }
        let syn::Item::Struct(item) = item else {
            continue;
        };
        let name = item.ident.to_string();
        let Some(names) = secret_names.get(&name) else {
            continue;
        };
        let members: Vec<String> = item
            .fields
            .iter()
            .filter_map(|f| f.ident.as_ref().map(ToString::to_string))
            .filter(|rust| names.contains(rust))
            .collect();
        if members.is_empty() {
            continue;
        }
        let path = format!("{module}{name}");
        let mut attrs = item.attrs.clone();
        if remove_derive(&mut attrs, "Debug") {
            problems.push(format!("{path} derives Debug, so it prints {members:?}"));
            continue;
        }
        let debug = items.iter().find_map(|other| match other {
            syn::Item::Impl(imp)
                if imp
                    .trait_
                    .as_ref()
                    .is_some_and(|(_, t, _)| t.segments.last().is_some_and(|s| s.ident == "Debug"))
                    && matches!(imp.self_ty.as_ref(), syn::Type::Path(p) if p.path.is_ident(&name)) =>
            {
                // Without the trailing commas a formatter adds to long argument lists.
                Some(imp.to_token_stream().to_string().replace(" ,)", ")"))
            }
            _ => None,
        });
        let Some(debug) = debug else {
            problems.push(format!("{path} has no Debug written beside it"));
            continue;
        };
        for member in &members {
            let plain = format!(". field (\"{member}\" , & \"{REDACTED}\")");
            let optional = format!(
                ". field (\"{member}\" , & self . {member} . as_ref () . map (| _ | \"{REDACTED}\"))"
            );
            if !debug.contains(&plain) && !debug.contains(&optional) {
                problems.push(format!("{path}'s Debug does not redact {member}"));
            }
        }
        found.push(RedactedType { path, members });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;
    use serde_json::json;

    fn declared(pairs: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, member) in pairs {
            out.entry(name.to_string())
                .or_default()
                .insert(member.to_string());
        }
        out
    }

    #[test]
    fn password_format_and_the_extension_declare_secrets() {
        let document = json!({"components": {"schemas": {
            "loginRequest": {"properties": {"apikey": {"type": "string", "format": "password"}}},
            "Created": {"properties": {
                "id": {"type": "string"},
                "secret": {"type": "string", "x-secret": true},
                "other": {"type": "string", "x-secret": false}
            }}
        }}});
        assert_eq!(
            secret_members(&document),
            declared(&[("LoginRequest", "apikey"), ("Created", "secret")])
        );
    }

    #[test]
    fn the_extension_is_refused_off_a_named_schema_property() {
        let document = json!({
            "components": {"schemas": {
                "A": {"x-secret": true, "properties": {
                    "ok": {"x-secret": true},
                    "notTrue": {"x-secret": "yes"},
                    "nested": {"properties": {"deep": {"x-secret": true}}}
                }}
            }},
            "paths": {"/a": {"get": {"parameters": [{"name": "key", "in": "query", "x-secret": true}]}}}
        });
        let found: Vec<String> = findings(&document)
            .iter()
            .map(|f| f.pointer.clone())
            .collect();
        assert_eq!(
            found,
            [
                "/components/schemas/A/x-secret",
                "/components/schemas/A/properties/notTrue/x-secret",
                "/components/schemas/A/properties/nested/properties/deep/x-secret",
                "/paths/~1a/get/parameters/0/x-secret",
            ]
        );
        assert!(
            findings(&json!({"components": {"schemas": {"A": {"x-secret": true}}}}))[0]
                .message
                .starts_with("x-secret can only mark a property of a named schema")
        );
    }

    #[test]
    fn the_check_stage_refuses_a_misplaced_declaration() {
        let document = json!({
            "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"get": {
                "parameters": [{"name": "key", "in": "query", "schema": {"type": "string"}, "x-secret": true}],
                "responses": {"204": {"description": "none"}}
            }}}
        });
        let findings = crate::check::findings(&document);
        assert!(
            findings
                .iter()
                .any(|f| f.pointer == "/paths/~1a/get/parameters/0/x-secret"
                    && f.message.starts_with("x-secret can only mark a property")),
            "{findings:?}"
        );
    }

    /// Two structs as typify 0.8 writes them, in progenitor's `types` module.
    fn typify_output() -> syn::File {
        syn::parse_quote! {
            pub mod types {
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, PartialEq)]
                pub struct LoginResponse {
                    pub access_token: ::std::string::String,
                    #[serde(rename = "refreshToken", default, skip_serializing_if = "::std::option::Option::is_none")]
                    pub refresh_token: ::std::option::Option<::std::string::String>,
                    #[serde(rename = "type")]
                    pub type_: ::std::string::String,
                }
                impl LoginResponse { pub fn builder() {} }
                #[derive(Clone, Debug)]
                pub struct Other { pub token: String }
                pub mod builder {
                    #[derive(Clone, Debug)]
                    pub struct LoginResponse {
                        access_token: ::std::result::Result<::std::string::String, ::std::string::String>,
                        refresh_token: ::std::result::Result<::std::option::Option<::std::string::String>, ::std::string::String>,
                        type_: ::std::result::Result<::std::string::String, ::std::string::String>,
                    }
                }
            }
        }
    }

    #[test]
    fn a_declared_struct_gets_a_redacting_debug_instead_of_the_derived_one() {
        let mut file = typify_output();
        redact_debug(
            &mut file,
            &declared(&[
                ("LoginResponse", "access_token"),
                ("LoginResponse", "refreshToken"),
            ]),
        )
        .unwrap();
        let code = file.to_token_stream().to_string();
        assert!(
            code.contains(
                "# [derive (:: serde :: Deserialize , :: serde :: Serialize , Clone , PartialEq)] \
                 pub struct LoginResponse"
            ),
            "{code}"
        );
        assert!(
            code.contains(
                "pub type_ : :: std :: string :: String , } impl :: std :: fmt :: Debug for \
                 LoginResponse { fn fmt (& self , f : & mut :: std :: fmt :: Formatter < '_ >) \
                 -> :: std :: fmt :: Result { f . debug_struct (\"LoginResponse\") . field \
                 (\"access_token\" , & \"<redacted>\") . field (\"refresh_token\" , & self . \
                 refresh_token . as_ref () . map (| _ | \"<redacted>\")) . field (\"type_\" , & \
                 self . type_) . finish () } } impl LoginResponse"
            ),
            "{code}"
        );
        // typify's builder of the type holds the same values: redacted by Rust name.
        assert!(
            code.contains("# [derive (Clone)] pub struct LoginResponse { access_token"),
            "{code}"
        );
        assert!(
            code.contains(
                "f . debug_struct (\"LoginResponse\") . field (\"access_token\" , & self . \
                 access_token . as_ref () . map (| _ | \"<redacted>\")) . field \
                 (\"refresh_token\" , & self . refresh_token . as_ref () . map (| _ | \
                 \"<redacted>\")) . field (\"type_\" , & self . type_) . finish ()"
            ),
            "{code}"
        );
        // An undeclared struct keeps its derive, even with a member named like a secret.
        assert!(
            code.contains("# [derive (Clone , Debug)] pub struct Other"),
            "{code}"
        );
    }

    #[test]
    fn a_declared_secret_that_is_not_generated_is_refused() {
        let mut file = typify_output();
        let err = redact_debug(
            &mut file,
            &declared(&[("LoginResponse", "apiKey"), ("Missing", "token")]),
        )
        .unwrap_err();
        assert!(
            err.starts_with(
                "rewrite stage `secrets` looked for a struct member for every declared secret \
                 but found none for LoginResponse.apiKey, Missing.token;"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_struct_without_a_derived_debug_is_refused() {
        let mut file: syn::File = syn::parse_quote! {
            #[derive(Clone)]
            pub struct LoginRequest { pub apikey: String }
        };
        let err = redact_debug(&mut file, &declared(&[("LoginRequest", "apikey")])).unwrap_err();
        assert!(
            err.starts_with(
                "rewrite stage `secrets` looked for `Debug` in the derive list of `LoginRequest`"
            ),
            "{err}"
        );
    }
}
