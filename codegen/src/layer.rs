//! Routes every generated call through the runtime's one layer (`<runtime>::Layer`).
//!
//! progenitor's hooks cannot report a typed error (`exec` returns `reqwest::Result`, `pre`
//! only `Error::Custom(String)`), so instead of implementing `ClientHooks`, each operation's
//! hook sequence
//! ```text
//! client.pre(&mut request, &info).await?;
//! let result = client.exec(request, &info).await;
//! client.post(&result, &info).await?;
//! let response = result?;
//! ```
//! becomes `let response = client.inner.send(&client.client, request, &info).await?;`, the
//! client's inner type is the runtime `Layer`, and `Error` (with `from_response`) is the
//! runtime's error, which adds `Error::Auth`. If a progenitor upgrade changes that sequence,
//! generation fails here rather than emitting a client that bypasses the layer.

use quote::ToTokens;
use syn::visit_mut::VisitMut;

/// What the rewrite did, for its checks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// Operations whose request now goes through `Layer::send`.
    pub calls: usize,
    /// `ResponseValue::from_response` paths pointed at the runtime's.
    pub decoders: usize,
}

/// The inner type every OpenAPI client is generated with.
pub fn inner_type(runtime_path: &str) -> proc_macro2::TokenStream {
    syn::parse_str::<syn::Type>(&format!("{runtime_path}::Layer"))
        .map(ToTokens::into_token_stream)
        .unwrap_or_default()
}

fn stmt(text: &str) -> String {
    syn::parse_str::<syn::Stmt>(text)
        .map(|s| s.to_token_stream().to_string())
        .unwrap_or_default()
}

struct Rewrite {
    hook_sequence: [String; 4],
    send: syn::Stmt,
    from_response: syn::Path,
    routed: Routed,
    leftover_exec: usize,
}

impl VisitMut for Rewrite {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        let texts: Vec<String> = block
            .stmts
            .iter()
            .map(|s| s.to_token_stream().to_string())
            .collect();
        if let Some(at) = texts
            .windows(4)
            .position(|w| w.iter().zip(&self.hook_sequence).all(|(a, b)| a == b))
        {
            block.stmts.splice(at..at + 4, [self.send.clone()]);
            self.routed.calls += 1;
        }
        syn::visit_mut::visit_block_mut(self, block);
    }

    fn visit_expr_path_mut(&mut self, expr: &mut syn::ExprPath) {
        let segments: Vec<String> = expr
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        if segments == ["ResponseValue", "from_response"] {
            expr.path = self.from_response.clone();
            self.routed.decoders += 1;
        }
        syn::visit_mut::visit_expr_path_mut(self, expr);
    }

    fn visit_expr_method_call_mut(&mut self, call: &mut syn::ExprMethodCall) {
        if call.method == "exec" {
            self.leftover_exec += 1;
        }
        syn::visit_mut::visit_expr_method_call_mut(self, call);
    }
}

/// Re-exports the runtime's `Error` instead of progenitor's. Returns whether it found it.
fn swap_error_export(file: &mut syn::File, runtime_path: &str) -> bool {
    let mut swapped = false;
    let mut at = None;
    for (index, item) in file.items.iter_mut().enumerate() {
        let syn::Item::Use(item_use) = item else {
            continue;
        };
        let syn::UseTree::Path(path) = &mut item_use.tree else {
            continue;
        };
        if path.ident != "progenitor_client" || !matches!(item_use.vis, syn::Visibility::Public(_))
        {
            continue;
        }
        let syn::UseTree::Group(group) = path.tree.as_mut() else {
            continue;
        };
        let before = group.items.len();
        group.items = std::mem::take(&mut group.items)
            .into_iter()
            .filter(|t| !matches!(t, syn::UseTree::Name(n) if n.ident == "Error"))
            .collect();
        if group.items.len() < before {
            swapped = true;
            at = Some(index);
            break;
        }
    }
    if let Some(index) = at
        && let Ok(export) = syn::parse_str::<syn::Item>(&format!(
            "#[allow(unused_imports)] pub use {runtime_path}::Error;"
        ))
    {
        file.items.insert(index + 1, export);
    }
    swapped
}

