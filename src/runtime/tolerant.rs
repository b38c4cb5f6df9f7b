//! Tolerant decoding of generated structs, for specs that declare it
//! (`info.x-customer-data-decoding`; the generator's `codegen/src/tolerant.rs` writes each
//! struct's `Deserialize` as a call to [`deserialize`] with the struct's [`Members`]).
//!
//! The input is read as one JSON value; when it is an object its keys are normalised, then the
//! struct's derived (inherent) deserializer reads it:
//! - with `case_insensitive`, a key that equals a declared member ignoring ASCII case is renamed
//!   to the declared spelling. An exact match wins; a key whose member is already given stays as
//!   it is (so it ends in the struct's extra members, never overwriting the exact one);
//! - with `null_as_absent`, an optional member whose value is `null` is removed (an `Option`
//!   reads it as `None`, a member with a serde default as its default). A required member's
//!   `null` is kept and fails as before.
//!
//! Any other value (an array, a string, ...) is passed on untouched, so the derived code gives
//! its usual error. Nothing here knows a vendor.

use std::collections::HashSet;

use serde::Deserialize;
use serde::de::Error as _;
use serde_json::{Map, Value};

/// The wire members of one generated struct, and how tolerant its decoding is.
#[derive(Debug, Clone, Copy)]
pub struct Members {
    /// Every declared member name, spelled as the spec spells it.
    pub names: &'static [&'static str],
    /// The members that may be absent (an `Option`, or a serde default).
    pub optional: &'static [&'static str],
    /// Match member names ignoring ASCII case.
    pub case_insensitive: bool,
    /// Read `null` for an optional member as absent.
    pub null_as_absent: bool,
}

/// A struct's derived (inherent) deserializer: what the generator's `#[serde(remote = "Self")]`
/// leaves, implemented by each tolerant struct so that [`deserialize`] can call it on the
/// normalised value.
pub trait Derived: Sized {
    /// serde's derived `deserialize` of the struct.
    fn derived<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// Reads one value from `deserializer`, normalises it for `members`, and hands it to `T`'s
/// derived deserializer. An error names the member it is about (`contact1.name: ...`), as a
/// streaming decoder would: the derived code reads through a path tracker.
pub fn deserialize<'de, D, T>(deserializer: D, members: &Members) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Derived,
{
    let value = Value::deserialize(deserializer)?;
    let normalised = normalise(value, members);
    let mut track = serde_path_to_error::Track::new();
    T::derived(serde_path_to_error::Deserializer::new(
        normalised, &mut track,
    ))
    .map_err(|error| {
        let path = track.path().to_string();
        if path == "." {
            D::Error::custom(error)
        } else {
            D::Error::custom(format!("{path}: {error}"))
        }
    })
}

/// The normalised form of `value` (see the module docs); only an object changes.
pub fn normalise(value: Value, members: &Members) -> Value {
    let Value::Object(map) = value else {
        return value;
    };
    let mut out = Map::with_capacity(map.len());
    let mut claimed: HashSet<&'static str> = HashSet::new();
    let mut others = Vec::new();
    // Exact spellings first, whatever their position.
    for (key, member_value) in map {
        match members.names.iter().find(|name| **name == key) {
            Some(name) => {
                claimed.insert(name);
                if !drops(members, name, &member_value) {
                    out.insert(key, member_value);
                }
            }
            None => others.push((key, member_value)),
        }
    }
    for (key, member_value) in others {
        let declared = members
            .case_insensitive
            .then(|| {
                members
                    .names
                    .iter()
                    .find(|name| name.eq_ignore_ascii_case(&key))
            })
            .flatten();
        match declared {
            Some(name) if !claimed.contains(name) => {
                claimed.insert(name);
                if !drops(members, name, &member_value) {
                    out.insert((*name).to_string(), member_value);
                }
            }
            _ => {
                out.insert(key, member_value);
            }
        }
    }
    Value::Object(out)
}

fn drops(members: &Members, name: &str, value: &Value) -> bool {
    members.null_as_absent && value.is_null() && members.optional.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MEMBERS: Members = Members {
        names: &["existingName", "items", "more"],
        optional: &["existingName", "items"],
        case_insensitive: true,
        null_as_absent: true,
    };

    #[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq)]
    #[serde(remote = "Self")]
    struct Thing {
        #[serde(rename = "existingName", skip_serializing_if = "Option::is_none")]
        existing_name: Option<String>,
        #[serde(default)]
        items: Vec<i32>,
        more: bool,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    impl Derived for Thing {
        fn derived<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Thing::deserialize(d)
        }
    }

    impl<'de> serde::Deserialize<'de> for Thing {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d, &MEMBERS)
        }
    }

    impl serde::Serialize for Thing {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            Thing::serialize(self, s)
        }
    }

    fn decode(text: &str) -> Result<Thing, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn both_casings_decode_and_exact_wins() {
        let camel = decode(r#"{"existingName":"A","items":[1],"more":true}"#).unwrap();
        let pascal = decode(r#"{"ExistingName":"A","Items":[1],"MORE":true}"#).unwrap();
        assert_eq!(camel, pascal);
        assert_eq!(camel.existing_name.as_deref(), Some("A"));
        assert!(camel.extra.is_empty());
        let both = decode(r#"{"ExistingName":"B","existingName":"A","more":false}"#).unwrap();
        assert_eq!(both.existing_name.as_deref(), Some("A"));
        assert_eq!(both.extra.get("ExistingName"), Some(&json!("B")));
        // An unknown member keeps its spelling.
        let other = decode(r#"{"more":true,"Colour":"red"}"#).unwrap();
        assert_eq!(other.extra.get("Colour"), Some(&json!("red")));
    }

    #[test]
    fn null_optional_members_read_as_absent_required_ones_fail() {
        let nulls = decode(r#"{"ExistingName":null,"Items":null,"More":true}"#).unwrap();
        assert_eq!(nulls.existing_name, None);
        assert!(nulls.items.is_empty());
        assert!(nulls.extra.is_empty());
        assert!(decode(r#"{"more":null}"#).is_err());
        assert!(decode(r#"{"items":[1]}"#).is_err());
        assert!(decode("[1]").is_err());
        assert!(decode("null").is_err());
        let wrong = decode(r#"{"more":true,"Items":["x"]}"#)
            .unwrap_err()
            .to_string();
        assert!(wrong.starts_with("items[0]: invalid type"), "{wrong}");
    }

    #[test]
    fn serialises_with_the_declared_spelling() {
        let thing = decode(r#"{"EXISTINGNAME":"A","more":true}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&thing).unwrap(),
            json!({"existingName": "A", "items": [], "more": true})
        );
    }

    #[test]
    fn exact_and_as_is_change_nothing() {
        let strict = Members {
            case_insensitive: false,
            null_as_absent: false,
            ..MEMBERS
        };
        let value = json!({"ExistingName": "A", "items": null});
        assert_eq!(normalise(value.clone(), &strict), value);
        assert_eq!(normalise(value, &MEMBERS), json!({"existingName": "A"}));
        assert_eq!(normalise(json!("text"), &MEMBERS), json!("text"));
    }
}
