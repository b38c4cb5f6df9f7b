//! Path parameters through the runtime's encoder (`<runtime>::path::encode_path`).
//!
//! progenitor builds each URL as `format!("{}/customers/{}", client.baseurl,
//! encode_path(&customer_id.to_string()))` with `progenitor_client::encode_path`, which lets
//! `.`, `..` and `""` through: the URL parser then removes the dot segment and the request
//! goes to the parent path (see `src/runtime/path.rs`). This stage rewrites every such call to
//! `<runtime>::path::encode_path("customer_id", &customer_id.to_string())?`, which refuses
//! those values with `Error::InvalidRequest` before anything is sent, and drops progenitor's
//! `encode_path` from the imports so no call to it can remain. progenitor has no setting for
//! the encoder, hence the rewrite.

use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::visit_mut::VisitMut;

/// The number of path parameters progenitor encodes: one `encode_path` per `{name}` in each
/// operation's path template.
pub fn path_parameter_count(openapi: &openapiv3::OpenAPI) -> usize {
    openapi
        .operations()
        .map(|(path, _, _)| path.matches('{').count())
        .sum()
}

/// Rewrites every progenitor `encode_path(&x.to_string())` in a `format!` to the runtime's
/// checked encoder and removes progenitor's from the imports. Fails (naming the stage) unless
/// exactly `expected` calls were rewritten and none is left anywhere.
pub fn route_path_encoding(
    file: &mut syn::File,
    runtime_path: &str,
    expected: usize,
) -> Result<(), String> {
    let encoder = syn::parse_str::<syn::Path>(&format!("{runtime_path}::path::encode_path"))
        .map_err(|e| format!("runtime path {runtime_path}: {e}"))?;
    let mut rewrite = Rewrite {
        encoder,
        rewritten: 0,
        unreadable: Vec::new(),
    };
    rewrite.visit_file_mut(file);
    if let Some(problem) = rewrite.unreadable.first() {
        return Err(crate::generate::shape_changed(
            "path_segments",
            "`encode_path(&<parameter>.to_string())` calls",
            problem,
        ));
    }
    let mut imports = DropImport { dropped: 0 };
    imports.visit_file_mut(file);
    let leftover = progenitor_calls_left(file);
    if rewrite.rewritten != expected || leftover > 0 {
        return Err(crate::generate::shape_changed(
            "path_segments",
            &format!("one `encode_path(&<parameter>.to_string())` per path parameter ({expected})"),
            &format!(
                "{} rewritten and {leftover} left elsewhere, so a path parameter may bypass \
                 the dot-segment check",
                rewrite.rewritten
            ),
        ));
    }
    Ok(())
}

struct Rewrite {
    encoder: syn::Path,
    rewritten: usize,
    /// What was found where a rewritable call was expected.
    unreadable: Vec<String>,
}

impl Rewrite {
    /// The parameter name of progenitor's `encode_path(&<name>.to_string())` argument.
    fn parameter(argument: &syn::Expr) -> Option<String> {
        let syn::Expr::Reference(reference) = argument else {
            return None;
        };
        let syn::Expr::MethodCall(call) = reference.expr.as_ref() else {
            return None;
        };
        let syn::Expr::Path(receiver) = call.receiver.as_ref() else {
            return None;
        };
        (call.method == "to_string")
            .then(|| receiver.path.get_ident().map(ToString::to_string))
            .flatten()
    }

    fn rewrite_call(&mut self, expr: &mut syn::Expr) {
        let syn::Expr::Call(call) = expr else {
            syn::visit_mut::visit_expr_mut(self, expr);
            return;
        };
        if !is_progenitor_encode_path(&call.func) {
            syn::visit_mut::visit_expr_mut(self, expr);
            return;
        }
        let argument = call.args.first().filter(|_| call.args.len() == 1);
        let Some((argument, parameter)) =
            argument.and_then(|a| Some((a.clone(), Self::parameter(a)?)))
        else {
            self.unreadable
                .push(format!("`{}`", call.to_token_stream()));
            return;
        };
        let encoder = &self.encoder;
        *expr = syn::parse_quote!(#encoder(#parameter, #argument)?);
        self.rewritten += 1;
    }
}

impl VisitMut for Rewrite {
    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        if !mac.path.is_ident("format") {
            return;
        }
        let Ok(mut arguments) =
            mac.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated)
        else {
            return;
        };
        for argument in arguments.iter_mut() {
            self.rewrite_call(argument);
        }
        mac.tokens = arguments.to_token_stream();
    }

    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        self.rewrite_call(expr);
    }
}

fn is_progenitor_encode_path(func: &syn::Expr) -> bool {
    matches!(func, syn::Expr::Path(p) if p.path.is_ident("encode_path"))
}

/// Removes `encode_path` from `use progenitor_client::{..}` and `use super::{..}` groups.
struct DropImport {
    dropped: usize,
}

