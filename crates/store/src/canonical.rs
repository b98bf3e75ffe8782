//! Canonical JSON: the one byte encoding of a manifest, so equal content hashes equal.
//!
//! Rules: object keys sorted by their UTF-8 bytes; no insignificant whitespace; integers
//! written as integers; floats in the shortest form that round-trips (`ryu`), with `-0.0`
//! written as `0.0`; NaN and infinities are refused rather than silently turned into `null`
//! (which is what `serde_json` does). The encoder is a `serde::Serializer`, so any
//! `Serialize` type can be encoded without going through a lossy intermediate.

use std::io::Write;

use serde::ser::{self, Serialize};
use serde_json::{Map, Number, Value};

/// Why a value has no canonical encoding.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    /// A float was NaN or infinite: JSON cannot represent it faithfully.
    #[error("{0} cannot be written as canonical JSON (only finite numbers can)")]
    NonFinite(f64),
    /// A map key that is not a string.
    #[error("map keys must be strings in canonical JSON")]
    KeyNotString,
    /// The `Serialize` implementation itself failed.
    #[error("{0}")]
    Custom(String),
}

impl ser::Error for CanonicalError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CanonicalError::Custom(msg.to_string())
    }
}

/// Encodes `value` as canonical JSON bytes.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let value = to_value(value)?;
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, &value);
    Ok(out)
}

/// Converts `value` into a `serde_json::Value`, refusing non-finite floats.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, CanonicalError> {
    value.serialize(ValueSerializer)
}

/// Writes an already-built `Value` canonically.
pub fn value_to_vec(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    check_finite(value)?;
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    Ok(out)
}

fn check_finite(value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if !f.is_finite() => Err(CanonicalError::NonFinite(f)),
            _ => Ok(()),
        },
        Value::Array(items) => items.iter().try_for_each(check_finite),
        Value::Object(map) => map.values().try_for_each(check_finite),
        _ => Ok(()),
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sorted here, not by the map type: a dependency may turn on serde_json's
            // `preserve_order`, which makes `Map` keep insertion order.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        let f = if f == 0.0 { 0.0 } else { f };
        let mut buf = ryu::Buffer::new();
        out.extend_from_slice(buf.format_finite(f).as_bytes());
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    // serde_json's string escaping is minimal and deterministic; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn float(f: f64) -> Result<Value, CanonicalError> {
    if !f.is_finite() {
        return Err(CanonicalError::NonFinite(f));
    }
    let f = if f == 0.0 { 0.0 } else { f };
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or(CanonicalError::NonFinite(f))
}

struct ValueSerializer;

