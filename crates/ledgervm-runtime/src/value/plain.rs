//! Plain inputs: words typed on a command line or in a query string (`5`, `hello`,
//! `true`) and untyped JSON, both interpreted against a known parameter type.

use super::error::{TypeError, TypeErrorKind, ValueError, ValueErrorKind};
use super::json::MAX_DEPTH;
use super::num::{float_from_json, int_from_json, int_value, json_kind, parse_decimal};
use super::{Value, ValueType, path};
use serde_json::Value as Json;

/// Turns a plain word into a value of type `ty`.
///
/// * integers: strict decimal (`-12`); a core `i32`/`i64` also takes the unsigned range
///   (`4294967295` becomes a `u32` value, which an `i32` parameter accepts);
/// * floats: Rust float syntax (`1.5`, `-0`, `1e-3`, `inf`, `NaN`), parsed directly at
///   the target width so there is no double rounding;
/// * `bool`: `true` / `false`; `char`: one character; `string`: the text verbatim;
/// * `enum`: the case name;
/// * compound types: typed JSON (`{"type":"list",…}`) or untyped JSON as accepted by
///   [`Value::from_plain_json`].
///
/// ```
/// use ledgervm_runtime::value::{parse_plain, Value, ValueType};
/// assert_eq!(parse_plain("5", &ValueType::I32).unwrap(), Value::I32(5));
/// assert_eq!(parse_plain("hello", &ValueType::String).unwrap(), Value::String("hello".into()));
/// let list = parse_plain("[1,2]", &ValueType::list(ValueType::U8)).unwrap();
/// assert_eq!(list, Value::List(vec![Value::U8(1), Value::U8(2)]));
/// assert!(parse_plain("256", &ValueType::U8).is_err());
/// ```
pub fn parse_plain(text: &str, ty: &ValueType) -> Result<Value, ValueError> {
    let err = |kind| ValueError::new("", kind);
    match ty {
        ValueType::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(err(ValueErrorKind::Shape {
                expected: "true or false",
                got: "other text",
            })),
        },
        ValueType::S8
        | ValueType::U8
        | ValueType::S16
        | ValueType::U16
        | ValueType::S32
        | ValueType::U32
        | ValueType::S64
        | ValueType::U64
        | ValueType::I32
        | ValueType::I64 => {
            let n = parse_decimal(text).map_err(|too_big| {
                err(if too_big {
                    ValueErrorKind::IntOutOfRange {
                        ty: ty.kind_name(),
                        value: text.into(),
                    }
                } else {
                    ValueErrorKind::InvalidInt {
                        ty: ty.kind_name(),
                        text: text.into(),
                    }
                })
            })?;
            // Core integers are sign-agnostic: keep the unsigned reading as typed.
            let ty = match ty {
                ValueType::I32 if n > i128::from(i32::MAX) => ValueType::U32,
                ValueType::I64 if n > i128::from(i64::MAX) => ValueType::U64,
                other => other.clone(),
            };
            int_value(&ty, n, text).map_err(|kind| match kind {
                ValueErrorKind::IntOutOfRange { value, .. } => err(ValueErrorKind::IntOutOfRange {
                    ty: ty.kind_name(),
                    value,
                }),
                other => err(other),
            })
        }
        ValueType::F32 | ValueType::F64 => parse_float(text, matches!(ty, ValueType::F64)),
        ValueType::Char => {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Value::Char(c)),
                _ => Err(err(ValueErrorKind::InvalidChar(text.chars().count()))),
            }
        }
        ValueType::String => Ok(Value::String(text.to_owned())),
        compound => match serde_json::from_str::<Json>(text) {
            Ok(json) => {
                let typed_form = json.as_object().is_some_and(|m| {
                    m.contains_key("type") && m.contains_key("value") && m.len() == 2
                });
                if typed_form {
                    Value::from_json_typed(&json, compound)
                } else {
                    Value::from_plain_json(&json, compound)
                }
            }
            Err(_) if matches!(compound, ValueType::Enum(_)) => Value::Enum(text.to_owned())
                .conform(compound)
                .map_err(|e| err(ValueErrorKind::Type(e))),
            Err(e) => Err(err(ValueErrorKind::Syntax(e.to_string()))),
        },
    }
}

