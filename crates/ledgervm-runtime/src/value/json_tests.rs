//! Unit tests of the typed JSON codec: exact wire forms of edge values and every decode
//! error with its path.

use super::*;
use crate::value::ValueType;
use serde_json::json;

fn rt(v: Value) -> Json {
    let j = v.to_json();
    // Through text, as on the wire.
    let back = Value::from_json_str(&j.to_string()).unwrap();
    assert_eq!(back, v, "round trip of {j}");
    j
}

fn some(v: Value) -> Option<Box<Value>> {
    Some(Box::new(v))
}

#[test]
fn integers_at_their_edges() {
    let cases = [
        (Value::S8(i8::MIN), json!({"type":"s8","value":-128})),
        (Value::S8(i8::MAX), json!({"type":"s8","value":127})),
        (Value::U8(u8::MAX), json!({"type":"u8","value":255})),
        (Value::S16(i16::MIN), json!({"type":"s16","value":-32768})),
        (Value::U16(u16::MAX), json!({"type":"u16","value":65535})),
        (
            Value::S32(i32::MIN),
            json!({"type":"s32","value":-2147483648i64}),
        ),
        (
            Value::U32(u32::MAX),
            json!({"type":"u32","value":4294967295u64}),
        ),
        (Value::I32(-1), json!({"type":"i32","value":-1})),
        (
            Value::S64(i64::MIN),
            json!({"type":"s64","value":"-9223372036854775808"}),
        ),
        (
            Value::S64(i64::MAX),
            json!({"type":"s64","value":"9223372036854775807"}),
        ),
        (
            Value::U64(u64::MAX),
            json!({"type":"u64","value":"18446744073709551615"}),
        ),
        (
            Value::U64((1 << 53) - 1),
            json!({"type":"u64","value":9007199254740991u64}),
        ),
        (
            Value::U64(1 << 53),
            json!({"type":"u64","value":"9007199254740992"}),
        ),
        (Value::I64(0), json!({"type":"i64","value":0})),
        (Value::Bool(true), json!({"type":"bool","value":true})),
        (Value::Bool(false), json!({"type":"bool","value":false})),
    ];
    for (v, j) in cases {
        assert_eq!(rt(v), j);
    }
    // 64-bit types also take small values as strings, and big ones as numbers.
    assert_eq!(
        Value::from_json(&json!({"type":"u64","value":"7"})).unwrap(),
        Value::U64(7)
    );
    assert_eq!(
        Value::from_json(&json!({"type":"u64","value":u64::MAX})).unwrap(),
        Value::U64(u64::MAX)
    );
    assert_eq!(
        Value::from_json(&json!({"type":"i64","value":"-9223372036854775808"})).unwrap(),
        Value::I64(i64::MIN)
    );
}

#[test]
fn floats_are_bit_exact() {
    let cases = [
        (
            Value::F32(0x7fc0_0001),
            json!({"type":"f32","value":"nan","bits":"0x7fc00001"}),
        ),
        (
            Value::F32(0x7f80_0001),
            json!({"type":"f32","value":"nan","bits":"0x7f800001"}),
        ),
        (
            Value::F32(0xffc0_0000),
            json!({"type":"f32","value":"nan","bits":"0xffc00000"}),
        ),
        (
            Value::F64(0xfff8_0000_0000_0001),
            json!({"type":"f64","value":"nan","bits":"0xfff8000000000001"}),
        ),
        (
            Value::f32(-0.0),
            json!({"type":"f32","value":-0.0,"bits":"0x80000000"}),
        ),
        (
            Value::f64(-0.0),
            json!({"type":"f64","value":-0.0,"bits":"0x8000000000000000"}),
        ),
        (Value::f32(0.0), json!({"type":"f32","value":0.0})),
        (
            Value::f32(f32::INFINITY),
            json!({"type":"f32","value":"inf"}),
        ),
        (
            Value::f64(f64::NEG_INFINITY),
            json!({"type":"f64","value":"-inf"}),
        ),
        (Value::f64(1.5), json!({"type":"f64","value":1.5})),
        (Value::f64(5e-324), json!({"type":"f64","value":5e-324})),
        (Value::f64(f64::MAX), json!({"type":"f64","value":f64::MAX})),
        (
            Value::F32(1),
            json!({"type":"f32","value":f64::from(f32::from_bits(1))}),
        ),
        (
            Value::f32(f32::MAX),
            json!({"type":"f32","value":f64::from(f32::MAX)}),
        ),
        (
            Value::f32(0.1),
            json!({"type":"f32","value":f64::from(0.1f32)}),
        ),
        (
            Value::f32(f32::MIN_POSITIVE),
            json!({"type":"f32","value":f64::from(f32::MIN_POSITIVE)}),
        ),
    ];
    for (v, j) in cases {
        assert_eq!(rt(v), j);
    }
    // Without bits, "nan" is the canonical quiet NaN; integers are accepted as floats.
    let nan = Value::from_json(&json!({"type":"f32","value":"nan"})).unwrap();
    assert_eq!(nan, Value::F32(0x7fc0_0000));
    let nan = Value::from_json(&json!({"type":"f64","value":"nan"})).unwrap();
    assert_eq!(nan, Value::F64(0x7ff8_0000_0000_0000));
    let two = Value::from_json(&json!({"type":"f32","value":2})).unwrap();
    assert_eq!(two, Value::f32(2.0));
    // A decimal that is not an exact f32 rounds to nearest.
    let tenth = Value::from_json(&json!({"type":"f32","value":0.1})).unwrap();
    assert_eq!(tenth, Value::f32(0.1));
    // Bits with a matching value, short hex and upper-case digits are fine.
    let one = json!({"type":"f32","value":1.0,"bits":"0x3F800000"});
    assert_eq!(Value::from_json(&one).unwrap(), Value::f32(1.0));
    let tiny = json!({"type":"f32","value":f64::from(f32::from_bits(1)),"bits":"0x1"});
    assert_eq!(Value::from_json(&tiny).unwrap(), Value::F32(1));
    // The sign of zero comes from bits.
    let negzero = json!({"type":"f64","value":0,"bits":"0x8000000000000000"});
    assert_eq!(Value::from_json(&negzero).unwrap(), Value::f64(-0.0));
}

