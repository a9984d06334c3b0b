//! Shared proptest strategies of the value tests: random value types (bounded depth)
//! and random values of a given type. Not a test target itself.

#![allow(dead_code)]

use ledgervm_runtime::value::{Case, Field, Value, ValueType};
use proptest::prelude::*;
use proptest::strategy::Union;
use std::collections::BTreeSet;

fn names(min: usize) -> impl Strategy<Value = Vec<String>> {
    // Kebab-case words, so the same names are valid in a component.
    proptest::collection::btree_set("[a-z][a-z0-9]{0,4}", min..5)
        .prop_map(|s: BTreeSet<String>| s.into_iter().collect())
        .prop_shuffle()
}

/// Random value types; `component` keeps to what a component can declare (no core
/// `i32`/`i64`, no empty records, tuples or flags). Variants and enums always have a
/// case, so every generated type has values.
pub fn arb_type(component: bool) -> impl Strategy<Value = ValueType> {
    let mut scalars = vec![
        ValueType::Bool,
        ValueType::S8,
        ValueType::U8,
        ValueType::S16,
        ValueType::U16,
        ValueType::S32,
        ValueType::U32,
        ValueType::S64,
        ValueType::U64,
        ValueType::F32,
        ValueType::F64,
        ValueType::Char,
        ValueType::String,
    ];
    if !component {
        scalars.extend([ValueType::I32, ValueType::I64]);
    }
    let min = usize::from(component);
    let leaf = proptest::sample::select(scalars);
    leaf.prop_recursive(3, 24, 4, move |inner| {
        let opt = proptest::option::of(inner.clone());
        prop_oneof![
            inner.clone().prop_map(ValueType::list),
            inner.clone().prop_map(ValueType::option),
            (opt.clone(), opt).prop_map(|(ok, err)| ValueType::result(ok, err)),
            proptest::collection::vec(inner.clone(), min..4).prop_map(ValueType::Tuple),
            names(min)
                .prop_flat_map({
                    let inner = inner.clone();
                    move |ns| {
                        let n = ns.len();
                        (Just(ns), proptest::collection::vec(inner.clone(), n))
                    }
                })
                .prop_map(|(ns, ts)| ValueType::Record(
                    ns.into_iter()
                        .zip(ts)
                        .map(|(n, t)| Field::new(n, t))
                        .collect()
                )),
            names(1)
                .prop_flat_map({
                    let inner = proptest::option::of(inner.clone());
                    move |ns| {
                        let n = ns.len();
                        (Just(ns), proptest::collection::vec(inner.clone(), n))
                    }
                })
                .prop_map(|(ns, ts)| ValueType::Variant(
                    ns.into_iter()
                        .zip(ts)
                        .map(|(n, t)| Case::new(n, t))
                        .collect()
                )),
            names(1).prop_map(ValueType::Enum),
            names(min).prop_map(ValueType::Flags),
        ]
    })
}

fn float_bits32() -> BoxedStrategy<u32> {
    prop_oneof![
        any::<u32>(),
        proptest::sample::select(vec![
            0x7fc0_0001u32,
            0x7f80_0001,
            0xffc0_0000,
            0x8000_0000,
            0,
            1,
            0x007f_ffff,
            0x7f80_0000,
            0xff80_0000,
            0x7f7f_ffff,
        ]),
    ]
    .boxed()
}

fn float_bits64() -> BoxedStrategy<u64> {
    prop_oneof![
        any::<u64>(),
        proptest::sample::select(vec![
            0x7ff8_0000_0000_0001u64,
            0xfff0_0000_0000_0001,
            0x8000_0000_0000_0000,
            0,
            1,
            0x000f_ffff_ffff_ffff,
            0x7ff0_0000_0000_0000,
            0xfff0_0000_0000_0000,
        ]),
    ]
    .boxed()
}

fn boxed(s: BoxedStrategy<Value>) -> BoxedStrategy<Option<Box<Value>>> {
    s.prop_map(|v| Some(Box::new(v))).boxed()
}

fn payload(t: &Option<Box<ValueType>>) -> BoxedStrategy<Option<Box<Value>>> {
    match t {
        Some(t) => boxed(arb_value(t)),
        None => Just(None).boxed(),
    }
}

