//! Property test of the typed JSON codec: random types (bounded depth) → random values
//! of those types → JSON (also through RFC 8785 canonical text) → back: equal, well
//! typed and printed identically.

mod value_common;

use ledgervm_runtime::value::{Value, ValueType};
use proptest::prelude::*;
use value_common::{sorted, typed_value};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn json_round_trip((ty, v) in typed_value(false)) {
        prop_assert!(v.check(&ty).is_ok(), "{:?}", v.check(&ty));
        let j = v.to_json();
        let back = Value::from_json(&j).unwrap();
        prop_assert_eq!(&back, &sorted(v.clone()));
        prop_assert_eq!(&Value::from_json_typed(&j, &ty).unwrap(), &v);
        // Through RFC 8785 canonical text, as stored in call records.
        let canon = serde_json_canonicalizer::to_string(&j).unwrap();
        let reparsed: serde_json::Value = serde_json::from_str(&canon).unwrap();
        prop_assert_eq!(&Value::from_json_typed(&reparsed, &ty).unwrap(), &v);
        // Deterministic: the same value always prints the same text.
        prop_assert_eq!(j.to_string(), back.to_json().to_string());
        // Serialize writes what to_json builds, byte for byte.
        prop_assert_eq!(serde_json::to_string(&v).unwrap(), j.to_string());
        // The type's own JSON form round-trips too.
        prop_assert_eq!(&ValueType::from_json(&ty.to_json()).unwrap(), &ty);
    }

    #[test]
    fn serialize_matches_to_json_for_component_values((_ty, v) in typed_value(true)) {
        prop_assert_eq!(serde_json::to_string(&v).unwrap(), v.to_json().to_string());
    }
}
