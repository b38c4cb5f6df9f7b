//! Stage 4, generate: run progenitor (builder interface) over a normalised OpenAPI spec.
//!
//! One generic addition: typify keeps only `minimum: 1` of an integer's bounds (as
//! `NonZero*`) and drops every `maximum`, so `pageSize` 1..=1000 would accept 1001. Every
//! bounded integer schema is therefore mapped to the runtime's validated
//! `BoundedInt<MIN, MAX>`, which rejects out-of-range values when the request is built.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle, TypeImpl};
use schemars::schema::{InstanceType, NumberValidation, SchemaObject, SingleOrVec};
use serde_json::Value;

use crate::error::CodegenError;
use crate::normalise::NormalisedSpec;

/// Settings the generated code depends on.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Path of the hand-written runtime module as seen from the generated code.
    pub runtime_path: String,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            runtime_path: "crate::runtime".to_string(),
        }
    }
}

/// An integer schema whose bounds typify would not enforce.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BoundedInteger {
    pub format: Option<String>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub nullable: bool,
}

impl BoundedInteger {
    /// Reads an integer schema; `None` when it is not one we map (no bounds, or bounds typify
    /// already enforces: a lone `minimum` of 0 or 1; or with `enum`/`multipleOf`/extensions,
    /// which the conversion could not match exactly).
    pub fn from_schema(schema: &Value) -> Option<Self> {
        Self::from_object(schema.as_object()?)
    }

    /// [`Self::from_schema`] for a schema already known to be an object.
    pub fn from_object(map: &serde_json::Map<String, Value>) -> Option<Self> {
        if map.get("type")?.as_str()? != "integer" {
            return None;
        }
        if map.contains_key("enum")
            || map.contains_key("multipleOf")
            || map.keys().any(|k| k.starts_with("x-"))
        {
            return None;
        }
        let minimum = map.get("minimum").and_then(Value::as_i64);
        let maximum = map.get("maximum").and_then(Value::as_i64);
        let flag = |key: &str| map.get(key).and_then(Value::as_bool).unwrap_or(false);
        let bounded = Self {
            format: map
                .get("format")
                .and_then(Value::as_str)
                .map(str::to_string),
            minimum,
            maximum,
            exclusive_minimum: flag("exclusiveMinimum") && minimum.is_some(),
            exclusive_maximum: flag("exclusiveMaximum") && maximum.is_some(),
            nullable: flag("nullable"),
        };
        let typify_enforces = maximum.is_none()
            && (minimum.is_none()
                || (matches!(minimum, Some(0 | 1)) && !bounded.exclusive_minimum));
        (!typify_enforces).then_some(bounded)
    }

    /// Inclusive bounds.
    pub fn range(&self) -> (i64, i64) {
        let min = match self.minimum {
            Some(v) if self.exclusive_minimum => v.saturating_add(1),
            Some(v) => v,
            None => i64::MIN,
        };
        let max = match self.maximum {
            Some(v) if self.exclusive_maximum => v.saturating_sub(1),
            Some(v) => v,
            None => i64::MAX,
        };
        (min, max)
    }

    /// The schema exactly as progenitor hands it to typify (metadata aside, which the
    /// conversion lookup ignores).
    pub fn schemars(&self) -> SchemaObject {
        let (minimum, exclusive_minimum) = match (self.minimum, self.exclusive_minimum) {
            (Some(v), true) => (None, Some(v as f64)),
            (Some(v), false) => (Some(v as f64), None),
            (None, _) => (None, None),
        };
        let (maximum, exclusive_maximum) = match (self.maximum, self.exclusive_maximum) {
            (Some(v), true) => (None, Some(v as f64)),
            (Some(v), false) => (Some(v as f64), None),
            (None, _) => (None, None),
        };
        let instance_type = if self.nullable {
            SingleOrVec::Vec(vec![InstanceType::Integer, InstanceType::Null])
        } else {
            SingleOrVec::Single(Box::new(InstanceType::Integer))
        };
        SchemaObject {
            instance_type: Some(instance_type),
            format: self.format.clone(),
            number: Some(Box::new(NumberValidation {
                multiple_of: None,
                maximum,
                exclusive_maximum,
                minimum,
                exclusive_minimum,
            })),
            ..Default::default()
        }
    }

