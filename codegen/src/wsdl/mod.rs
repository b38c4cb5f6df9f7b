//! The WSDL front end: WSDL 1.1 + its XSD (document/literal, SOAP 1.1) -> a typed async client
//! over the runtime's SOAP call. Stages: [`parse`] (text -> [`model::Wsdl`]) -> [`emit`]
//! (model -> tokens); the pipeline's `format` and `output` stages follow as for OpenAPI, and
//! [`surface`] renders the same kind of API summary for review.

pub mod emit;
pub mod model;
pub mod parse;

use std::path::Path;

use proc_macro2::TokenStream;

use crate::error::CodegenError;
use crate::surface::{Field, ObjectShape, Operation, Param, Surface, TypeShape};
use model::{TypeDef, Wsdl};

/// Names of a result envelope's members (e.g. AccountsIQ's `WSResultStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeFields {
    pub status: &'static str,
    pub error_code: &'static str,
    pub error_message: &'static str,
    pub has_expired: &'static str,
    pub result: &'static str,
}

/// What a SOAP service declares beyond its WSDL: reviewable, per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoapOptions {
    /// A result type with these members becomes `Result<T, SoapError>` for the caller.
    pub envelope: Option<EnvelopeFields>,
    /// Elements whose values are secrets: redacted in the generated `Debug` output.
    pub secret_elements: &'static [&'static str],
    /// Operations that may be sent again after a failure (every SOAP call is a POST), and
    /// why; the first declaration that matches an operation gives its reason. Each must match
    /// at least one operation of the WSDL.
    pub retry_safe: &'static [crate::rules::RetrySafe],
    /// Which answers with a retryable status are final all the same.
    pub final_answer: crate::rules::FinalAnswer,
}

/// Parses and emits a WSDL; `path` names the file in errors.
pub fn generate(
    path: &Path,
    text: &str,
    slug: &str,
    options: &SoapOptions,
) -> Result<(Wsdl, TokenStream), CodegenError> {
    let wsdl = parse::parse(text).map_err(|findings| CodegenError::Rejected {
        path: path.to_path_buf(),
        findings,
    })?;
    let tokens = emit::emit(&wsdl, slug, options).map_err(|message| CodegenError::Generate {
        path: path.to_path_buf(),
        message,
    })?;
    Ok((wsdl, tokens))
}

/// The API surface of a WSDL client: one line per operation, one per type (the text
/// [`crate::surface::Surface::render`] writes, like every service's).
pub fn surface(slug: &str, sources: &str, wsdl: &Wsdl, options: &SoapOptions) -> String {
    surface_model(slug, sources, wsdl, options).render()
}

/// The surface model of a WSDL client: the request fields as parameters, the unwrapped
/// result as the success type, and every schema type.
pub fn surface_model(slug: &str, sources: &str, wsdl: &Wsdl, options: &SoapOptions) -> Surface {
    let mut surface = Surface {
        title_line: format!(
            "{slug} — API surface of {sources} (SOAP 1.1 binding {}, namespace {})",
            wsdl.binding, wsdl.target_namespace
        ),
        ..Default::default()
    };
    let methods = emit::method_names(wsdl);
    let directions = emit::directions(wsdl);
    // A stale declaration is refused when the client is emitted; here it only shows nothing.
    let rules = crate::rules::soap_rules(
        wsdl.operations.iter().map(|op| op.name.as_str()),
        options.retry_safe,
    )
    .unwrap_or_default();
    for (op, method) in wsdl.operations.iter().zip(methods) {
        let params = wsdl
            .element_type(&op.input)
            .map(|c| wsdl.all_fields(c).iter().map(|f| param(f)).collect())
            .unwrap_or_default();
        let operation = Operation {
            method: method.clone(),
            route: op.name.clone(),
            params,
            success_type: returns(wsdl, op, options),
            header: op.input_header.clone(),
            rules: rules
                .iter()
                .find(|rule| rule.id == op.name)
                .map(crate::surface::rule_marks)
                .unwrap_or_default(),
            ..Default::default()
        };
        surface.operations.insert(method, operation);
    }
    for def in wsdl.types.values() {
        let (name, shape) = match def {
            TypeDef::Enum(e) => (
                e.name.clone(),
                TypeShape::Enum {
                    values: e.values.clone(),
                    open: true,
                },
            ),
            TypeDef::Complex(c) => {
                let direction = directions.get(&c.name).copied().unwrap_or_default();
                (c.name.clone(), TypeShape::Object(object(c, direction)))
            }
        };
        surface.types.insert(name, shape);
    }
    surface
}

