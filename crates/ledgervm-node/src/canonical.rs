//! RFC 8785 (JCS) canonical JSON bytes, with a fast path for the JSON records hold.
//!
//! `serde_json_canonicalizer` is the reference implementation here, and every byte that
//! leaves this module is one it would produce. It is slow on the hot path, though: it
//! buffers every object member separately and sorts keys as UTF-16 vectors, about a
//! tenth of the server's CPU per call in a profile of `ledgervm bench` (~35 µs for a
//! call record).
//!
//! For most JSON, plain `serde_json` output already *is* the JCS form: no whitespace,
//! the same string escapes (`\"`, `\\`, `\b \f \n \r \t`, `\u00xx` in lowercase for
//! other control characters, nothing else escaped), and integers written as digits. JCS
//! differs only where
//! - a number is not an integer of magnitude at most 2^53 (JCS writes the ECMAScript
//!   form of the nearest double: `1e+21`, `1` for `1.0`, lost precision above 2^53);
//! - keys would sort differently as UTF-16 than as UTF-8 (non-ASCII keys), or the map
//!   does not iterate in sorted order at all (`serde_json`'s `preserve_order` feature).
//!
//! [`to_vec`] checks for exactly those cases in one walk and hands any value that has
//! one to the reference implementation. `tests` pins the two to the same bytes on
//! random values, so the fast path cannot drift from the standard.
//!
//! Typed data (records, payloads) does not go through a `serde_json::Value` at all:
//! building that tree of maps and strings, writing it out and freeing it cost ~6% of the
//! server's CPU per call. [`serialize`] writes the value once through a
//! `serde_json` [`Formatter`] that sorts each object's members in place as it closes
//! (see [`sorting`]), and falls back to the `Value` route only when the output holds
//! one of the cases above.
//!
//! ```
//! let v = serde_json::json!({"b": [1, "\u{1}"], "a": {"z": null, "y": true}});
//! assert_eq!(
//!     ledgervm_node::canonical::to_vec(&v),
//!     br#"{"a":{"y":true,"z":null},"b":[1,"\u0001"]}"#
//! );
//! ```

use serde_json::Value;

mod sorting;

/// The largest integer magnitude that JCS writes exactly as its digits (2^53).
const EXACT_INT: u64 = 1 << 53;

/// The RFC 8785 canonical form of `value`.
pub fn to_vec(value: &Value) -> Vec<u8> {
    if plain_is_canonical(value) {
        serde_json::to_vec(value).expect("a serde_json::Value always serializes")
    } else {
        serde_json_canonicalizer::to_vec(value).expect("a serde_json::Value always serializes")
    }
}

/// The RFC 8785 canonical form of any serializable `value`.
///
/// Fails only where `serde_json::to_value` does (a map with non-string keys, or a
/// `Serialize` impl that fails).
pub fn serialize<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    serialize_with(value, None)
}

/// The RFC 8785 canonical form of `value`, an object, with one more top-level member
/// `extra` (name and integer value): a record and its format version, say.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Call { func: &'static str, app: &'static str }
/// let bytes = ledgervm_node::canonical::serialize_with(
///     &Call { func: "Sum", app: "sum.wasm" },
///     Some(("v", 1)),
/// ).unwrap();
/// assert_eq!(bytes, br#"{"app":"sum.wasm","func":"Sum","v":1}"#);
/// ```
pub fn serialize_with<T: serde::Serialize + ?Sized>(
    value: &T,
    extra: Option<(&str, u64)>,
) -> serde_json::Result<Vec<u8>> {
    if let Some(bytes) = sorting::serialize(value, extra)? {
        return Ok(bytes);
    }
    let mut json = serde_json::to_value(value)?;
    if let (Some((name, v)), Some(obj)) = (extra, json.as_object_mut()) {
        obj.insert(name.into(), v.into());
    }
    Ok(to_vec(&json))
}