#[test]
fn text_and_compound_values() {
    assert_eq!(
        rt(Value::Char('\u{10FFFF}')),
        json!({"type":"char","value":"\u{10FFFF}"})
    );
    assert_eq!(
        rt(Value::Char('\0')),
        json!({"type":"char","value":"\u{0}"})
    );
    assert_eq!(rt(Value::Char('é')), json!({"type":"char","value":"é"}));
    assert_eq!(
        rt(Value::String(String::new())),
        json!({"type":"string","value":""})
    );
    assert_eq!(rt(Value::List(vec![])), json!({"type":"list","value":[]}));
    assert_eq!(rt(Value::Tuple(vec![])), json!({"type":"tuple","value":[]}));
    assert_eq!(
        rt(Value::Record(vec![])),
        json!({"type":"record","value":{}})
    );
    assert_eq!(rt(Value::Flags(vec![])), json!({"type":"flags","value":[]}));
    let many: Vec<String> = (0..70).map(|i| format!("f{i}")).collect();
    assert_eq!(
        rt(Value::Flags(many.clone())),
        json!({"type":"flags","value":many})
    );
    assert_eq!(
        rt(Value::Option(None)),
        json!({"type":"option","value":null})
    );
    assert_eq!(
        rt(Value::Option(some(Value::Option(None)))),
        json!({"type":"option","value":{"type":"option","value":null}})
    );
    rt(Value::Option(some(Value::Option(some(Value::U8(0))))));
    assert_eq!(
        rt(Value::Result(Ok(None))),
        json!({"type":"result","value":{"ok":null}})
    );
    assert_eq!(
        rt(Value::Result(Err(None))),
        json!({"type":"result","value":{"err":null}})
    );
    assert_eq!(
        rt(Value::Result(Err(some(Value::String("no".into()))))),
        json!({"type":"result","value":{"err":{"type":"string","value":"no"}}})
    );
    assert_eq!(
        rt(Value::Variant {
            case: "a".into(),
            payload: None
        }),
        json!({"type":"variant","value":{"case":"a","payload":null}})
    );
    assert_eq!(
        rt(Value::Variant {
            case: "b".into(),
            payload: some(Value::U16(3))
        }),
        json!({"type":"variant","value":{"case":"b","payload":{"type":"u16","value":3}}})
    );
    assert_eq!(
        rt(Value::Enum("red".into())),
        json!({"type":"enum","value":"red"})
    );
    // Record fields come back in JSON key order (sorted).
    let rec = Value::Record(vec![
        ("a".into(), Value::U8(1)),
        ("b".into(), Value::Bool(true)),
    ]);
    assert_eq!(
        rt(rec).to_string(),
        r#"{"type":"record","value":{"a":{"type":"u8","value":1},"b":{"type":"bool","value":true}}}"#
    );
    // A payload key may be left out for a payload-less case.
    let v = Value::from_json(&json!({"type":"variant","value":{"case":"a"}})).unwrap();
    assert_eq!(
        v,
        Value::Variant {
            case: "a".into(),
            payload: None
        }
    );
}