fn parse_float(text: &str, wide: bool) -> Result<Value, ValueError> {
    let ty = if wide { "f64" } else { "f32" };
    let invalid = || {
        ValueError::new(
            "",
            ValueErrorKind::InvalidFloat {
                ty,
                text: text.into(),
            },
        )
    };
    let says_infinite = text.to_ascii_lowercase().contains("inf");
    if wide {
        let x: f64 = text.parse().map_err(|_| invalid())?;
        Ok(Value::F64(x.to_bits()))
    } else {
        let x: f32 = text.parse().map_err(|_| invalid())?;
        if x.is_infinite() && !says_infinite {
            return Err(ValueError::new(
                "",
                ValueErrorKind::FloatOutOfRange(text.into()),
            ));
        }
        Ok(Value::F32(x.to_bits()))
    }
}

impl Value {
    /// Decodes untyped JSON directed by `ty` (for hand-written inputs): the `value` part
    /// of the typed form without any `type` tags, e.g. `{"x": 1, "y": [true]}` for
    /// `record { x: u32, y: list<bool> }`. `option` is `null` or the inner value (so
    /// `null` is always the outermost `none`); a payload-less variant case may be given
    /// as its bare name. Errors are rooted at `$`.
    pub fn from_plain_json(json: &Json, ty: &ValueType) -> Result<Value, ValueError> {
        plain(json, ty, "$", 0)
    }
}

fn shape(at: &str, expected: &'static str, got: &Json) -> ValueError {
    ValueError::new(
        at,
        ValueErrorKind::Shape {
            expected,
            got: json_kind(got),
        },
    )
}

fn type_err(at: &str, kind: TypeErrorKind) -> ValueError {
    ValueError::new(at, ValueErrorKind::Type(TypeError::new(kind)))
}

fn plain_box(
    v: Option<&Json>,
    ty: Option<&ValueType>,
    name: &str,
    at: &str,
    depth: usize,
) -> Result<Option<Box<Value>>, ValueError> {
    match (v.filter(|v| !v.is_null()), ty) {
        (None, None) => Ok(None),
        (Some(v), Some(t)) => Ok(Some(Box::new(plain(v, t, at, depth)?))),
        (None, Some(_)) => Err(type_err(at, TypeErrorKind::MissingPayload(name.into()))),
        (Some(_), None) => Err(type_err(at, TypeErrorKind::UnexpectedPayload(name.into()))),
    }
}