type Res = Result<Value, CanonicalError>;

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = CanonicalError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantSeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantMapBuilder;

    fn serialize_bool(self, v: bool) -> Res {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_i16(self, v: i16) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_i32(self, v: i32) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_i64(self, v: i64) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_u8(self, v: u8) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_u16(self, v: u16) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_u32(self, v: u32) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_u64(self, v: u64) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_f32(self, v: f32) -> Res {
        float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Res {
        float(v)
    }
    fn serialize_char(self, v: char) -> Res {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Res {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Res {
        Ok(Value::Array(v.iter().map(|b| Value::from(*b)).collect()))
    }
    fn serialize_none(self) -> Res {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Res {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Res {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Res {
        Ok(Value::String(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Res {
        let mut map = Map::new();
        map.insert(variant.to_string(), to_value(value)?);
        Ok(Value::Object(map))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, CanonicalError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSeqBuilder, CanonicalError> {
        Ok(VariantSeqBuilder(variant, Vec::with_capacity(len)))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder, CanonicalError> {
        Ok(MapBuilder {
            map: Map::new(),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _len: usize) -> Result<MapBuilder, CanonicalError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantMapBuilder, CanonicalError> {
        Ok(VariantMapBuilder(variant, Map::new()))
    }
}

struct SeqBuilder(Vec<Value>);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.0.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> Res {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), CanonicalError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Res {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Res {
        ser::SerializeSeq::end(self)
    }
}

struct VariantSeqBuilder(&'static str, Vec<Value>);

impl ser::SerializeTupleVariant for VariantSeqBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        self.1.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> Res {
        let mut map = Map::new();
        map.insert(self.0.to_string(), Value::Array(self.1));
        Ok(Value::Object(map))
    }
}

struct MapBuilder {
    map: Map<String, Value>,
    key: Option<String>,
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CanonicalError> {
        match to_value(key)? {
            Value::String(s) => {
                self.key = Some(s);
                Ok(())
            }
            // Integer keys (e.g. a map of class index → count) are written as strings, as
            // serde_json does.
            Value::Number(n) => {
                self.key = Some(n.to_string());
                Ok(())
            }
            _ => Err(CanonicalError::KeyNotString),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        let key = self.key.take().ok_or(CanonicalError::KeyNotString)?;
        self.map.insert(key, to_value(value)?);
        Ok(())
    }
    fn end(self) -> Res {
        Ok(Value::Object(self.map))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.map.insert(key.to_string(), to_value(value)?);
        Ok(())
    }
    fn end(self) -> Res {
        Ok(Value::Object(self.map))
    }
}

struct VariantMapBuilder(&'static str, Map<String, Value>);

impl ser::SerializeStructVariant for VariantMapBuilder {
    type Ok = Value;
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.1.insert(key.to_string(), to_value(value)?);
        Ok(())
    }
    fn end(self) -> Res {
        let mut map = Map::new();
        map.insert(self.0.to_string(), Value::Object(self.1));
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;

    fn canon<T: Serialize>(v: &T) -> String {
        String::from_utf8(to_vec(v).expect("encodable")).expect("utf-8")
    }

    #[derive(Serialize)]
    struct Unsorted {
        zeta: u32,
        alpha: f64,
        mid: Option<&'static str>,
        list: Vec<f32>,
    }

    #[test]
    fn sorts_keys_and_is_compact() {
        let v = Unsorted {
            zeta: 1,
            alpha: 0.1,
            mid: None,
            list: vec![1.5, -0.0],
        };
        assert_eq!(
            canon(&v),
            r#"{"alpha":0.1,"list":[1.5,0.0],"mid":null,"zeta":1}"#
        );
    }

    #[test]
    fn refuses_non_finite_floats_anywhere() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(to_vec(&bad), Err(CanonicalError::NonFinite(_))));
            assert!(to_vec(&vec![1.0, bad]).is_err());
            let mut m = BTreeMap::new();
            m.insert("x", Some(bad));
            assert!(to_vec(&m).is_err());
        }
    }

    #[test]
    fn escapes_strings_like_json() {
        assert_eq!(canon(&"a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }

    #[test]
    fn shortest_round_trip_floats() {
        assert_eq!(canon(&0.1f64), "0.1");
        assert_eq!(canon(&(0.1f64 + 0.2)), "0.30000000000000004");
        assert_eq!(canon(&1e-7f64), "1e-7");
        assert_eq!(canon(&1.0f64), "1.0");
    }

    proptest! {
        /// The same content gives the same bytes whatever order a map was built in, and the
        /// bytes parse back to the same value.
        #[test]
        fn equal_content_equal_bytes(entries in proptest::collection::vec(("[a-z]{0,6}", any::<i64>(), -1e12f64..1e12), 0..20)) {
            let forward: HashMap<String, (i64, f64)> = entries.iter().map(|(k, i, f)| (k.clone(), (*i, *f))).collect();
            let mut backward_vec: Vec<_> = forward.iter().collect();
            backward_vec.reverse();
            let sorted: BTreeMap<&String, &(i64, f64)> = backward_vec.into_iter().collect();
            let a = to_vec(&forward).expect("finite");
            let b = to_vec(&sorted).expect("finite");
            prop_assert_eq!(&a, &b);
            let parsed: HashMap<String, (i64, f64)> = serde_json::from_slice(&a).expect("parses");
            prop_assert_eq!(parsed, forward);
        }

        /// Re-encoding the parsed form is the identity: canonical bytes are a fixed point.
        #[test]
        fn canonical_is_a_fixed_point(values in proptest::collection::vec(proptest::num::f64::NORMAL | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL, 0..10), s in "\\PC{0,20}") {
            let a = to_vec(&(values, s)).expect("finite");
            let parsed: serde_json::Value = serde_json::from_slice(&a).expect("parses");
            prop_assert_eq!(value_to_vec(&parsed).expect("finite"), a);
        }
    }
}
