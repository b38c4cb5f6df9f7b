//! Vendor SOAP samples (from the AccountsIQ Postman collections) against the generated types.

use customer_data::runtime::soap;

/// A sample file of `slug`.
pub fn sample(slug: &str, name: &str) -> String {
    std::fs::read_to_string(super::fixture_path(slug, name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Vendor samples that contradict the WSDL: `BankID` is `s:short`, the samples hold the text
/// `string`. The client must refuse them, naming the element; the test then continues with the
/// sample corrected to a valid short.
const CONTRADICTIONS: &[(&str, &str, &str)] =
    &[("<BankID>string</BankID>", "<BankID>0</BankID>", "BankID")];

fn corrected<T: serde::de::DeserializeOwned>(what: &str, text: String) -> String {
    for (wrong, right, element) in CONTRADICTIONS {
        if text.contains(wrong) {
            let err = soap::decode_response::<T>(200, &text)
                .err()
                .unwrap_or_else(|| panic!("{what}: accepted `{wrong}`"));
            assert!(err.to_string().contains(element), "{what}: {err}");
            return text.replace(wrong, right);
        }
    }
    text
}

/// Vendor response samples that leave out elements the WSDL requires (`minOccurs="1"`): the
/// decoder is strict (it never invents a value), so each must be refused naming the element.
const INCOMPLETE_RESPONSES: &[(&str, &str)] = &[
    ("GetCustomersStatement", "missing field `DueDate`"),
    (
        "GetInvoicesByCustomerCode",
        "missing field `TaxAdjustmentAmount`",
    ),
    (
        "GetCreditNotesByCustomerCode",
        "missing field `TaxAdjustmentAmount`",
    ),
];

/// Decodes the vendor's sample request into our request type, encodes it again with our
/// envelope (and `header`, when the sample has one), and requires XML equivalence.
pub fn request_round_trip<T, H>(
    slug: &str,
    namespace: &str,
    operation: &str,
    header: Option<(&str, &H)>,
) where
    T: serde::Serialize + serde::de::DeserializeOwned,
    H: serde::Serialize,
{
    let theirs = corrected::<T>(operation, sample(slug, &format!("{operation}.request.xml")));
    let request: T =
        soap::decode_response(200, &theirs).unwrap_or_else(|e| panic!("{operation}: {e}"));
    let header = header.filter(|_| theirs.contains(":Header>"));
    let ours = soap::envelope(namespace, operation, header, &request).unwrap();
    super::xml::assert_equivalent(&ours, &theirs, operation);
}

/// The vendor's sample response decodes (or, for a known-incomplete sample, is refused naming
/// the missing element).
pub fn response_decodes<T: serde::de::DeserializeOwned>(slug: &str, operation: &str) {
    let path = super::fixture_path(slug, &format!("{operation}.response.xml"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let text = corrected::<T>(operation, text);
    let result = soap::decode_response::<T>(200, &text);
    match INCOMPLETE_RESPONSES.iter().find(|(op, _)| *op == operation) {
        Some((_, missing)) => {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{operation}: incomplete sample accepted"));
            assert!(err.to_string().contains(missing), "{operation}: {err}");
        }
        None => {
            result.unwrap_or_else(|e| panic!("{operation} response: {e}"));
        }
    }
}

/// The `(operation, SOAPAction)` pairs of the extracted samples.
pub fn listed_actions(slug: &str) -> Vec<(String, String)> {
    sample(slug, "postman_actions.txt")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(op, action)| (op.to_string(), action.to_string()))
        .collect()
}

/// The operation names of a WSDL's portType.
pub fn wsdl_operations(slug: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("specs/{slug}.wsdl"));
    let wsdl = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&wsdl).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name(("http://schemas.xmlsoap.org/wsdl/", "portType")))
        .flat_map(|p| p.children().filter(|n| n.is_element()))
        .filter_map(|n| n.attribute("name").map(str::to_string))
        .collect()
}

/// A SOAP envelope around `inner`.
pub fn envelope(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{inner}</soap:Body></soap:Envelope>"#
    )
}

/// An HTTP answer carrying a SOAP body.
pub fn soap_response(status: &str, body: &str) -> String {
    super::http(status, "text/xml; charset=utf-8", body)
}

// ---------------------------------------------------------------------------------------------
// XSD instances from the WSDL (the codegen crate's parser): what a schema-valid request holds
// ---------------------------------------------------------------------------------------------

use customer_data_codegen::wsdl::model::{Builtin, Presence, TypeDef, TypeRef, Wsdl};

/// The WSDL of `slug`, parsed by the generator's own parser.
pub fn wsdl_model(slug: &str) -> Wsdl {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("specs/{slug}.wsdl"));
    let text = std::fs::read_to_string(&path).unwrap();
    customer_data_codegen::wsdl::parse::parse(&text)
        .unwrap_or_else(|findings| panic!("{}: {findings:?}", path.display()))
}

/// Whether an instance of `ty` can hold a required nillable element (`minOccurs` 1,
/// `nillable="true"`), itself or in any member (single or list item), at any depth.
pub fn reaches_required_nil(wsdl: &Wsdl, ty: &str) -> bool {
    fn walk(wsdl: &Wsdl, ty: &str, seen: &mut std::collections::BTreeSet<String>) -> bool {
        if !seen.insert(ty.to_string()) {
            return false;
        }
        let Some(TypeDef::Complex(c)) = wsdl.types.get(ty) else {
            return false;
        };
        wsdl.all_fields(c).into_iter().any(|f| {
            f.presence() == Presence::RequiredNillable
                || matches!(&f.ty, TypeRef::Named(t) if walk(wsdl, t, seen))
        })
    }
    walk(wsdl, ty, &mut Default::default())
}

