//! The codec against real wasmtime component types: for random component-representable
//! types, a component importing `f: func(x: T) -> T` is compiled; `from_component`
//! must recover the generated type and `to_component`/`from_component` round-trip
//! random values of it.

mod value_common;

use ledgervm_runtime::value::{Field, FuncType, Value, ValueType};
use proptest::prelude::*;
use value_common::{sorted, typed_value};
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentItem, Type};

/// Defines `body` as a type and imports it under a name (`$tN`), returning that name.
fn nominal(n: &mut usize, body: String, defs: &mut String) -> String {
    let i = *n;
    *n += 1;
    defs.push_str(&format!(
        "(type $d{i} {body})\n(import \"t{i}\" (type $t{i} (eq $d{i})))\n"
    ));
    format!("$t{i}")
}

/// WAT for `ty`, naming nominal types through `(eq …)` type imports as the component
/// model requires for types in an imported function's signature.
fn wat_type(ty: &ValueType, defs: &mut String, n: &mut usize) -> String {
    let q = |s: &str| format!("{s:?}");
    match ty {
        ValueType::List(t) => format!("(list {})", wat_type(t, defs, n)),
        ValueType::Option(t) => format!("(option {})", wat_type(t, defs, n)),
        ValueType::Tuple(ts) => {
            let inner: Vec<_> = ts.iter().map(|t| wat_type(t, defs, n)).collect();
            format!("(tuple {})", inner.join(" "))
        }
        ValueType::Result { ok, err } => {
            let ok = ok
                .as_ref()
                .map(|t| wat_type(t, defs, n))
                .unwrap_or_default();
            let err = err
                .as_ref()
                .map(|t| format!("(error {})", wat_type(t, defs, n)))
                .unwrap_or_default();
            format!("(result {ok} {err})")
        }
        ValueType::Record(fs) => {
            let body: Vec<_> = fs
                .iter()
                .map(|f| format!("(field {} {})", q(&f.name), wat_type(&f.ty, defs, n)))
                .collect();
            nominal(n, format!("(record {})", body.join(" ")), defs)
        }
        ValueType::Variant(cs) => {
            let body: Vec<_> = cs
                .iter()
                .map(|c| match &c.ty {
                    Some(t) => format!("(case {} {})", q(&c.name), wat_type(t, defs, n)),
                    None => format!("(case {})", q(&c.name)),
                })
                .collect();
            nominal(n, format!("(variant {})", body.join(" ")), defs)
        }
        ValueType::Enum(ns) => {
            let body: Vec<_> = ns.iter().map(|s| q(s)).collect();
            nominal(n, format!("(enum {})", body.join(" ")), defs)
        }
        ValueType::Flags(ns) => {
            let body: Vec<_> = ns.iter().map(|s| q(s)).collect();
            nominal(n, format!("(flags {})", body.join(" ")), defs)
        }
        scalar => scalar.kind_name().to_owned(),
    }
}

/// A component importing `f: func(x: T) -> T`, compiled by wasmtime; returns the
/// engine's type of `x` and `f`'s signature as the codec sees it.
fn component_func(engine: &wasmtime::Engine, ty: &ValueType) -> (Type, FuncType) {
    let mut defs = String::new();
    let t = wat_type(ty, &mut defs, &mut 0);
    let wat = format!("(component\n{defs}(import \"f\" (func (param \"x\" {t}) (result {t}))))");
    let bytes = wat::parse_str(&wat).unwrap_or_else(|e| panic!("{e}\n{wat}"));
    let component = Component::new(engine, &bytes).unwrap_or_else(|e| panic!("{e:?}\n{wat}"));
    let item = component
        .component_type()
        .get_import(engine, "f")
        .expect("import f")
        .ty;
    let ComponentItem::ComponentFunc(f) = item else {
        panic!("f is not a function")
    };
    let param = f.params().next().expect("one param").1;
    (param, FuncType::from_component(&f).unwrap())
}

proptest! {
    // Each case compiles a component: fewer cases than the pure JSON property.
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn component_round_trip((ty, v) in typed_value(true)) {
        let engine = wasmtime::Engine::default();
        let (param, func) = component_func(&engine, &ty);
        prop_assert_eq!(&ValueType::from_component(&param).unwrap(), &ty);
        prop_assert_eq!(
            &func,
            &FuncType { params: vec![Field::new("x", ty.clone())], results: vec![ty.clone()] }
        );
        let cval = v.to_component(&param).unwrap();
        prop_assert_eq!(&Value::from_component(&cval).unwrap(), &v);
        // Field order does not matter on the way in: the type decides it.
        let shuffled = sorted(v.clone());
        let cval = shuffled.to_component(&param).unwrap();
        prop_assert_eq!(&Value::from_component(&cval).unwrap(), &v);
    }
}

