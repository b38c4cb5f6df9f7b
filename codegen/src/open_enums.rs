//! Open enums: a value a vendor adds later decodes instead of failing the whole response.
//!
//! typify turns every string `enum` into a closed Rust enum: serde rejects an unlisted value,
//! `FromStr` errs on it, and the enum is `Copy`. This stage rewrites each such enum in the
//! generated syntax tree so that it stays open, in the same shape as the SOAP clients'
//! `open_enum!` (`src/runtime/open_enum.rs`):
//! - a last variant `UnknownValue(String)`, marked `#[serde(untagged)]`: serde tries the listed
//!   values first and only then keeps the string as received, and serialises it back as that
//!   same string (also as a query or path parameter, which progenitor writes from `Serialize`
//!   and `Display`). Its name cannot clash with a wire value such as `UNKNOWN` (`Unknown`);
//!   a clash with a spec's own `UnknownValue` fails generation.
//! - `Copy` is dropped (a `String` is not `Copy`), and `Display` matches on `self`, not `*self`;
//! - `FromStr` (and through it `TryFrom<&str>` / `TryFrom<String>`) maps any other string to
//!   `UnknownValue` instead of an error; `Display` writes the kept string.
//!
//! A string enum is what typify emits for a string `enum`: a non-empty enum of unit variants
//! only (typify maps non-string `enum`s to newtype structs, and `oneOf`s to enums with data,
//! which this stage leaves alone). If such an enum, or its impls, are not in the shape this
//! stage knows, generation fails naming the enum, rather than leaving it closed; so it does
//! when a string enum the spec declares (see [`ExpectedEnums`]) is not found at all.

use std::collections::BTreeSet;

use heck::ToUpperCamelCase;
use quote::ToTokens;
use serde_json::Value;

/// The variant that keeps a value the spec does not list (the name `open_enum!` uses too).
pub const UNKNOWN_VARIANT: &str = "UnknownValue";

/// Rewrites every string enum of `file` (at any module depth) to be open. Returns the names
/// of the enums it opened, in file order; an error names the first enum it cannot open, or
/// the `expected` enums it did not find (they would stay closed).
pub fn open_string_enums(
    file: &mut syn::File,
    expected: &ExpectedEnums,
) -> Result<Vec<String>, String> {
    let mut opened = Vec::new();
    open_in_items(&mut file.items, &mut opened)?;
    expected.all_opened(&opened)?;
    Ok(opened)
}

/// The string enums a spec says typify must have emitted, so that a change in its output
/// shape fails here instead of leaving them closed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExpectedEnums {
    /// Rust names of the string enums in `components/schemas` (typify names each after its
    /// schema).
    pub named: BTreeSet<String>,
    /// Whether the spec has a string enum anywhere. Inline ones are named by typify after
    /// where they appear, so only their presence is checked: then at least one must open.
    pub any: bool,
}

impl ExpectedEnums {
    /// Reads the string enums of an (OpenAPI) document.
    pub fn from_document(document: &Value) -> Self {
        let named = document
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, schema)| schema.as_object().is_some_and(is_string_enum_schema))
            .map(|(name, _)| name.to_upper_camel_case())
            .collect();
        let mut any = false;
        crate::error::for_each_object(document, &mut |_, map| {
            any |= is_string_enum_schema(map);
        });
        Self { named, any }
    }

    /// Whether `opened` (the enums the stage opened) covers what the spec says must be there.
    pub fn all_opened(&self, opened: &[String]) -> Result<(), String> {
        let missing: Vec<String> = self
            .named
            .iter()
            .filter(|name| !opened.contains(name))
            .map(|name| format!("`{name}`"))
            .collect();
        if !missing.is_empty() {
            return Err(crate::generate::shape_changed(
                "open_enums",
                "an open-able string enum for each string enum in components/schemas",
                &format!(
                    "none for {} (it would stay closed and refuse values the vendor adds)",
                    missing.join(", ")
                ),
            ));
        }
        if self.any && opened.is_empty() {
            return Err(crate::generate::shape_changed(
                "open_enums",
                "the string enums typify emits for the spec's (inline) string `enum`s",
                "none (they would stay closed and refuse values the vendor adds)",
            ));
        }
        Ok(())
    }
}

