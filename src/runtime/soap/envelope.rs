//! The SOAP 1.1 envelope: writing a request (the body's one child element in the target
//! namespace, `xsi:nil` for required nillable elements, an optional header), reading an answer
//! (the body's one child, or the fault), and the `SOAPAction` header.

use std::cell::Cell;

use serde::{Serialize, de::DeserializeOwned};

use super::{BODY_EXCERPT, ENVELOPE_NS, SoapError, SoapFault, XSI_NS};

/// The request envelope: `request` serialised as `element` in `namespace`, with an optional
/// SOAP header element (also in `namespace`). The envelope declares `xsi` (for `xsi:nil`).
pub fn envelope<Req: Serialize, H: Serialize>(
    namespace: &str,
    element: &str,
    header: Option<(&str, &H)>,
    request: &Req,
) -> Result<String, SoapError> {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"{ENVELOPE_NS}\" xmlns:xsi=\"{XSI_NS}\">",
    );
    if let Some((name, value)) = header {
        xml.push_str("<soap:Header>");
        xml.push_str(&qualified(namespace, name, value)?);
        xml.push_str("</soap:Header>");
    }
    xml.push_str("<soap:Body>");
    xml.push_str(&qualified(namespace, element, request)?);
    xml.push_str("</soap:Body></soap:Envelope>");
    Ok(xml)
}

/// `<name xmlns="namespace">...</name>` for a serialisable value, required nillable elements
/// without a value as `xsi:nil="true"` (the caller declares the `xsi` prefix).
fn qualified<T: Serialize>(namespace: &str, name: &str, value: &T) -> Result<String, SoapError> {
    let inner = nil::writing_xml(|| quick_xml::se::to_string_with_root(name, value))
        .map_err(|e| SoapError::Encode(e.to_string()))?;
    // The serialiser writes the root tag first, `<name>` or `<name/>`: put the namespace on it,
    // so every child element is in the target namespace (elementFormDefault="qualified").
    let open = format!("<{name}");
    match inner.strip_prefix(&open) {
        Some(rest) => Ok(format!(
            "{open} xmlns=\"{}\"{rest}",
            escape_attribute(namespace)
        )),
        None => Err(SoapError::Encode(format!(
            "unexpected serialisation of `{name}`"
        ))),
    }
}

fn escape_attribute(value: &str) -> String {
    quick_xml::escape::escape(value).into_owned()
}

/// `xsi:nil` for required nillable elements (XML Schema Part 1 §2.6.2 and §3.3.4): the
/// generated types name `serialize` on every member declared `minOccurs` 1 and
/// `nillable="true"`.
pub mod nil {
    use super::Cell;
    use serde::{Serialize, Serializer};

    thread_local! {
        /// Set while this module's XML writer runs (serialisation never yields, so a
        /// thread-local is exact).
        static WRITING_XML: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `write` (one synchronous XML serialisation) with `xsi:nil` markers on.
    pub(crate) fn writing_xml<R>(write: impl FnOnce() -> R) -> R {
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                WRITING_XML.with(|flag| flag.set(self.0));
            }
        }
        let _restore = Restore(WRITING_XML.with(|flag| flag.replace(true)));
        write()
    }

    /// The empty element with only `xsi:nil="true"`.
    #[derive(Serialize)]
    struct Nil {
        #[serde(rename = "@xsi:nil")]
        nil: &'static str,
    }

    /// A required nillable element: the value, or `<X xsi:nil="true"/>` when there is none.
    /// Only the SOAP writer ([`super::envelope`]) writes the marker; any other serde format
    /// (e.g. JSON) sees a plain `None`, so values keep round-tripping there.
    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_some(value),
            None if WRITING_XML.with(Cell::get) => Nil { nil: "true" }.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }
}

/// Decodes a response envelope: the Body's one child as `Resp`, or the Fault.
pub fn decode_response<Resp: DeserializeOwned>(status: u16, body: &str) -> Result<Resp, SoapError> {
    let child = match body_child(body) {
        Ok(child) => child,
        Err(message) if (200..300).contains(&status) => {
            return Err(SoapError::Decode {
                message,
                body: excerpt(body),
            });
        }
        Err(_) => {
            return Err(SoapError::Http {
                status,
                body: excerpt(body),
            });
        }
    };
    if child.is_fault {
        return Err(SoapError::Fault(fault(&child.xml)));
    }
    if !(200..300).contains(&status) {
        return Err(SoapError::Http {
            status,
            body: excerpt(body),
        });
    }
    // The path (e.g. `GetCustomerResult.Result.Hold`) says which element did not fit.
    let mut deserializer = quick_xml::de::Deserializer::from_str(&child.xml);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| SoapError::Decode {
        message: format!("{}: {}", e.path(), e.inner()),
        body: excerpt(body),
    })
}

struct BodyChild {
    /// The element's XML, with the namespace declarations it inherits from the Envelope and
    /// Body (e.g. `xmlns:xsi`) copied onto it, so it reads the same on its own.
    xml: String,
    is_fault: bool,
}

