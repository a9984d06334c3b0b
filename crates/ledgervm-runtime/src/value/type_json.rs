//! `ValueType` ⇄ JSON (for export introspection in API responses) and its WIT-like
//! display (for the CLI and error messages).

use super::error::{ValueError, ValueErrorKind};
use super::json::MAX_DEPTH;
use super::num::json_kind;
use super::{Case, Field, FuncType, ValueType, path};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeSet;
use std::fmt;

fn opt_json(t: &Option<Box<ValueType>>) -> Json {
    t.as_deref().map_or(Json::Null, ValueType::to_json)
}

impl ValueType {
    /// The JSON form: scalars as strings (`"u32"`), compound types as one-key objects:
    /// `{"list":"u8"}`, `{"record":[{"name":"x","type":"u32"}]}`,
    /// `{"variant":[{"name":"a","type":null}]}`, `{"enum":["a"]}`, `{"option":T}`,
    /// `{"result":{"ok":T|null,"err":T|null}}`, `{"flags":["a"]}`, `{"tuple":[T]}`.
    ///
    /// ```
    /// use ledgervm_runtime::value::ValueType;
    /// let t = ValueType::result(Some(ValueType::list(ValueType::U8)), None);
    /// assert_eq!(t.to_json().to_string(), r#"{"result":{"err":null,"ok":{"list":"u8"}}}"#);
    /// assert_eq!(ValueType::from_json(&t.to_json()).unwrap(), t);
    /// assert_eq!(t.to_string(), "result<list<u8>>");
    /// ```
    pub fn to_json(&self) -> Json {
        let names = |ns: &Vec<String>| Json::from(ns.clone());
        match self {
            ValueType::List(t) => json!({ "list": t.to_json() }),
            ValueType::Option(t) => json!({ "option": t.to_json() }),
            ValueType::Tuple(ts) => {
                json!({ "tuple": ts.iter().map(ValueType::to_json).collect::<Vec<_>>() })
            }
            ValueType::Record(fs) => json!({ "record": fs
                .iter()
                .map(|f| json!({ "name": f.name, "type": f.ty.to_json() }))
                .collect::<Vec<_>>() }),
            ValueType::Variant(cs) => json!({ "variant": cs
                .iter()
                .map(|c| json!({
                    "name": c.name,
                    "type": c.ty.as_ref().map_or(Json::Null, ValueType::to_json),
                }))
                .collect::<Vec<_>>() }),
            ValueType::Enum(ns) => json!({ "enum": names(ns) }),
            ValueType::Flags(ns) => json!({ "flags": names(ns) }),
            ValueType::Result { ok, err } => {
                json!({ "result": { "ok": opt_json(ok), "err": opt_json(err) } })
            }
            scalar => Json::from(scalar.kind_name()),
        }
    }

    /// Decodes the JSON form of [`to_json`](ValueType::to_json). Strict: unknown names,
    /// extra keys, empty or duplicate field/case/flag names are errors.
    pub fn from_json(json: &Json) -> Result<ValueType, ValueError> {
        decode_type(json, "$", 0)
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

fn array<'a>(v: &'a Json, at: &str) -> Result<&'a Vec<Json>, ValueError> {
    v.as_array().ok_or_else(|| shape(at, "array", v))
}

/// Object with exactly the keys `keys` (all required).
fn exact_keys<'a>(
    v: &'a Json,
    at: &str,
    keys: &[&'static str],
) -> Result<&'a Map<String, Json>, ValueError> {
    let m = v.as_object().ok_or_else(|| shape(at, "object", v))?;
    if let Some(k) = m.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(ValueError::new(at, ValueErrorKind::UnknownKey(k.clone())));
    }
    if let Some(k) = keys.iter().find(|k| !m.contains_key(**k)) {
        return Err(ValueError::new(at, ValueErrorKind::MissingKey(k)));
    }
    Ok(m)
}

/// A unique, non-empty name.
fn name(
    v: &Json,
    at: &str,
    what: &'static str,
    seen: &mut BTreeSet<String>,
) -> Result<String, ValueError> {
    let s = v.as_str().ok_or_else(|| shape(at, "string", v))?;
    if s.is_empty() {
        return Err(ValueError::new(at, ValueErrorKind::EmptyName(what)));
    }
    if !seen.insert(s.to_owned()) {
        return Err(ValueError::new(
            at,
            ValueErrorKind::Duplicate {
                what,
                name: s.to_owned(),
            },
        ));
    }
    Ok(s.to_owned())
}

