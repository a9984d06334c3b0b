//! serde impls of the JSON forms, so other crates can embed values, types and
//! signatures in their own serde structs (records, API bodies) unchanged.
//!
//! Deserializing goes through `serde_json::Value` and the strict decoders. A [`Value`]
//! serializes straight to the serializer, with the same output as
//! [`Value::to_json`] (members in sorted order, as `serde_json::Map` has them): every
//! call record and every call answer serializes its arguments and results, and building
//! a `serde_json::Value` for each was a map, two keys and a string per value.

use super::num::{float_json, int64_json};
use super::{FuncType, Value, ValueType};
use serde::de::Error as _;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! via_json {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let json = serde_json::Value::deserialize(d)?;
                <$t>::from_json(&json).map_err(D::Error::custom)
            }
        }
    };
}

via_json!(Value);
via_json!(ValueType);
via_json!(FuncType);

impl Serialize for ValueType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl Serialize for FuncType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// `{"type": ty, "value": value}`.
fn typed<S: Serializer, V: Serialize + ?Sized>(
    s: S,
    ty: &str,
    value: &V,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry("type", ty)?;
    m.serialize_entry("value", value)?;
    m.end()
}

/// A one-member object `{key: payload or null}`.
struct Single<'a>(&'a str, Option<&'a Value>);

impl Serialize for Single<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, &self.1)?;
        m.end()
    }
}

/// A variant's `{"case": …, "payload": …}`.
struct Case<'a>(&'a str, Option<&'a Value>);

impl Serialize for Case<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("case", self.0)?;
        m.serialize_entry("payload", &self.1)?;
        m.end()
    }
}

/// A record's fields as one object: sorted by name, the last of duplicate names kept.
struct Fields<'a>(&'a [(String, Value)]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sorted: std::collections::BTreeMap<&str, &Value> =
            self.0.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut m = s.serialize_map(Some(sorted.len()))?;
        for (k, v) in sorted {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A JSON array of strings.
struct Names<'a>(&'a [String]);

impl Serialize for Names<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for n in self.0 {
            seq.serialize_element(n)?;
        }
        seq.end()
    }
}

fn float<S: Serializer>(s: S, ty: &str, bits: u64, wide: bool) -> Result<S::Ok, S::Error> {
    let (value, bits) = float_json(bits, wide);
    let mut m = s.serialize_map(Some(2 + usize::from(bits.is_some())))?;
    if let Some(b) = &bits {
        m.serialize_entry("bits", b)?;
    }
    m.serialize_entry("type", ty)?;
    m.serialize_entry("value", &value)?;
    m.end()
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Bool(b) => typed(s, "bool", b),
            Value::S8(n) => typed(s, "s8", n),
            Value::U8(n) => typed(s, "u8", n),
            Value::S16(n) => typed(s, "s16", n),
            Value::U16(n) => typed(s, "u16", n),
            Value::S32(n) => typed(s, "s32", n),
            Value::U32(n) => typed(s, "u32", n),
            Value::I32(n) => typed(s, "i32", n),
            Value::S64(n) => typed(s, "s64", &int64_json(i128::from(*n))),
            Value::U64(n) => typed(s, "u64", &int64_json(i128::from(*n))),
            Value::I64(n) => typed(s, "i64", &int64_json(i128::from(*n))),
            Value::F32(bits) => float(s, "f32", u64::from(*bits), false),
            Value::F64(bits) => float(s, "f64", *bits, true),
            Value::Char(c) => typed(s, "char", c.encode_utf8(&mut [0; 4])),
            Value::String(v) => typed(s, "string", v.as_str()),
            Value::List(items) => typed(s, "list", items),
            Value::Tuple(items) => typed(s, "tuple", items),
            Value::Record(fields) => typed(s, "record", &Fields(fields)),
            Value::Variant { case, payload } => {
                typed(s, "variant", &Case(case, payload.as_deref()))
            }
            Value::Enum(name) => typed(s, "enum", name.as_str()),
            Value::Option(inner) => typed(s, "option", &inner.as_deref()),
            Value::Result(r) => {
                let single = match r {
                    Ok(p) => Single("ok", p.as_deref()),
                    Err(p) => Single("err", p.as_deref()),
                };
                typed(s, "result", &single)
            }
            Value::Flags(names) => typed(s, "flags", &Names(names)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialize_writes_what_to_json_builds() {
        let dup = Value::Record(vec![
            ("z".into(), Value::Bool(true)),
            ("a".into(), Value::U8(1)),
            ("z".into(), Value::Bool(false)),
        ]);
        for v in [
            dup,
            Value::F32(0x7fc0_0001),
            Value::F64((-0.0f64).to_bits()),
            Value::F64(f64::INFINITY.to_bits()),
            Value::F64(1.5f64.to_bits()),
            Value::I64(i64::MIN),
            Value::U64(1 << 53),
            Value::Char('é'),
            Value::Variant {
                case: "c".into(),
                payload: None,
            },
            Value::Result(Err(Some(Box::new(Value::String("no".into()))))),
            Value::Option(None),
            Value::Flags(vec!["b".into(), "a".into()]),
        ] {
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                v.to_json().to_string(),
                "{v:?}"
            );
        }
    }

    #[test]
    fn serde_goes_through_the_json_forms() {
        let v = Value::List(vec![Value::U64(u64::MAX), Value::F32(0x7fc0_0001)]);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
        let t = ValueType::option(ValueType::Char);
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"option":"char"}"#);
        assert_eq!(
            serde_json::from_str::<ValueType>(r#"{"option":"char"}"#).unwrap(),
            t
        );
        let e = serde_json::from_str::<Value>(r#"{"type":"u9","value":1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown type \"u9\""), "{e}");
        let f = FuncType {
            params: vec![],
            results: vec![ValueType::Bool],
        };
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<FuncType>(&text).unwrap(), f);
    }
}