/// Finds the first element inside `Envelope/Body` (a `Header` before the Body is skipped).
fn body_child(body: &str) -> Result<BodyChild, String> {
    use quick_xml::events::{BytesStart, Event};
    use quick_xml::name::{QName, ResolveResult};
    let malformed = |e: quick_xml::Error| format!("not well-formed XML: {e}");
    let mut reader = quick_xml::NsReader::from_str(body);
    // Local names of the open elements: Envelope, then Body.
    let mut depth = 0usize;
    // Namespace declarations of the Envelope and the Body, in document order.
    let mut inherited: Vec<(String, String)> = Vec::new();
    let declarations = |e: &BytesStart| -> Vec<(String, String)> {
        e.attributes()
            .flatten()
            .filter(|a| a.key.as_namespace_binding().is_some())
            .map(|a| {
                let value = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map(|v| v.into_owned())
                    .unwrap_or_else(|_| a.value.to_string());
                (a.key.as_ref().to_string(), value)
            })
            .collect()
    };
    let child = |e: &BytesStart, xml: &str, inherited: &[(String, String)]| -> BodyChild {
        let name = e.name().into_inner().to_string();
        let own: Vec<String> = declarations(e).into_iter().map(|(k, _)| k).collect();
        let mut extra = String::new();
        for (i, (key, value)) in inherited.iter().enumerate() {
            let redeclared_later = inherited[i + 1..].iter().any(|(k, _)| k == key);
            if !redeclared_later && !own.contains(key) {
                extra.push_str(&format!(" {key}=\"{}\"", escape_attribute(value)));
            }
        }
        let open = format!("<{name}");
        let xml = match xml.strip_prefix(&open) {
            Some(rest) if !extra.is_empty() => format!("{open}{extra}{rest}"),
            _ => xml.to_string(),
        };
        BodyChild {
            is_fault: false,
            xml,
        }
    };
    loop {
        let start = reader.buffer_position() as usize;
        let (ns, event) = reader.read_resolved_event().map_err(malformed)?;
        let in_soap_ns = matches!(ns, ResolveResult::Bound(n) if n.into_inner() == ENVELOPE_NS);
        match event {
            Event::Start(e) if depth == 2 => {
                let is_fault = in_soap_ns && e.local_name().into_inner() == "Fault";
                let name = e.name().into_inner().to_string();
                reader.read_to_end(QName(&name)).map_err(malformed)?;
                let end = reader.buffer_position() as usize;
                let xml = body.get(start..end).unwrap_or_default().trim();
                return Ok(BodyChild {
                    is_fault,
                    ..child(&e, xml, &inherited)
                });
            }
            Event::Empty(e) if depth == 2 => {
                let is_fault = in_soap_ns && e.local_name().into_inner() == "Fault";
                let end = reader.buffer_position() as usize;
                let xml = body.get(start..end).unwrap_or_default().trim();
                return Ok(BodyChild {
                    is_fault,
                    ..child(&e, xml, &inherited)
                });
            }
            Event::Start(e) => {
                let local = e.local_name().into_inner().to_string();
                match (depth, local.as_str()) {
                    (0, "Envelope") | (1, "Body") if in_soap_ns => {
                        inherited.extend(declarations(&e));
                        depth += 1;
                    }
                    (1, "Header") if in_soap_ns => {
                        let name = e.name().into_inner().to_string();
                        reader.read_to_end(QName(&name)).map_err(malformed)?;
                    }
                    _ => {
                        return Err(format!(
                            "expected a SOAP 1.1 {} but found `{}`",
                            if depth == 0 { "Envelope" } else { "Body" },
                            local
                        ));
                    }
                }
            }
            Event::Empty(_) | Event::End(_) if depth < 2 => {
                return Err("no element in the SOAP Body".to_string());
            }
            Event::Eof => return Err("no SOAP Body".to_string()),
            _ => {}
        }
    }
}

fn fault(xml: &str) -> SoapFault {
    let text_of = |tag: &str| -> Option<String> {
        let open = format!("<{tag}>");
        let start = xml.find(&open)? + open.len();
        let end = xml[start..].find(&format!("</{tag}>"))? + start;
        Some(
            quick_xml::escape::unescape(&xml[start..end])
                .map_or_else(|_| xml[start..end].to_string(), |s| s.into_owned()),
        )
    };
    SoapFault {
        code: text_of("faultcode").unwrap_or_default(),
        string: text_of("faultstring").unwrap_or_default(),
        actor: text_of("faultactor"),
        xml: xml.to_string(),
    }
}

fn excerpt(body: &str) -> String {
    if body.len() <= BODY_EXCERPT {
        return body.to_string();
    }
    let mut end = BODY_EXCERPT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &body[..end], body.len())
}

/// The `SOAPAction` header value for an action URI: the URI in double quotes (an action that
/// already comes quoted is kept as it is).
pub fn quoted_action(soap_action: &str) -> String {
    if soap_action.len() >= 2 && soap_action.starts_with('"') && soap_action.ends_with('"') {
        soap_action.to_string()
    } else {
        format!("\"{soap_action}\"")
    }
}

/// Whether an answer is a SOAP fault: the application answered (SOAP 1.1 sends every fault
/// with HTTP 500), so repeating the request would get the same answer.
pub fn is_fault(status: u16, body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    matches!(
        decode_response::<serde::de::IgnoredAny>(status, text),
        Err(SoapError::Fault(_))
    )
}