#[test]
fn component_conversion_errors() {
    use wasmtime::component::Val;
    let engine = wasmtime::Engine::default();
    let point = ValueType::Record(vec![
        Field::new("x", ValueType::U32),
        Field::new("y", ValueType::U32),
    ]);
    let (param, _) = component_func(&engine, &point);
    let bad = Value::Record(vec![
        ("x".into(), Value::U32(1)),
        ("y".into(), Value::String("2".into())),
    ]);
    let e = bad.to_component(&param).unwrap_err();
    assert_eq!(e.to_string(), "field \"y\": expected u32, got string");
    assert_eq!(e.code(), "type.mismatch");
    let (u32_ty, _) = component_func(&engine, &ValueType::U32);
    // Core i32 values have no component counterpart.
    assert!(Value::I32(1).to_component(&u32_ty).is_err());
    assert_eq!(
        Value::from_component(&Val::Float32(f32::from_bits(0x7fc0_0001))).unwrap(),
        Value::F32(0x7fc0_0001)
    );
    assert_eq!(
        Value::from_component(&Val::Map(vec![])).unwrap_err().code(),
        "wasm.unsupported"
    );
}

#[test]
fn unsupported_component_types() {
    let engine = wasmtime::Engine::default();
    let wat = r#"(component
        (import "r" (type $r (sub resource)))
        (import "f" (func (param "h" (own $r)) (param "b" (borrow $r)))))"#;
    let component = Component::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
    let ComponentItem::ComponentFunc(f) = component
        .component_type()
        .get_import(&engine, "f")
        .unwrap()
        .ty
    else {
        panic!("f is not a function")
    };
    for (_, t) in f.params() {
        let e = ValueType::from_component(&t).unwrap_err();
        assert_eq!(e.code(), "wasm.unsupported");
    }
    assert!(FuncType::from_component(&f).is_err());
}

#[test]
fn every_kind_through_a_component() {
    let b = |v: Value| Some(Box::new(v));
    let engine = wasmtime::Engine::default();
    let ty = ValueType::Record(vec![
        Field::new("id", ValueType::U64),
        Field::new("tags", ValueType::list(ValueType::String)),
        Field::new(
            "shape",
            ValueType::Variant(vec![
                ledgervm_runtime::value::Case::new("none", None),
                ledgervm_runtime::value::Case::new(
                    "pair",
                    Some(ValueType::Tuple(vec![ValueType::F32, ValueType::F64])),
                ),
            ]),
        ),
        Field::new("color", ValueType::Enum(vec!["red".into(), "green".into()])),
        Field::new(
            "perms",
            ValueType::Flags(vec!["read".into(), "write".into()]),
        ),
        Field::new(
            "maybe",
            ValueType::option(ValueType::option(ValueType::Char)),
        ),
        Field::new("outcome", ValueType::result(None, Some(ValueType::S8))),
        Field::new("flag", ValueType::Bool),
    ]);
    let (param, func) = component_func(&engine, &ty);
    assert_eq!(ValueType::from_component(&param).unwrap(), ty);
    assert_eq!(func.to_string(), format!("func(x: {ty}) -> {ty}"));
    let v = Value::Record(vec![
        ("id".into(), Value::U64(u64::MAX)),
        ("tags".into(), Value::List(vec![Value::String("".into())])),
        (
            "shape".into(),
            Value::Variant {
                case: "pair".into(),
                payload: b(Value::Tuple(vec![
                    Value::F32(0x7fc0_0001),
                    Value::F64(0x8000_0000_0000_0000),
                ])),
            },
        ),
        ("color".into(), Value::Enum("green".into())),
        ("perms".into(), Value::Flags(vec!["write".into()])),
        ("maybe".into(), Value::Option(b(Value::Option(None)))),
        ("outcome".into(), Value::Result(Err(b(Value::S8(i8::MIN))))),
        ("flag".into(), Value::Bool(true)),
    ]);
    let cval = v.to_component(&param).unwrap();
    assert_eq!(Value::from_component(&cval).unwrap(), v);
    // And through JSON in between, as a call record would carry it.
    let again = Value::from_json_typed(&v.to_json(), &ty).unwrap();
    assert_eq!(
        Value::from_component(&again.to_component(&param).unwrap()).unwrap(),
        v
    );
}
