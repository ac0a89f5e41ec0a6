//! Tolerant number and id decoding, and exact number encoding.
//!
//! The exchange is inconsistent: prices come as strings in market data and as JSON numbers in
//! order bodies, ids as strings or numbers. Decimals are never read through arithmetic on a
//! float: a JSON number is taken in its shortest round-trip form (Rust's float formatting),
//! which gives back exactly the digits the sender wrote for up to 15 significant digits, and
//! every price and quantity of the protocol is far below that.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// Reads a decimal from a JSON string or number.
pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(DecimalVisitor)
}

/// Like [`decimal`], for optional fields (absent or null is `None`).
pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<Decimal>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a decimal or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            decimal(d).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

/// Parses decimal text, plain or scientific ("5.583e-6").
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    if s.contains(['e', 'E']) {
        Decimal::from_scientific(s).ok()
    } else {
        Decimal::from_str(s).ok()
    }
}

struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal as a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        parse_decimal(v).ok_or_else(|| E::custom(format!("{v:?} is not a decimal")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        if !v.is_finite() {
            return Err(E::custom("the number is not finite"));
        }
        // Display of f64 is the shortest text that reads back as the same float.
        let text = format!("{v}");
        parse_decimal(&text).ok_or_else(|| E::custom(format!("{text} does not fit a decimal")))
    }
}

/// Reads an id given as a string or a number, as a string.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct IdVisitor;
    impl Visitor<'_> for IdVisitor {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an id as a string or an integer")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(IdVisitor)
}

/// Like [`id`], for optional fields.
pub fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an id or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            id(d).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

/// Writes a decimal as a JSON number with exactly its digits (the browser sends prices and
/// quantities of order bodies as numbers).
pub fn as_number<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    let raw = serde_json::value::RawValue::from_string(v.normalize().to_string())
        .map_err(serde::ser::Error::custom)?;
    raw.serialize(s)
}

/// Writes a decimal as a JSON string, keeping its scale ("9.99999944").
pub fn as_string<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

/// Writes a decimal as a JSON string without trailing zeros.
pub fn as_plain_string<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.normalize().to_string())
}

/// [`as_plain_string`] for optional fields (`None` is written as null).
pub fn opt_as_plain_string<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(d) => as_plain_string(d, s),
        None => s.serialize_none(),
    }
}

/// [`as_string`] for optional fields (`None` is written as null).
pub fn opt_as_string<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(d) => as_string(d, s),
        None => s.serialize_none(),
    }
}

/// The pairs of readers and writers the wire types use, as `#[serde(with = "...")]` modules:
/// each reads what the exchange sends (a number or a string) and writes one chosen form.
macro_rules! with_module {
    ($(#[$doc:meta])* $name:ident: $ty:ty, $de:path, $ser:expr) => {
        $(#[$doc])*
        pub mod $name {
            use super::*;

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                $de(d)
            }

            pub fn serialize<S: Serializer>(v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                $ser(v, s)
            }
        }
    };
}

with_module!(
    /// A decimal; written as `rust_decimal` writes it.
    dec: Decimal, super::decimal, |v: &Decimal, s| Serialize::serialize(v, s)
);
with_module!(
    /// A decimal; written as a JSON number.
    dec_number: Decimal, super::decimal, super::as_number
);
with_module!(
    /// A decimal; written as a string.
    dec_string: Decimal, super::decimal, super::as_string
);
with_module!(
    /// A decimal; written as a plain (never scientific) string.
    dec_plain: Decimal, super::decimal, super::as_plain_string
);
with_module!(
    /// An optional decimal; written as `rust_decimal` writes it.
    opt_dec: Option<Decimal>, super::opt_decimal, |v: &Option<Decimal>, s| Serialize::serialize(v, s)
);
with_module!(
    /// An optional decimal; written as a plain string or null.
    opt_dec_plain: Option<Decimal>, super::opt_decimal, super::opt_as_plain_string
);
with_module!(
    /// An optional decimal; written as a string or null.
    opt_dec_string: Option<Decimal>, super::opt_decimal, super::opt_as_string
);
with_module!(
    /// An id sent as a number or a string; written as a string.
    id_text: String, super::id, |v: &String, s| Serialize::serialize(v, s)
);
with_module!(
    /// An optional id sent as a number or a string; written as a string or null.
    opt_id_text: Option<String>, super::opt_id, |v: &Option<String>, s| Serialize::serialize(v, s)
);
