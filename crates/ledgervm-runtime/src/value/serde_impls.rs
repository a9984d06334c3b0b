//! serde impls that go through the JSON forms, so other crates can embed values, types
//! and signatures in their own serde structs (records, API bodies) unchanged.

use super::{FuncType, Value, ValueType};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! via_json {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.to_json().serialize(s)
            }
        }

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

#[cfg(test)]
mod tests {
    use super::*;

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
