//! The service rules the runtime layer applies, generated as data beside each client
//! (`pub const SERVICE_RULES: <runtime>::ServiceRules`), so the runtime names no service:
//! - **retry-safe**: an OpenAPI operation whose method is not idempotent may be sent again
//!   after a failure when the spec says why: `x-customer-data-retry-safe: "<reason>"` on the
//!   operation (a non-empty string; the check stage refuses anything else). A WSDL service
//!   declares its retry-safe operations in its `SoapOptions` (every SOAP call is a POST).
//! - **anonymous**: an OpenAPI operation with `security: []` is sent without credentials.
//! - **final answers**: which answers with a retryable status are final all the same (a SOAP
//!   fault), declared per front end / in the `SoapOptions`.

use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;

use crate::error::{Finding, pointer};

/// The operation extension that says why an operation may be repeated.
pub const RETRY_SAFE_EXTENSION: &str = "x-customer-data-retry-safe";

/// What the runtime's `FinalAnswerRule` says for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalAnswer {
    /// The status alone decides whether an answer is retried.
    StatusDecides,
    /// A SOAP fault is final although it comes with HTTP 500.
    SoapFault,
}

/// The rules of one operation, by the name the layer sees.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OperationRule {
    /// The generated method's name (OpenAPI) or the WSDL operation's name (SOAP).
    pub id: String,
    /// Why it may be repeated although its method is not idempotent.
    pub retry_safe: Option<String>,
    /// Sent without credentials.
    pub anonymous: bool,
}

/// Which WSDL operations a [`RetrySafe`] declaration covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationMatch {
    /// Exactly this operation.
    Named(&'static str),
    /// Every operation whose name starts with the prefix and ends with the suffix (`""`: any).
    Affixed {
        prefix: &'static str,
        suffix: &'static str,
    },
}

impl OperationMatch {
    /// Whether operation `name` is covered.
    pub fn matches(self, name: &str) -> bool {
        match self {
            OperationMatch::Named(named) => name == named,
            OperationMatch::Affixed { prefix, suffix } => {
                name.starts_with(prefix) && name.ends_with(suffix)
            }
        }
    }
}

/// A declaration that some SOAP operations may be sent again after a failure, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySafe {
    pub operations: OperationMatch,
    pub reason: &'static str,
}

/// Every `x-customer-data-retry-safe` that is not a non-empty string, by pointer.
pub fn findings(document: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, method, operation) in operations(document) {
        let Some(value) = operation.get(RETRY_SAFE_EXTENSION) else {
            continue;
        };
        let at = pointer(["paths", path, method, RETRY_SAFE_EXTENSION]);
        match value {
            Value::String(reason) if !reason.trim().is_empty() => {}
            Value::String(_) => out.push(Finding::new(
                at,
                "an empty reason: say why repeating this operation after a failure is harmless",
            )),
            other => out.push(Finding::new(
                at,
                format!(
                    "must be a string saying why repeating this operation is harmless, not {}",
                    kind(other)
                ),
            )),
        }
    }
    out
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Every operation of the document: (path, method, operation object).
fn operations(document: &Value) -> impl Iterator<Item = (&str, &str, &Value)> {
    document
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            crate::check::METHODS.iter().filter_map(move |method| {
                item.get(*method)
                    .map(|operation| (path.as_str(), *method, operation))
            })
        })
}

/// The rules of every operation of an OpenAPI document, sorted by id (the name progenitor
/// gives the method: the operationId in snake_case). Operations without an operationId get
/// none (the check stage requires one).
pub fn openapi_rules(document: &Value) -> Vec<OperationRule> {
    let mut rules: Vec<OperationRule> = operations(document)
        .filter_map(|(_, _, operation)| {
            let id = operation.get("operationId")?.as_str()?;
            Some(OperationRule {
                id: heck::ToSnakeCase::to_snake_case(id),
                retry_safe: operation
                    .get(RETRY_SAFE_EXTENSION)
                    .and_then(Value::as_str)
                    .map(|reason| reason.trim().to_string()),
                anonymous: operation
                    .get("security")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty),
            })
        })
        .collect();
    rules.sort();
    rules
}

/// Every id of `rules` must be a name the generated code gives the layer
/// (`operation_id: "<id>"` in `code`), or the rule would never apply.
pub fn every_rule_named(rules: &[OperationRule], code: &str) -> Result<(), String> {
    let missing: Vec<&str> = rules
        .iter()
        .map(|rule| rule.id.as_str())
        .filter(|id| !code.contains(&format!("operation_id : \"{id}\"")))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(crate::generate::shape_changed(
        "rules",
        "each operation's snake_case operationId as the `operation_id` the layer sees",
        &format!("no call named {missing:?}, so their rules would never apply"),
    ))
}

/// The rules of every WSDL operation in `names` under the declared `retry_safe` list, sorted
/// by id. A declaration that covers no operation is an error (it is stale or mistyped).
pub fn soap_rules<'a>(
    names: impl IntoIterator<Item = &'a str>,
    retry_safe: &[RetrySafe],
) -> Result<Vec<OperationRule>, String> {
    let mut used = vec![false; retry_safe.len()];
    let mut rules: Vec<OperationRule> = names
        .into_iter()
        .map(|name| {
            let declared = retry_safe
                .iter()
                .enumerate()
                .find(|(_, declared)| declared.operations.matches(name));
            if let Some((at, _)) = declared
                && let Some(flag) = used.get_mut(at)
            {
                *flag = true;
            }
            OperationRule {
                id: name.to_string(),
                retry_safe: declared.map(|(_, declared)| declared.reason.to_string()),
                anonymous: false,
            }
        })
        .collect();
    let unused: Vec<&OperationMatch> = retry_safe
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(declared, _)| &declared.operations)
        .collect();
    if !unused.is_empty() {
        return Err(format!(
            "retry-safe declarations that match no operation of the WSDL: {unused:?}"
        ));
    }
    rules.sort();
    rules.dedup_by(|a, b| a.id == b.id);
    Ok(rules)
}

