//! WSDL 1.1 (+ embedded XSD) text -> [`Wsdl`]. Only the subset a document/literal SOAP 1.1
//! service uses is accepted; anything else is refused with the type it occurs in and its line,
//! never skipped.

use std::collections::{BTreeMap, BTreeSet};

use roxmltree::{Document, Node};

use super::model::{
    Builtin, ComplexType, EnumType, Field, Occurs, Operation, TypeDef, TypeRef, Wsdl,
};
use crate::error::Finding;

const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
const XS: &str = "http://www.w3.org/2001/XMLSchema";
const SOAP11: &str = "http://schemas.xmlsoap.org/wsdl/soap/";

/// Parses a WSDL document; every problem found is returned, located by line and type.
pub fn parse(text: &str) -> Result<Wsdl, Vec<Finding>> {
    let doc = Document::parse(text)
        .map_err(|e| vec![Finding::new("", format!("not well-formed XML: {e}"))])?;
    let mut parser = Parser {
        doc: &doc,
        findings: Vec::new(),
    };
    let wsdl = parser.definitions(doc.root_element());
    match wsdl {
        Some(wsdl) if parser.findings.is_empty() => Ok(wsdl),
        _ => Err(parser.findings),
    }
}

struct Parser<'a, 'input> {
    doc: &'a Document<'input>,
    findings: Vec<Finding>,
}

fn is(node: &Node, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == local
}

fn elements<'a, 'input>(node: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(Node::is_element)
}