/// What the generated method returns, as the surface shows it.
fn returns(wsdl: &Wsdl, op: &model::Operation, options: &SoapOptions) -> String {
    match emit::returns(wsdl, op, options) {
        emit::Returns::Nothing => "()".to_string(),
        emit::Returns::Whole => op.output.clone(),
        emit::Returns::Value(f) => optional(f, emit::surface_type(f)),
        emit::Returns::Envelope {
            result_element,
            inner,
        } => {
            let envelope = match &result_element.ty {
                model::TypeRef::Named(n) => n.clone(),
                model::TypeRef::Builtin(b) => b.xsd_name().to_string(),
            };
            let value = inner.map_or("()".to_string(), |f| optional(f, emit::surface_type(f)));
            format!("{value} (checked {envelope})")
        }
    }
}

/// A complex type as the surface shows it, its direction last (`[sent]`, `[received]`), so a
/// reviewer sees a type that is now also sent or received.
fn object(c: &model::ComplexType, direction: emit::Direction) -> ObjectShape {
    let mut prefix = String::new();
    if c.is_abstract {
        prefix.push_str("abstract ");
    }
    if let Some(base) = &c.base {
        prefix.push_str(&format!("extends {base} "));
    }
    ObjectShape {
        prefix,
        fields: c
            .fields
            .iter()
            .map(|f| {
                let p = param(f);
                let field = Field {
                    description: p.rust_type,
                    required: p.required,
                };
                (p.name, field)
            })
            .collect(),
        extra: Vec::new(),
        suffix: format!(
            "{} [{}]",
            if c.any_attribute {
                " + any attribute"
            } else {
                ""
            },
            direction.label()
        ),
    }
}

fn optional(field: &model::Field, ty: String) -> String {
    if field.may_be_absent() {
        format!("Option<{ty}>")
    } else {
        ty
    }
}

