//! [`Wsdl`] -> Rust tokens: one struct per complex type (extension flattened, bases first), one
//! open enum per enumeration, and a `Client` with one async method per operation over the
//! runtime's SOAP 1.1 call (`crate::runtime::soap`).

use std::collections::{BTreeMap, BTreeSet};

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::SoapOptions;
use super::model::{Builtin, ComplexType, Field, Operation, Presence, TypeDef, TypeRef, Wsdl};

/// A valid Rust identifier for `wanted`, or `wanted` with `_` appended (keywords).
fn ident(wanted: &str) -> syn::Ident {
    let cleaned: String = wanted
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = match cleaned.chars().next() {
        Some(c) if c.is_alphabetic() || c == '_' => cleaned,
        _ => format!("V{cleaned}"),
    };
    syn::parse_str::<syn::Ident>(&cleaned).unwrap_or_else(|_| format_ident!("{}_", cleaned))
}

/// Rust names for a list of wire names, unique within the list.
pub fn unique_names(wanted: impl IntoIterator<Item = String>, reserved: &[&str]) -> Vec<String> {
    let mut taken: BTreeSet<String> = reserved.iter().map(|s| s.to_string()).collect();
    wanted
        .into_iter()
        .map(|w| {
            let base = ident(&w).to_string();
            let mut name = base.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{base}{n}");
                n += 1;
            }
            name
        })
        .collect()
}

pub fn field_names(fields: &[&Field]) -> Vec<String> {
    unique_names(fields.iter().map(|f| f.name.to_snake_case()), &[])
}

pub fn method_names(wsdl: &Wsdl) -> Vec<String> {
    unique_names(
        wsdl.operations.iter().map(|o| o.name.to_snake_case()),
        &[
            "new",
            "endpoint",
            "set_soap_header",
            "soap_header",
            "with_layer",
            "layer",
        ],
    )
}

fn builtin_type(b: Builtin) -> TokenStream {
    match b {
        Builtin::String => quote!(::std::string::String),
        Builtin::Boolean => quote!(bool),
        Builtin::Int => quote!(i32),
        Builtin::Long => quote!(i64),
        Builtin::Short => quote!(i16),
        Builtin::UnsignedByte => quote!(u8),
        Builtin::Double => quote!(f64),
        Builtin::Decimal => quote!(crate::runtime::soap::XsDecimal),
        Builtin::DateTime => quote!(crate::runtime::soap::XsDateTime),
        Builtin::Base64Binary => quote!(crate::runtime::soap::Base64Binary),
    }
}

/// The Rust type of a field, as seen from inside `types` (`prefix` empty) or outside.
fn field_type(field: &Field, boxed: bool, prefix: &TokenStream) -> TokenStream {
    let base = match &field.ty {
        TypeRef::Builtin(b) => builtin_type(*b),
        TypeRef::Named(name) => {
            let name = ident(name);
            quote!(#prefix #name)
        }
    };
    let base = if boxed {
        quote!(::std::boxed::Box<#base>)
    } else {
        base
    };
    match field.presence() {
        Presence::Many => quote!(::std::vec::Vec<#base>),
        Presence::Optional | Presence::RequiredNillable => quote!(::std::option::Option<#base>),
        Presence::Required => base,
    }
}

/// Complex types reachable from `start` through single (non-list) fields.
fn reachable(wsdl: &Wsdl, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start.to_string()];
    while let Some(name) = stack.pop() {
        let Some(TypeDef::Complex(c)) = wsdl.types.get(&name) else {
            continue;
        };
        for field in wsdl.all_fields(c) {
            if let TypeRef::Named(t) = &field.ty
                && !field.occurs.is_many()
                && seen.insert(t.clone())
            {
                stack.push(t.clone());
            }
        }
    }
    seen
}

/// Which ways a complex type crosses the wire, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Direction {
    /// Reached from a request body or the SOAP header sent: the client serialises it.
    pub sent: bool,
    /// Reached from a response body: the client deserialises it.
    pub received: bool,
}

impl Direction {
    /// A short word for docs and the surface: `sent`, `received`, `sent, received`, `unused`.
    pub fn label(self) -> &'static str {
        match (self.sent, self.received) {
            (true, true) => "sent, received",
            (true, false) => "sent",
            (false, true) => "received",
            (false, false) => "unused",
        }
    }
}

/// Complex types reachable from `roots` through any member (lists too; a base type's members
/// count, as [`Wsdl::all_fields`] flattens them), the roots included.
fn closure<'a>(wsdl: &Wsdl, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = roots.into_iter().map(str::to_string).collect();
    while let Some(name) = stack.pop() {
        let Some(TypeDef::Complex(c)) = wsdl.types.get(&name) else {
            continue;
        };
        if !seen.insert(name) {
            continue;
        }
        for field in wsdl.all_fields(c) {
            if let TypeRef::Named(t) = &field.ty
                && !seen.contains(t)
            {
                stack.push(t.clone());
            }
        }
    }
    seen
}

