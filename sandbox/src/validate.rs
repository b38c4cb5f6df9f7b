//! Twins validate what they receive against our specs by decoding into the generated types:
//! a client bug cannot pass silently. [`Valid`] is the JSON extractor that does it.
//!
//! The generated enums are open (a value the spec does not list decodes to `UnknownValue`),
//! which is right for a client reading a vendor's answers, but a vendor checks what it
//! receives against its list. So a body that decodes with an `UnknownValue` anywhere is
//! refused too, naming the member that holds the value.

use std::fmt::Debug;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON body that decoded into `T`.
pub struct Valid<T>(pub T);

/// Why a body did not decode, with the path of the offending member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub reason: String,
}

impl<S: Send + Sync, T: DeserializeOwned + Debug> FromRequest<S> for Valid<T> {
    type Rejection = Invalid;

    async fn from_request(request: Request, state: &S) -> Result<Self, Invalid> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| Invalid {
                reason: format!("cannot read the body: {e}"),
            })?;
        decode(&bytes).map(Valid)
    }
}

/// Decodes `bytes` as `T`, naming the member that did not fit, or that holds a value the spec
/// does not list.
pub fn decode<T: DeserializeOwned + Debug>(bytes: &[u8]) -> Result<T, Invalid> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let decoded: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| Invalid {
        reason: if e.path().to_string() == "." {
            e.inner().to_string()
        } else {
            format!("{}: {}", e.path(), e.inner())
        },
    })?;
    match unlisted_value(&decoded, bytes) {
        Some(refused) => Err(refused),
        None => Ok(decoded),
    }
}

/// The first value of `decoded` that an open enum kept as `UnknownValue`, as an [`Invalid`]
/// naming its member (in the `a.b[0].c` form of the decode errors) in the body `bytes`.
///
/// The generated types have no visitor, but all derive `Debug`, where an open enum's unknown
/// value reads `UnknownValue("<value>")` outside any quoted string. The value is then found
/// in the body by its string; if a free-text member holds the same string earlier, that member
/// is named instead, which only affects the message.
fn unlisted_value<T: Debug>(decoded: &T, bytes: &[u8]) -> Option<Invalid> {
    let debug = format!("{decoded:?}");
    let unlisted = unknown_values_in_debug(&debug);
    let first = unlisted.first()?;
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let mut found = None;
    find_string(&body, &mut String::new(), &mut |path, text| {
        if found.is_none() && unlisted.contains(&format!("{text:?}").as_str()) {
            found = Some((path.to_string(), text.to_string()));
        }
    });
    let (path, text) = found.unwrap_or_else(|| (String::new(), first.to_string()));
    let message = format!("`{text}` is not one of the values the spec lists");
    Some(Invalid {
        reason: if path.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        },
    })
}

/// The quoted `Debug` forms of the values held by `UnknownValue(..)` in `debug`, in order.
/// A `Debug` string is `"`-quoted with `\` escapes, so text inside strings is skipped.
fn unknown_values_in_debug(debug: &str) -> Vec<&str> {
    const VARIANT: &str = "UnknownValue(\"";
    let bytes = debug.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts_variant = bytes[at..].starts_with(VARIANT.as_bytes())
            && (at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_'));
        let quote = if starts_variant {
            at + VARIANT.len() - 1
        } else if bytes[at] == b'"' {
            at
        } else {
            at += 1;
            continue;
        };
        // `Debug` closes every string it opens; nothing to read after one that is not.
        let Some(end) = closing_quote(bytes, quote) else {
            break;
        };
        if starts_variant {
            // Both ends are ASCII quotes, so char boundaries.
            found.push(&debug[quote..=end]);
        }
        at = end + 1;
    }
    found
}

/// The index of the `"` closing the string opened at `open`.
fn closing_quote(bytes: &[u8], open: usize) -> Option<usize> {
    let mut at = open + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return Some(at),
            _ => at += 1,
        }
    }
    None
}

/// Calls `visit(path, text)` for every string in `value` (object keys included, at their
/// object), depth first, with the path in the `a.b[0].c` form.
fn find_string(value: &Value, path: &mut String, visit: &mut dyn FnMut(&str, &str)) {
    let len = path.len();
    match value {
        Value::String(text) => visit(path, text),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push_str(&format!("[{index}]"));
                find_string(item, path, visit);
                path.truncate(len);
            }
        }
        Value::Object(members) => {
            for (key, member) in members {
                visit(path, key);
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                find_string(member, path, visit);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

impl axum::response::IntoResponse for Invalid {
    fn into_response(self) -> axum::response::Response {
        (axum::http::StatusCode::BAD_REQUEST, self.reason).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_read_outside_quoted_strings_only() {
        let debug = r#"Body { note: "UnknownValue(\"not me\")", medium: Some(UnknownValue("pigeon")), list: [Known, UnknownValue("a \"b\"")], xUnknownValue("no") }"#;
        assert_eq!(
            unknown_values_in_debug(debug),
            [r#""pigeon""#, r#""a \"b\"""#]
        );
        assert!(unknown_values_in_debug(r#"Known("UnknownValue(\"x\")")"#).is_empty());
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read through Debug only
    enum Medium {
        #[serde(rename = "email")]
        Email,
        #[serde(untagged)]
        UnknownValue(String),
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read through Debug only
    struct Contact {
        note: String,
        media: Vec<Medium>,
    }

    #[test]
    fn a_listed_value_decodes_and_an_unlisted_one_is_refused_with_its_member() {
        let ok: Result<Contact, _> = decode(br#"{"note": "pigeon", "media": ["email"]}"#);
        assert!(ok.is_ok(), "{ok:?}");
        let refused =
            decode::<Contact>(br#"{"note": "hi", "media": ["email", "pigeon"]}"#).unwrap_err();
        assert_eq!(
            refused.reason,
            "media[1]: `pigeon` is not one of the values the spec lists"
        );
        let refused = decode::<Medium>(br#""pigeon""#).unwrap_err();
        assert_eq!(
            refused.reason,
            "`pigeon` is not one of the values the spec lists"
        );
    }
}