    /// The Rust type the schema maps to.
    pub fn rust_type(&self, runtime_path: &str) -> String {
        let (min, max) = self.range();
        let arg = |v: i64| match v {
            i64::MIN => "{ i64::MIN }".to_string(),
            i64::MAX => "{ i64::MAX }".to_string(),
            v if v < 0 => format!("{{ {v} }}"),
            v => v.to_string(),
        };
        let ty = format!("{runtime_path}::BoundedInt<{}, {}>", arg(min), arg(max));
        if self.nullable {
            format!("::std::option::Option<{ty}>")
        } else {
            ty
        }
    }
}

/// Every distinct bounded integer schema anywhere in the document.
pub fn bounded_integers(document: &Value) -> BTreeSet<BoundedInteger> {
    let mut out = BTreeSet::new();
    crate::error::for_each_object(document, &mut |_, map| {
        if let Some(bounded) = BoundedInteger::from_object(map) {
            out.insert(bounded);
        }
    });
    out
}

/// The progenitor settings used for every OpenAPI service.
pub fn settings(spec: &NormalisedSpec, options: &GenerateOptions) -> GenerationSettings {
    let mut settings = GenerationSettings::default();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq")
        .with_inner_type(crate::layer::inner_type(&options.runtime_path));
    for bounded in bounded_integers(&spec.document) {
        settings.with_conversion(
            bounded.schemars(),
            bounded.rust_type(&options.runtime_path),
            [TypeImpl::Display, TypeImpl::FromStr].into_iter(),
        );
    }
    settings
}

/// Generates the client's token stream.
pub fn generate(
    spec: &NormalisedSpec,
    options: &GenerateOptions,
) -> Result<TokenStream, CodegenError> {
    let settings = settings(spec, options);
    let mut generator = Generator::new(&settings);
    // progenitor asserts on shapes it cannot handle; `check` refuses those, and this turns
    // any that slip through into an error instead of aborting the build.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        generator.generate_tokens(&spec.openapi)
    }));
    match result {
        Ok(Ok(tokens)) => postprocess(spec, tokens, &options.runtime_path),
        Ok(Err(e)) => Err(refused(
            spec,
            &settings,
            &format!("progenitor refused it: {e}"),
        )),
        Err(panic) => Err(refused(
            spec,
            &settings,
            &format!(
                "progenitor panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            ),
        )),
    }
}

/// A refusal by progenitor, located like every other refusal: at the operation or schema its
/// message names (the document itself when it names none), so it points into the spec rather
/// than into the generator's internals.
fn refused(spec: &NormalisedSpec, settings: &GenerationSettings, message: &str) -> CodegenError {
    let at = match locate(&spec.document, message) {
        at if at.is_empty() => first_failing_operation(spec, settings).unwrap_or(at),
        at => at,
    };
    CodegenError::Rejected {
        path: spec.path.clone(),
        findings: vec![crate::error::Finding::new(
            at,
            format!("{message} (the check stage should have refused this: please report it)"),
        )],
    }
}

/// When progenitor's message names nothing: the pointer of the first operation that fails
/// when generated alone (each in a copy of the document holding only it).
fn first_failing_operation(spec: &NormalisedSpec, settings: &GenerationSettings) -> Option<String> {
    let paths = spec.document.get("paths")?.as_object()?;
    for (path, item) in paths {
        for method in crate::check::METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let mut alone = spec.document.clone();
            let mut only = serde_json::Map::new();
            if let Some(shared) = item.get("parameters") {
                only.insert("parameters".into(), shared.clone());
            }
            only.insert(method.to_string(), operation.clone());
            alone["paths"] = serde_json::json!({ path.clone(): only });
            let Ok(openapi) = serde_json::from_value::<openapiv3::OpenAPI>(alone) else {
                continue;
            };
            let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Generator::new(settings).generate_tokens(&openapi).is_err()
            }))
            .unwrap_or(true);
            if failed {
                return Some(crate::error::pointer(["paths", path, method]));
            }
        }
    }
    None
}