impl VisitMut for DropImport {
    fn visit_use_group_mut(&mut self, group: &mut syn::UseGroup) {
        let before = group.items.len();
        group.items = std::mem::take(&mut group.items)
            .into_iter()
            .filter(|t| !matches!(t, syn::UseTree::Name(n) if n.ident == "encode_path"))
            .collect();
        self.dropped += before - group.items.len();
        syn::visit_mut::visit_use_group_mut(self, group);
    }
}

/// Bare `encode_path` identifiers left anywhere (in code or macro bodies): progenitor's
/// encoder, since ours is always called by its full path.
fn progenitor_calls_left(file: &syn::File) -> usize {
    fn count(tokens: proc_macro2::TokenStream) -> usize {
        let mut found = 0;
        let mut previous_was_colon = false;
        for token in tokens {
            match token {
                proc_macro2::TokenTree::Group(group) => found += count(group.stream()),
                proc_macro2::TokenTree::Ident(ident) => {
                    if ident == "encode_path" && !previous_was_colon {
                        found += 1;
                    }
                    previous_was_colon = false;
                    continue;
                }
                proc_macro2::TokenTree::Punct(punct) => {
                    previous_was_colon = punct.as_char() == ':';
                    continue;
                }
                proc_macro2::TokenTree::Literal(_) => {}
            }
            previous_was_colon = false;
        }
        found
    }
    count(file.to_token_stream())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One operation's URL as progenitor 0.15.1 builds it, with its imports.
    fn progenitor_output() -> syn::File {
        syn::parse_quote! {
            use progenitor_client::{encode_path, ClientHooks, OperationInfo};
            pub mod builder {
                use super::{encode_path, ByteStream, Error};
                impl GetThing {
                    pub async fn send(self) -> Result<(), Error<()>> {
                        let url = format!(
                            "{}/things/{}/parts/{}",
                            client.baseurl,
                            encode_path(&thing_id.to_string()),
                            encode_path(&part.to_string()),
                        );
                        Ok(())
                    }
                }
            }
        }
    }

    #[test]
    fn every_path_parameter_goes_through_the_runtime_encoder_by_name() {
        let mut file = progenitor_output();
        route_path_encoding(&mut file, "crate::runtime", 2).unwrap();
        let code = file.to_token_stream().to_string();
        assert!(
            code.contains(
                "client . baseurl , crate :: runtime :: path :: encode_path (\"thing_id\" , & \
                 thing_id . to_string ()) ? , crate :: runtime :: path :: encode_path (\"part\" \
                 , & part . to_string ()) ?"
            ),
            "{code}"
        );
        assert!(
            code.contains("use progenitor_client :: { ClientHooks , OperationInfo }"),
            "{code}"
        );
        assert!(
            code.contains("use super :: { ByteStream , Error }"),
            "{code}"
        );
        assert_eq!(progenitor_calls_left(&file), 0);
    }

    #[test]
    fn a_count_other_than_the_path_parameters_is_refused() {
        let mut file = progenitor_output();
        let err = route_path_encoding(&mut file, "crate::runtime", 3).unwrap_err();
        assert!(
            err.starts_with(
                "rewrite stage `path_segments` looked for one \
                 `encode_path(&<parameter>.to_string())` per path parameter (3) but found 2 \
                 rewritten and 0 left elsewhere"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_call_in_another_shape_is_refused() {
        // As if progenitor encoded an expression rather than a parameter's string.
        let mut file: syn::File = syn::parse_quote! {
            fn send() {
                let url = format!("{}/things/{}", client.baseurl, encode_path(thing_id.as_str()));
            }
        };
        let err = route_path_encoding(&mut file, "crate::runtime", 1).unwrap_err();
        assert!(
            err.starts_with(
                "rewrite stage `path_segments` looked for `encode_path(&<parameter>.to_string())` \
                 calls but found `encode_path (thing_id . as_str ())`"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_call_outside_format_is_refused() {
        let mut file: syn::File = syn::parse_quote! {
            fn send() {
                let segment = encode_path(&thing_id.to_string());
            }
        };
        let err = route_path_encoding(&mut file, "crate::runtime", 0).unwrap_err();
        // Rewritten too, but progenitor made no such call for a path parameter: its shape
        // changed, and the count says so.
        assert!(
            err.contains("but found 1 rewritten and 0 left elsewhere"),
            "{err}"
        );
    }

    #[test]
    fn path_parameters_are_counted_per_operation() {
        let openapi: openapiv3::OpenAPI = serde_json::from_value(serde_json::json!({
            "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {
                "/things/{id}/parts/{part}": {"get": {"responses": {}}, "put": {"responses": {}}},
                "/things": {"get": {"responses": {}}}
            }
        }))
        .unwrap();
        assert_eq!(path_parameter_count(&openapi), 4);
    }
}
