//! The self-describing JSON codec: `Value` ⇄ `{"type": T, "value": V}` per the table in
//! the module docs.

use super::error::{ValueError, ValueErrorKind};
use super::num::{float_from_json, float_json, int_from_json, int64_json, json_kind};
use super::path::At;
use super::{Value, ValueType};
use serde_json::{Map, Value as Json};

/// Deepest nesting of typed values accepted on decode. Far above anything a real
/// signature uses, and it keeps a hostile document from exhausting the stack.
pub const MAX_DEPTH: usize = 100;

fn typed(ty: &str, value: Json) -> Json {
    let mut m = Map::new();
    m.insert("type".into(), Json::from(ty));
    m.insert("value".into(), value);
    Json::Object(m)
}

fn boxed_json(v: &Option<Box<Value>>) -> Json {
    v.as_deref().map_or(Json::Null, Value::to_json)
}

impl Value {
    /// The self-describing JSON form, `{"type": …, "value": …}`.
    ///
    /// Deterministic: object keys come from the value alone (no hash ordering), finite
    /// floats are JSON numbers (shortest round-trip), NaN is never a number. A record
    /// with two fields of the same name keeps only the last (such a value never passes
    /// [`check`](Value::check)).
    ///
    /// ```
    /// use ledgervm_runtime::value::Value;
    /// let v = Value::Result(Ok(Some(Box::new(Value::String("hi".into())))));
    /// assert_eq!(
    ///     v.to_json().to_string(),
    ///     r#"{"type":"result","value":{"ok":{"type":"string","value":"hi"}}}"#
    /// );
    /// ```
    pub fn to_json(&self) -> Json {
        match self {
            Value::Bool(b) => typed("bool", Json::from(*b)),
            Value::S8(n) => typed("s8", Json::from(*n)),
            Value::U8(n) => typed("u8", Json::from(*n)),
            Value::S16(n) => typed("s16", Json::from(*n)),
            Value::U16(n) => typed("u16", Json::from(*n)),
            Value::S32(n) => typed("s32", Json::from(*n)),
            Value::U32(n) => typed("u32", Json::from(*n)),
            Value::I32(n) => typed("i32", Json::from(*n)),
            Value::S64(n) => typed("s64", int64_json(i128::from(*n))),
            Value::U64(n) => typed("u64", int64_json(i128::from(*n))),
            Value::I64(n) => typed("i64", int64_json(i128::from(*n))),
            Value::F32(bits) => float_typed("f32", u64::from(*bits), false),
            Value::F64(bits) => float_typed("f64", *bits, true),
            Value::Char(c) => typed("char", Json::from(c.to_string())),
            Value::String(s) => typed("string", Json::from(s.as_str())),
            Value::List(items) => typed("list", items.iter().map(Value::to_json).collect()),
            Value::Tuple(items) => typed("tuple", items.iter().map(Value::to_json).collect()),
            Value::Record(fields) => typed(
                "record",
                Json::Object(
                    fields
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_json()))
                        .collect(),
                ),
            ),
            Value::Variant { case, payload } => {
                let mut m = Map::new();
                m.insert("case".into(), Json::from(case.as_str()));
                m.insert("payload".into(), boxed_json(payload));
                typed("variant", Json::Object(m))
            }
            Value::Enum(name) => typed("enum", Json::from(name.as_str())),
            Value::Option(inner) => typed("option", boxed_json(inner)),
            Value::Result(r) => {
                let (key, payload) = match r {
                    Ok(p) => ("ok", p),
                    Err(p) => ("err", p),
                };
                let mut m = Map::new();
                m.insert(key.into(), boxed_json(payload));
                typed("result", Json::Object(m))
            }
            Value::Flags(names) => typed(
                "flags",
                names.iter().map(|n| Json::from(n.as_str())).collect(),
            ),
        }
    }

    /// Decodes the self-describing JSON form. Strict: unknown type names, extra keys,
    /// out-of-range integers, a `char` that is not one scalar value, … are errors whose
    /// path starts at `$`.
    ///
    /// ```
    /// use ledgervm_runtime::value::Value;
    /// use serde_json::json;
    /// let v = Value::from_json(&json!({"type": "u64", "value": "18446744073709551615"}));
    /// assert_eq!(v.unwrap(), Value::U64(u64::MAX));
    /// let e = Value::from_json(&json!({"type": "u8", "value": 256})).unwrap_err();
    /// assert_eq!(e.to_string(), "at $.value: 256 is out of range for u8");
    /// ```
    pub fn from_json(json: &Json) -> Result<Value, ValueError> {
        Value::from_json_at(json, "$")
    }

    /// [`from_json`](Value::from_json) with error paths rooted at `root` (e.g. `args[1]`).
    pub fn from_json_at(json: &Json, root: &str) -> Result<Value, ValueError> {
        decode(json, &At::Root(root), 0)
    }

    /// Parses JSON text and decodes it. Text that is not JSON (including lone UTF-16
    /// surrogates such as `"\ud800"`) is a [`ValueErrorKind::Syntax`] error.
    pub fn from_json_str(text: &str) -> Result<Value, ValueError> {
        let json: Json = serde_json::from_str(text)
            .map_err(|e| ValueError::new("$", ValueErrorKind::Syntax(e.to_string())))?;
        Value::from_json(&json)
    }

    /// Decodes a JSON array of typed values (an argument list); element `i` reports
    /// errors under `root[i]`.
    pub fn from_json_array(json: &Json, root: &str) -> Result<Vec<Value>, ValueError> {
        let Json::Array(items) = json else {
            return Err(ValueError::new(
                root,
                ValueErrorKind::Shape {
                    expected: "array",
                    got: json_kind(json),
                },
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| decode(item, &At::Index(&At::Root(root), i), 0))
            .collect()
    }

    /// Decodes the self-describing form and checks it against `ty`, returning the value
    /// with record fields in `ty`'s declared order (see [`Value::conform`]).
    pub fn from_json_typed(json: &Json, ty: &ValueType) -> Result<Value, ValueError> {
        let v = Value::from_json(json)?;
        v.conform(ty)
            .map_err(|e| ValueError::new("$", ValueErrorKind::Type(e)))
    }
}

fn float_typed(ty: &str, bits: u64, wide: bool) -> Json {
    let (value, bits) = float_json(bits, wide);
    let mut j = typed(ty, value);
    if let (Some(b), Json::Object(m)) = (bits, &mut j) {
        m.insert("bits".into(), Json::from(b));
    }
    j
}

fn shape(at: &At<'_>, expected: &'static str, got: &Json) -> ValueError {
    ValueError::new(
        at,
        ValueErrorKind::Shape {
            expected,
            got: json_kind(got),
        },
    )
}

fn decode_box(v: &Json, at: &At<'_>, depth: usize) -> Result<Option<Box<Value>>, ValueError> {
    match v {
        Json::Null => Ok(None),
        other => decode(other, at, depth).map(|v| Some(Box::new(v))),
    }
}

fn decode(json: &Json, at: &At<'_>, depth: usize) -> Result<Value, ValueError> {
    if depth >= MAX_DEPTH {
        return Err(ValueError::new(at, ValueErrorKind::TooDeep(MAX_DEPTH)));
    }
    let Json::Object(obj) = json else {
        return Err(shape(at, "object", json));
    };
    let ty_json = obj
        .get("type")
        .ok_or_else(|| ValueError::new(at, ValueErrorKind::MissingKey("type")))?;
    let type_at = At::Key(at, "type");
    let Json::String(ty) = ty_json else {
        return Err(shape(&type_at, "string", ty_json));
    };
    let is_float = ty == "f32" || ty == "f64";
    for k in obj.keys() {
        if !(k == "type" || k == "value" || (is_float && k == "bits")) {
            return Err(ValueError::new(at, ValueErrorKind::UnknownKey(k.clone())));
        }
    }
    let value = obj
        .get("value")
        .ok_or_else(|| ValueError::new(at, ValueErrorKind::MissingKey("value")))?;
    let vat = At::Key(at, "value");
    let err = |kind| ValueError::new(&vat, kind);
    let depth = depth + 1;

    if let Some(scalar) = ValueType::scalar_from_name(ty) {
        return match scalar {
            ValueType::Bool => match value {
                Json::Bool(b) => Ok(Value::Bool(*b)),
                other => Err(shape(&vat, "boolean", other)),
            },
            ValueType::F32 | ValueType::F64 => {
                float_from_json(ty == "f64", value, obj.get("bits")).map_err(|kind| {
                    // A bad `bits` is reported at the bits key.
                    let at = match kind {
                        ValueErrorKind::InvalidBits { .. } => At::Key(at, "bits"),
                        _ => vat,
                    };
                    ValueError::new(&at, kind)
                })
            }
            ValueType::Char => match value {
                Json::String(s) => {
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Ok(Value::Char(c)),
                        _ => Err(err(ValueErrorKind::InvalidChar(s.chars().count()))),
                    }
                }
                other => Err(shape(&vat, "string", other)),
            },
            ValueType::String => match value {
                Json::String(s) => Ok(Value::String(s.clone())),
                other => Err(shape(&vat, "string", other)),
            },
            int => int_from_json(&int, value).map_err(err),
        };
    }

    match ty.as_str() {
        "list" | "tuple" => {
            let Json::Array(items) = value else {
                return Err(shape(&vat, "array", value));
            };
            let items = items
                .iter()
                .enumerate()
                .map(|(i, item)| decode(item, &At::Index(&vat, i), depth))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if ty == "list" {
                Value::List(items)
            } else {
                Value::Tuple(items)
            })
        }
        "record" => {
            let Json::Object(fields) = value else {
                return Err(shape(&vat, "object", value));
            };
            fields
                .iter()
                .map(|(k, v)| {
                    Ok::<_, ValueError>((k.clone(), decode(v, &At::Key(&vat, k), depth)?))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Record)
        }
        "variant" => {
            let Json::Object(m) = value else {
                return Err(shape(&vat, "object", value));
            };
            if let Some(k) = m.keys().find(|k| *k != "case" && *k != "payload") {
                return Err(err(ValueErrorKind::UnknownKey(k.clone())));
            }
            let case = m
                .get("case")
                .ok_or_else(|| err(ValueErrorKind::MissingKey("case")))?;
            let Json::String(case) = case else {
                return Err(shape(&At::Key(&vat, "case"), "string", case));
            };
            let payload = match m.get("payload") {
                None => None,
                Some(p) => decode_box(p, &At::Key(&vat, "payload"), depth)?,
            };
            Ok(Value::Variant {
                case: case.clone(),
                payload,
            })
        }
        "enum" => match value {
            Json::String(s) => Ok(Value::Enum(s.clone())),
            other => Err(shape(&vat, "string", other)),
        },
        "option" => Ok(Value::Option(decode_box(value, &vat, depth)?)),
        "result" => {
            let Json::Object(m) = value else {
                return Err(shape(&vat, "object", value));
            };
            if let Some(k) = m.keys().find(|k| *k != "ok" && *k != "err") {
                return Err(err(ValueErrorKind::UnknownKey(k.clone())));
            }
            match (m.get("ok"), m.get("err")) {
                (Some(p), None) => Ok(Value::Result(Ok(decode_box(
                    p,
                    &At::Key(&vat, "ok"),
                    depth,
                )?))),
                (None, Some(p)) => Ok(Value::Result(Err(decode_box(
                    p,
                    &At::Key(&vat, "err"),
                    depth,
                )?))),
                _ => Err(err(ValueErrorKind::ResultShape)),
            }
        }
        "flags" => {
            let Json::Array(items) = value else {
                return Err(shape(&vat, "array", value));
            };
            let mut names: Vec<String> = Vec::with_capacity(items.len());
            let mut seen = std::collections::BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let Json::String(s) = item else {
                    return Err(shape(&At::Index(&vat, i), "string", item));
                };
                if !seen.insert(s.as_str()) {
                    return Err(ValueError::new(
                        &At::Index(&vat, i),
                        ValueErrorKind::Duplicate {
                            what: "flag",
                            name: s.clone(),
                        },
                    ));
                }
                names.push(s.clone());
            }
            Ok(Value::Flags(names))
        }
        other => Err(ValueError::new(
            &type_at,
            ValueErrorKind::UnknownType(other.to_owned()),
        )),
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