/// A schema whose `enum` lists only strings: typify emits a string enum for it.
fn is_string_enum_schema(schema: &serde_json::Map<String, Value>) -> bool {
    schema
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|values| !values.is_empty() && values.iter().all(Value::is_string))
}

/// Opens the string enums declared in `items` (and, recursively, in their inline modules).
/// typify emits an enum's `Display` and `FromStr` impls beside it, in the same module.
fn open_in_items(items: &mut [syn::Item], opened: &mut Vec<String>) -> Result<(), String> {
    let mut here = Vec::new();
    for item in items.iter_mut() {
        match item {
            syn::Item::Enum(item_enum) if is_string_enum(item_enum) => {
                open_enum_item(item_enum)?;
                here.push(item_enum.ident.to_string());
            }
            syn::Item::Mod(module) => {
                if let Some((_, inner)) = &mut module.content {
                    open_in_items(inner, opened)?;
                }
            }
            _ => {}
        }
    }
    for name in &here {
        let mut rewritten = RewrittenImpls::default();
        for item in items.iter_mut() {
            if let syn::Item::Impl(item_impl) = item
                && impl_self_is(item_impl, name)
            {
                rewrite_impl(name, item_impl, &mut rewritten)?;
            }
        }
        if !(rewritten.display && rewritten.from_str) {
            return Err(unrecognised(
                name,
                "has no `Display` or no `FromStr` impl beside it",
            ));
        }
    }
    opened.extend(here);
    Ok(())
}

/// Which of an enum's impls the stage rewrote.
#[derive(Default)]
struct RewrittenImpls {
    display: bool,
    from_str: bool,
}

fn unrecognised(name: &str, what: &str) -> String {
    format!(
        "string enum `{name}` {what}, a shape codegen/src/open_enums.rs does not recognise: \
         it would stay closed and refuse values the vendor adds"
    )
}

/// A non-empty enum whose variants are all unit variants: what typify emits for a string
/// `enum` (and only for one).
fn is_string_enum(item: &syn::ItemEnum) -> bool {
    !item.variants.is_empty()
        && item
            .variants
            .iter()
            .all(|v| matches!(v.fields, syn::Fields::Unit))
}

