//! Path parameters as URL path segments: what every generated OpenAPI client calls instead of
//! `progenitor_client::encode_path` (the generator rewrites the calls,
//! `codegen/src/path_segments.rs`).
//!
//! progenitor's encoder percent-encodes the reserved characters but passes `.`, `..` and `""`
//! through, and then the URL parser treats them as structure rather than data: `.` and `..`
//! are dot segments, removed (`/customers/..` becomes `/`, so the request goes to the parent
//! path), and `""` makes `//`. Percent-encoding the dots does not help: the WHATWG URL
//! standard (which `url`, hence reqwest, implements) treats `%2E`, `%2E%2E`, `.%2E` ... as dot
//! segments too, and RFC 3986 normalisation decodes them back to dots. No spelling of these
//! values reaches the intended path, so they are refused before anything is sent.

use std::fmt;

use super::error::Error;

/// Why a path parameter's value cannot be sent as one path segment. Nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSegmentError {
    /// The value is empty: the URL would hold `//`, which servers collapse or route elsewhere.
    Empty {
        /// The builder method that set the value (e.g. `customer_id`).
        parameter: &'static str,
    },
    /// The value is `.` or `..`, a dot segment: the URL parser removes it (in any
    /// percent-encoding), so the request would go to the same or the parent path.
    DotSegment {
        /// The builder method that set the value (e.g. `customer_id`).
        parameter: &'static str,
        /// `.` or `..` (never anything else, so never user data worth hiding).
        value: &'static str,
    },
}

impl fmt::Display for PathSegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSegmentError::Empty { parameter } => write!(
                f,
                "path parameter `{parameter}` is empty: it would make an empty path segment \
                 (`//`), so the request was not sent"
            ),
            PathSegmentError::DotSegment { parameter, value } => write!(
                f,
                "path parameter `{parameter}` is `{value}`: URL parsers remove it as a dot \
                 segment (encoded or not), so the request would reach another path; it was \
                 not sent"
            ),
        }
    }
}

impl std::error::Error for PathSegmentError {}

impl<E> From<PathSegmentError> for Error<E> {
    fn from(error: PathSegmentError) -> Self {
        Error::InvalidRequest(error.to_string())
    }
}

/// Percent-encodes `value` as one URL path segment, exactly as
/// `progenitor_client::encode_path` does (controls, non-ASCII bytes, space and
/// `" # < > ? ` { } / %`), and refuses the values no encoding can carry: `""`, `.` and `..`.
/// `parameter` names the builder method in the error.
pub fn encode_path(parameter: &'static str, value: &str) -> Result<String, PathSegmentError> {
    match value {
        "" => return Err(PathSegmentError::Empty { parameter }),
        "." => {
            return Err(PathSegmentError::DotSegment {
                parameter,
                value: ".",
            });
        }
        ".." => {
            return Err(PathSegmentError::DotSegment {
                parameter,
                value: "..",
            });
        }
        _ => {}
    }
    let mut encoded = String::with_capacity(value.len());
    for &byte in value.as_bytes() {
        if needs_encoding(byte) {
            encoded.push('%');
            encoded.push(hex_digit(byte >> 4));
            encoded.push(hex_digit(byte & 0x0f));
        } else {
            encoded.push(char::from(byte));
        }
    }
    Ok(encoded)
}

/// progenitor's `PATH_SET`: `percent_encoding::CONTROLS` (and every non-ASCII byte, which
/// `utf8_percent_encode` always encodes) plus the path-segment set of the URL standard and
/// `/` and `%`.
fn needs_encoding(byte: u8) -> bool {
    !(0x20..0x7f).contains(&byte)
        || matches!(
            byte,
            b' ' | b'"' | b'#' | b'<' | b'>' | b'?' | b'`' | b'{' | b'}' | b'/' | b'%'
        )
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789ABCDEF"[usize::from(nibble & 0x0f)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_and_empty_values_are_refused_by_name() {
        assert_eq!(
            encode_path("customer_id", ".."),
            Err(PathSegmentError::DotSegment {
                parameter: "customer_id",
                value: ".."
            })
        );
        assert_eq!(
            encode_path("customer_id", "."),
            Err(PathSegmentError::DotSegment {
                parameter: "customer_id",
                value: "."
            })
        );
        assert_eq!(
            encode_path("tenant_id", ""),
            Err(PathSegmentError::Empty {
                parameter: "tenant_id"
            })
        );
        let message = encode_path("customer_id", "..").unwrap_err().to_string();
        assert!(
            message.starts_with("path parameter `customer_id` is `..`"),
            "{message}"
        );
    }

    #[test]
    fn values_with_dots_that_are_not_dot_segments_pass() {
        for value in ["...", ".a", "a.", "a..b", ". ", "..%"] {
            assert_eq!(
                encode_path("p", value).unwrap(),
                progenitor_client::encode_path(value),
                "{value:?}"
            );
        }
    }

    #[test]
    fn every_other_value_is_encoded_as_progenitor_encodes_it() {
        // Every ASCII character alone (but `.`, a dot segment), and some longer values.
        let mut values: Vec<String> = (0u8..=0x7f)
            .filter(|&b| b != b'.')
            .map(|b| char::from(b).to_string())
            .collect();
        values.extend(["a/b", "100%", "ä ö", "€", "x?y#z", "{id}", "C-0001_x~y"].map(String::from));
        for value in values {
            assert_eq!(
                encode_path("p", &value).unwrap(),
                progenitor_client::encode_path(&value),
                "{value:?}"
            );
        }
    }

    #[test]
    fn percent_encoded_dots_are_still_dot_segments_to_the_url_parser() {
        // Why `..` is refused rather than sent as `%2E%2E`: the parser reqwest uses removes
        // every spelling of a dot segment. If this ever fails, encoding becomes an option.
        for segment in ["..", "%2E%2E", "%2e%2E", ".%2E", "%2E."] {
            let url = reqwest::Url::parse(&format!("http://h/customers/{segment}/kyc")).unwrap();
            assert_eq!(url.path(), "/kyc", "{segment}");
        }
        for segment in [".", "%2E", "%2e"] {
            let url = reqwest::Url::parse(&format!("http://h/customers/{segment}/kyc")).unwrap();
            assert_eq!(url.path(), "/customers/kyc", "{segment}");
        }
    }

    #[test]
    fn the_refusal_is_an_invalid_request() {
        let error: Error<()> = encode_path("customer_id", "..").unwrap_err().into();
        assert!(
            matches!(&error, Error::InvalidRequest(m) if m.contains("`customer_id`")),
            "{error}"
        );
    }
}