fn names(v: &Json, at: &str, what: &'static str) -> Result<Vec<String>, ValueError> {
    let mut seen = BTreeSet::new();
    array(v, at)?
        .iter()
        .enumerate()
        .map(|(i, n)| name(n, &path::index(at, i), what, &mut seen))
        .collect()
}

fn opt_type(v: &Json, at: &str, depth: usize) -> Result<Option<ValueType>, ValueError> {
    match v {
        Json::Null => Ok(None),
        t => decode_type(t, at, depth).map(Some),
    }
}

fn decode_type(json: &Json, at: &str, depth: usize) -> Result<ValueType, ValueError> {
    if depth >= MAX_DEPTH {
        return Err(ValueError::new(at, ValueErrorKind::TooDeep(MAX_DEPTH)));
    }
    let depth = depth + 1;
    let obj = match json {
        Json::String(s) => {
            return ValueType::scalar_from_name(s)
                .ok_or_else(|| ValueError::new(at, ValueErrorKind::UnknownType(s.clone())));
        }
        Json::Object(obj) => obj,
        other => return Err(shape(at, "string or object", other)),
    };
    let mut keys = obj.iter();
    let (kind, inner) = match (keys.next(), keys.next()) {
        (Some(kv), None) => kv,
        (None, _) => return Err(ValueError::new(at, ValueErrorKind::MissingKey("type"))),
        (Some(_), Some((k, _))) => {
            return Err(ValueError::new(at, ValueErrorKind::UnknownKey(k.clone())));
        }
    };
    let iat = path::key(at, kind);
    Ok(match kind.as_str() {
        "list" => ValueType::List(Box::new(decode_type(inner, &iat, depth)?)),
        "option" => ValueType::Option(Box::new(decode_type(inner, &iat, depth)?)),
        "tuple" => ValueType::Tuple(
            array(inner, &iat)?
                .iter()
                .enumerate()
                .map(|(i, t)| decode_type(t, &path::index(&iat, i), depth))
                .collect::<Result<_, _>>()?,
        ),
        "record" | "variant" => {
            let mut seen = BTreeSet::new();
            let mut fields = Vec::new();
            let mut cases = Vec::new();
            for (i, f) in array(inner, &iat)?.iter().enumerate() {
                let fat = path::index(&iat, i);
                let m = exact_keys(f, &fat, &["name", "type"])?;
                let what = if kind == "record" { "field" } else { "case" };
                let n = name(&m["name"], &path::key(&fat, "name"), what, &mut seen)?;
                let tat = path::key(&fat, "type");
                if kind == "record" {
                    fields.push(Field::new(n, decode_type(&m["type"], &tat, depth)?));
                } else {
                    cases.push(Case::new(n, opt_type(&m["type"], &tat, depth)?));
                }
            }
            if kind == "record" {
                ValueType::Record(fields)
            } else {
                ValueType::Variant(cases)
            }
        }
        "enum" => ValueType::Enum(names(inner, &iat, "case")?),
        "flags" => ValueType::Flags(names(inner, &iat, "flag")?),
        "result" => {
            let m = exact_keys(inner, &iat, &["ok", "err"])?;
            ValueType::Result {
                ok: opt_type(&m["ok"], &path::key(&iat, "ok"), depth)?.map(Box::new),
                err: opt_type(&m["err"], &path::key(&iat, "err"), depth)?.map(Box::new),
            }
        }
        other => {
            return Err(ValueError::new(
                at,
                ValueErrorKind::UnknownType(other.into()),
            ));
        }
    })
}

impl FuncType {
    /// JSON form: `{"params":[{"name":"a","type":"u32"}],"results":["u32"]}`.
    ///
    /// ```
    /// use ledgervm_runtime::value::{Field, FuncType, ValueType};
    /// let f = FuncType { params: vec![Field::new("a", ValueType::I32)], results: vec![ValueType::I32] };
    /// assert_eq!(FuncType::from_json(&f.to_json()).unwrap(), f);
    /// assert_eq!(f.to_string(), "func(a: i32) -> i32");
    /// ```
    pub fn to_json(&self) -> Json {
        json!({
            "params": self.params.iter()
                .map(|p| json!({ "name": p.name, "type": p.ty.to_json() }))
                .collect::<Vec<_>>(),
            "results": self.results.iter().map(ValueType::to_json).collect::<Vec<_>>(),
        })
    }