fn plain(json: &Json, ty: &ValueType, at: &str, depth: usize) -> Result<Value, ValueError> {
    if depth >= MAX_DEPTH {
        return Err(ValueError::new(at, ValueErrorKind::TooDeep(MAX_DEPTH)));
    }
    let depth = depth + 1;
    let err = |kind| ValueError::new(at, kind);
    let check = |v: Value| v.conform(ty).map_err(|e| err(ValueErrorKind::Type(e)));
    match ty {
        ValueType::Bool => json
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| shape(at, "boolean", json)),
        ValueType::F32 | ValueType::F64 => {
            float_from_json(matches!(ty, ValueType::F64), json, None).map_err(err)
        }
        ValueType::Char => {
            let s = json.as_str().ok_or_else(|| shape(at, "string", json))?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Value::Char(c)),
                _ => Err(err(ValueErrorKind::InvalidChar(s.chars().count()))),
            }
        }
        ValueType::String => json
            .as_str()
            .map(|s| Value::String(s.to_owned()))
            .ok_or_else(|| shape(at, "string", json)),
        ValueType::List(elem) => {
            let items = json.as_array().ok_or_else(|| shape(at, "array", json))?;
            items
                .iter()
                .enumerate()
                .map(|(i, v)| plain(v, elem, &path::index(at, i), depth))
                .collect::<Result<_, _>>()
                .map(Value::List)
        }
        ValueType::Tuple(types) => {
            let items = json.as_array().ok_or_else(|| shape(at, "array", json))?;
            if items.len() != types.len() {
                return Err(type_err(
                    at,
                    TypeErrorKind::TupleLength {
                        expected: types.len(),
                        got: items.len(),
                    },
                ));
            }
            items
                .iter()
                .zip(types)
                .enumerate()
                .map(|(i, (v, t))| plain(v, t, &path::index(at, i), depth))
                .collect::<Result<_, _>>()
                .map(Value::Tuple)
        }
        ValueType::Record(fields) => {
            let m = json.as_object().ok_or_else(|| shape(at, "object", json))?;
            if let Some(k) = m.keys().find(|k| !fields.iter().any(|f| f.name == **k)) {
                return Err(type_err(at, TypeErrorKind::UnknownField(k.clone())));
            }
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                let v = m
                    .get(&f.name)
                    .ok_or_else(|| type_err(at, TypeErrorKind::MissingField(f.name.clone())))?;
                out.push((
                    f.name.clone(),
                    plain(v, &f.ty, &path::key(at, &f.name), depth)?,
                ));
            }
            Ok(Value::Record(out))
        }
        ValueType::Variant(cases) => {
            let (case, payload) = match json {
                Json::String(s) => (s.as_str(), None),
                Json::Object(m) => {
                    if let Some(k) = m.keys().find(|k| *k != "case" && *k != "payload") {
                        return Err(err(ValueErrorKind::UnknownKey(k.clone())));
                    }
                    let c = m
                        .get("case")
                        .ok_or_else(|| err(ValueErrorKind::MissingKey("case")))?;
                    let c = c
                        .as_str()
                        .ok_or_else(|| shape(&path::key(at, "case"), "string", c))?;
                    (c, m.get("payload"))
                }
                other => return Err(shape(at, "object or case name", other)),
            };
            let Some(c) = cases.iter().find(|c| c.name == case) else {
                return check(Value::Variant {
                    case: case.into(),
                    payload: None,
                });
            };
            let payload = plain_box(
                payload,
                c.ty.as_ref(),
                case,
                &path::key(at, "payload"),
                depth,
            )?;
            Ok(Value::Variant {
                case: case.into(),
                payload,
            })
        }
        ValueType::Enum(_) => {
            let s = json.as_str().ok_or_else(|| shape(at, "string", json))?;
            check(Value::Enum(s.to_owned()))
        }
        ValueType::Flags(_) => {
            let items = json.as_array().ok_or_else(|| shape(at, "array", json))?;
            let names = items
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    n.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| shape(&path::index(at, i), "string", n))
                })
                .collect::<Result<Vec<_>, _>>()?;
            check(Value::Flags(names))
        }
        ValueType::Option(inner) => match json {
            Json::Null => Ok(Value::Option(None)),
            v => Ok(Value::Option(Some(Box::new(plain(v, inner, at, depth)?)))),
        },
        ValueType::Result { ok, err: e } => {
            let m = json.as_object().ok_or_else(|| shape(at, "object", json))?;
            if let Some(k) = m.keys().find(|k| *k != "ok" && *k != "err") {
                return Err(err(ValueErrorKind::UnknownKey(k.clone())));
            }
            match (m.get("ok"), m.get("err")) {
                (Some(p), None) => Ok(Value::Result(Ok(plain_box(
                    Some(p),
                    ok.as_deref(),
                    "ok",
                    &path::key(at, "ok"),
                    depth,
                )?))),
                (None, Some(p)) => Ok(Value::Result(Err(plain_box(
                    Some(p),
                    e.as_deref(),
                    "err",
                    &path::key(at, "err"),
                    depth,
                )?))),
                _ => Err(err(ValueErrorKind::ResultShape)),
            }
        }
        int => int_from_json(int, json).map_err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Case, Field};
    use serde_json::json;

    #[test]
    fn scalar_words() {
        let p = |t: &str, ty: &ValueType| parse_plain(t, ty);
        assert_eq!(p("true", &ValueType::Bool).unwrap(), Value::Bool(true));
        assert_eq!(p("false", &ValueType::Bool).unwrap(), Value::Bool(false));
        assert!(p("True", &ValueType::Bool).is_err());
        assert_eq!(p("-128", &ValueType::S8).unwrap(), Value::S8(i8::MIN));
        assert_eq!(
            p("18446744073709551615", &ValueType::U64).unwrap(),
            Value::U64(u64::MAX)
        );
        assert_eq!(p("-5", &ValueType::I32).unwrap(), Value::I32(-5));
        assert_eq!(
            p("4294967295", &ValueType::I32).unwrap(),
            Value::U32(u32::MAX)
        );
        assert_eq!(
            p("18446744073709551615", &ValueType::I64).unwrap(),
            Value::U64(u64::MAX)
        );
        let e = p("4294967296", &ValueType::I32).unwrap_err();
        assert_eq!(e.to_string(), "4294967296 is out of range for u32");
        assert!(matches!(
            p("5x", &ValueType::U8).unwrap_err().kind,
            ValueErrorKind::InvalidInt { .. }
        ));
        assert!(matches!(
            p(&"9".repeat(50), &ValueType::U8).unwrap_err().kind,
            ValueErrorKind::IntOutOfRange { .. }
        ));
        assert_eq!(p("1.5", &ValueType::F64).unwrap(), Value::f64(1.5));
        assert_eq!(p("-0", &ValueType::F32).unwrap(), Value::f32(-0.0));
        assert_eq!(p("0.1", &ValueType::F32).unwrap(), Value::f32(0.1));
        assert_eq!(
            p("inf", &ValueType::F32).unwrap(),
            Value::f32(f32::INFINITY)
        );
        assert!(
            p("NaN", &ValueType::F64)
                .unwrap()
                .as_f64()
                .unwrap()
                .is_nan()
        );
        assert!(matches!(
            p("1e39", &ValueType::F32).unwrap_err().kind,
            ValueErrorKind::FloatOutOfRange(_)
        ));
        assert!(matches!(
            p("one", &ValueType::F32).unwrap_err().kind,
            ValueErrorKind::InvalidFloat { .. }
        ));
        assert_eq!(p("é", &ValueType::Char).unwrap(), Value::Char('é'));
        assert_eq!(
            p("ab", &ValueType::Char).unwrap_err().kind,
            ValueErrorKind::InvalidChar(2)
        );
        assert_eq!(
            p("hello world", &ValueType::String).unwrap(),
            Value::String("hello world".into())
        );
        assert_eq!(
            p("", &ValueType::String).unwrap(),
            Value::String(String::new())
        );
    }

    #[test]
    fn compound_words() {
        let colors = ValueType::Enum(vec!["red".into(), "green".into()]);
        assert_eq!(
            parse_plain("red", &colors).unwrap(),
            Value::Enum("red".into())
        );
        assert_eq!(
            parse_plain("\"green\"", &colors).unwrap(),
            Value::Enum("green".into())
        );
        let e = parse_plain("blue", &colors).unwrap_err();
        assert_eq!(e.code(), "type.unknown_enum_case");
        let point = ValueType::Record(vec![
            Field::new("y", ValueType::U8),
            Field::new("x", ValueType::U8),
        ]);
        let want = Value::Record(vec![("y".into(), Value::U8(2)), ("x".into(), Value::U8(1))]);
        assert_eq!(parse_plain(r#"{"x":1,"y":2}"#, &point).unwrap(), want);
        let typed = r#"{"type":"record","value":{"x":{"type":"u8","value":1},"y":{"type":"u8","value":2}}}"#;
        assert_eq!(parse_plain(typed, &point).unwrap(), want);
        assert!(matches!(
            parse_plain("{", &point).unwrap_err().kind,
            ValueErrorKind::Syntax(_)
        ));
        let e = parse_plain(r#"{"x":1}"#, &point).unwrap_err();
        assert_eq!(e.to_string(), "at $: missing field \"y\"");
        let e = parse_plain(r#"{"x":1,"y":2,"z":3}"#, &point).unwrap_err();
        assert_eq!(e.code(), "type.unknown_field");
        let e = parse_plain(r#"{"x":1,"y":-2}"#, &point).unwrap_err();
        assert_eq!(e.path, "$.y");
    }

    #[test]
    fn plain_json_for_every_kind() {
        let var = ValueType::Variant(vec![
            Case::new("a", None),
            Case::new("b", Some(ValueType::U8)),
        ]);
        let ty = ValueType::Tuple(vec![
            ValueType::list(ValueType::Char),
            ValueType::option(ValueType::option(ValueType::U64)),
            ValueType::result(Some(ValueType::F32), None),
            ValueType::Flags(vec!["r".into(), "w".into()]),
            var.clone(),
            var.clone(),
            ValueType::Bool,
            ValueType::String,
            ValueType::F64,
        ]);
        let j = json!([["x"], "18446744073709551615", {"ok": "nan"}, ["w"], "a",
            {"case":"b","payload":7}, true, "s", -0.0]);
        let v = Value::from_plain_json(&j, &ty).unwrap();
        assert_eq!(
            v,
            Value::Tuple(vec![
                Value::List(vec![Value::Char('x')]),
                Value::Option(Some(Box::new(Value::Option(Some(Box::new(Value::U64(
                    u64::MAX
                ))))))),
                Value::Result(Ok(Some(Box::new(Value::F32(0x7fc0_0000))))),
                Value::Flags(vec!["w".into()]),
                Value::Variant {
                    case: "a".into(),
                    payload: None
                },
                Value::Variant {
                    case: "b".into(),
                    payload: Some(Box::new(Value::U8(7)))
                },
                Value::Bool(true),
                Value::String("s".into()),
                Value::f64(-0.0),
            ])
        );
        assert!(v.check(&ty).is_ok());
        let code = |j: Json, t: &ValueType| Value::from_plain_json(&j, t).unwrap_err().code();
        assert_eq!(code(json!({"case":"b"}), &var), "type.missing_payload");
        assert_eq!(
            code(json!({"case":"a","payload":1}), &var),
            "type.unexpected_payload"
        );
        assert_eq!(code(json!("zz"), &var), "type.unknown_case");
        assert_eq!(code(json!({"case":"a","x":1}), &var), "value.unknown_key");
        assert_eq!(code(json!({"payload":1}), &var), "value.missing_key");
        assert_eq!(code(json!(1), &var), "value.shape");
        assert_eq!(
            code(json!({}), &ValueType::result(None, None)),
            "value.result_shape"
        );
        assert_eq!(
            code(json!({"ok":null,"no":1}), &ValueType::result(None, None)),
            "value.unknown_key"
        );
        assert_eq!(
            code(json!(["x"]), &ValueType::Flags(vec![])),
            "type.unknown_flag"
        );
        assert_eq!(code(json!([1]), &ValueType::Flags(vec![])), "value.shape");
        assert_eq!(
            code(json!([1]), &ValueType::Tuple(vec![])),
            "type.tuple_length"
        );
        assert_eq!(code(json!("ab"), &ValueType::Char), "value.char");
        assert_eq!(code(json!(1), &ValueType::String), "value.shape");
        assert_eq!(code(json!(1), &ValueType::Bool), "value.shape");
        assert_eq!(code(json!(1.5), &ValueType::S16), "value.int_syntax");
        assert_eq!(
            code(json!(1), &ValueType::list(ValueType::U8)),
            "value.shape"
        );
        let mut deep = ValueType::U8;
        let mut j = json!(1);
        for _ in 0..=MAX_DEPTH {
            deep = ValueType::list(deep);
            j = json!([j]);
        }
        assert_eq!(code(j, &deep), "value.too_deep");
    }
}
