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