    /// Decodes the JSON form of [`to_json`](FuncType::to_json).
    pub fn from_json(json: &Json) -> Result<FuncType, ValueError> {
        let m = exact_keys(json, "$", &["params", "results"])?;
        let mut seen = BTreeSet::new();
        let mut params = Vec::new();
        for (i, p) in array(&m["params"], "$.params")?.iter().enumerate() {
            let at = path::index("$.params", i);
            let pm = exact_keys(p, &at, &["name", "type"])?;
            let n = name(&pm["name"], &path::key(&at, "name"), "parameter", &mut seen)?;
            params.push(Field::new(
                n,
                decode_type(&pm["type"], &path::key(&at, "type"), 0)?,
            ));
        }
        let results = array(&m["results"], "$.results")?
            .iter()
            .enumerate()
            .map(|(i, t)| decode_type(t, &path::index("$.results", i), 0))
            .collect::<Result<_, _>>()?;
        Ok(FuncType { params, results })
    }
}

fn comma_list<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    mut one: impl FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        one(f, item)?;
    }
    Ok(())
}

/// `kw { a, b }`, or `kw {}` when empty.
fn braced<T>(
    f: &mut fmt::Formatter<'_>,
    kw: &str,
    items: &[T],
    one: impl FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    if items.is_empty() {
        return write!(f, "{kw} {{}}");
    }
    write!(f, "{kw} {{ ")?;
    comma_list(f, items, one)?;
    f.write_str(" }")
}

/// WIT-like: `list<u8>`, `record { x: u32 }`, `variant { a, b(u32) }`,
/// `result<string, u32>`, `result<_, u32>`, `tuple<u8, char>`, `flags { a, b }`.
impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueType::List(t) => write!(f, "list<{t}>"),
            ValueType::Option(t) => write!(f, "option<{t}>"),
            ValueType::Tuple(ts) => {
                f.write_str("tuple<")?;
                comma_list(f, ts, |f, t| write!(f, "{t}"))?;
                f.write_str(">")
            }
            ValueType::Record(fs) => {
                braced(f, "record", fs, |f, fl| write!(f, "{}: {}", fl.name, fl.ty))
            }
            ValueType::Variant(cs) => braced(f, "variant", cs, |f, c| match &c.ty {
                Some(t) => write!(f, "{}({t})", c.name),
                None => f.write_str(&c.name),
            }),
            ValueType::Enum(ns) | ValueType::Flags(ns) => {
                braced(f, self.kind_name(), ns, |f, n| f.write_str(n))
            }
            ValueType::Result { ok, err } => match (ok, err) {
                (None, None) => f.write_str("result"),
                (Some(o), None) => write!(f, "result<{o}>"),
                (None, Some(e)) => write!(f, "result<_, {e}>"),
                (Some(o), Some(e)) => write!(f, "result<{o}, {e}>"),
            },
            scalar => f.write_str(scalar.kind_name()),
        }
    }
}