/// Random values of type `ty`, record fields in declared order.
pub fn arb_value(ty: &ValueType) -> BoxedStrategy<Value> {
    match ty {
        ValueType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        ValueType::S8 => any::<i8>().prop_map(Value::S8).boxed(),
        ValueType::U8 => any::<u8>().prop_map(Value::U8).boxed(),
        ValueType::S16 => any::<i16>().prop_map(Value::S16).boxed(),
        ValueType::U16 => any::<u16>().prop_map(Value::U16).boxed(),
        ValueType::S32 => any::<i32>().prop_map(Value::S32).boxed(),
        ValueType::U32 => any::<u32>().prop_map(Value::U32).boxed(),
        ValueType::S64 => any::<i64>().prop_map(Value::S64).boxed(),
        ValueType::U64 => any::<u64>().prop_map(Value::U64).boxed(),
        ValueType::I32 => any::<i32>().prop_map(Value::I32).boxed(),
        ValueType::I64 => any::<i64>().prop_map(Value::I64).boxed(),
        ValueType::F32 => float_bits32().prop_map(Value::F32).boxed(),
        ValueType::F64 => float_bits64().prop_map(Value::F64).boxed(),
        ValueType::Char => any::<char>().prop_map(Value::Char).boxed(),
        ValueType::String => proptest::collection::vec(any::<char>(), 0..6)
            .prop_map(|cs| Value::String(cs.into_iter().collect()))
            .boxed(),
        ValueType::List(t) => proptest::collection::vec(arb_value(t), 0..4)
            .prop_map(Value::List)
            .boxed(),
        ValueType::Tuple(ts) => ts
            .iter()
            .map(arb_value)
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
        ValueType::Record(fs) => {
            let names: Vec<String> = fs.iter().map(|f| f.name.clone()).collect();
            fs.iter()
                .map(|f| arb_value(&f.ty))
                .collect::<Vec<_>>()
                .prop_map(move |vs| Value::Record(names.iter().cloned().zip(vs).collect()))
                .boxed()
        }
        ValueType::Variant(cs) if cs.is_empty() => unreachable_value(),
        ValueType::Variant(cs) => Union::new(cs.iter().map(|c| {
            let name = c.name.clone();
            payload(&c.ty.clone().map(Box::new))
                .prop_map(move |p| Value::Variant {
                    case: name.clone(),
                    payload: p,
                })
                .boxed()
        }))
        .boxed(),
        ValueType::Enum(ns) if ns.is_empty() => unreachable_value(),
        ValueType::Enum(ns) => proptest::sample::select(ns.clone())
            .prop_map(Value::Enum)
            .boxed(),
        ValueType::Option(t) => prop_oneof![Just(None), boxed(arb_value(t))]
            .prop_map(Value::Option)
            .boxed(),
        ValueType::Result { ok, err } => prop_oneof![
            payload(ok).prop_map(|p| Value::Result(Ok(p))),
            payload(err).prop_map(|p| Value::Result(Err(p))),
        ]
        .boxed(),
        ValueType::Flags(ns) => proptest::sample::subsequence(ns.clone(), 0..=ns.len())
            .prop_map(Value::Flags)
            .boxed(),
    }
}

/// Empty variants and enums have no values; such a case is rejected by proptest.
fn unreachable_value() -> BoxedStrategy<Value> {
    Just(())
        .prop_filter("uninhabited type", |_| false)
        .prop_map(|_| Value::Bool(false))
        .boxed()
}

pub fn typed_value(component: bool) -> impl Strategy<Value = (ValueType, Value)> {
    arb_type(component).prop_flat_map(|t| (Just(t.clone()), arb_value(&t)))
}

/// Sorts record fields by name, as a decoded (untyped) record has them.
pub fn sorted(v: Value) -> Value {
    let b = |p: Option<Box<Value>>| p.map(|p| Box::new(sorted(*p)));
    match v {
        Value::List(vs) => Value::List(vs.into_iter().map(sorted).collect()),
        Value::Tuple(vs) => Value::Tuple(vs.into_iter().map(sorted).collect()),
        Value::Record(fs) => {
            let mut fs: Vec<_> = fs.into_iter().map(|(n, v)| (n, sorted(v))).collect();
            fs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Record(fs)
        }
        Value::Variant { case, payload } => Value::Variant {
            case,
            payload: b(payload),
        },
        Value::Option(p) => Value::Option(b(p)),
        Value::Result(Ok(p)) => Value::Result(Ok(b(p))),
        Value::Result(Err(p)) => Value::Result(Err(b(p))),
        other => other,
    }
}
