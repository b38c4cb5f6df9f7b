//! XML equivalence for SOAP envelopes: same elements (namespace URI + local name) in the same
//! order, same non-namespace attributes, same trimmed text. Prefixes, namespace declarations,
//! the XML declaration, comments and indentation do not matter.

use roxmltree::{Document, Node};

/// Panics with the first difference when `ours` and `theirs` are not equivalent.
pub fn assert_equivalent(ours: &str, theirs: &str, what: &str) {
    let a =
        Document::parse(ours).unwrap_or_else(|e| panic!("{what}: ours is not XML: {e}\n{ours}"));
    let b = Document::parse(theirs).unwrap_or_else(|e| panic!("{what}: theirs is not XML: {e}"));
    if let Err(difference) = compare(a.root_element(), b.root_element(), "") {
        panic!("{what}: {difference}\n--- ours ---\n{ours}\n--- theirs ---\n{theirs}");
    }
}

fn compare(a: Node, b: Node, at: &str) -> Result<(), String> {
    let here = format!("{at}/{}", a.tag_name().name());
    if a.tag_name().namespace() != b.tag_name().namespace()
        || a.tag_name().name() != b.tag_name().name()
    {
        return Err(format!(
            "{here}: element {{{}}}{} vs {{{}}}{}",
            a.tag_name().namespace().unwrap_or(""),
            a.tag_name().name(),
            b.tag_name().namespace().unwrap_or(""),
            b.tag_name().name()
        ));
    }
    let attributes = |n: Node| {
        let mut list: Vec<(String, String)> = n
            .attributes()
            .map(|a| {
                (
                    format!("{{{}}}{}", a.namespace().unwrap_or(""), a.name()),
                    a.value().to_string(),
                )
            })
            .collect();
        list.sort();
        list
    };
    if attributes(a) != attributes(b) {
        return Err(format!(
            "{here}: attributes {:?} vs {:?}",
            attributes(a),
            attributes(b)
        ));
    }
    let ca: Vec<Node> = a.children().filter(|c| c.is_element()).collect();
    let cb: Vec<Node> = b.children().filter(|c| c.is_element()).collect();
    if ca.is_empty() && cb.is_empty() {
        let text = |n: Node| n.text().unwrap_or("").trim().to_string();
        if text(a) != text(b) {
            return Err(format!("{here}: text {:?} vs {:?}", text(a), text(b)));
        }
        return Ok(());
    }
    for (i, (x, y)) in ca.iter().zip(&cb).enumerate() {
        compare(*x, *y, &format!("{here}[{i}]"))?;
    }
    if ca.len() != cb.len() {
        let names = |v: &[Node]| {
            v.iter()
                .map(|n| n.tag_name().name().to_string())
                .collect::<Vec<_>>()
        };
        return Err(format!(
            "{here}: children {:?} vs {:?}",
            names(&ca),
            names(&cb)
        ));
    }
    Ok(())
}

/// Panics with the first difference when the SOAP Body's elements of two envelopes are not
/// equivalent (the envelopes' headers may differ).
pub fn assert_equivalent_bodies(ours: &str, theirs: &str, what: &str) {
    let a =
        Document::parse(ours).unwrap_or_else(|e| panic!("{what}: ours is not XML: {e}\n{ours}"));
    let b = Document::parse(theirs).unwrap_or_else(|e| panic!("{what}: theirs is not XML: {e}"));
    let (Some(x), Some(y)) = (body_element(&a), body_element(&b)) else {
        panic!("{what}: an envelope without a Body element\n{ours}\n{theirs}")
    };
    if let Err(difference) = compare(x, y, "") {
        panic!("{what}: {difference}\n--- ours ---\n{ours}\n--- theirs ---\n{theirs}");
    }
}

/// The first element inside the SOAP Body.
fn body_element<'a, 'input>(doc: &'a Document<'input>) -> Option<Node<'a, 'input>> {
    doc.descendants()
        .find(|n| n.has_tag_name(("http://schemas.xmlsoap.org/soap/envelope/", "Body")))
        .and_then(|body| body.children().find(|c| c.is_element()))
}