#[test]
fn output_is_deterministic_text() {
    let v = Value::List(vec![
        Value::Record(vec![
            ("z".into(), Value::f64(0.1)),
            ("y".into(), Value::F32(0x7fc0_0001)),
        ]),
        Value::U64(u64::MAX),
    ]);
    let a = v.to_json().to_string();
    assert_eq!(a, v.clone().to_json().to_string());
    assert_eq!(
        a,
        concat!(
            r#"{"type":"list","value":[{"type":"record","value":{"#,
            r#""y":{"bits":"0x7fc00001","type":"f32","value":"nan"},"#,
            r#""z":{"type":"f64","value":0.1}}},"#,
            r#"{"type":"u64","value":"18446744073709551615"}]}"#
        )
    );
}

fn err(j: Json) -> ValueError {
    Value::from_json(&j).expect_err(&j.to_string())
}

#[test]
fn every_decode_error_with_its_path() {
    use ValueErrorKind as K;
    let e = Value::from_json_str(r#"{"type":"string","value":"\ud800"}"#).unwrap_err();
    assert!(matches!(e.kind, K::Syntax(_)), "{e}");
    assert_eq!(e.code(), "value.syntax");

    let e = err(json!([1]));
    assert_eq!(
        (e.path.as_str(), e.kind),
        (
            "$",
            K::Shape {
                expected: "object",
                got: "array"
            }
        )
    );
    let e = err(json!({"type":"bool","value":1}));
    assert_eq!(e.to_string(), "at $.value: expected boolean, got number");
    let e = err(json!({"type":7,"value":1}));
    assert_eq!(e.path, "$.type");
    let e = err(json!({"type":"string","value":null}));
    assert_eq!(
        e.kind,
        K::Shape {
            expected: "string",
            got: "null"
        }
    );
    let e = err(json!({"type":"u32","value":"5"}));
    assert_eq!(
        e.kind,
        K::Shape {
            expected: "integer",
            got: "string"
        }
    );

    assert_eq!(err(json!({"value":1})).kind, K::MissingKey("type"));
    assert_eq!(err(json!({"type":"u8"})).kind, K::MissingKey("value"));
    assert_eq!(
        err(json!({"type":"variant","value":{}})).kind,
        K::MissingKey("case")
    );

    let e = err(json!({"type":"u8","value":1,"note":"x"}));
    assert_eq!(
        (e.path.as_str(), e.kind),
        ("$", K::UnknownKey("note".into()))
    );
    assert_eq!(
        err(json!({"type":"u32","value":1,"bits":"0x1"})).kind,
        K::UnknownKey("bits".into())
    );
    let e = err(json!({"type":"variant","value":{"case":"a","extra":1}}));
    assert_eq!(
        (e.path.as_str(), e.kind),
        ("$.value", K::UnknownKey("extra".into()))
    );
    let e = err(json!({"type":"result","value":{"ok":null,"x":1}}));
    assert_eq!(e.kind, K::UnknownKey("x".into()));

    let e = err(json!({"type":"u128","value":1}));
    assert_eq!(
        (e.path.as_str(), e.kind),
        ("$.type", K::UnknownType("u128".into()))
    );

    for (ty, v) in [
        ("u8", json!(256)),
        ("s8", json!(-129)),
        ("u32", json!(-1)),
        ("i32", json!(2147483648u64)),
        ("s16", json!(40000)),
        ("u64", json!("18446744073709551616")),
        ("i64", json!("9223372036854775808")),
        ("s64", json!(u64::MAX)),
        ("u64", json!("1".repeat(50))),
    ] {
        let e = err(json!({"type":ty,"value":v}));
        assert!(matches!(e.kind, K::IntOutOfRange { .. }), "{ty} {v}: {e}");
        assert_eq!(e.code(), "value.int_range");
    }
    for (ty, v) in [
        ("u32", json!(1.5)),
        ("u64", json!("007")),
        ("s64", json!("+1")),
        ("u8", json!(1e2)),
    ] {
        let e = err(json!({"type":ty,"value":v}));
        assert!(matches!(e.kind, K::InvalidInt { .. }), "{ty} {v}: {e}");
    }

    let e = err(json!({"type":"f32","value":1e39}));
    assert!(matches!(e.kind, K::FloatOutOfRange(_)), "{e}");
    for v in [json!("NaN"), json!("infinity"), json!("1.5")] {
        let e = err(json!({"type":"f64","value":v}));
        assert!(matches!(e.kind, K::InvalidFloat { .. }), "{e}");
    }
    let e = err(json!({"type":"f64","value":true}));
    assert!(matches!(e.kind, K::Shape { .. }));
    let e = err(json!({"type":"f32","value":"nan","bits":"0x7fc000001"}));
    assert_eq!(e.path, "$.bits");
    assert!(matches!(e.kind, K::InvalidBits { .. }));
    let e = err(json!({"type":"f64","value":2.0,"bits":"0x3ff0000000000000"}));
    assert!(matches!(e.kind, K::BitsMismatch { .. }));
    assert_eq!(e.code(), "value.bits_mismatch");
    let e = err(json!({"type":"f32","value":"inf","bits":"0x7fc00000"}));
    assert!(matches!(e.kind, K::BitsMismatch { .. }));

    assert_eq!(
        err(json!({"type":"char","value":"ab"})).kind,
        K::InvalidChar(2)
    );
    assert_eq!(
        err(json!({"type":"char","value":""})).kind,
        K::InvalidChar(0)
    );
    let e = err(json!({"type":"flags","value":["a","b","a"]}));
    assert_eq!(e.path, "$.value[2]");
    assert_eq!(
        e.kind,
        K::Duplicate {
            what: "flag",
            name: "a".into()
        }
    );
    let e = err(json!({"type":"flags","value":["a",1]}));
    assert_eq!(e.path, "$.value[1]");

    assert_eq!(
        err(json!({"type":"result","value":{}})).kind,
        K::ResultShape
    );
    let both = json!({"type":"result","value":{"ok":null,"err":null}});
    assert_eq!(err(both).kind, K::ResultShape);

    let mut deep = json!({"type":"u8","value":0});
    for _ in 0..MAX_DEPTH {
        deep = json!({"type":"option","value":deep});
    }
    let e = err(deep);
    assert_eq!(e.kind, K::TooDeep(MAX_DEPTH));

    let e = Value::from_json_typed(&json!({"type":"u8","value":1}), &ValueType::U16).unwrap_err();
    assert_eq!(e.to_string(), "at $: expected u16, got u8");
    assert_eq!(e.code(), "type.mismatch");
}

#[test]
fn nested_paths_and_argument_lists() {
    let args = json!([
        {"type":"u8","value":1},
        {"type":"record","value":{"x":{"type":"u32","value":"1"}}},
    ]);
    let e = Value::from_json_array(&args, "args").unwrap_err();
    assert_eq!(e.path, "args[1].value.x.value");
    assert_eq!(
        e.to_string(),
        "at args[1].value.x.value: expected integer, got string"
    );
    let e = Value::from_json_array(&json!({}), "args").unwrap_err();
    assert_eq!(e.path, "args");
    let list = json!({"type":"list","value":[{"type":"u8","value":1},{"type":"u8","value":-1}]});
    assert_eq!(err(list).path, "$.value[1].value");
    let odd = json!({"type":"record","value":{"a b":{"type":"u8","value":300}}});
    assert_eq!(err(odd).path, "$.value[\"a b\"].value");
    let res = json!({"type":"result","value":{"err":{"type":"bool","value":0}}});
    assert_eq!(err(res).path, "$.value.err.value");
    let var = json!({"type":"variant","value":{"case":"c","payload":{"type":"x","value":0}}});
    assert_eq!(err(var).path, "$.value.payload.type");
    let e = Value::from_json_at(&json!({"type":"u8","value":-1}), "results[0]").unwrap_err();
    assert_eq!(e.path, "results[0].value");
    let ok = Value::from_json_array(&json!([{"type":"i32","value":5}]), "args").unwrap();
    assert_eq!(ok, vec![Value::I32(5)]);
}

#[test]
fn typed_decoding_reorders_record_fields() {
    use crate::value::Field;
    let ty = ValueType::Record(vec![
        Field::new("z", ValueType::U8),
        Field::new("a", ValueType::U8),
    ]);
    let j =
        json!({"type":"record","value":{"a":{"type":"u8","value":1},"z":{"type":"u8","value":2}}});
    assert_eq!(
        Value::from_json_typed(&j, &ty).unwrap(),
        Value::Record(vec![("z".into(), Value::U8(2)), ("a".into(), Value::U8(1))])
    );
}