/// The JSON pointer of the first operation (by operationId, as written or in snake_case) or
/// component schema that `message` names as a whole word; `""` (the document) otherwise.
pub fn locate(document: &Value, message: &str) -> String {
    let names_word = |word: &str| {
        !word.is_empty()
            && message.match_indices(word).any(|(at, _)| {
                let before = message[..at].chars().next_back();
                let after = message[at + word.len()..].chars().next();
                let boundary =
                    |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                boundary(before) && boundary(after)
            })
    };
    let paths = document.get("paths").and_then(Value::as_object);
    for (path, item) in paths.into_iter().flatten() {
        for method in crate::check::METHODS {
            let id = item
                .get(method)
                .and_then(|op| op.get("operationId"))
                .and_then(Value::as_str);
            if let Some(id) = id
                && (names_word(id) || names_word(&heck::ToSnakeCase::to_snake_case(id)))
            {
                return crate::error::pointer(["paths", path, method]);
            }
        }
    }
    let schemas = document
        .pointer("/components/schemas")
        .and_then(Value::as_object);
    for name in schemas.into_iter().flat_map(|s| s.keys()) {
        if names_word(name) || names_word(&crate::type_names::rust_name(name)) {
            return crate::error::pointer(["components", "schemas", name]);
        }
    }
    String::new()
}

/// The progenitor release the rewrite stages below were written against (as locked in
/// Cargo.lock; a test keeps the two equal). Named in their errors, since an upgrade is the
/// usual reason a stage no longer finds what it rewrites.
pub const PROGENITOR_VERSION: &str = "0.15.1";

/// The error of a rewrite stage that did not find what it must rewrite: which stage, what it
/// looked for, what it found instead. Without it the stage would quietly do nothing and emit
/// a client that compiles but misbehaves.
pub fn shape_changed(stage: &str, looked_for: &str, found: &str) -> String {
    format!(
        "rewrite stage `{stage}` looked for {looked_for} but found {found}; progenitor's output \
         shape probably changed (the rewrites were written against progenitor \
         {PROGENITOR_VERSION}), so codegen/src/{} must learn the new shape",
        stage_file(stage)
    )
}

/// The source file of a stage, so the message says where to look.
fn stage_file(stage: &str) -> &'static str {
    match stage {
        "varnames" => "varnames.rs",
        "open_enums" => "open_enums.rs",
        "tolerant" => "tolerant.rs",
        "layer" => "layer.rs",
        "path_segments" => "path_segments.rs",
        "secrets" => "secrets.rs",
        _ => "generate.rs",
    }
}

/// The number of operations in the spec: progenitor generates one method (and one request
/// in it) for each, so the per-request rewrites must each find this many.
pub fn operation_count(openapi: &openapiv3::OpenAPI) -> usize {
    openapi.operations().count()
}

