//! A validated integer for every bounded integer in our specs (e.g. `pageSize` 1..=1000).
//! The generator maps such schemas here because typify drops `maximum`.

use std::fmt;

/// An `i64` that is always within `MIN..=MAX`: it cannot be built, parsed or deserialised
/// outside that range, so an invalid value is refused before any request is sent.
///
/// ```
/// use customer_data::runtime::BoundedInt;
/// type PageSize = BoundedInt<1, 1000>;
/// assert_eq!(PageSize::try_from(100i32).unwrap().get(), 100);
/// let err = PageSize::try_from(1001i32).unwrap_err();
/// assert_eq!(err.to_string(), "1001 is outside the allowed range 1..=1000");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedInt<const MIN: i64, const MAX: i64>(i64);

/// A value outside a [`BoundedInt`]'s range, or text that is not an integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutOfRange {
    /// The value, and the inclusive range it missed.
    Value { value: i128, min: i64, max: i64 },
    /// The text did not parse as an integer.
    NotAnInteger(String),
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutOfRange::Value { value, min, max } => {
                write!(f, "{value} is outside the allowed range {min}..={max}")
            }
            OutOfRange::NotAnInteger(text) => write!(f, "`{text}` is not an integer"),
        }
    }
}

impl std::error::Error for OutOfRange {}

impl<const MIN: i64, const MAX: i64> BoundedInt<MIN, MAX> {
    /// The smallest allowed value.
    pub const MIN: i64 = MIN;
    /// The largest allowed value.
    pub const MAX: i64 = MAX;

    /// Checks `value` against the range.
    pub fn new(value: i64) -> Result<Self, OutOfRange> {
        Self::check(i128::from(value))
    }

    fn check(value: i128) -> Result<Self, OutOfRange> {
        if (i128::from(MIN)..=i128::from(MAX)).contains(&value) {
            // In range of two i64 bounds, so it fits in an i64.
            Ok(Self(value as i64))
        } else {
            Err(OutOfRange::Value {
                value,
                min: MIN,
                max: MAX,
            })
        }
    }

    /// The value.
    pub fn get(self) -> i64 {
        self.0
    }
}

macro_rules! try_from_ints {
    ($($t:ty),*) => {$(
        impl<const MIN: i64, const MAX: i64> TryFrom<$t> for BoundedInt<MIN, MAX> {
            type Error = OutOfRange;
            fn try_from(value: $t) -> Result<Self, OutOfRange> {
                // Every listed type widens losslessly to i128.
                Self::check(value as i128)
            }
        }
    )*};
}
try_from_ints!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl<const MIN: i64, const MAX: i64> From<BoundedInt<MIN, MAX>> for i64 {
    fn from(value: BoundedInt<MIN, MAX>) -> i64 {
        value.0
    }
}

impl<const MIN: i64, const MAX: i64> fmt::Debug for BoundedInt<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<const MIN: i64, const MAX: i64> fmt::Display for BoundedInt<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl<const MIN: i64, const MAX: i64> std::str::FromStr for BoundedInt<MIN, MAX> {
    type Err = OutOfRange;
    fn from_str(text: &str) -> Result<Self, OutOfRange> {
        let value: i128 = text
            .trim()
            .parse()
            .map_err(|_| OutOfRange::NotAnInteger(text.to_string()))?;
        Self::check(value)
    }
}

impl<const MIN: i64, const MAX: i64> serde::Serialize for BoundedInt<MIN, MAX> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl<'de, const MIN: i64, const MAX: i64> serde::Deserialize<'de> for BoundedInt<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i128::deserialize(deserializer)?;
        Self::check(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type PageSize = BoundedInt<1, 1000>;

    #[test]
    fn accepts_the_range_and_rejects_outside_it() {
        assert_eq!(PageSize::try_from(1u8).unwrap().get(), 1);
        assert_eq!(PageSize::try_from(1000usize).unwrap().get(), 1000);
        for bad in [0i64, 1001, -1, i64::MIN, i64::MAX] {
            assert_eq!(
                PageSize::new(bad).unwrap_err(),
                OutOfRange::Value {
                    value: i128::from(bad),
                    min: 1,
                    max: 1000
                }
            );
        }
        assert!(PageSize::try_from(u64::MAX).is_err());
    }

    #[test]
    fn parses_and_deserialises_with_the_same_rule() {
        assert_eq!("42".parse::<PageSize>().unwrap().get(), 42);
        assert_eq!(
            "x".parse::<PageSize>().unwrap_err().to_string(),
            "`x` is not an integer"
        );
        assert_eq!(serde_json::from_str::<PageSize>("7").unwrap().get(), 7);
        let err = serde_json::from_str::<PageSize>("0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("0 is outside the allowed range 1..=1000"),
            "{err}"
        );
        assert_eq!(
            serde_json::to_string(&PageSize::new(9).unwrap()).unwrap(),
            "9"
        );
    }
}
