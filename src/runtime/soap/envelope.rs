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

/// Reads a Fault element (as [`body_child`] cut it out) with an XML parser, so prefixes,
/// attributes (`<faultcode xmlns="">`), whitespace, CDATA sections, entity and character
/// references and comments do not matter. SOAP 1.1 `faultcode`/`faultstring`/`faultactor`
/// are the Fault's children by local name (they are unqualified, but some servers prefix
/// them); SOAP 1.2 `Code/Value`, `Reason/Text` and `Role` are read into the same members.
/// Not well-formed XML leaves the members empty; the whole element is kept in `xml`.
fn fault(xml: &str) -> SoapFault {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    // Local names of the open elements, the Fault first.
    let mut path: Vec<String> = Vec::new();
    // code, string, actor: present once their element starts; complete once it ends (SOAP
    // 1.2 may give one `Reason/Text` per language: the first one is kept).
    let mut members: [Option<String>; 3] = [None, None, None];
    let mut complete = [false; 3];
    let member_at = |path: &[String]| -> Option<usize> {
        let names: Vec<&str> = path.iter().skip(1).map(String::as_str).collect();
        match names.as_slice() {
            ["faultcode"] | ["Code", "Value"] => Some(0),
            ["faultstring"] | ["Reason", "Text"] => Some(1),
            ["faultactor"] | ["Role"] => Some(2),
            _ => None,
        }
    };
    let local = |name: quick_xml::name::LocalName| name.into_inner().to_string();
    loop {
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => event,
        };
        let text = match event {
            Event::Start(e) => {
                path.push(local(e.local_name()));
                if let Some(i) = member_at(&path) {
                    members[i].get_or_insert_with(String::new);
                }
                continue;
            }
            Event::Empty(e) => {
                path.push(local(e.local_name()));
                if let Some(i) = member_at(&path) {
                    members[i].get_or_insert_with(String::new);
                    complete[i] = true;
                }
                path.pop();
                continue;
            }
            Event::End(_) => {
                if let Some(i) = member_at(&path) {
                    complete[i] = true;
                }
                path.pop();
                continue;
            }
            Event::Text(t) => t.xml10_content().into_owned(),
            Event::CData(t) => t.xml10_content().into_owned(),
            Event::GeneralRef(r) => {
                // Predefined entities and character references; an unknown entity stays as
                // written rather than being dropped.
                let written = format!("&{};", &*r);
                quick_xml::escape::unescape(&written)
                    .map_or_else(|_| written.clone(), |resolved| resolved.into_owned())
            }
            _ => continue,
        };
        if let Some(i) = member_at(&path)
            && !complete[i]
        {
            members[i].get_or_insert_with(String::new).push_str(&text);
        }
    }
    let [code, string, actor] = members;
    let trimmed = |s: Option<String>| s.map(|s| s.trim().to_string());
    SoapFault {
        code: trimmed(code).unwrap_or_default(),
        string: trimmed(string).unwrap_or_default(),
        actor: trimmed(actor),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `fault_xml` (a whole Fault element) in an envelope whose SOAP namespace has `prefix`
    /// (empty: the default namespace), answered with HTTP 500 as ASMX services do.
    fn decode_fault(prefix: &str, fault_xml: &str) -> SoapFault {
        let (declaration, tag) = if prefix.is_empty() {
            ("xmlns".to_string(), String::new())
        } else {
            (format!("xmlns:{prefix}"), format!("{prefix}:"))
        };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><{tag}Envelope {declaration}=\"{ENVELOPE_NS}\">\
             <{tag}Body>{}</{tag}Body></{tag}Envelope>",
            fault_xml.replace("{tag}", &tag)
        );
        match decode_response::<serde::de::IgnoredAny>(500, &body) {
            Err(SoapError::Fault(fault)) => fault,
            other => panic!("not a fault: {other:?}"),
        }
    }

    #[test]
    fn an_asmx_fault_reads_with_any_envelope_prefix() {
        for prefix in ["soap", "s", "SOAP-ENV", ""] {
            let fault = decode_fault(
                prefix,
                "<{tag}Fault><faultcode>soap:Client</faultcode><faultstring>Server was unable to \
                 read request. ---&gt; Invalid partner key</faultstring><detail /></{tag}Fault>",
            );
            assert_eq!(fault.code, "soap:Client", "prefix `{prefix}`");
            assert_eq!(
                fault.string, "Server was unable to read request. ---> Invalid partner key",
                "prefix `{prefix}`"
            );
            assert_eq!(fault.actor, None);
        }
    }

    #[test]
    fn prefixed_attributed_and_spaced_members_give_code_and_text() {
        let fault = decode_fault(
            "soap",
            "<soap:Fault><soap:faultcode>soap:Client</soap:faultcode>\
             <soap:faultstring xml:lang=\"en\">Invalid user key</soap:faultstring></soap:Fault>",
        );
        assert_eq!(
            (fault.code.as_str(), fault.string.as_str()),
            ("soap:Client", "Invalid user key")
        );
        let fault = decode_fault(
            "soap",
            "<soap:Fault>\n  <faultcode xmlns=\"\" >\n    soap:Client\n  </faultcode >\n  \
             <faultstring\n xml:lang=\"en\">Invalid user key</faultstring>\n  \
             <faultactor>https://eu1.accountsiq.com/</faultactor>\n  <detail/>\n</soap:Fault>",
        );
        assert_eq!(fault.code, "soap:Client");
        assert_eq!(fault.string, "Invalid user key");
        assert_eq!(fault.actor.as_deref(), Some("https://eu1.accountsiq.com/"));
    }

    #[test]
    fn cdata_entities_and_character_references_are_text() {
        let fault = decode_fault(
            "soap",
            "<soap:Fault><faultcode><![CDATA[soap:Client]]></faultcode>\
             <faultstring><![CDATA[Login failed: <b>invalid</b> keys & company]]></faultstring>\
             <detail><Message>not this</Message></detail></soap:Fault>",
        );
        assert_eq!(fault.code, "soap:Client");
        assert_eq!(fault.string, "Login failed: <b>invalid</b> keys & company");
        let fault = decode_fault(
            "soap",
            "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>Caf&#233; &amp; \
             &lt;Co&gt; &#x2014; &quot;down&quot;<!-- a comment --> &apos;now&apos;</faultstring>\
             </soap:Fault>",
        );
        assert_eq!(fault.string, "Café & <Co> — \"down\" 'now'");
    }

    #[test]
    fn a_soap_1_2_shaped_fault_reads_code_value_and_the_first_reason_text() {
        let fault = decode_fault(
            "env",
            "<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code>\
             <env:Reason><env:Text xml:lang=\"en\">Bad key</env:Text>\
             <env:Text xml:lang=\"de\">Falscher Schlüssel</env:Text></env:Reason></env:Fault>",
        );
        assert_eq!(fault.code, "env:Sender");
        assert_eq!(fault.string, "Bad key");
    }

    #[test]
    fn a_fault_without_members_is_empty_not_a_panic() {
        let fault = decode_fault("soap", "<soap:Fault/>");
        assert_eq!((fault.code.as_str(), fault.string.as_str()), ("", ""));
        let fault = decode_fault(
            "soap",
            "<soap:Fault><faultcode/><detail>x</detail></soap:Fault>",
        );
        assert_eq!((fault.code.as_str(), fault.string.as_str()), ("", ""));
    }
}
