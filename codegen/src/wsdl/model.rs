//! The part of WSDL 1.1 + XSD that a SOAP 1.1 document/literal client needs, as plain data.

use std::collections::BTreeMap;

/// An XSD built-in type we map to Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Builtin {
    String,
    Boolean,
    Int,
    Long,
    Short,
    UnsignedByte,
    Double,
    Decimal,
    DateTime,
    Base64Binary,
}

impl Builtin {
    /// The XSD local name, e.g. `decimal`.
    pub fn from_xsd(name: &str) -> Option<Self> {
        Some(match name {
            "string" => Builtin::String,
            "boolean" => Builtin::Boolean,
            "int" => Builtin::Int,
            "long" => Builtin::Long,
            "short" => Builtin::Short,
            "unsignedByte" => Builtin::UnsignedByte,
            "double" => Builtin::Double,
            "decimal" => Builtin::Decimal,
            "dateTime" => Builtin::DateTime,
            "base64Binary" => Builtin::Base64Binary,
            _ => return None,
        })
    }

    /// The XSD name, for messages and the surface.
    pub fn xsd_name(self) -> &'static str {
        match self {
            Builtin::String => "string",
            Builtin::Boolean => "boolean",
            Builtin::Int => "int",
            Builtin::Long => "long",
            Builtin::Short => "short",
            Builtin::UnsignedByte => "unsignedByte",
            Builtin::Double => "double",
            Builtin::Decimal => "decimal",
            Builtin::DateTime => "dateTime",
            Builtin::Base64Binary => "base64Binary",
        }
    }
}

/// What an element's `type` refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TypeRef {
    Builtin(Builtin),
    /// A complex or simple type of the target namespace, by name.
    Named(String),
}

/// How many times an element may occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurs {
    pub min: u32,
    /// `None` = unbounded.
    pub max: Option<u32>,
}

impl Occurs {
    pub fn is_many(self) -> bool {
        self.max != Some(1) && self.max != Some(0)
    }
    pub fn is_optional(self) -> bool {
        self.min == 0
    }
}

/// One element of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The XML element name.
    pub name: String,
    pub ty: TypeRef,
    pub occurs: Occurs,
    pub nillable: bool,
}

/// How an element of a sequence occurs in an instance, decided from its XSD declaration
/// (`minOccurs`, `maxOccurs`, `nillable`) alone: what the emitter writes for "no value".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// `maxOccurs` above 1: a list; no items = no element.
    Many,
    /// `minOccurs` 1 (or absent), not nillable: always written, a value is required.
    Required,
    /// `minOccurs` 1 (or absent), `nillable="true"`: always written; no value is written as
    /// `<X xsi:nil="true"/>` (XML Schema Part 1 §3.3.4, §2.6.2 `xsi:nil`), and read back from
    /// that or from an absent element.
    RequiredNillable,
    /// `minOccurs="0"` (nillable or not): no value = the element is left out.
    Optional,
}

impl Field {
    /// How this element occurs (see [`Presence`]).
    pub fn presence(&self) -> Presence {
        if self.occurs.is_many() {
            Presence::Many
        } else if self.occurs.is_optional() {
            Presence::Optional
        } else if self.nillable {
            Presence::RequiredNillable
        } else {
            Presence::Required
        }
    }

    /// The Rust value may be absent (`Option`): optional or nillable, not a list.
    pub fn may_be_absent(&self) -> bool {
        matches!(
            self.presence(),
            Presence::Optional | Presence::RequiredNillable
        )
    }
}

/// A complex type with a sequence, possibly extending another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplexType {
    pub name: String,
    pub base: Option<String>,
    /// This type's own sequence (the base's fields come first in the XML).
    pub fields: Vec<Field>,
    pub is_abstract: bool,
    /// `xs:anyAttribute` was declared (attributes are not modelled).
    pub any_attribute: bool,
}

/// A string restriction with enumerated values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumType {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeDef {
    Complex(ComplexType),
    Enum(EnumType),
}

impl TypeDef {
    pub fn name(&self) -> &str {
        match self {
            TypeDef::Complex(c) => &c.name,
            TypeDef::Enum(e) => &e.name,
        }
    }
}

/// One SOAP operation (document/literal, SOAP 1.1 binding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    pub soap_action: String,
    /// The body element (and type) of the request, e.g. `GetCustomer`.
    pub input: String,
    /// The body element of the response, e.g. `GetCustomerResponse`.
    pub output: String,
    /// The SOAP header element the binding declares for the input, if any.
    pub input_header: Option<String>,
    pub documentation: Option<String>,
}

/// A parsed WSDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wsdl {
    pub target_namespace: String,
    /// The SOAP 1.1 port's address in the WSDL (one region's URL).
    pub address: Option<String>,
    /// The SOAP 1.1 binding's name.
    pub binding: String,
    /// Every type by name, including one per top-level element with an inline type.
    pub types: BTreeMap<String, TypeDef>,
    /// Top-level element name -> its type name.
    pub elements: BTreeMap<String, String>,
    pub operations: Vec<Operation>,
}

impl Wsdl {
    /// Every field of `complex`, the bases' first (XSD extension order).
    pub fn all_fields<'a>(&'a self, complex: &'a ComplexType) -> Vec<&'a Field> {
        let mut chain = vec![complex];
        let mut current = complex;
        // Bounded: a cycle of bases is refused by the parser, but never loop forever.
        for _ in 0..64 {
            match current.base.as_deref().and_then(|b| self.types.get(b)) {
                Some(TypeDef::Complex(base)) => {
                    chain.push(base);
                    current = base;
                }
                _ => break,
            }
        }
        chain.iter().rev().flat_map(|c| c.fields.iter()).collect()
    }

    /// The complex type of a top-level element.
    pub fn element_type(&self, element: &str) -> Option<&ComplexType> {
        match self.types.get(self.elements.get(element)?)? {
            TypeDef::Complex(c) => Some(c),
            TypeDef::Enum(_) => None,
        }
    }
}