/// `pub const SERVICE_RULES` for `slug`.
pub fn tokens(
    slug: &str,
    rules: &[OperationRule],
    final_answer: FinalAnswer,
    runtime_path: &str,
) -> TokenStream {
    let runtime: syn::Path =
        syn::parse_str(runtime_path).unwrap_or_else(|_| syn::parse_quote!(crate::runtime));
    let entries = rules.iter().map(|rule| {
        let id = &rule.id;
        let retry_safe = match &rule.retry_safe {
            Some(reason) => quote!(::std::option::Option::Some(#reason)),
            None => quote!(::std::option::Option::None),
        };
        let anonymous = rule.anonymous;
        quote! {
            #runtime::OperationRule { id: #id, retry_safe: #retry_safe, anonymous: #anonymous }
        }
    });
    let final_answer = match final_answer {
        FinalAnswer::StatusDecides => quote!(#runtime::FinalAnswerRule::StatusDecides),
        FinalAnswer::SoapFault => quote!(#runtime::FinalAnswerRule::SoapFault),
    };
    quote! {
        /// What the runtime layer applies to this service's calls, from its spec: which
        /// operations may be repeated although their method is not idempotent (and why),
        /// which are sent without credentials, which answers are final. Hand it to the layer:
        /// `Layer::new(&SERVICE_RULES)`.
        pub const SERVICE_RULES: #runtime::ServiceRules = #runtime::ServiceRules {
            slug: #slug,
            operations: &[#(#entries),*],
            final_answer: #final_answer,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reason_must_be_a_non_empty_string() {
        let document = json!({"paths": {"/a": {
            "post": {"operationId": "a", RETRY_SAFE_EXTENSION: true},
            "put": {"operationId": "b", RETRY_SAFE_EXTENSION: "  "},
            "patch": {"operationId": "c", RETRY_SAFE_EXTENSION: "a read"}
        }}});
        let found = findings(&document);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0].pointer,
            "/paths/~1a/put/x-customer-data-retry-safe"
        );
        assert!(found[0].message.contains("empty reason"));
        assert_eq!(
            found[1].pointer,
            "/paths/~1a/post/x-customer-data-retry-safe"
        );
        assert!(
            found[1].message.contains("not a boolean"),
            "{}",
            found[1].message
        );
    }

    #[test]
    fn openapi_rules_read_the_extension_and_empty_security() {
        let document = json!({"paths": {
            "/token": {"get": {"operationId": "getToken", "security": []}},
            "/find": {"post": {"operationId": "findPerson", RETRY_SAFE_EXTENSION: " a read "}},
            "/x": {"post": {"operationId": "createX", "security": [{"key": []}]}}
        }});
        assert_eq!(
            openapi_rules(&document),
            vec![
                OperationRule {
                    id: "create_x".into(),
                    retry_safe: None,
                    anonymous: false
                },
                OperationRule {
                    id: "find_person".into(),
                    retry_safe: Some("a read".into()),
                    anonymous: false
                },
                OperationRule {
                    id: "get_token".into(),
                    retry_safe: None,
                    anonymous: true
                },
            ]
        );
        let code = "operation_id : \"find_person\" operation_id : \"get_token\"";
        let err = every_rule_named(&openapi_rules(&document), code).unwrap_err();
        assert!(err.contains("[\"create_x\"]"), "{err}");
    }

    #[test]
    fn soap_rules_apply_declarations_and_refuse_stale_ones() {
        let declared = [
            RetrySafe {
                operations: OperationMatch::Affixed {
                    prefix: "Get",
                    suffix: "",
                },
                reason: "a read",
            },
            RetrySafe {
                operations: OperationMatch::Affixed {
                    prefix: "Check",
                    suffix: "Validity",
                },
                reason: "a check",
            },
        ];
        let rules = soap_rules(["SaveX", "GetX", "CheckXValidity", "CheckX"], &declared).unwrap();
        let safe: Vec<(&str, Option<&str>)> = rules
            .iter()
            .map(|r| (r.id.as_str(), r.retry_safe.as_deref()))
            .collect();
        assert_eq!(
            safe,
            [
                ("CheckX", None),
                ("CheckXValidity", Some("a check")),
                ("GetX", Some("a read")),
                ("SaveX", None)
            ]
        );
        let stale = [RetrySafe {
            operations: OperationMatch::Named("Login"),
            reason: "a token",
        }];
        let err = soap_rules(["GetX"], &stale).unwrap_err();
        assert!(err.contains("Named(\"Login\")"), "{err}");
    }

    #[test]
    fn the_constant_names_the_runtime_types() {
        let text = tokens(
            "example",
            &[OperationRule {
                id: "find_person".into(),
                retry_safe: Some("a read".into()),
                anonymous: false,
            }],
            FinalAnswer::SoapFault,
            "crate::runtime",
        )
        .to_string();
        assert!(
            text.contains("pub const SERVICE_RULES : crate :: runtime :: ServiceRules"),
            "{text}"
        );
        assert!(text.contains("id : \"find_person\""), "{text}");
        assert!(text.contains("Some (\"a read\")"), "{text}");
        assert!(text.contains("FinalAnswerRule :: SoapFault"), "{text}");
    }
}