/// The operations whose request element's type has a required nillable element (at any depth),
/// in WSDL order.
pub fn operations_with_required_nil(wsdl: &Wsdl) -> Vec<String> {
    wsdl.operations
        .iter()
        .filter(|op| reaches_required_nil(wsdl, &wsdl.elements[&op.input]))
        .map(|op| op.name.clone())
        .collect()
}

/// A schema-valid instance of a top-level element, as the element's XML (children in the target
/// namespace, `xsi` expected to be declared by the envelope).
#[derive(Debug, Clone)]
pub struct Instance {
    pub xml: String,
    /// Paths (`Element/member/...`) of the elements written as `xsi:nil="true"`.
    pub nils: Vec<String>,
}

/// The smallest schema-valid instance of `element` that still shows every required nillable
/// element it can hold: required members get a lexically valid sample (`x`, `0`, `false`,
/// `2024-01-02T03:04:05`, the first enumeration value), required nillable ones
/// `xsi:nil="true"`, optional members and lists are left out unless their type can hold a
/// required nillable element (then one is written). `values` gives the text of top-level
/// string members by name (e.g. the session `token`).
pub fn minimal_instance(wsdl: &Wsdl, element: &str, values: &[(&str, &str)]) -> Instance {
    let mut instance = Instance {
        xml: String::new(),
        nils: Vec::new(),
    };
    let ty = &wsdl.elements[element];
    instance
        .xml
        .push_str(&format!("<{element} xmlns=\"{}\">", wsdl.target_namespace));
    members(wsdl, ty, element, values, 0, &mut instance);
    instance.xml.push_str(&format!("</{element}>"));
    instance
}

fn members(
    wsdl: &Wsdl,
    ty: &str,
    path: &str,
    values: &[(&str, &str)],
    depth: usize,
    out: &mut Instance,
) {
    assert!(depth < 16, "{path}: the minimal instance does not end");
    let Some(TypeDef::Complex(c)) = wsdl.types.get(ty) else {
        panic!("{path}: `{ty}` is not a complex type")
    };
    assert!(
        !c.is_abstract,
        "{path}: abstract type `{ty}` needs xsi:type"
    );
    for field in wsdl.all_fields(c) {
        let here = format!("{path}/{}", field.name);
        let holds_nil = matches!(&field.ty, TypeRef::Named(t) if reaches_required_nil(wsdl, t));
        let given = values
            .iter()
            .find(|(name, _)| depth == 0 && *name == field.name)
            .map(|(_, v)| *v);
        let count = match field.presence() {
            Presence::Required | Presence::RequiredNillable => 1,
            Presence::Optional => usize::from(holds_nil || given.is_some()),
            Presence::Many => (field.occurs.min as usize).max(usize::from(holds_nil)),
        };
        for _ in 0..count {
            if field.presence() == Presence::RequiredNillable {
                out.xml
                    .push_str(&format!("<{} xsi:nil=\"true\"/>", field.name));
                out.nils.push(here.clone());
                continue;
            }
            out.xml.push_str(&format!("<{}>", field.name));
            match &field.ty {
                TypeRef::Builtin(b) => out.xml.push_str(given.unwrap_or(lexical_sample(*b))),
                TypeRef::Named(t) => match &wsdl.types[t] {
                    TypeDef::Enum(e) => out.xml.push_str(&e.values[0]),
                    TypeDef::Complex(_) => members(wsdl, t, &here, values, depth + 1, out),
                },
            }
            out.xml.push_str(&format!("</{}>", field.name));
        }
    }
}

/// A lexically valid value of each XSD built-in we map.
fn lexical_sample(builtin: Builtin) -> &'static str {
    match builtin {
        Builtin::String => "x",
        Builtin::Boolean => "false",
        Builtin::Int | Builtin::Long | Builtin::Short | Builtin::UnsignedByte => "0",
        Builtin::Double | Builtin::Decimal => "0",
        Builtin::DateTime => "2024-01-02T03:04:05",
        Builtin::Base64Binary => "",
    }
}

/// A SOAP envelope around `inner` that declares `xsi` (as .NET servers write them).
pub fn envelope_with_xsi(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body>{inner}</soap:Body></soap:Envelope>"#
    )
}

/// The paths (from the Body's element) of the elements of `envelope` with `xsi:nil="true"`.
pub fn nil_paths(envelope: &str) -> Vec<String> {
    const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
    let doc = roxmltree::Document::parse(envelope).unwrap();
    let body = doc
        .descendants()
        .find(|n| n.has_tag_name(("http://schemas.xmlsoap.org/soap/envelope/", "Body")))
        .unwrap();
    let Some(top) = body.children().find(|n| n.is_element()) else {
        return Vec::new();
    };
    top.descendants()
        .filter(|n| n.attribute((XSI, "nil")) == Some("true"))
        .map(|n| {
            let mut names: Vec<&str> = n
                .ancestors()
                .take_while(|a| *a != body)
                .map(|a| a.tag_name().name())
                .collect();
            names.reverse();
            names.join("/")
        })
        .collect()
}