/// The direction of every complex type: sent when reachable from an operation's input element
/// or the SOAP header it sends, received when reachable from its output element. The model has
/// no output headers, and faults are read by the runtime (`SoapError`), not by generated types.
pub fn directions(wsdl: &Wsdl) -> BTreeMap<String, Direction> {
    let element_type = |element: &str| wsdl.elements.get(element).map(String::as_str);
    let sent = closure(
        wsdl,
        wsdl.operations.iter().flat_map(|op| {
            [Some(op.input.as_str()), op.input_header.as_deref()]
                .into_iter()
                .flatten()
                .filter_map(element_type)
        }),
    );
    let received = closure(
        wsdl,
        wsdl.operations
            .iter()
            .filter_map(|op| element_type(&op.output)),
    );
    wsdl.types
        .values()
        .filter_map(|def| match def {
            TypeDef::Complex(c) => Some((
                c.name.clone(),
                Direction {
                    sent: sent.contains(&c.name),
                    received: received.contains(&c.name),
                },
            )),
            TypeDef::Enum(_) => None,
        })
        .collect()
}

/// The serde traits a type derives: `(always, only with the `server-serde` feature)`. The
/// client needs `Serialize` for what it sends and `Deserialize` for what it receives; a server
/// (the sandbox twins) needs the mirror, so that comes with the feature.
pub fn serde_derives(direction: Direction) -> (Vec<&'static str>, Vec<&'static str>) {
    const SER: &str = "Serialize";
    const DE: &str = "Deserialize";
    match (direction.sent, direction.received) {
        (true, true) => (vec![SER, DE], vec![]),
        (true, false) => (vec![SER], vec![DE]),
        (false, true) => (vec![DE], vec![SER]),
        // No operation reaches it (in AccountsIQ: 8 of ~710, bases flattened into their
        // extensions). Both, not neither: the `#[serde]` member attributes need a derive, and a
        // user may still serialise these public types; they cost next to nothing.
        (false, false) => (vec![SER, DE], vec![]),
    }
}

/// Types whose every required member has a default (so `Default` can be derived).
fn defaultable(wsdl: &Wsdl) -> BTreeSet<String> {
    let mut ok: BTreeSet<String> = BTreeSet::new();
    loop {
        let before = ok.len();
        for def in wsdl.types.values() {
            let TypeDef::Complex(c) = def else { continue };
            let all = wsdl.all_fields(c).into_iter().all(|f| {
                f.presence() != Presence::Required
                    || match &f.ty {
                        TypeRef::Builtin(Builtin::DateTime) => false,
                        TypeRef::Builtin(_) => true,
                        TypeRef::Named(t) => ok.contains(t),
                    }
            });
            if all {
                ok.insert(c.name.clone());
            }
        }
        if ok.len() == before {
            return ok;
        }
    }
}

