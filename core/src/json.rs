//! A strict JSON reader for token headers, token claims and JWKS documents.
//!
//! `serde_json::Value` keeps the last of two members with the same name and accepts nesting
//! up to 128 levels. Both are wrong for security-relevant JSON (RFC 7493 §2.3 forbids
//! duplicate names; a duplicated identity claim is an ambiguity an attacker can exploit when
//! two parsers disagree). This module parses into [`Json`], a small value type whose objects
//! refuse a repeated member name at any depth and whose nesting is limited to
//! [`MAX_DEPTH`] levels.
//!
//! The lexical work (UTF-8 validation, escapes, lone surrogates, number syntax, trailing
//! characters) is done by `serde_json`; this module only builds the tree. Invalid UTF-8,
//! lone surrogate escapes such as `"\ud800"`, and a leading byte-order mark are all errors.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// The deepest nesting accepted: a top-level object is depth 1.
///
/// Token headers and claims from the providers this module was tested with nest at most
/// 4 levels; JWKS documents 3. 32 leaves ample room and stays far below `serde_json`'s own
/// recursion limit of 128, so deep input is refused before the stack grows.
pub const MAX_DEPTH: usize = 32;

/// A JSON object: member names are unique by construction.
pub type JsonObject = BTreeMap<String, Json>;

/// A parsed JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number written without fraction or exponent that fits in 64 bits (signed or
    /// unsigned).
    Int(i128),
    /// Any other number: with a fraction or exponent, or an integer beyond 64 bits. Always
    /// finite (`serde_json` refuses numbers that overflow `f64`).
    Float(f64),
    /// A string (valid UTF-8, escapes resolved).
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object with unique member names.
    Object(JsonObject),
}

impl Json {
    /// The string, if this is a JSON string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is a JSON object.
    pub fn as_object(&self) -> Option<&JsonObject> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }
}

/// Why a JSON text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonError {
    /// Not valid JSON (syntax, invalid UTF-8, lone surrogate, trailing data, number out of
    /// range), or it starts with a byte-order mark.
    Syntax,
    /// An object has two members with the same name (compared after unescaping).
    DuplicateMember,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Valid JSON, but the top-level value is not an object.
    NotAnObject,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonError::Syntax => "invalid JSON",
            JsonError::DuplicateMember => "duplicate JSON member name",
            JsonError::TooDeep => "JSON nested too deeply",
            JsonError::NotAnObject => "JSON value is not an object",
        })
    }
}

impl std::error::Error for JsonError {}

/// The UTF-8 byte-order mark; RFC 8259 §8.1 forbids it in networked JSON.
const BOM: &[u8] = b"\xEF\xBB\xBF";

// Markers carried through serde's error type so that the cause survives the trip.
const DUPLICATE_MARKER: &str = "pg_bearer: duplicate member";
const DEPTH_MARKER: &str = "pg_bearer: too deep";

/// Parses `bytes` as a JSON object with unique member names at every depth and nesting of at
/// most [`MAX_DEPTH`].
pub fn parse_object(bytes: &[u8]) -> Result<JsonObject, JsonError> {
    match parse(bytes)? {
        Json::Object(o) => Ok(o),
        _ => Err(JsonError::NotAnObject),
    }
}

/// Parses `bytes` as any JSON value with the same rules as [`parse_object`].
pub fn parse(bytes: &[u8]) -> Result<Json, JsonError> {
    if bytes.starts_with(BOM) {
        return Err(JsonError::Syntax);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = ValueSeed { depth: 1 }
        .deserialize(&mut de)
        .map_err(classify)?;
    de.end().map_err(|_| JsonError::Syntax)?;
    Ok(value)
}

fn classify(err: serde_json::Error) -> JsonError {
    // serde_json appends " at line L column C" to custom messages, so match the prefix.
    let msg = err.to_string();
    if msg.starts_with(DUPLICATE_MARKER) {
        JsonError::DuplicateMember
    } else if msg.starts_with(DEPTH_MARKER) || msg.starts_with("recursion limit exceeded") {
        JsonError::TooDeep
    } else {
        JsonError::Syntax
    }
}

/// Deserializes one value at a known depth.
struct ValueSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(ValueVisitor { depth: self.depth })
    }
}

struct ValueVisitor {
    depth: usize,
}

impl ValueVisitor {
    /// Called when this value turns out to be an array or object: containers count towards
    /// the depth, scalars do not.
    fn enter_container<E: de::Error>(&self) -> Result<(), E> {
        if self.depth > MAX_DEPTH {
            return Err(E::custom(DEPTH_MARKER));
        }
        Ok(())
    }

