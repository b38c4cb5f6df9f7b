//! The XSD value types serde has no good default for: `xs:dateTime` (kept as written),
//! `xs:base64Binary`, `xs:decimal`.

use std::fmt;

use serde::Serialize;

/// An `xs:dateTime`, kept exactly as written (with or without offset and fraction), so nothing
/// is lost between read and write; parsed on demand.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct XsDateTime(String);

impl XsDateTime {
    /// Validates `text` as an `xs:dateTime`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let valid = chrono::DateTime::parse_from_rfc3339(text).is_ok()
            || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok();
        if valid {
            Ok(Self(text.to_string()))
        } else {
            Err(format!("`{text}` is not an xs:dateTime"))
        }
    }

    /// The lexical form, as received or as built.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The date and time as written (any offset dropped).
    pub fn naive(&self) -> chrono::NaiveDateTime {
        match chrono::DateTime::parse_from_rfc3339(&self.0) {
            Ok(with_offset) => with_offset.naive_local(),
            // Validated on construction, so one of the two forms parses.
            Err(_) => chrono::NaiveDateTime::parse_from_str(&self.0, "%Y-%m-%dT%H:%M:%S%.f")
                .unwrap_or_default(),
        }
    }

    /// The instant, when the value carries an offset (or `Z`).
    pub fn with_offset(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        chrono::DateTime::parse_from_rfc3339(&self.0).ok()
    }
}

impl From<chrono::NaiveDateTime> for XsDateTime {
    fn from(value: chrono::NaiveDateTime) -> Self {
        Self(value.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
    }
}

impl<Tz: chrono::TimeZone> From<chrono::DateTime<Tz>> for XsDateTime
where
    Tz::Offset: fmt::Display,
{
    fn from(value: chrono::DateTime<Tz>) -> Self {
        Self(value.to_rfc3339())
    }
}

impl fmt::Debug for XsDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for XsDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for XsDateTime {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

impl Serialize for XsDateTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for XsDateTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An `xs:base64Binary`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Base64Binary(pub Vec<u8>);

impl fmt::Debug for Base64Binary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Binary({} bytes)", self.0.len())
    }
}

impl Serialize for Base64Binary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Base64Binary {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let text = String::deserialize(deserializer)?;
        let compact: String = text.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map(Base64Binary)
            .map_err(serde::de::Error::custom)
    }
}

/// An `xs:decimal`: exact, never through `f64` (amounts, rates). Read from and written as the
/// decimal's text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct XsDecimal(pub rust_decimal::Decimal);

impl XsDecimal {
    /// The decimal value.
    pub fn value(self) -> rust_decimal::Decimal {
        self.0
    }
}

impl From<rust_decimal::Decimal> for XsDecimal {
    fn from(value: rust_decimal::Decimal) -> Self {
        Self(value)
    }
}

impl std::ops::Deref for XsDecimal {
    type Target = rust_decimal::Decimal;
    fn deref(&self) -> &rust_decimal::Decimal {
        &self.0
    }
}

impl fmt::Debug for XsDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for XsDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::str::FromStr for XsDecimal {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        // xs:decimal allows a leading '+' and no exponent.
        let digits = text.strip_prefix('+').unwrap_or(text);
        rust_decimal::Decimal::from_str_exact(digits)
            .map(Self)
            .map_err(|e| format!("`{text}` is not an xs:decimal: {e}"))
    }
}

impl Serialize for XsDecimal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for XsDecimal {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