/// Applies the rewrite; an error names what no longer matches progenitor's output. Each of
/// the spec's `operations` must have been routed: one that was not would bypass the layer.
pub fn route_through_layer(
    file: &mut syn::File,
    runtime_path: &str,
    operations: usize,
) -> Result<Routed, String> {
    let parse_path = |text: &str| syn::parse_str::<syn::Path>(text).map_err(|e| e.to_string());
    let mut rewrite = Rewrite {
        hook_sequence: [
            stmt("client.pre(&mut request, &info).await?;"),
            stmt("let result = client.exec(request, &info).await;"),
            stmt("client.post(&result, &info).await?;"),
            stmt("let response = result?;"),
        ],
        send: syn::parse_str(
            "let response = client.inner.send(&client.client, request, &info).await?;",
        )
        .map_err(|e| e.to_string())?,
        from_response: parse_path(&format!("{runtime_path}::error::from_response"))?,
        routed: Routed::default(),
        leftover_exec: 0,
    };
    rewrite.visit_file_mut(file);
    if rewrite.leftover_exec > 0 {
        return Err(format!(
            "{} generated call(s) still use progenitor's hook sequence in a form codegen/src/layer.rs \
             does not recognise: they would bypass the runtime layer",
            rewrite.leftover_exec
        ));
    }
    every_operation_routed(rewrite.routed.calls, operations)?;
    if rewrite.routed.calls > 0 && !swap_error_export(file, runtime_path) {
        return Err(
            "no `pub use progenitor_client::{.., Error, ..}` to replace with the runtime's Error"
                .into(),
        );
    }
    Ok(rewrite.routed)
}

/// progenitor 0.15.1 emits the hook sequence once per operation, so routing must have
/// rewritten exactly that many; fewer means requests that skip the layer (auth, retries,
/// typed errors), more means the count below no longer describes progenitor's output.
pub fn every_operation_routed(calls: usize, operations: usize) -> Result<(), String> {
    if calls == operations {
        return Ok(());
    }
    Err(crate::generate::shape_changed(
        "layer",
        &format!(
            "progenitor's pre/exec/post hook sequence once per operation ({operations}), to \
             route each request through the runtime layer"
        ),
        &format!("{calls} (the other requests would bypass the layer)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_sequence_becomes_one_layer_call() {
        let mut file: syn::File = syn::parse_quote! {
            pub use progenitor_client::{ByteStream, Error, ResponseValue};
            async fn send(client: &Client) -> Result<ResponseValue<T>, Error<E>> {
                let info = OperationInfo { operation_id: "x" };
                client.pre(&mut request, &info).await?;
                let result = client.exec(request, &info).await;
                client.post(&result, &info).await?;
                let response = result?;
                match response.status().as_u16() {
                    200u16 => ResponseValue::from_response(response).await,
                    _ => Err(Error::UnexpectedResponse(response)),
                }
            }
        };
        let routed = route_through_layer(&mut file, "crate::runtime", 1).unwrap();
        assert_eq!(
            routed,
            Routed {
                calls: 1,
                decoders: 1
            }
        );
        let text = file.to_token_stream().to_string();
        assert!(
            text.contains("client . inner . send (& client . client , request , & info) . await ?"),
            "{text}"
        );
        assert!(
            text.contains("crate :: runtime :: error :: from_response (response)"),
            "{text}"
        );
        assert!(
            text.contains("pub use progenitor_client :: { ByteStream , ResponseValue }"),
            "{text}"
        );
        assert!(
            text.contains("pub use crate :: runtime :: Error ;"),
            "{text}"
        );
        assert!(!text.contains(". exec ("), "{text}");
    }

    #[test]
    fn an_unrecognised_sequence_is_refused() {
        let mut file: syn::File = syn::parse_quote! {
            async fn send(client: &Client) {
                client.pre(&mut request, &info).await?;
                let outcome = client.exec(request, &info).await;
            }
        };
        let err = route_through_layer(&mut file, "crate::runtime", 1).unwrap_err();
        assert!(err.contains("bypass the runtime layer"), "{err}");
    }

    #[test]
    fn an_operation_not_routed_is_refused() {
        // As if progenitor had renamed `exec`: nothing is left over, nothing was routed.
        let mut file: syn::File = syn::parse_quote! {
            pub use progenitor_client::{ByteStream, Error, ResponseValue};
            async fn send(client: &Client) {
                client.pre(&mut request, &info).await?;
                let result = client.execute(request, &info).await;
                client.post(&result, &info).await?;
                let response = result?;
            }
        };
        let err = route_through_layer(&mut file, "crate::runtime", 1).unwrap_err();
        assert_eq!(
            err,
            "rewrite stage `layer` looked for progenitor's pre/exec/post hook sequence once per \
             operation (1), to route each request through the runtime layer but found 0 (the \
             other requests would bypass the layer); progenitor's output shape probably changed \
             (the rewrites were written against progenitor 0.15.1), so codegen/src/layer.rs \
             must learn the new shape"
        );
        assert!(every_operation_routed(1, 2).unwrap_err().contains(
            "once per operation (2), to route each request through the runtime layer but found 1 "
        ));
    }
}