/// The whole generated client.
pub fn emit(wsdl: &Wsdl, slug: &str, options: &SoapOptions) -> Result<TokenStream, String> {
    let header_types: BTreeSet<&String> = wsdl
        .operations
        .iter()
        .filter_map(|o| o.input_header.as_ref())
        .collect();
    if header_types.len() > 1 {
        return Err(format!(
            "operations declare different SOAP header elements ({:?}); one header per service is supported",
            header_types
        ));
    }
    let header = header_types.into_iter().next().cloned();
    let defaults = defaultable(wsdl);
    let secrets: BTreeSet<&str> = options.secret_elements.iter().copied().collect();
    let directions = directions(wsdl);

    let types: Vec<TokenStream> = wsdl
        .types
        .values()
        .map(|def| match def {
            TypeDef::Enum(e) => {
                let name = ident(&e.name);
                let variants = unique_names(
                    e.values.iter().map(|v| v.to_upper_camel_case()),
                    &["UnknownValue"],
                );
                let entries = variants.iter().zip(&e.values).map(|(variant, wire)| {
                    let variant = ident(variant);
                    quote!(#variant = #wire)
                });
                let doc = format!(
                    " XSD enumeration `{}` (open: unknown values are kept).",
                    e.name
                );
                quote! {
                    crate::open_enum! {
                        #[doc = #doc]
                        pub enum #name { #(#entries),* }
                    }
                }
            }
            TypeDef::Complex(c) => {
                let direction = directions.get(&c.name).copied().unwrap_or_default();
                emit_struct(wsdl, c, direction, &defaults, &secrets)
            }
        })
        .collect();

    let namespace = &wsdl.target_namespace;
    let methods = method_names(wsdl);
    let operations: Vec<TokenStream> = wsdl
        .operations
        .iter()
        .zip(&methods)
        .map(|(op, method)| emit_operation(wsdl, op, method, options))
        .collect::<Result<_, _>>()?;

    let (header_field, header_methods, header_debug) = match &header {
        Some(element) => {
            let ty = ident(
                wsdl.elements
                    .get(element)
                    .map(String::as_str)
                    .unwrap_or(element),
            );
            (
                quote!(soap_header: ::std::option::Option<types::#ty>,),
                quote! {
                    /// Sets the SOAP header sent with every operation whose binding declares it.
                    pub fn set_soap_header(&mut self, header: ::std::option::Option<types::#ty>) {
                        self.soap_header = header;
                    }
                    /// The SOAP header currently set.
                    pub fn soap_header(&self) -> ::std::option::Option<&types::#ty> {
                        self.soap_header.as_ref()
                    }
                },
                quote!(.field("soap_header", &self.soap_header.as_ref().map(|_| "<set>"))),
            )
        }
        None => (quote!(), quote!(), quote!()),
    };
    let header_init = if header.is_some() {
        quote!(soap_header: None,)
    } else {
        quote!()
    };
    let binding_doc = format!(
        " Client for the SOAP 1.1 binding `{}` (namespace `{}`).",
        wsdl.binding, wsdl.target_namespace
    );
    let address_doc = wsdl.address.clone().unwrap_or_default();
    let rules = crate::rules::soap_rules(
        wsdl.operations.iter().map(|op| op.name.as_str()),
        options.retry_safe,
    )?;
    let service_rules = crate::rules::tokens(slug, &rules, options.final_answer, "crate::runtime");
    let operation_list = wsdl.operations.iter().map(|op| {
        let (name, action) = (&op.name, &op.soap_action);
        quote!((#name, #action))
    });

    Ok(quote! {
        /// The target namespace: request elements are qualified with it.
        pub const NAMESPACE: &str = #namespace;
        /// The SOAP 1.1 address in the WSDL (one region; see the hand-written module for others).
        pub const WSDL_ADDRESS: &str = #address_doc;

        /// Every operation of the binding, in WSDL order: (operation name, SOAPAction).
        pub const OPERATIONS: &[(&str, &str)] = &[#(#operation_list),*];

        #service_rules

        /// The XSD types of the WSDL.
        pub mod types {
            #(#types)*
        }

        #[doc = #binding_doc]
        #[derive(Clone)]
        pub struct Client {
            endpoint: ::std::string::String,
            http: ::reqwest::Client,
            layer: crate::runtime::Layer,
            #header_field
        }

        impl ::std::fmt::Debug for Client {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("Client").field("endpoint", &self.endpoint) #header_debug .finish()
            }
        }

        impl Client {
            /// A client posting to `endpoint` (the `.asmx` URL) with `http`, through the
            /// service's default layer (retries, timeouts, tracing) under [`SERVICE_RULES`].
            pub fn new(endpoint: impl ::std::convert::Into<::std::string::String>, http: ::reqwest::Client) -> Self {
                Self { endpoint: endpoint.into(), http, layer: crate::runtime::Layer::new(&SERVICE_RULES), #header_init }
            }

            /// The same client, its calls passing through `layer` instead.
            pub fn with_layer(mut self, layer: crate::runtime::Layer) -> Self {
                self.layer = layer;
                self
            }

            /// The layer every call passes through.
            pub fn layer(&self) -> &crate::runtime::Layer {
                &self.layer
            }

            /// The URL requests are posted to.
            pub fn endpoint(&self) -> &str {
                &self.endpoint
            }

            #header_methods

            #(#operations)*
        }
    })
}

fn emit_struct(
    wsdl: &Wsdl,
    c: &ComplexType,
    direction: Direction,
    defaults: &BTreeSet<String>,
    secrets: &BTreeSet<&str>,
) -> TokenStream {
    let name = ident(&c.name);
    let fields = wsdl.all_fields(c);
    let names = field_names(&fields);
    let members = fields.iter().zip(&names).map(|(field, rust)| {
        let rust = ident(rust);
        let wire = &field.name;
        let boxed = matches!(&field.ty, TypeRef::Named(t)
            if !field.occurs.is_many() && (t == &c.name || reachable(wsdl, t).contains(&c.name)));
        let ty = field_type(field, boxed, &quote!());
        let serde = match field.presence() {
            Presence::Many => quote!(#[serde(rename = #wire, default)]),
            // Left out when there is no value.
            Presence::Optional => {
                quote!(#[serde(rename = #wire, default, skip_serializing_if = "::std::option::Option::is_none")])
            }
            // Always written: no value is `xsi:nil="true"`; read from that or from an absent
            // element (quick-xml reads `xsi:nil` as `None`).
            Presence::RequiredNillable => {
                quote!(#[serde(rename = #wire, default, serialize_with = "crate::runtime::soap::nil::serialize")])
            }
            Presence::Required => quote!(#[serde(rename = #wire)]),
        };
        let doc = format!(" `{wire}`{}", occurs_note(field));
        quote! {
            #[doc = #doc]
            #serde
            pub #rust: #ty
        }
    });
    let has_secret = fields.iter().any(|f| secrets.contains(f.name.as_str()));
    let (serde_always, serde_server) = serde_derives(direction);
    let serde_trait = |name: &str| {
        let name = format_ident!("{name}");
        quote!(::serde::#name)
    };
    let mut derives = vec![quote!(Clone), quote!(PartialEq)];
    derives.extend(serde_always.iter().map(|t| serde_trait(t)));
    let server_derives = serde_server.iter().map(|t| {
        let t = serde_trait(t);
        quote!(#[cfg_attr(feature = "server-serde", derive(#t))])
    });
    if !has_secret {
        derives.insert(0, quote!(Debug));
    }
    if defaults.contains(&c.name) {
        derives.push(quote!(Default));
    }
    let mut doc = format!(" XSD complex type `{}`", c.name);
    if let Some(base) = &c.base {
        doc.push_str(&format!(", extending `{base}` (its members come first)"));
    }
    if c.is_abstract {
        doc.push_str("; abstract in the WSDL");
    }
    if c.any_attribute {
        doc.push_str("; allows any attribute (attributes are not modelled)");
    }
    doc.push('.');
    let direction_doc = format!(" Direction: {}.", direction_sentence(direction));
    let debug = has_secret.then(|| {
        let name_str = c.name.as_str();
        let entries = fields.iter().zip(&names).map(|(field, rust)| {
            let rust_ident = ident(rust);
            if secrets.contains(field.name.as_str()) {
                quote!(.field(#rust, &self.#rust_ident.as_ref().map(|_| "<redacted>")))
            } else {
                quote!(.field(#rust, &self.#rust_ident))
            }
        });
        quote! {
            impl ::std::fmt::Debug for #name {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.debug_struct(#name_str) #(#entries)* .finish()
                }
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[doc = ""]
        #[doc = #direction_doc]
        #[derive(#(#derives),*)]
        #(#server_derives)*
        pub struct #name {
            #(#members,)*
        }
        #debug
    }
}

/// The doc line's words for `direction`: which way the client uses the type.
fn direction_sentence(direction: Direction) -> &'static str {
    match (direction.sent, direction.received) {
        (true, true) => "sent in requests and received in responses",
        (true, false) => "sent in requests (`Deserialize` only with the `server-serde` feature)",
        (false, true) => "received in responses (`Serialize` only with the `server-serde` feature)",
        (false, false) => "used by no operation (both serde directions derived)",
    }
}

fn occurs_note(field: &Field) -> String {
    let max = field
        .occurs
        .max
        .map_or("unbounded".to_string(), |m| m.to_string());
    let mut note = format!(" ({}..{max}", field.occurs.min);
    if field.nillable {
        note.push_str(", nillable");
    }
    note.push(')');
    note
}

/// How an operation's response is handed to the caller.
pub enum Returns<'a> {
    /// No result element: `()`.
    Nothing,
    /// The result element's value as is (e.g. the Login token).
    Value(&'a Field),
    /// A result envelope: checked, then its `Result` member (or `()` without one).
    Envelope {
        result_element: &'a Field,
        inner: Option<&'a Field>,
    },
    /// Several elements: the whole response struct.
    Whole,
}

pub fn returns<'a>(wsdl: &'a Wsdl, op: &Operation, options: &SoapOptions) -> Returns<'a> {
    let Some(output) = wsdl.element_type(&op.output) else {
        return Returns::Whole;
    };
    let fields = wsdl.all_fields(output);
    match fields.as_slice() {
        [] => Returns::Nothing,
        [single] => {
            let envelope = options.envelope.as_ref().and_then(|env| match &single.ty {
                TypeRef::Named(t) => match wsdl.types.get(t) {
                    Some(TypeDef::Complex(inner)) => {
                        let members = wsdl.all_fields(inner);
                        let has = |n: &str| members.iter().any(|f| f.name == n);
                        (has(env.status) && has(env.error_code))
                            .then(|| members.iter().find(|f| f.name == env.result).copied())
                    }
                    _ => None,
                },
                TypeRef::Builtin(_) => None,
            });
            match envelope {
                Some(inner) => Returns::Envelope {
                    result_element: single,
                    inner,
                },
                None => Returns::Value(single),
            }
        }
        _ => Returns::Whole,
    }
}

fn emit_operation(
    wsdl: &Wsdl,
    op: &Operation,
    method: &str,
    options: &SoapOptions,
) -> Result<TokenStream, String> {
    let method = ident(method);
    let input_ty = ident(
        wsdl.elements
            .get(&op.input)
            .ok_or(format!("element `{}` missing", op.input))?,
    );
    let output_ty = ident(
        wsdl.elements
            .get(&op.output)
            .ok_or(format!("element `{}` missing", op.output))?,
    );
    let input_element = &op.input;
    let action = &op.soap_action;
    let op_name = &op.name;
    let header = match &op.input_header {
        Some(element) => quote!(self.soap_header.as_ref().map(|h| (#element, h))),
        None => quote!(::std::option::Option::<(&str, &())>::None),
    };
    let prefix = quote!(types::);
    let output_fields = wsdl
        .element_type(&op.output)
        .map(|c| wsdl.all_fields(c))
        .unwrap_or_default();
    let output_names = field_names(&output_fields);
    let member = |field: &Field| -> syn::Ident {
        let i = output_fields
            .iter()
            .position(|f| std::ptr::eq(*f, field))
            .unwrap_or(0);
        ident(&output_names[i])
    };
    let (ret, finish) = match returns(wsdl, op, options) {
        Returns::Nothing => (quote!(()), quote!(let _ = response; Ok(()))),
        Returns::Whole => (quote!(types::#output_ty), quote!(Ok(response))),
        Returns::Value(field) => {
            let m = member(field);
            (field_type(field, false, &prefix), quote!(Ok(response.#m)))
        }
        Returns::Envelope {
            result_element,
            inner,
        } => {
            let env = options
                .envelope
                .as_ref()
                .ok_or("envelope without options")?;
            let m = member(result_element);
            let wire = &result_element.name;
            let TypeRef::Named(envelope_type) = &result_element.ty else {
                return Err("envelope of a builtin type".into());
            };
            let Some(TypeDef::Complex(envelope)) = wsdl.types.get(envelope_type) else {
                return Err(format!("envelope type `{envelope_type}` missing"));
            };
            let env_fields = wsdl.all_fields(envelope);
            let env_names = field_names(&env_fields);
            let find = |n: &str| {
                env_fields
                    .iter()
                    .position(|f| f.name == n)
                    .map(|i| (env_fields[i], ident(&env_names[i])))
            };
            let (status_f, status) = find(env.status).ok_or("no status")?;
            let (code_f, code) = find(env.error_code).ok_or("no error code")?;
            let text = |f: &Field, i: &syn::Ident| {
                if f.may_be_absent() {
                    quote!(envelope.#i.as_ref().map(|v| v.as_str()).unwrap_or(""))
                } else {
                    quote!(envelope.#i.as_str())
                }
            };
            let status_expr = text(status_f, &status);
            let code_expr = text(code_f, &code);
            let message = match find(env.error_message) {
                Some((f, i)) if f.may_be_absent() => {
                    quote!(envelope.#i.as_deref())
                }
                Some((_, i)) => quote!(::std::option::Option::Some(envelope.#i.as_str())),
                None => quote!(::std::option::Option::None),
            };
            let expired = match find(env.has_expired) {
                Some((f, i)) if f.may_be_absent() => {
                    quote!(envelope.#i.unwrap_or(false))
                }
                Some((_, i)) => quote!(envelope.#i),
                None => quote!(false),
            };
            let take = if result_element.may_be_absent() {
                quote!(response.#m.ok_or_else(|| crate::runtime::soap::SoapError::missing(#wire))?)
            } else {
                quote!(response.#m)
            };
            let (ret, value) = match inner {
                Some(inner) => {
                    let i = find(&inner.name)
                        .map(|(_, i)| i)
                        .ok_or("no result member")?;
                    (field_type(inner, false, &prefix), quote!(envelope.#i))
                }
                None => (quote!(()), quote!(())),
            };
            (
                ret,
                quote! {
                    let envelope = #take;
                    crate::runtime::soap::check_result(#status_expr, #code_expr, #message, #expired)?;
                    Ok(#value)
                },
            )
        }
    };
    let mut doc = format!(
        " SOAP operation `{}` (SOAPAction `{}`).",
        op.name, op.soap_action
    );
    if let Some(text) = &op.documentation {
        doc.push_str(&format!(" {}", text.replace('\n', " ")));
    }
    let header_doc = op
        .input_header
        .as_ref()
        .map(|h| format!(" Sends the `{h}` SOAP header set with `set_soap_header`."));
    let header_doc = header_doc.map(|d| quote!(#[doc = #d]));
    Ok(quote! {
        #[doc = #doc]
        #header_doc
        pub async fn #method(&self, request: &types::#input_ty) -> ::std::result::Result<#ret, crate::runtime::soap::SoapError> {
            let envelope = crate::runtime::soap::envelope(NAMESPACE, #input_element, #header, request)?;
            let response: types::#output_ty = crate::runtime::soap::call(&self.layer, &self.http, &self.endpoint, #action, #op_name, envelope).await?;
            #finish
        }
    })
}

/// The Rust type of a field as the surface shows it (short paths).
pub fn surface_type(field: &Field) -> String {
    let base = match &field.ty {
        TypeRef::Builtin(b) => b.xsd_name().to_string(),
        TypeRef::Named(n) => n.clone(),
    };
    if field.occurs.is_many() {
        format!("[{base}]")
    } else {
        base
    }
}