/// `func(a: u32, b: string) -> u32`; several results are shown as a tuple-like list.
impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("func(")?;
        comma_list(f, &self.params, |f, p| write!(f, "{}: {}", p.name, p.ty))?;
        f.write_str(")")?;
        match self.results.as_slice() {
            [] => Ok(()),
            [one] => write!(f, " -> {one}"),
            many => {
                f.write_str(" -> (")?;
                comma_list(f, many, |f, t| write!(f, "{t}"))?;
                f.write_str(")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<(ValueType, Json, &'static str)> {
        let mut v: Vec<(ValueType, Json, &'static str)> = [
            "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "i32", "i64", "f32",
            "f64", "char", "string",
        ]
        .into_iter()
        .map(|n| (ValueType::scalar_from_name(n).unwrap(), json!(n), n))
        .collect();
        v.extend([
            (
                ValueType::list(ValueType::U8),
                json!({"list":"u8"}),
                "list<u8>",
            ),
            (
                ValueType::Record(vec![
                    Field::new("x", ValueType::U32),
                    Field::new("y", ValueType::F64),
                ]),
                json!({"record":[{"name":"x","type":"u32"},{"name":"y","type":"f64"}]}),
                "record { x: u32, y: f64 }",
            ),
            (ValueType::Record(vec![]), json!({"record":[]}), "record {}"),
            (
                ValueType::Variant(vec![
                    Case::new("a", None),
                    Case::new("b", Some(ValueType::String)),
                ]),
                json!({"variant":[{"name":"a","type":null},{"name":"b","type":"string"}]}),
                "variant { a, b(string) }",
            ),
            (
                ValueType::Enum(vec!["r".into(), "g".into()]),
                json!({"enum":["r","g"]}),
                "enum { r, g }",
            ),
            (
                ValueType::option(ValueType::option(ValueType::Char)),
                json!({"option":{"option":"char"}}),
                "option<option<char>>",
            ),
            (
                ValueType::result(None, None),
                json!({"result":{"ok":null,"err":null}}),
                "result",
            ),
            (
                ValueType::result(Some(ValueType::String), Some(ValueType::U32)),
                json!({"result":{"ok":"string","err":"u32"}}),
                "result<string, u32>",
            ),
            (
                ValueType::result(None, Some(ValueType::U8)),
                json!({"result":{"ok":null,"err":"u8"}}),
                "result<_, u8>",
            ),
            (ValueType::Flags(vec![]), json!({"flags":[]}), "flags {}"),
            (
                ValueType::Flags(vec!["a".into(), "b".into()]),
                json!({"flags":["a","b"]}),
                "flags { a, b }",
            ),
            (
                ValueType::Tuple(vec![ValueType::U8, ValueType::Char]),
                json!({"tuple":["u8","char"]}),
                "tuple<u8, char>",
            ),
        ]);
        v
    }

    #[test]
    fn json_and_display_of_every_kind() {
        for (ty, j, text) in all_kinds() {
            assert_eq!(ty.to_json(), j, "{text}");
            assert_eq!(ValueType::from_json(&j).unwrap(), ty, "{text}");
            assert_eq!(ty.to_string(), text);
        }
    }

    #[test]
    fn strict_type_decoding() {
        use ValueErrorKind as K;
        let e = |j: Json| ValueType::from_json(&j).unwrap_err();
        assert_eq!(e(json!("u128")).kind, K::UnknownType("u128".into()));
        assert_eq!(e(json!({"set":"u8"})).kind, K::UnknownType("set".into()));
        assert_eq!(e(json!({})).kind, K::MissingKey("type"));
        assert!(matches!(
            e(json!({"list":"u8","option":"u8"})).kind,
            K::UnknownKey(_)
        ));
        assert!(matches!(e(json!(5)).kind, K::Shape { .. }));
        assert!(matches!(
            e(json!({"tuple":"u8"})).kind,
            K::Shape {
                expected: "array",
                ..
            }
        ));
        let dup = e(json!({"record":[{"name":"x","type":"u8"},{"name":"x","type":"u8"}]}));
        assert_eq!(dup.path, "$.record[1].name");
        assert_eq!(
            dup.kind,
            K::Duplicate {
                what: "field",
                name: "x".into()
            }
        );
        assert_eq!(
            e(json!({"flags":["a","a"]})).kind,
            K::Duplicate {
                what: "flag",
                name: "a".into()
            }
        );
        assert_eq!(e(json!({"enum":[""]})).kind, K::EmptyName("case"));
        assert_eq!(
            e(json!({"record":[{"name":"x"}]})).kind,
            K::MissingKey("type")
        );
        let extra = e(json!({"variant":[{"name":"x","type":null,"doc":""}]}));
        assert_eq!(extra.kind, K::UnknownKey("doc".into()));
        assert_eq!(e(json!({"result":{"ok":null}})).kind, K::MissingKey("err"));
        let inner = e(json!({"list":{"option":"u9"}}));
        assert_eq!(inner.path, "$.list.option");
        let mut deep = json!("u8");
        for _ in 0..=MAX_DEPTH {
            deep = json!({ "list": deep });
        }
        assert_eq!(e(deep).kind, K::TooDeep(MAX_DEPTH));
    }

    #[test]
    fn func_types() {
        let f = FuncType {
            params: vec![
                Field::new("a", ValueType::S32),
                Field::new("b", ValueType::list(ValueType::U8)),
            ],
            results: vec![ValueType::String, ValueType::Bool],
        };
        assert_eq!(
            f.to_json(),
            json!({"params":[{"name":"a","type":"s32"},{"name":"b","type":{"list":"u8"}}],"results":["string","bool"]})
        );
        assert_eq!(FuncType::from_json(&f.to_json()).unwrap(), f);
        assert_eq!(f.to_string(), "func(a: s32, b: list<u8>) -> (string, bool)");
        let none = FuncType {
            params: vec![],
            results: vec![],
        };
        assert_eq!(none.to_string(), "func()");
        let dup =
            json!({"params":[{"name":"a","type":"u8"},{"name":"a","type":"u8"}],"results":[]});
        assert!(matches!(
            FuncType::from_json(&dup).unwrap_err().kind,
            ValueErrorKind::Duplicate { .. }
        ));
        let bad = json!({"params":[],"results":["u9"]});
        assert_eq!(FuncType::from_json(&bad).unwrap_err().path, "$.results[0]");
    }
}