/// A field as a parameter: `name?` when it may be left out (one optional element), its
/// schema type, ` | nil` when nillable.
fn param(field: &model::Field) -> Param {
    let nil = if field.nillable { " | nil" } else { "" };
    Param {
        name: field.name.clone(),
        rust_type: format!("{}{nil}", emit::surface_type(field)),
        required: field.occurs.is_many() || !field.occurs.is_optional(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated file for `tokens`, as the format stage writes it.
    fn formatted(tokens: proc_macro2::TokenStream) -> String {
        let provenance = crate::format::Provenance {
            files: &[],
            feature: "t",
        };
        crate::format::format("specs/t.wsdl", &provenance, tokens).unwrap()
    }

    const OPTIONS: SoapOptions = SoapOptions {
        envelope: Some(EnvelopeFields {
            status: "Status",
            error_code: "ErrorCode",
            error_message: "ErrorMessage",
            has_expired: "HasExpired",
            result: "Result",
        }),
        secret_elements: &["token"],
        retry_safe: &[crate::rules::RetrySafe {
            operations: crate::rules::OperationMatch::Affixed {
                prefix: "Get",
                suffix: "",
            },
            reason: "a read",
        }],
        final_answer: crate::rules::FinalAnswer::SoapFault,
    };

    /// A small WSDL in the shape of AccountsIQ's: an envelope extending a base, an enum, an
    /// array type, a header, and an element named like a type.
    fn wsdl(types: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions xmlns:s="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="urn:t" targetNamespace="urn:t" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/">
  <wsdl:types>
    <s:schema elementFormDefault="qualified" targetNamespace="urn:t">
      <s:element name="GetThing"><s:complexType><s:sequence>
        <s:element minOccurs="0" maxOccurs="1" name="token" type="s:string" />
        <s:element minOccurs="1" maxOccurs="1" name="id" type="s:int" />
      </s:sequence></s:complexType></s:element>
      <s:element name="GetThingResponse"><s:complexType><s:sequence>
        <s:element minOccurs="0" maxOccurs="1" name="GetThingResult" type="tns:WSResultOfThing" />
      </s:sequence></s:complexType></s:element>
      <s:complexType name="OperationResult"><s:sequence>
        <s:element minOccurs="1" maxOccurs="1" name="Status" type="tns:OperationStatus" />
        <s:element minOccurs="1" maxOccurs="1" name="ErrorCode" type="s:string" />
        <s:element minOccurs="0" maxOccurs="1" name="ErrorMessage" type="s:string" />
      </s:sequence></s:complexType>
      <s:complexType name="WSResultOfThing"><s:complexContent mixed="false"><s:extension base="tns:OperationResult"><s:sequence>
        <s:element minOccurs="1" maxOccurs="1" name="HasExpired" type="s:boolean" />
        <s:element minOccurs="0" maxOccurs="1" name="Result" type="tns:Thing" />
      </s:sequence></s:extension></s:complexContent></s:complexType>
      <s:complexType name="Thing"><s:sequence>
        <s:element minOccurs="1" maxOccurs="1" name="Amount" type="s:decimal" />
        <s:element minOccurs="1" maxOccurs="1" name="When" type="s:dateTime" nillable="true" />
        <s:element minOccurs="0" maxOccurs="1" name="Tags" type="tns:ArrayOfString" />
        <s:element minOccurs="0" maxOccurs="1" name="Parent" type="tns:Thing" />
      </s:sequence></s:complexType>
      <s:complexType name="ArrayOfString"><s:sequence>
        <s:element minOccurs="0" maxOccurs="unbounded" name="string" nillable="true" type="s:string" />
      </s:sequence></s:complexType>
      <s:simpleType name="OperationStatus"><s:restriction base="s:string">
        <s:enumeration value="Success" /><s:enumeration value="Failure" /><s:enumeration value="Unknown" />
      </s:restriction></s:simpleType>
      <s:element name="Hdr" type="tns:Hdr" />
      <s:complexType name="Hdr"><s:sequence><s:element minOccurs="0" maxOccurs="1" name="AccessToken" type="s:string" /></s:sequence><s:anyAttribute /></s:complexType>
      {types}
    </s:schema>
  </wsdl:types>
  <wsdl:message name="GetThingSoapIn"><wsdl:part name="parameters" element="tns:GetThing" /></wsdl:message>
  <wsdl:message name="GetThingSoapOut"><wsdl:part name="parameters" element="tns:GetThingResponse" /></wsdl:message>
  <wsdl:message name="GetThingHdr"><wsdl:part name="Hdr" element="tns:Hdr" /></wsdl:message>
  <wsdl:portType name="P"><wsdl:operation name="GetThing"><wsdl:documentation>Reads a thing.</wsdl:documentation><wsdl:input message="tns:GetThingSoapIn" /><wsdl:output message="tns:GetThingSoapOut" /></wsdl:operation></wsdl:portType>
  <wsdl:binding name="PSoap" type="tns:P"><soap:binding transport="http://schemas.xmlsoap.org/soap/http" />
    <wsdl:operation name="GetThing"><soap:operation soapAction="urn:t/GetThing" style="document" />
      <wsdl:input><soap:body use="literal" /><soap:header message="tns:GetThingHdr" part="Hdr" use="literal" /></wsdl:input>
      <wsdl:output><soap:body use="literal" /></wsdl:output></wsdl:operation></wsdl:binding>
  <wsdl:service name="S"><wsdl:port name="PSoap" binding="tns:PSoap"><soap:address location="https://x.example/s.asmx" /></wsdl:port></wsdl:service>
</wsdl:definitions>"#
        )
    }

    #[test]
    fn parses_the_subset_with_extension_order_and_headers() {
        let model = parse::parse(&wsdl("")).unwrap();
        assert_eq!(model.binding, "PSoap");
        assert_eq!(model.address.as_deref(), Some("https://x.example/s.asmx"));
        let op = &model.operations[0];
        assert_eq!(
            (
                op.name.as_str(),
                op.soap_action.as_str(),
                op.input.as_str(),
                op.output.as_str()
            ),
            ("GetThing", "urn:t/GetThing", "GetThing", "GetThingResponse")
        );
        assert_eq!(op.input_header.as_deref(), Some("Hdr"));
        assert_eq!(op.documentation.as_deref(), Some("Reads a thing."));
        let Some(TypeDef::Complex(envelope)) = model.types.get("WSResultOfThing") else {
            panic!()
        };
        let names: Vec<&str> = model
            .all_fields(envelope)
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Status",
                "ErrorCode",
                "ErrorMessage",
                "HasExpired",
                "Result"
            ]
        );
    }

    #[test]
    fn unsupported_constructs_are_refused_naming_the_type() {
        for (snippet, expected) in [
            (
                r#"<s:complexType name="Choosy"><s:choice><s:element name="a" type="s:string"/></s:choice></s:complexType>"#,
                "type `Choosy`: `xs:choice` is not supported",
            ),
            (
                r#"<s:complexType name="Odd"><s:sequence><s:element name="g" type="s:gYear"/></s:sequence></s:complexType>"#,
                "type `Odd`, element `g`: XSD type `xs:gYear` is not supported",
            ),
            (
                r#"<s:complexType name="Attr"><s:attribute name="a" type="s:string"/></s:complexType>"#,
                "type `Attr`: `xs:attribute` is not supported",
            ),
            (
                r#"<s:complexType name="Dangling"><s:sequence><s:element name="x" type="tns:Nowhere"/></s:sequence></s:complexType>"#,
                "type `Dangling`, element `x`: type `Nowhere` is not defined",
            ),
            (
                r#"<s:simpleType name="Pat"><s:restriction base="s:string"><s:pattern value="[a-z]"/></s:restriction></s:simpleType>"#,
                "simple type `Pat`: facet `xs:pattern` is not supported",
            ),
        ] {
            let findings = parse::parse(&wsdl(snippet)).unwrap_err();
            let text: Vec<String> = findings
                .iter()
                .map(|f| format!("{}: {}", f.pointer, f.message))
                .collect();
            assert!(
                text.iter()
                    .any(|t| t.starts_with("line ") && t.contains(expected)),
                "{expected}\n{text:?}"
            );
        }
    }

    #[test]
    fn an_element_named_like_a_type_gets_its_own_type_name() {
        let extra = r#"<s:complexType name="GetThing"><s:sequence><s:element minOccurs="0" maxOccurs="1" name="x" type="s:string"/></s:sequence></s:complexType>"#;
        let model = parse::parse(&wsdl(extra)).unwrap();
        assert_eq!(
            model.elements.get("GetThing").map(String::as_str),
            Some("GetThingElement")
        );
        assert!(
            model.types.contains_key("GetThing") && model.types.contains_key("GetThingElement")
        );
    }

    #[test]
    fn emits_envelope_checks_open_enums_boxes_and_redaction() {
        let (model, tokens) =
            generate(Path::new("specs/t.wsdl"), &wsdl(""), "t", &OPTIONS).unwrap();
        let code = formatted(tokens);
        for expected in [
            "crate::open_enum! {",
            "Success = \"Success\"",
            "pub amount: crate::runtime::soap::XsDecimal",
            "pub when: ::std::option::Option<crate::runtime::soap::XsDateTime>",
            "pub parent: ::std::option::Option<::std::boxed::Box<Thing>>",
            "#[serde(rename = \"string\", default)]",
            "crate::runtime::soap::check_result(",
            "pub async fn get_thing(",
            "pub const OPERATIONS: &[(&str, &str)] = &[(\"GetThing\", \"urn:t/GetThing\")];",
            "self.soap_header.as_ref().map(|h| (\"Hdr\", h))",
            ".field(\"token\", &self.token.as_ref().map(|_| \"<redacted>\"))",
            "::std::option::Option<types::Thing>,",
        ] {
            assert!(code.contains(expected), "missing `{expected}` in:\n{code}");
        }
        let surface = surface("t", "specs/t.wsdl", &model, &OPTIONS);
        assert!(surface.contains("get_thing: GetThing (token?: string, id: int) -> Option<Thing> (checked WSResultOfThing) [header Hdr]"), "{surface}");
        assert!(
            surface.contains(
                "WSResultOfThing: extends OperationResult { HasExpired: boolean, Result?: Thing }"
            ),
            "{surface}"
        );
        assert!(
            surface.contains("OperationStatus: enum Success | Failure | Unknown | ..unknown"),
            "{surface}"
        );
    }

    #[test]
    fn presence_comes_from_min_occurs_and_nillable_only() {
        use model::Presence;
        let extra = r#"<s:complexType name="Bare"><s:sequence>
            <s:element name="implicitlyRequired" nillable="true" type="s:int"/>
            <s:element minOccurs="0" name="optionalNil" nillable="true" type="s:int"/>
            <s:element name="plain" type="s:int"/>
        </s:sequence></s:complexType>"#;
        let model = parse::parse(&wsdl(extra)).unwrap();
        let presence = |ty: &str, element: &str| {
            let Some(TypeDef::Complex(c)) = model.types.get(ty) else {
                panic!("{ty}")
            };
            model
                .all_fields(c)
                .into_iter()
                .find(|f| f.name == element)
                .map(|f| f.presence())
                .unwrap()
        };
        for (ty, element, expected) in [
            ("Thing", "When", Presence::RequiredNillable),
            ("Thing", "Amount", Presence::Required),
            ("Thing", "Tags", Presence::Optional),
            ("ArrayOfString", "string", Presence::Many),
            ("Bare", "implicitlyRequired", Presence::RequiredNillable),
            ("Bare", "optionalNil", Presence::Optional),
            ("Bare", "plain", Presence::Required),
        ] {
            assert_eq!(presence(ty, element), expected, "{ty}.{element}");
        }
        let (_, tokens) = generate(Path::new("specs/t.wsdl"), &wsdl(extra), "t", &OPTIONS).unwrap();
        let code = formatted(tokens);
        let member = |name: &str| {
            let at = code.find(&format!("pub {name}:")).unwrap();
            let start = code[..at].rfind("#[serde(").unwrap();
            code[start..at].to_string()
        };
        let nil = "serialize_with = \"crate::runtime::soap::nil::serialize\"";
        let skip = "skip_serializing_if";
        assert!(member("when").contains(nil) && !member("when").contains(skip));
        assert!(member("implicitly_required").contains(nil));
        assert!(member("optional_nil").contains(skip) && !member("optional_nil").contains(nil));
        assert!(!member("plain").contains(nil) && !member("plain").contains(skip));
    }

    /// The small WSDL plus `PutThing`, an operation sending a `Thing`, and a type no operation
    /// reaches.
    fn wsdl_sending_a_thing() -> Wsdl {
        let extra = r#"<s:element name="PutThing"><s:complexType><s:sequence>
            <s:element minOccurs="0" maxOccurs="1" name="thing" type="tns:Thing" />
        </s:sequence></s:complexType></s:element>
        <s:complexType name="Lonely"><s:sequence><s:element name="x" type="s:int"/></s:sequence></s:complexType>"#;
        let mut model = parse::parse(&wsdl(extra)).unwrap();
        model.operations.push(model::Operation {
            name: "PutThing".into(),
            soap_action: "urn:t/PutThing".into(),
            input: "PutThing".into(),
            output: "GetThingResponse".into(),
            input_header: None,
            documentation: None,
        });
        model
    }

    #[test]
    fn directions_follow_requests_headers_and_responses_through_members_and_bases() {
        use emit::Direction;
        let directions = emit::directions(&wsdl_sending_a_thing());
        let sent = Direction {
            sent: true,
            received: false,
        };
        let received = Direction {
            sent: false,
            received: true,
        };
        let both = Direction {
            sent: true,
            received: true,
        };
        for (ty, expected) in [
            ("GetThing", sent),
            ("PutThing", sent),
            // The SOAP header the binding sends.
            ("Hdr", sent),
            ("GetThingResponse", received),
            ("WSResultOfThing", received),
            // Sent by PutThing, received inside GetThing's result; through a list member too.
            ("Thing", both),
            ("ArrayOfString", both),
            // Only a base: its members are flattened into WSResultOfThing.
            ("OperationResult", Direction::default()),
            ("Lonely", Direction::default()),
        ] {
            assert_eq!(directions.get(ty), Some(&expected), "{ty}");
        }
        // Only complex types: enums are open enums with their own derives.
        assert!(!directions.contains_key("OperationStatus"));
    }

    #[test]
    fn serde_derives_are_the_clients_direction_and_the_server_gets_the_mirror() {
        use emit::{Direction, serde_derives};
        let direction = |sent, received| Direction { sent, received };
        assert_eq!(
            serde_derives(direction(true, false)),
            (vec!["Serialize"], vec!["Deserialize"])
        );
        assert_eq!(
            serde_derives(direction(false, true)),
            (vec!["Deserialize"], vec!["Serialize"])
        );
        assert_eq!(
            serde_derives(direction(true, true)),
            (vec!["Serialize", "Deserialize"], vec![])
        );
        assert_eq!(
            serde_derives(direction(false, false)),
            (vec!["Serialize", "Deserialize"], vec![])
        );
    }

    #[test]
    fn emitted_structs_derive_their_direction_and_say_it() {
        let model = wsdl_sending_a_thing();
        let code = formatted(emit::emit(&model, "t", &OPTIONS).unwrap());
        let item = |name: &str| {
            let at = code.find(&format!("pub struct {name} {{")).unwrap();
            let start = code[..at].rfind("/// XSD complex type").unwrap();
            code[start..at].to_string()
        };
        // The always-derived serde traits of an item, in order.
        let derived = |item: &str| -> Vec<String> {
            let line = item
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with("#[derive("))
                .unwrap();
            line.split([',', '(', ')'])
                .map(str::trim)
                .filter(|t| t.starts_with("::serde::"))
                .map(str::to_string)
                .collect()
        };
        let server_de = "#[cfg_attr(feature = \"server-serde\", derive(::serde::Deserialize))]";
        let server_ser = "#[cfg_attr(feature = \"server-serde\", derive(::serde::Serialize))]";
        let request = item("PutThing");
        assert!(
            request.contains("/// Direction: sent in requests")
                && derived(&request) == ["::serde::Serialize"]
                && request.contains(server_de)
                && !request.contains(server_ser),
            "{request}"
        );
        let response = item("WSResultOfThing");
        assert!(
            response.contains("/// Direction: received in responses")
                && derived(&response) == ["::serde::Deserialize"]
                && response.contains(server_ser)
                && !response.contains(server_de),
            "{response}"
        );
        let shared = item("Thing");
        assert!(
            derived(&shared) == ["::serde::Serialize", "::serde::Deserialize"]
                && !shared.contains("cfg_attr"),
            "{shared}"
        );
        let surface = surface("t", "specs/t.wsdl", &model, &OPTIONS);
        for line in [
            "PutThing: { thing?: Thing } [sent]",
            "GetThingResponse: { GetThingResult?: WSResultOfThing } [received]",
            "Thing: { Amount: decimal, Parent?: Thing, Tags?: ArrayOfString, When: dateTime | nil } [sent, received]",
            "Hdr: { AccessToken?: string } + any attribute [sent]",
            "Lonely: { x: int } [unused]",
        ] {
            assert!(surface.contains(line), "missing `{line}` in:\n{surface}");
        }
    }

    #[test]
    fn malformed_xml_is_an_error() {
        let findings = parse::parse("<wsdl:definitions").unwrap_err();
        assert!(
            findings[0].message.starts_with("not well-formed XML"),
            "{findings:?}"
        );
    }
}