/// Adds the `UnknownValue` variant, drops `Copy`, and says so in the enum's docs.
fn open_enum_item(item: &mut syn::ItemEnum) -> Result<(), String> {
    let name = item.ident.to_string();
    // typify tags string enums externally (no enum-level tag); with `untagged` or a tag
    // field, an untagged last variant would not mean "any other string".
    if serde_keys(&item.attrs)
        .iter()
        .any(|key| matches!(key.as_str(), "untagged" | "tag" | "content"))
    {
        return Err(unrecognised(&name, "is `#[serde(untagged)]` or tagged"));
    }
    if item.variants.iter().any(|v| v.ident == UNKNOWN_VARIANT) {
        return Err(format!(
            "string enum `{name}` already has a variant `{UNKNOWN_VARIANT}`, the name the open \
             variant needs: rename that value with x-enum-varnames"
        ));
    }
    let mut derives = derived(&item.attrs);
    if !(derives.iter().any(|d| d.ends_with("Serialize"))
        && derives.iter().any(|d| d.ends_with("Deserialize")))
    {
        return Err(unrecognised(&name, "does not derive serde's traits"));
    }
    derives.retain(|d| d != "Copy");
    let derives: Vec<syn::Path> = derives
        .iter()
        .map(|d| syn::parse_str(d).map_err(|e| format!("string enum `{name}`: derive {d}: {e}")))
        .collect::<Result<_, _>>()?;
    // One derive in place of typify's, then the note after the enum's own docs.
    let first_derive = item.attrs.iter().position(|a| a.path().is_ident("derive"));
    item.attrs.retain(|a| !a.path().is_ident("derive"));
    item.attrs.insert(
        first_derive.unwrap_or(item.attrs.len()),
        syn::parse_quote!(#[derive(#(#derives),*)]),
    );
    let after_docs = item
        .attrs
        .iter()
        .rposition(|a| a.path().is_ident("doc"))
        .map(|last| last + 1);
    let note: syn::Attribute = syn::parse_quote!(
        #[doc = "Open: a value the spec does not list decodes to `UnknownValue`, kept as received."]
    );
    match after_docs {
        Some(at) => {
            item.attrs
                .splice(at..at, [syn::parse_quote!(#[doc = ""]), note]);
        }
        None => item.attrs.insert(0, note),
    }
    let unknown = syn::Ident::new(UNKNOWN_VARIANT, proc_macro2::Span::call_site());
    item.variants.push(syn::parse_quote! {
        /// A value this client does not know (kept as received, and sent back as it is).
        #[serde(untagged)]
        #unknown(::std::string::String)
    });
    Ok(())
}

/// The derived trait paths, as written (e.g. `::serde::Serialize`, `Copy`), in order.
pub(crate) fn derived(attrs: &[syn::Attribute]) -> Vec<String> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let _ = attr.parse_nested_meta(|meta| {
            out.push(meta.path.to_token_stream().to_string().replace(' ', ""));
            Ok(())
        });
    }
    out
}

/// The keys of an item's `#[serde(..)]` attributes (`rename`, `untagged`, ..).
fn serde_keys(attrs: &[syn::Attribute]) -> Vec<String> {
    let mut keys = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            keys.push(meta.path.to_token_stream().to_string());
            if meta.input.peek(syn::Token![=]) {
                // Skip the value of a `key = value` entry.
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    keys
}

fn impl_self_is(item: &syn::ItemImpl, name: &str) -> bool {
    matches!(item.self_ty.as_ref(), syn::Type::Path(p)
        if p.qself.is_none() && p.path.is_ident(name))
}

/// The last segment of the implemented trait's path (`Display`, `FromStr`, `TryFrom`, ..).
fn trait_name(item: &syn::ItemImpl) -> Option<String> {
    let (_, path, _) = item.trait_.as_ref()?;
    path.segments.last().map(|s| s.ident.to_string())
}

fn rewrite_impl(
    name: &str,
    item: &mut syn::ItemImpl,
    rewritten: &mut RewrittenImpls,
) -> Result<(), String> {
    match trait_name(item).as_deref() {
        Some("Display") => {
            let body = only_expr(method_body(item, "fmt"))
                .ok_or_else(|| unrecognised(name, "has a `Display` impl without one `match`"))?;
            open_display(name, body)?;
            rewritten.display = true;
        }
        Some("FromStr") => {
            let body = only_expr(method_body(item, "from_str"))
                .ok_or_else(|| unrecognised(name, "has a `FromStr` impl without one `match`"))?;
            open_from_str(name, body)?;
            rewritten.from_str = true;
        }
        // They delegate to `FromStr`, which no longer fails; anything else might.
        Some("TryFrom") => {
            let delegates = only_expr(method_body(item, "try_from")).is_some_and(|expr| {
                matches!(expr, syn::Expr::MethodCall(call) if call.method == "parse" && call.args.is_empty())
            });
            if !delegates {
                return Err(unrecognised(
                    name,
                    "has a `TryFrom` impl that does not delegate to `FromStr`",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn method_body<'a>(item: &'a mut syn::ItemImpl, method: &str) -> Option<&'a mut syn::Block> {
    item.items.iter_mut().find_map(|i| match i {
        syn::ImplItem::Fn(f) if f.sig.ident == method => Some(&mut f.block),
        _ => None,
    })
}

/// The block's one statement, if it is a trailing expression.
fn only_expr(block: Option<&mut syn::Block>) -> Option<&mut syn::Expr> {
    match block?.stmts.as_mut_slice() {
        [syn::Stmt::Expr(expr, None)] => Some(expr),
        _ => None,
    }
}

/// `match *self { Self::A => f.write_str("a"), .. }` becomes `match self { .., Self::UnknownValue(value) => f.write_str(value) }`.
fn open_display(name: &str, body: &mut syn::Expr) -> Result<(), String> {
    let syn::Expr::Match(matched) = body else {
        return Err(unrecognised(
            name,
            "has a `Display` impl that is not a `match`",
        ));
    };
    let scrutinee = matched.expr.to_token_stream().to_string();
    if scrutinee != "* self" && scrutinee != "self" {
        return Err(unrecognised(
            name,
            &format!("has a `Display` impl matching on `{scrutinee}`"),
        ));
    }
    let unknown = syn::Ident::new(UNKNOWN_VARIANT, proc_macro2::Span::call_site());
    matched.expr = syn::parse_quote!(self);
    matched
        .arms
        .push(syn::parse_quote!(Self::#unknown(value) => f.write_str(value),));
    Ok(())
}

/// `match value { "a" => Ok(Self::A), .., _ => Err(..) }`: the catch-all arm keeps the value.
fn open_from_str(name: &str, body: &mut syn::Expr) -> Result<(), String> {
    let syn::Expr::Match(matched) = body else {
        return Err(unrecognised(
            name,
            "has a `FromStr` impl that is not a `match`",
        ));
    };
    let Some(last) = matched.arms.last_mut() else {
        return Err(unrecognised(name, "has a `FromStr` impl without arms"));
    };
    if !matches!(last.pat, syn::Pat::Wild(_)) || last.guard.is_some() {
        return Err(unrecognised(
            name,
            "has a `FromStr` impl whose last arm is not `_ => ..`",
        ));
    }
    let unknown = syn::Ident::new(UNKNOWN_VARIANT, proc_macro2::Span::call_site());
    *last = syn::parse_quote!(other => Ok(Self::#unknown(other.to_string())),);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An enum as typify 0.8 emits it for `enum: [UPLOADED, NOT_IDENTIFIED]`, with a default,
    /// beside a `oneOf` enum that carries data.
    fn typify_output() -> syn::File {
        syn::parse_quote! {
            pub mod types {
                ///Identification state.
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
                pub enum State {
                    #[serde(rename = "UPLOADED")]
                    Uploaded,
                    #[serde(rename = "NOT_IDENTIFIED")]
                    NotIdentified,
                }
                impl ::std::convert::From<&Self> for State {
                    fn from(value: &State) -> Self { value.clone() }
                }
                impl ::std::fmt::Display for State {
                    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        match *self {
                            Self::Uploaded => f.write_str("UPLOADED"),
                            Self::NotIdentified => f.write_str("NOT_IDENTIFIED"),
                        }
                    }
                }
                impl ::std::str::FromStr for State {
                    type Err = self::error::ConversionError;
                    fn from_str(value: &str) -> ::std::result::Result<Self, self::error::ConversionError> {
                        match value {
                            "UPLOADED" => Ok(Self::Uploaded),
                            "NOT_IDENTIFIED" => Ok(Self::NotIdentified),
                            _ => Err("invalid value".into()),
                        }
                    }
                }
                impl ::std::convert::TryFrom<&str> for State {
                    type Error = self::error::ConversionError;
                    fn try_from(value: &str) -> ::std::result::Result<Self, self::error::ConversionError> {
                        value.parse()
                    }
                }
                impl ::std::default::Default for State {
                    fn default() -> Self { State::Uploaded }
                }
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, PartialEq)]
                #[serde(untagged)]
                pub enum Request {
                    State(State),
                    Array(::std::vec::Vec<State>),
                }
            }
        }
    }

    fn code(file: &syn::File) -> String {
        prettyplease::unparse(file)
    }

    #[test]
    fn a_string_enum_gets_the_open_variant_and_loses_copy() {
        let mut file = typify_output();
        let opened = open_string_enums(&mut file, &ExpectedEnums::default()).unwrap();
        assert_eq!(opened, ["State"]);
        let code = code(&file);
        assert!(
            code.contains(
                "    #[derive(\n        ::serde::Deserialize,\n        ::serde::Serialize,\n        Clone,\n        Debug,"
            ),
            "{code}"
        );
        assert!(!code.contains("Copy"), "{code}");
        assert!(
            code.contains(
                "NotIdentified,\n        /// A value this client does not know (kept as received, and sent back as it is).\n        #[serde(untagged)]\n        UnknownValue(::std::string::String),\n    }"
            ),
            "{code}"
        );
        assert!(
            code.contains(
                "    ///Identification state.\n    ///\n    ///Open: a value the spec does not list decodes to `UnknownValue`, kept as received.\n    #[derive("
            ),
            "{code}"
        );
    }

    #[test]
    fn display_writes_the_kept_value_and_from_str_keeps_any_value() {
        let mut file = typify_output();
        open_string_enums(&mut file, &ExpectedEnums::default()).unwrap();
        let code = code(&file);
        assert!(code.contains("match self {"), "{code}");
        assert!(!code.contains("match *self"), "{code}");
        assert!(
            code.contains("Self::UnknownValue(value) => f.write_str(value),"),
            "{code}"
        );
        assert!(
            code.contains("other => Ok(Self::UnknownValue(other.to_string())),"),
            "{code}"
        );
        assert!(!code.contains("invalid value"), "{code}");
        // Listed values still map to their variants, and before the catch-all.
        let listed = code
            .find("\"NOT_IDENTIFIED\" => Ok(Self::NotIdentified)")
            .unwrap();
        let catch_all = code.find("other => Ok(").unwrap();
        assert!(listed < catch_all, "{code}");
    }

    #[test]
    fn enums_carrying_data_are_left_alone() {
        let mut file = typify_output();
        open_string_enums(&mut file, &ExpectedEnums::default()).unwrap();
        let code = code(&file);
        assert!(
            code.contains(
                "    #[serde(untagged)]\n    pub enum Request {\n        State(State),\n        Array(::std::vec::Vec<State>),\n    }"
            ),
            "{code}"
        );
        let mut nothing: syn::File = syn::parse_quote! {
            pub enum Shape { Circle(f64), Square { side: f64 } }
        };
        assert_eq!(
            open_string_enums(&mut nothing, &ExpectedEnums::default()).unwrap(),
            Vec::<String>::new()
        );
    }

    fn opening_fails(file: syn::File) -> String {
        let mut file = file;
        open_string_enums(&mut file, &ExpectedEnums::default()).unwrap_err()
    }

    #[test]
    fn a_string_enum_without_its_impls_is_refused() {
        let err = opening_fails(syn::parse_quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Copy)]
            pub enum Bare { A, B }
        });
        assert!(
            err.starts_with("string enum `Bare` has no `Display` or no `FromStr` impl beside it"),
            "{err}"
        );
        assert!(err.contains("would stay closed"), "{err}");
    }

    #[test]
    fn an_unexpected_from_str_is_refused() {
        let err = opening_fails(syn::parse_quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize)]
            pub enum E { A }
            impl ::std::fmt::Display for E {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    match *self { Self::A => f.write_str("a") }
                }
            }
            impl ::std::str::FromStr for E {
                type Err = String;
                fn from_str(value: &str) -> Result<Self, String> {
                    match value { "a" => Ok(Self::A), other => Err(other.into()) }
                }
            }
        });
        assert!(
            err.starts_with("string enum `E` has a `FromStr` impl whose last arm is not `_ => ..`"),
            "{err}"
        );
    }

    #[test]
    fn a_try_from_that_does_not_delegate_is_refused() {
        let mut file = typify_output();
        let syn::Item::Mod(module) = &mut file.items[0] else {
            unreachable!("typify_output is one module")
        };
        module.content.as_mut().unwrap().1.push(syn::parse_quote! {
            impl ::std::convert::TryFrom<::std::string::String> for State {
                type Error = self::error::ConversionError;
                fn try_from(value: ::std::string::String) -> ::std::result::Result<Self, self::error::ConversionError> {
                    Err("closed".into())
                }
            }
        });
        let err = opening_fails(file);
        assert!(
            err.starts_with("string enum `State` has a `TryFrom` impl that does not delegate"),
            "{err}"
        );
    }

    #[test]
    fn a_tagged_unit_enum_and_a_clashing_variant_are_refused() {
        let err = opening_fails(syn::parse_quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize)]
            #[serde(untagged)]
            pub enum Nothing { Null }
        });
        assert!(
            err.starts_with("string enum `Nothing` is `#[serde(untagged)]` or tagged"),
            "{err}"
        );
        let err = opening_fails(syn::parse_quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize)]
            pub enum Clash { Known, UnknownValue }
        });
        assert!(
            err.starts_with("string enum `Clash` already has a variant `UnknownValue`"),
            "{err}"
        );
    }

    #[test]
    fn a_string_enum_without_serde_is_refused() {
        let err = opening_fails(syn::parse_quote! {
            #[derive(Clone, Copy)]
            pub enum Plain { A }
        });
        assert!(
            err.starts_with("string enum `Plain` does not derive serde's traits"),
            "{err}"
        );
    }

    /// The end of every "found nothing where it must" message of this stage.
    const CHANGED_HERE: &str = "progenitor's output shape probably changed (the rewrites were \
        written against progenitor 0.15.1), so codegen/src/open_enums.rs must learn the new shape";

    #[test]
    fn reads_the_string_enums_a_spec_declares() {
        let doc = serde_json::json!({
            "paths": {"/x": {"get": {"parameters": [{"schema": {"type": "string", "enum": ["a"]}}]}}},
            "components": {"schemas": {
                "request_state": {"type": "string", "enum": ["NEW"]},
                "Count": {"type": "integer", "enum": [1, 2]},
                "Thing": {"type": "object"}
            }}
        });
        assert_eq!(
            ExpectedEnums::from_document(&doc),
            ExpectedEnums {
                named: BTreeSet::from(["RequestState".to_string()]),
                any: true
            }
        );
        assert_eq!(
            ExpectedEnums::from_document(&serde_json::json!({"components": {}})),
            ExpectedEnums::default()
        );
    }

    #[test]
    fn a_component_string_enum_that_is_not_generated_is_refused() {
        // The spec has `State` and `Kind`; the output has only `State` (as if typify had
        // emitted `Kind` in another shape, e.g. a newtype it validates).
        let mut file = typify_output();
        let expected = ExpectedEnums {
            named: BTreeSet::from(["Kind".to_string(), "State".to_string()]),
            any: true,
        };
        let err = open_string_enums(&mut file, &expected).unwrap_err();
        assert_eq!(
            err,
            format!(
                "rewrite stage `open_enums` looked for an open-able string enum for each string \
                 enum in components/schemas but found none for `Kind` (it would stay closed and \
                 refuse values the vendor adds); {CHANGED_HERE}"
            )
        );
    }

    #[test]
    fn inline_string_enums_with_none_generated_are_refused() {
        // The spec has only inline string enums; the output has none in the unit-variant shape.
        let mut file: syn::File = syn::parse_quote! {
            pub struct ThingKind(::std::string::String);
        };
        let expected = ExpectedEnums {
            named: BTreeSet::new(),
            any: true,
        };
        let err = open_string_enums(&mut file, &expected).unwrap_err();
        assert_eq!(
            err,
            format!(
                "rewrite stage `open_enums` looked for the string enums typify emits for the \
                 spec's (inline) string `enum`s but found none (they would stay closed and \
                 refuse values the vendor adds); {CHANGED_HERE}"
            )
        );
    }
}