    fn child(&self) -> ValueSeed {
        ValueSeed {
            depth: self.depth + 1,
        }
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        if v.is_finite() {
            Ok(Json::Float(v))
        } else {
            Err(E::custom("non-finite number"))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        self.enter_container::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child())? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        self.enter_container::<A::Error>()?;
        let mut members = JsonObject::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(DUPLICATE_MARKER));
            }
            let value = map.next_value_seed(self.child())?;
            members.insert(name, value);
        }
        Ok(Json::Object(members))
    }
}

/// Writes compact JSON text: no whitespace, members in name order (the [`JsonObject`] order),
/// strings escaped by `serde_json`. An integer is written exactly as parsed; a float in the
/// shortest form that reads back as the same `f64`.
impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Int(i) => match (i64::try_from(*i), u64::try_from(*i)) {
                (Ok(v), _) => s.serialize_i64(v),
                (_, Ok(v)) => s.serialize_u64(v),
                _ => s.serialize_i128(*i),
            },
            Json::Float(f) => s.serialize_f64(*f),
            Json::String(t) => s.serialize_str(t),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (name, value) in members {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    }
}

/// The compact JSON text of `value` (see the [`Serialize`] implementation of [`Json`]).
pub fn to_text<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing a Json, a str or a JsonObject into a String cannot fail: every map key is
    // a string and the writer is infallible. The empty string is never returned in practice.
    serde_json::to_string(value).unwrap_or_default()
}

/// The length in bytes of [`to_text`]`(value)`, computed without building the text.
/// `usize::MAX` if it cannot be serialized (which does not happen for [`Json`]).
pub fn text_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_with_unique_members_parse() {
        let o = parse_object(br#"{"a":1,"b":[true,null,"x",1.5],"c":{"d":-2}}"#).unwrap();
        assert_eq!(o["a"], Json::Int(1));
        assert_eq!(
            o["b"],
            Json::Array(vec![
                Json::Bool(true),
                Json::Null,
                Json::String("x".into()),
                Json::Float(1.5)
            ])
        );
        assert_eq!(o["c"].as_object().unwrap()["d"], Json::Int(-2));
    }

    #[test]
    fn duplicate_members_are_refused_at_every_depth() {
        for text in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"b":{"c":1,"c":2}}"#,
            r#"{"a":[{"x":1,"x":1}]}"#,
            r#"{"a":1,"\u0061":2}"#,
        ] {
            assert_eq!(
                parse(text.as_bytes()),
                Err(JsonError::DuplicateMember),
                "{text}"
            );
        }
    }

    #[test]
    fn nesting_is_limited_before_serde_json_recursion_limit() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        for depth in [MAX_DEPTH + 1, 127, 129, 1000, 100_000] {
            let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(
                parse(deep.as_bytes()),
                Err(JsonError::TooDeep),
                "depth {depth}"
            );
        }
        let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(1000), "}".repeat(1000));
        assert_eq!(parse(deep_objects.as_bytes()), Err(JsonError::TooDeep));
    }

    #[test]
    fn invalid_text_is_a_syntax_error() {
        for text in [
            &b"\xEF\xBB\xBF{}"[..],
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"\xc3\"}",
            br#"{"a":"\ud800"}"#,
            br#"{"a":"\udc00x"}"#,
            b"{} x",
            b"{\"a\":1,}",
            b"{'a':1}",
            br#"{"a":1e400}"#,
            br#"{"a":NaN}"#,
            b"",
        ] {
            assert_eq!(
                parse(text),
                Err(JsonError::Syntax),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn non_objects_are_refused_by_parse_object() {
        for text in ["[]", "1", "\"x\"", "null", "true"] {
            assert_eq!(
                parse_object(text.as_bytes()),
                Err(JsonError::NotAnObject),
                "{text}"
            );
        }
    }

    #[test]
    fn escaped_nul_and_valid_surrogate_pairs_are_kept_verbatim() {
        let o = parse_object(br#"{"a":"x\u0000y","b":"\ud83d\ude00"}"#).unwrap();
        assert_eq!(o["a"].as_str(), Some("x\0y"));
        assert_eq!(o["b"].as_str(), Some("\u{1F600}"));
    }

    #[test]
    fn serialized_text_is_compact_and_reads_back_the_same() {
        let text = br#"{"b":[true,null,"x\"y\u0000",1.5,-2,18446744073709551615,1e300],"a":{"d":{}},"\u00e9":""}"#;
        let value = parse(text).unwrap();
        let written = to_text(&value);
        assert_eq!(
            written,
            r#"{"a":{"d":{}},"b":[true,null,"x\"y\u0000",1.5,-2,18446744073709551615,1e+300],"é":""}"#
        );
        assert_eq!(parse(written.as_bytes()).unwrap(), value);
        assert_eq!(text_len(&value), written.len());
        assert_eq!(text_len("a\"\n"), to_text("a\"\n").len());
    }
}