/// Whether `serde_json`'s compact output of `value` equals its JCS form.
fn plain_is_canonical(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u <= EXACT_INT,
            (None, Some(i)) => i.unsigned_abs() <= EXACT_INT,
            _ => false,
        },
        Value::Array(items) => items.iter().all(plain_is_canonical),
        Value::Object(map) => {
            let mut prev: Option<&str> = None;
            map.iter().all(|(k, v)| {
                let sorted = prev.is_none_or(|p| p < k.as_str());
                prev = Some(k);
                sorted && k.is_ascii() && plain_is_canonical(v)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn reference(v: &Value) -> Vec<u8> {
        serde_json_canonicalizer::to_vec(v).unwrap()
    }

    #[test]
    fn fast_path_covers_record_shaped_json() {
        let v = json!({
            "v": 3, "app": "sum.wasm", "fuel": 10_000_000u64, "neg": -5,
            "args": [{"type": "u32", "value": 7}, {"type": "string", "value": "a\"b\\c\n\u{7f}é😀"}],
            "big": EXACT_INT, "nested": {"b": [], "a": {}}
        });
        assert!(plain_is_canonical(&v));
        assert_eq!(to_vec(&v), reference(&v));
    }

    #[test]
    fn values_jcs_writes_differently_take_the_reference_path() {
        for v in [
            json!(1.0),
            json!(1e21),
            json!(-0.0),
            json!(0.1),
            json!(EXACT_INT + 1),
            json!(-(EXACT_INT as i64) - 1),
            json!(u64::MAX),
            json!({"é": 1, "z": 2}),
            // U+E000 sorts after U+10000 in UTF-8 but before it in UTF-16.
            json!({"\u{e000}": 1, "\u{10000}": 2}),
        ] {
            assert!(!plain_is_canonical(&v), "{v}");
            assert_eq!(to_vec(&v), reference(&v), "{v}");
        }
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            (-1000i64..1000).prop_map(|i| json!(i)),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinities", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
            "[ -~\\x00-\\x1f]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner.clone(), 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The reference form of `v` with the member `extra` added at the top.
    fn reference_with(v: &Value, extra: Option<(&str, u64)>) -> Vec<u8> {
        let mut v = v.clone();
        if let (Some((k, n)), Some(o)) = (extra, v.as_object_mut()) {
            o.insert(k.into(), n.into());
        }
        reference(&v)
    }

    #[test]
    fn typed_data_is_sorted_without_a_value_tree() {
        #[derive(serde::Serialize)]
        #[serde(tag = "kind")]
        enum Rec {
            #[serde(rename = "call")]
            Call {
                zeta: u8,
                app: &'static str,
                inner: Inner,
                list: Vec<Inner>,
            },
        }
        #[derive(serde::Serialize)]
        struct Inner {
            z: (),
            b: Option<u64>,
            a: &'static str,
        }
        let inner = || Inner {
            z: (),
            b: Some(EXACT_INT),
            a: "q\"\u{1}",
        };
        let r = Rec::Call {
            zeta: 1,
            app: "sum.wasm",
            inner: inner(),
            list: vec![inner(), inner()],
        };
        // The fast path took it: no float, no odd key, no big integer.
        let fast = sorting::serialize(&r, Some(("v", 1)))
            .unwrap()
            .expect("fast path");
        let want = reference_with(&serde_json::to_value(&r).unwrap(), Some(("v", 1)));
        assert_eq!(fast, want);
        assert_eq!(serialize_with(&r, Some(("v", 1))).unwrap(), want);
        // Only an object can take the extra member.
        assert!(
            sorting::serialize(&[1, 2], Some(("v", 1)))
                .unwrap()
                .is_none()
        );
        assert_eq!(serialize_with(&[1, 2], Some(("v", 1))).unwrap(), b"[1,2]");
        assert!(
            sorting::serialize(&vec![json!({})], Some(("v", 1)))
                .unwrap()
                .is_none()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn same_bytes_as_the_reference(v in any_json()) {
            prop_assert_eq!(to_vec(&v), reference(&v));
        }

        /// Serializing typed data (here a `Value`, through `Serialize`, with keys in any
        /// order thanks to a shuffled copy) gives the reference bytes, fast path or not.
        #[test]
        fn serialize_gives_the_reference_bytes(
            v in any_json(),
            extra in prop::option::of(("[a-z]{1,3}", any::<u64>())),
            seed in any::<u64>(),
        ) {
            let extra = extra.as_ref().map(|(k, n)| (k.as_str(), *n));
            let shuffled = Shuffled(&v, seed);
            prop_assert_eq!(serialize_with(&shuffled, extra).unwrap(), reference_with(&v, extra));
        }
    }

    /// Serializes a `Value` with each object's members in a seeded, scrambled order, as
    /// a struct's declared field order would be.
    struct Shuffled<'a>(&'a Value, u64);

    impl serde::Serialize for Shuffled<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{SerializeMap, SerializeSeq};
            match self.0 {
                Value::Array(items) => {
                    let mut seq = s.serialize_seq(Some(items.len()))?;
                    for (i, item) in items.iter().enumerate() {
                        seq.serialize_element(&Shuffled(item, self.1 ^ i as u64))?;
                    }
                    seq.end()
                }
                Value::Object(map) => {
                    let mut members: Vec<_> = map.iter().collect();
                    members.sort_by_key(|(k, _)| {
                        let mut h = self.1 ^ 0x9e37_79b9_7f4a_7c15;
                        for b in k.bytes() {
                            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                        }
                        h
                    });
                    let mut m = s.serialize_map(Some(members.len()))?;
                    for (k, v) in members {
                        m.serialize_entry(k, &Shuffled(v, self.1.rotate_left(7)))?;
                    }
                    m.end()
                }
                other => other.serialize(s),
            }
        }
    }
}