/// Generic rewrites of the generated syntax tree that progenitor and typify have no setting
/// for: `x-enum-varnames`, open string enums (`open_enums.rs`), tolerant decoding when the spec
/// declares it (`tolerant.rs`), a redacting `Debug` for types with secret members
/// (`secrets.rs`), dropping the `api-version`
/// request header, a crypto provider before `Client::new` builds its HTTP client, every
/// call routed through the runtime layer (`layer.rs`), and every path parameter through the
/// runtime's encoder, which refuses `.`, `..` and `""` (`path_segments.rs`). Each stage fails when it does not find
/// what the spec says progenitor must have emitted, rather than silently doing nothing.
fn postprocess(
    spec: &NormalisedSpec,
    tokens: TokenStream,
    runtime_path: &str,
) -> Result<TokenStream, CodegenError> {
    let mut file: syn::File = syn::parse2(tokens).map_err(|e| CodegenError::Format {
        path: spec.path.clone(),
        message: e.to_string(),
    })?;
    let generate_error = |message| CodegenError::Generate {
        path: spec.path.clone(),
        message,
    };
    let operations = operation_count(&spec.openapi);
    crate::varnames::apply(&mut file, &crate::varnames::renames(&spec.document))
        .map_err(generate_error)?;
    // After the renames, so a value renamed to `UnknownValue` is refused there too.
    crate::open_enums::open_string_enums(
        &mut file,
        &crate::open_enums::ExpectedEnums::from_document(&spec.document),
    )
    .map_err(generate_error)?;
    // Only when the spec declares it (`info.x-customer-data-decoding`, `tolerant.rs`).
    let decoding =
        crate::tolerant::Decoding::from_document(&spec.document).map_err(generate_error)?;
    if let Some(decoding) = decoding {
        crate::tolerant::apply(
            &mut file,
            decoding,
            runtime_path,
            &crate::tolerant::expected_structs(&spec.document),
        )
        .map_err(generate_error)?;
    }
    crate::secrets::redact_debug(&mut file, &crate::secrets::secret_members(&spec.document))
        .map_err(generate_error)?;
    drop_api_version_header(&mut file, operations).map_err(generate_error)?;
    ensure_crypto_provider_in_new(&mut file, runtime_path).map_err(generate_error)?;
    crate::layer::route_through_layer(&mut file, runtime_path, operations)
        .map_err(generate_error)?;
    crate::path_segments::route_path_encoding(
        &mut file,
        runtime_path,
        crate::path_segments::path_parameter_count(&spec.openapi),
    )
    .map_err(generate_error)?;
    Ok(quote::quote!(#file))
}

/// progenitor's `Client::new` builds its own reqwest client, which (with rustls and no
/// built-in provider) needs a process crypto provider: make it install ours first, so the
/// generated constructor never panics for want of one.
fn ensure_crypto_provider_in_new(file: &mut syn::File, runtime_path: &str) -> Result<(), String> {
    let call =
        syn::parse_str::<syn::Stmt>(&format!("{runtime_path}::http::ensure_crypto_provider();"))
            .map_err(|e| format!("runtime path {runtime_path}: {e}"))?;
    let mut constructors = 0;
    for item in &mut file.items {
        let syn::Item::Impl(imp) = item else { continue };
        let is_client = imp.trait_.is_none()
            && matches!(imp.self_ty.as_ref(), syn::Type::Path(p) if p.path.is_ident("Client"));
        if !is_client {
            continue;
        }
        for impl_item in &mut imp.items {
            if let syn::ImplItem::Fn(f) = impl_item
                && f.sig.ident == "new"
            {
                f.block.stmts.insert(0, call.clone());
                constructors += 1;
            }
        }
    }
    exactly_one_client_new(constructors)
}

/// The crypto-provider stage must have changed exactly one constructor: with none, the
/// generated `Client::new` could panic for want of a provider.
fn exactly_one_client_new(constructors: usize) -> Result<(), String> {
    if constructors == 1 {
        return Ok(());
    }
    Err(shape_changed(
        "ensure_crypto_provider_in_new",
        "one `fn new` in an inherent `impl Client` (to install the crypto provider first)",
        &match constructors {
            0 => "none".to_string(),
            n => format!("{n}"),
        },
    ))
}

/// progenitor sends `api-version: <info.version>` with every request. None of our vendors
/// documents such a header, and a gateway may refuse unknown ones, so it is removed: exactly
/// one append per operation, or the header would still be sent by some request.
fn drop_api_version_header(file: &mut syn::File, operations: usize) -> Result<(), String> {
    let mut drop = DropApiVersionHeader { dropped: 0 };
    syn::visit_mut::VisitMut::visit_file_mut(&mut drop, file);
    one_drop_per_operation(drop.dropped, operations)
}

/// progenitor 0.15.1 appends the header once in each operation's request: fewer drops than
/// operations means it now sends the header some other way, which would still go out.
fn one_drop_per_operation(dropped: usize, operations: usize) -> Result<(), String> {
    if dropped == operations {
        return Ok(());
    }
    Err(shape_changed(
        "DropApiVersionHeader",
        &format!(
            "one `header_map.append(HeaderName::from_static(\"api-version\"), ..)` per \
             operation ({operations})"
        ),
        &format!("{dropped}, so requests may still send the api-version header"),
    ))
}

/// Removes progenitor's `api-version` header appends, counting them.
struct DropApiVersionHeader {
    dropped: usize,
}

impl DropApiVersionHeader {
    fn is_api_version_append(stmt: &syn::Stmt) -> bool {
        let syn::Stmt::Expr(syn::Expr::MethodCall(call), _) = stmt else {
            return false;
        };
        call.method == "append"
            && call.args.first().is_some_and(|arg| {
                quote::ToTokens::to_token_stream(arg)
                    .to_string()
                    .contains("from_static (\"api-version\")")
            })
    }
}

impl syn::visit_mut::VisitMut for DropApiVersionHeader {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        let before = block.stmts.len();
        block
            .stmts
            .retain(|stmt| !Self::is_api_version_append(stmt));
        self.dropped += before - block.stmts.len();
        syn::visit_mut::visit_block_mut(self, block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_only_bounds_typify_would_drop() {
        let doc = json!({
            "a": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 1000, "default": 100},
            "b": {"type": "integer", "minimum": 1},
            "c": {"type": "integer", "minimum": 0},
            "d": {"type": "integer", "minimum": 5},
            "e": {"type": "integer", "maximum": 10, "exclusiveMaximum": true, "nullable": true},
            "f": {"type": "integer", "maximum": 3, "enum": [1, 2, 3]},
            "g": {"type": "string", "maxLength": 3}
        });
        let found: Vec<(i64, i64)> = bounded_integers(&doc)
            .iter()
            .map(BoundedInteger::range)
            .collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.contains(&(1, 1000)));
        assert!(found.contains(&(5, i64::MAX)));
        assert!(found.contains(&(i64::MIN, 9)));
    }

    #[test]
    fn rust_types_are_valid_paths() {
        let page = BoundedInteger::from_schema(
            &json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": 1000}),
        )
        .unwrap();
        assert_eq!(
            page.rust_type("crate::runtime"),
            "crate::runtime::BoundedInt<1, 1000>"
        );
        let neg = BoundedInteger::from_schema(
            &json!({"type": "integer", "minimum": -5, "nullable": true}),
        )
        .unwrap();
        let ty = neg.rust_type("crate::runtime");
        assert_eq!(
            ty,
            "::std::option::Option<crate::runtime::BoundedInt<{ -5 }, { i64::MAX }>>"
        );
        for ty in [page.rust_type("crate::runtime"), ty] {
            syn::parse_str::<syn::Type>(&ty).unwrap_or_else(|e| panic!("{ty}: {e}"));
        }
    }

    fn normalised(document: Value) -> NormalisedSpec {
        let spec = crate::load::LoadedSpec {
            path: "specs/t.yaml".into(),
            document,
        };
        crate::normalise::normalise(&spec).unwrap()
    }

    #[test]
    fn generates_a_builder_client_with_bounded_integers() {
        let spec = normalised(json!({
            "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/things": {"get": {"operationId": "listThings",
                "parameters": [{"name": "pageSize", "in": "query", "schema": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 50}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "string"}}}}}}}}
        }));
        let code = generate(&spec, &GenerateOptions::default())
            .unwrap()
            .to_string();
        assert!(
            code.contains("pub fn list_things"),
            "builder method missing"
        );
        assert!(
            code.contains("BoundedInt < 1 , 50 >"),
            "bounded page size missing"
        );
    }

    #[test]
    fn string_enums_come_out_open() {
        let spec = normalised(json!({
            "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/things": {"get": {"operationId": "listThings",
                "parameters": [{"name": "state", "in": "query", "schema": {"$ref": "#/components/schemas/State"}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}}}},
            "components": {"schemas": {
                "State": {"type": "string", "enum": ["NEW", "DONE"]},
                "Thing": {"type": "object", "properties": {"kind": {"type": "string", "enum": ["a", "b"]}}}
            }}
        }));
        let code = generate(&spec, &GenerateOptions::default())
            .unwrap()
            .to_string();
        // The named enum and the inline one typify names after its property.
        for name in ["State", "ThingKind"] {
            assert!(
                code.contains(&format!(
                    "# [serde (untagged)] UnknownValue (:: std :: string :: String) }} impl :: std :: fmt :: Display for {name}"
                )),
                "{name} is not open: {code}"
            );
        }
        assert!(!code.contains("Copy"), "{code}");
        assert!(!code.contains("invalid value"), "{code}");
    }

    #[test]
    fn a_generator_panic_becomes_an_error() {
        // Two success body types make progenitor assert; `check` refuses this, and the
        // safety net here must turn the panic into an error if something slips through.
        let spec = normalised(json!({
            "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/things": {"get": {"operationId": "listThings", "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "string"}}}},
                "201": {"description": "ok", "content": {"application/json": {"schema": {"type": "integer"}}}}
            }}}}
        }));
        let err = generate(&spec, &GenerateOptions::default()).unwrap_err();
        assert!(matches!(err, CodegenError::Rejected { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("specs/t.yaml#/paths/~1things/get: progenitor panicked"),
            "{err}"
        );
    }

    #[test]
    fn a_generator_refusal_is_located_by_the_names_in_it() {
        let doc = json!({
            "paths": {"/a": {"get": {"operationId": "listThings"}}},
            "components": {"schemas": {"thingKind": {}}}
        });
        assert_eq!(
            locate(&doc, "bad response in list_things"),
            "/paths/~1a/get"
        );
        assert_eq!(
            locate(&doc, "type ThingKind: bad"),
            "/components/schemas/thingKind"
        );
        assert_eq!(locate(&doc, "listThingsX is not an operation here"), "");
    }

    /// The end of every "found nothing where it must" message of a stage in this file.
    const CHANGED_HERE: &str = "progenitor's output shape probably changed (the rewrites were \
        written against progenitor 0.15.1), so codegen/src/generate.rs must learn the new shape";

    #[test]
    fn a_client_without_new_is_refused() {
        // As if progenitor had renamed its constructor.
        let mut file: syn::File = syn::parse_quote! {
            pub struct Client { baseurl: String }
            impl Client {
                pub fn with_baseurl(baseurl: &str) -> Self { todo!() }
            }
            impl ClientInfo for Client {
                fn new() -> Self { todo!() }
            }
        };
        let err = ensure_crypto_provider_in_new(&mut file, "crate::runtime").unwrap_err();
        assert_eq!(
            err,
            format!(
                "rewrite stage `ensure_crypto_provider_in_new` looked for one `fn new` in an \
                 inherent `impl Client` (to install the crypto provider first) but found none; \
                 {CHANGED_HERE}"
            )
        );
        assert!(
            exactly_one_client_new(2)
                .unwrap_err()
                .contains("(to install the crypto provider first) but found 2;")
        );
    }

    #[test]
    fn client_new_installs_the_crypto_provider_first() {
        let mut file: syn::File = syn::parse_quote! {
            impl Client {
                pub fn new(baseurl: &str) -> Self { Self::new_with_client(baseurl) }
            }
        };
        ensure_crypto_provider_in_new(&mut file, "crate::runtime").unwrap();
        let code = quote::quote!(#file).to_string();
        assert!(
            code.contains(
                "{ crate :: runtime :: http :: ensure_crypto_provider () ; Self :: new_with_client"
            ),
            "{code}"
        );
    }

    /// One operation's request as progenitor 0.15.1 builds its headers.
    fn request_with_api_version() -> syn::File {
        syn::parse_quote! {
            async fn send(self) {
                let mut header_map = ::reqwest::header::HeaderMap::with_capacity(1usize);
                header_map.append(
                    ::reqwest::header::HeaderName::from_static("api-version"),
                    ::reqwest::header::HeaderValue::from_static(super::Client::api_version()),
                );
                let request = client.client.get(url).headers(header_map).build()?;
            }
        }
    }

    #[test]
    fn the_api_version_header_is_dropped_once_per_operation() {
        let mut file = request_with_api_version();
        drop_api_version_header(&mut file, 1).unwrap();
        let code = quote::quote!(#file).to_string();
        assert!(!code.contains("api-version"), "{code}");
        assert!(code.contains(". headers (header_map)"), "{code}");
    }

    #[test]
    fn an_api_version_header_sent_another_way_is_refused() {
        // As if progenitor inserted the header instead of appending it.
        let mut file: syn::File = syn::parse_quote! {
            async fn send(self) {
                let mut header_map = ::reqwest::header::HeaderMap::with_capacity(1usize);
                header_map.insert(
                    ::reqwest::header::HeaderName::from_static("api-version"),
                    ::reqwest::header::HeaderValue::from_static(super::Client::api_version()),
                );
            }
        };
        let err = drop_api_version_header(&mut file, 1).unwrap_err();
        assert_eq!(
            err,
            format!(
                "rewrite stage `DropApiVersionHeader` looked for one \
                 `header_map.append(HeaderName::from_static(\"api-version\"), ..)` per operation (1) \
                 but found 0, so requests may still send the api-version header; {CHANGED_HERE}"
            )
        );
        // Two operations, one append found: one request would still send it.
        let mut file = request_with_api_version();
        assert!(
            drop_api_version_header(&mut file, 2)
                .unwrap_err()
                .contains("per operation (2) but found 1,")
        );
    }

    #[test]
    fn a_stage_error_names_the_spec() {
        // No operations (so the per-request stages expect none), and no `Client::new`.
        let spec = normalised(json!({
            "openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}
        }));
        let err = postprocess(
            &spec,
            quote::quote!(
                pub struct Client;
            ),
            "crate::runtime",
        )
        .unwrap_err();
        assert!(matches!(err, CodegenError::Generate { .. }), "{err}");
        assert!(
            err.to_string().starts_with(
                "specs/t.yaml: generator failed: rewrite stage `ensure_crypto_provider_in_new`"
            ),
            "{err}"
        );
    }

    #[test]
    fn every_service_still_generates() {
        // The stages' expectations hold for every real spec with progenitor's real output.
        for service in crate::SERVICES {
            if let Err(err) = crate::run(&crate::default_root(), service) {
                panic!("{}: {err}", service.slug);
            }
        }
    }

    #[test]
    fn the_named_progenitor_version_is_the_locked_one() {
        let lock = std::fs::read_to_string(crate::default_root().join("Cargo.lock")).unwrap();
        let locked = lock
            .split("[[package]]")
            .find(|package| package.contains("\nname = \"progenitor\"\n"))
            .and_then(|package| package.lines().find_map(|l| l.strip_prefix("version = ")))
            .unwrap();
        assert_eq!(locked.trim_matches('"'), PROGENITOR_VERSION);
    }

    #[test]
    fn schemars_form_matches_progenitor_conversion() {
        let b = BoundedInteger::from_schema(&json!({"type": "integer", "format": "int32", "minimum": 0, "maximum": 10, "exclusiveMaximum": true})).unwrap();
        let s = b.schemars();
        assert_eq!(s.format.as_deref(), Some("int32"));
        let n = s.number.unwrap();
        assert_eq!(
            (n.minimum, n.maximum, n.exclusive_maximum),
            (Some(0.0), None, Some(10.0))
        );
        assert_eq!(b.range(), (0, 9));
    }
}