impl<'input> Parser<'_, 'input> {
    fn at(&self, node: Node) -> String {
        let pos = self.doc.text_pos_at(node.range().start);
        format!("line {}", pos.row)
    }

    fn refuse(&mut self, node: Node, message: impl Into<String>) {
        let at = self.at(node);
        self.findings.push(Finding::new(at, message));
    }

    /// Resolves a `prefix:local` QName attribute to (namespace, local).
    fn qname(&mut self, node: Node, value: &str) -> Option<(String, String)> {
        let (prefix, local) = match value.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, value),
        };
        match node.lookup_namespace_uri(prefix) {
            Some(ns) => Some((ns.to_string(), local.to_string())),
            None => {
                self.refuse(node, format!("`{value}`: unknown namespace prefix"));
                None
            }
        }
    }

    fn definitions(&mut self, root: Node) -> Option<Wsdl> {
        if !is(&root, WSDL, "definitions") {
            self.refuse(root, "not a WSDL 1.1 document (expected wsdl:definitions)");
            return None;
        }
        let tns = root
            .attribute("targetNamespace")
            .unwrap_or_default()
            .to_string();
        let mut types = BTreeMap::new();
        let mut elements_by_name = BTreeMap::new();
        for schema in elements(root)
            .filter(|n| is(n, WSDL, "types"))
            .flat_map(elements)
        {
            if !is(&schema, XS, "schema") {
                self.refuse(
                    schema,
                    format!(
                        "unsupported element `{}` in wsdl:types",
                        schema.tag_name().name()
                    ),
                );
                continue;
            }
            self.schema(schema, &tns, &mut types, &mut elements_by_name);
        }
        let messages = self.messages(root, &tns);
        let (binding, operations) = self.binding(root, &messages)?;
        let address = elements(root)
            .filter(|n| is(n, WSDL, "service"))
            .flat_map(elements)
            .filter(|port| {
                port.attribute("binding")
                    .is_some_and(|b| b.rsplit(':').next() == Some(binding.as_str()))
            })
            .flat_map(elements)
            .find(|n| is(n, SOAP11, "address"))
            .and_then(|n| n.attribute("location"))
            .map(str::to_string);
        let wsdl = Wsdl {
            target_namespace: tns,
            address,
            binding,
            types,
            elements: elements_by_name,
            operations,
        };
        self.validate(root, &wsdl);
        Some(wsdl)
    }

    fn schema(
        &mut self,
        schema: Node,
        tns: &str,
        types: &mut BTreeMap<String, TypeDef>,
        elements_by_name: &mut BTreeMap<String, String>,
    ) {
        if schema.attribute("targetNamespace") != Some(tns) {
            self.refuse(
                schema,
                "a schema for another namespace than the WSDL's is not supported",
            );
            return;
        }
        if schema.attribute("elementFormDefault") != Some("qualified") {
            self.refuse(schema, "elementFormDefault must be `qualified` (child elements are in the target namespace)");
        }
        // Named types first, so an element's inline type can avoid their names.
        let named: BTreeSet<String> = elements(schema)
            .filter(|n| is(n, XS, "complexType") || is(n, XS, "simpleType"))
            .filter_map(|n| n.attribute("name").map(str::to_string))
            .collect();
        for node in elements(schema) {
            let name = node.attribute("name").unwrap_or_default().to_string();
            match node.tag_name().name() {
                "complexType" if node.tag_name().namespace() == Some(XS) => {
                    if let Some(c) = self.complex(node, &name, tns) {
                        types.insert(name, TypeDef::Complex(c));
                    }
                }
                "simpleType" if node.tag_name().namespace() == Some(XS) => {
                    if let Some(e) = self.enumeration(node, &name) {
                        types.insert(name, TypeDef::Enum(e));
                    }
                }
                "element" if node.tag_name().namespace() == Some(XS) => {
                    if let Some(ty) = node.attribute("type") {
                        match self.qname(node, ty) {
                            Some((ns, local)) if ns == tns => {
                                elements_by_name.insert(name, local);
                            }
                            Some(_) => self.refuse(node, format!("top-level element `{name}` of a type outside the target namespace (`{ty}`)")),
                            None => {}
                        }
                        continue;
                    }
                    let Some(inline) = elements(node).find(|n| is(n, XS, "complexType")) else {
                        self.refuse(node, format!("top-level element `{name}` has neither a type nor an inline complexType"));
                        continue;
                    };
                    // The element's own type; named after it unless a named type has the name.
                    let type_name = if named.contains(&name) {
                        format!("{name}Element")
                    } else {
                        name.clone()
                    };
                    if let Some(c) = self.complex(inline, &type_name, tns) {
                        types.insert(type_name.clone(), TypeDef::Complex(c));
                        elements_by_name.insert(name, type_name);
                    }
                }
                "annotation" => {}
                other => self.refuse(node, format!("unsupported schema construct `xs:{other}`")),
            }
        }
    }

    fn complex(&mut self, node: Node, name: &str, tns: &str) -> Option<ComplexType> {
        let mut complex = ComplexType {
            name: name.to_string(),
            base: None,
            fields: Vec::new(),
            is_abstract: node.attribute("abstract") == Some("true"),
            any_attribute: false,
        };
        if node.attribute("mixed") == Some("true") {
            self.refuse(
                node,
                format!("type `{name}`: mixed content is not supported"),
            );
        }
        for child in elements(node) {
            match child.tag_name().name() {
                "sequence" => complex.fields = self.sequence(child, name, tns),
                "anyAttribute" => complex.any_attribute = true,
                "annotation" => {}
                "complexContent" => {
                    if child.attribute("mixed") == Some("true") {
                        self.refuse(
                            child,
                            format!("type `{name}`: mixed content is not supported"),
                        );
                    }
                    for content in elements(child) {
                        if !is(&content, XS, "extension") {
                            self.refuse(content, format!(
                                "type `{name}`: complexContent `{}` is not supported (only extension)",
                                content.tag_name().name()
                            ));
                            continue;
                        }
                        match content.attribute("base").and_then(|b| self.qname(content, b)) {
                            Some((ns, local)) if ns == tns => complex.base = Some(local),
                            _ => self.refuse(content, format!("type `{name}`: extension base must be a type of the target namespace")),
                        }
                        for part in elements(content) {
                            match part.tag_name().name() {
                                "sequence" => complex.fields = self.sequence(part, name, tns),
                                "anyAttribute" => complex.any_attribute = true,
                                other => self.refuse(part, format!("type `{name}`: `xs:{other}` inside an extension is not supported")),
                            }
                        }
                    }
                }
                other => self.refuse(
                    child,
                    format!("type `{name}`: `xs:{other}` is not supported"),
                ),
            }
        }
        Some(complex)
    }

    fn sequence(&mut self, node: Node, type_name: &str, tns: &str) -> Vec<Field> {
        let mut fields = Vec::new();
        for child in elements(node) {
            if !is(&child, XS, "element") {
                self.refuse(
                    child,
                    format!(
                        "type `{type_name}`: `xs:{}` in a sequence is not supported",
                        child.tag_name().name()
                    ),
                );
                continue;
            }
            let Some(name) = child.attribute("name") else {
                self.refuse(
                    child,
                    format!("type `{type_name}`: element references (`ref=`) are not supported"),
                );
                continue;
            };
            let Some(ty) = child.attribute("type") else {
                self.refuse(child, format!("type `{type_name}`, element `{name}`: an inline anonymous type is not supported"));
                continue;
            };
            let ty = match self.qname(child, ty) {
                Some((ns, local)) if ns == XS => match Builtin::from_xsd(&local) {
                    Some(b) => TypeRef::Builtin(b),
                    None => {
                        self.refuse(child, format!("type `{type_name}`, element `{name}`: XSD type `xs:{local}` is not supported"));
                        continue;
                    }
                },
                Some((ns, local)) if ns == tns => TypeRef::Named(local),
                Some((ns, local)) => {
                    self.refuse(child, format!("type `{type_name}`, element `{name}`: type `{local}` from namespace `{ns}` is not supported"));
                    continue;
                }
                None => continue,
            };
            let number =
                |v: Option<&str>, default: u32| v.map_or(Some(default), |v| v.parse().ok());
            let min = number(child.attribute("minOccurs"), 1);
            let max = match child.attribute("maxOccurs") {
                Some("unbounded") => Some(None),
                other => number(other, 1).map(Some),
            };
            let (Some(min), Some(max)) = (min, max) else {
                self.refuse(
                    child,
                    format!("type `{type_name}`, element `{name}`: invalid minOccurs/maxOccurs"),
                );
                continue;
            };
            fields.push(Field {
                name: name.to_string(),
                ty,
                occurs: Occurs { min, max },
                nillable: child.attribute("nillable") == Some("true"),
            });
        }
        fields
    }

    fn enumeration(&mut self, node: Node, name: &str) -> Option<EnumType> {
        let restriction = elements(node).find(|n| is(n, XS, "restriction"));
        let Some(restriction) = restriction else {
            self.refuse(
                node,
                format!(
                    "simple type `{name}`: only a string restriction with enumerations is supported"
                ),
            );
            return None;
        };
        let base_is_string = restriction
            .attribute("base")
            .and_then(|b| self.qname(restriction, b))
            .is_some_and(|(ns, local)| ns == XS && local == "string");
        let mut values = Vec::new();
        for facet in elements(restriction) {
            match (facet.tag_name().name(), facet.attribute("value")) {
                ("enumeration", Some(v)) => values.push(v.to_string()),
                (other, _) => self.refuse(
                    facet,
                    format!("simple type `{name}`: facet `xs:{other}` is not supported"),
                ),
            }
        }
        if !base_is_string || values.is_empty() {
            self.refuse(
                node,
                format!(
                    "simple type `{name}`: only a string restriction with enumerations is supported"
                ),
            );
            return None;
        }
        Some(EnumType {
            name: name.to_string(),
            values,
        })
    }

    /// message name -> element of its single part.
    fn messages(&mut self, root: Node, tns: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for message in elements(root).filter(|n| is(n, WSDL, "message")) {
            let name = message.attribute("name").unwrap_or_default();
            let parts: Vec<Node> = elements(message).filter(|n| is(n, WSDL, "part")).collect();
            match parts.as_slice() {
                [part] => match part.attribute("element").and_then(|e| self.qname(*part, e)) {
                    Some((ns, local)) if ns == tns => {
                        out.insert(name.to_string(), local);
                    }
                    _ => self.refuse(*part, format!("message `{name}`: only a part with an element of the target namespace is supported (document/literal)")),
                },
                _ => self.refuse(message, format!("message `{name}`: exactly one part is supported")),
            }
        }
        out
    }

    fn binding(
        &mut self,
        root: Node,
        messages: &BTreeMap<String, String>,
    ) -> Option<(String, Vec<Operation>)> {
        let local = |q: Option<&str>| q.map(|q| q.rsplit(':').next().unwrap_or(q).to_string());
        let Some(binding) = elements(root)
            .filter(|n| is(n, WSDL, "binding"))
            .find(|b| elements(*b).any(|n| is(&n, SOAP11, "binding")))
        else {
            self.refuse(root, "no SOAP 1.1 binding");
            return None;
        };
        let binding_name = binding.attribute("name").unwrap_or_default().to_string();
        let port_type_name = local(binding.attribute("type")).unwrap_or_default();
        let port_type = elements(root)
            .filter(|n| is(n, WSDL, "portType"))
            .find(|p| p.attribute("name") == Some(port_type_name.as_str()));
        let Some(port_type) = port_type else {
            self.refuse(
                binding,
                format!("binding `{binding_name}`: portType `{port_type_name}` not found"),
            );
            return None;
        };
        let mut operations = Vec::new();
        for op in elements(binding).filter(|n| is(n, WSDL, "operation")) {
            let name = op.attribute("name").unwrap_or_default().to_string();
            let soap_op = elements(op).find(|n| is(n, SOAP11, "operation"));
            let soap_action = soap_op
                .and_then(|n| n.attribute("soapAction"))
                .unwrap_or_default()
                .to_string();
            if soap_op
                .and_then(|n| n.attribute("style"))
                .is_some_and(|s| s != "document")
            {
                self.refuse(
                    op,
                    format!("operation `{name}`: only document style is supported"),
                );
            }
            let input = elements(op).find(|n| is(n, WSDL, "input"));
            for body in input.into_iter().flat_map(elements).chain(
                elements(op)
                    .filter(|n| is(n, WSDL, "output"))
                    .flat_map(elements),
            ) {
                if is(&body, SOAP11, "body") && body.attribute("use") != Some("literal") {
                    self.refuse(
                        body,
                        format!("operation `{name}`: only literal use is supported"),
                    );
                }
            }
            let input_header = input
                .into_iter()
                .flat_map(elements)
                .find(|n| is(n, SOAP11, "header"))
                .and_then(|h| local(h.attribute("message")))
                .and_then(|m| messages.get(&m).cloned());
            let abstract_op = elements(port_type)
                .filter(|n| is(n, WSDL, "operation"))
                .find(|n| n.attribute("name") == Some(name.as_str()));
            let Some(abstract_op) = abstract_op else {
                self.refuse(
                    op,
                    format!("operation `{name}` is not in portType `{port_type_name}`"),
                );
                continue;
            };
            let message_of = |kind: &str| {
                elements(abstract_op)
                    .find(|n| is(n, WSDL, kind))
                    .and_then(|n| local(n.attribute("message")))
                    .and_then(|m| messages.get(&m).cloned())
            };
            let (Some(input_element), Some(output_element)) =
                (message_of("input"), message_of("output"))
            else {
                self.refuse(
                    abstract_op,
                    format!("operation `{name}`: input or output message not found"),
                );
                continue;
            };
            let documentation = elements(abstract_op)
                .find(|n| is(n, WSDL, "documentation"))
                .and_then(|n| n.text())
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty());
            operations.push(Operation {
                name,
                soap_action,
                input: input_element,
                output: output_element,
                input_header,
                documentation,
            });
        }
        Some((binding_name, operations))
    }

    /// Every named reference must resolve; extension chains must not loop.
    fn validate(&mut self, root: Node, wsdl: &Wsdl) {
        let mut problems = Vec::new();
        for def in wsdl.types.values() {
            let TypeDef::Complex(c) = def else { continue };
            if let Some(base) = &c.base {
                match wsdl.types.get(base) {
                    Some(TypeDef::Complex(_)) => {}
                    _ => problems.push(format!(
                        "type `{}`: base `{base}` is not a complex type of this WSDL",
                        c.name
                    )),
                }
            }
            for field in &c.fields {
                if let TypeRef::Named(target) = &field.ty
                    && !wsdl.types.contains_key(target)
                {
                    problems.push(format!(
                        "type `{}`, element `{}`: type `{target}` is not defined",
                        c.name, field.name
                    ));
                }
            }
            let mut seen = BTreeSet::new();
            let mut current = c;
            while let Some(base) = current.base.as_deref() {
                if !seen.insert(base.to_string()) {
                    problems.push(format!("type `{}`: its extension chain loops", c.name));
                    break;
                }
                match wsdl.types.get(base) {
                    Some(TypeDef::Complex(b)) => current = b,
                    _ => break,
                }
            }
        }
        for (element, ty) in &wsdl.elements {
            if !wsdl.types.contains_key(ty) {
                problems.push(format!("element `{element}`: type `{ty}` is not defined"));
            }
        }
        for op in &wsdl.operations {
            for element in [&op.input, &op.output]
                .into_iter()
                .chain(op.input_header.as_ref())
            {
                if wsdl.element_type(element).is_none() {
                    problems.push(format!(
                        "operation `{}`: element `{element}` is not a complex element of this WSDL",
                        op.name
                    ));
                }
            }
        }
        for problem in problems {
            self.refuse(root, problem);
        }
    }
}
