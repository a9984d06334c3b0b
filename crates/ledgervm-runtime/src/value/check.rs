//! Type checking of values against value types and of call arguments against a
//! signature.

use super::error::{ArgError, TypeError, TypeErrorKind};
use super::{FuncType, Value, ValueType};
use std::collections::BTreeSet;

fn mismatch(ty: &ValueType, v: &Value) -> TypeError {
    TypeError::new(TypeErrorKind::Mismatch {
        expected: ty.to_string(),
        got: v.type_name(),
    })
}

fn check_payload(
    name: &str,
    payload: &Option<Box<Value>>,
    ty: &Option<Box<ValueType>>,
    step: String,
) -> Result<(), TypeError> {
    match (payload, ty) {
        (None, None) => Ok(()),
        (Some(p), Some(t)) => p.check(t).map_err(|e| e.within(step)),
        (None, Some(_)) => Err(TypeError::new(TypeErrorKind::MissingPayload(name.into()))),
        (Some(_), None) => Err(TypeError::new(TypeErrorKind::UnexpectedPayload(
            name.into(),
        ))),
    }
}

impl Value {
    /// Checks that this value has type `ty`.
    ///
    /// Exact match, except the sign-agnostic core types: an `i32` type accepts `i32`,
    /// `s32` and `u32` values, and `i64` accepts `i64`, `s64` and `u64` (they are
    /// reinterpreted bit for bit when passed to a core module). Record fields may come
    /// in any order but must be exactly the declared set.
    ///
    /// ```
    /// use ledgervm_runtime::value::{Field, Value, ValueType};
    /// let ty = ValueType::Record(vec![Field::new("x", ValueType::U32)]);
    /// let v = Value::Record(vec![("x".into(), Value::String("1".into()))]);
    /// assert_eq!(v.check(&ty).unwrap_err().to_string(), "field \"x\": expected u32, got string");
    /// assert!(Value::U32(7).check(&ValueType::I32).is_ok());
    /// ```
    pub fn check(&self, ty: &ValueType) -> Result<(), TypeError> {
        use ValueType as T;
        match (ty, self) {
            (T::Bool, Value::Bool(_))
            | (T::S8, Value::S8(_))
            | (T::U8, Value::U8(_))
            | (T::S16, Value::S16(_))
            | (T::U16, Value::U16(_))
            | (T::S32, Value::S32(_))
            | (T::U32, Value::U32(_))
            | (T::S64, Value::S64(_))
            | (T::U64, Value::U64(_))
            | (T::I32, Value::I32(_) | Value::S32(_) | Value::U32(_))
            | (T::I64, Value::I64(_) | Value::S64(_) | Value::U64(_))
            | (T::F32, Value::F32(_))
            | (T::F64, Value::F64(_))
            | (T::Char, Value::Char(_))
            | (T::String, Value::String(_)) => Ok(()),
            (T::List(elem), Value::List(items)) => {
                for (i, item) in items.iter().enumerate() {
                    item.check(elem)
                        .map_err(|e| e.within(format!("element {i}")))?;
                }
                Ok(())
            }
            (T::Tuple(types), Value::Tuple(items)) => {
                if types.len() != items.len() {
                    return Err(TypeError::new(TypeErrorKind::TupleLength {
                        expected: types.len(),
                        got: items.len(),
                    }));
                }
                for (i, (item, t)) in items.iter().zip(types).enumerate() {
                    item.check(t)
                        .map_err(|e| e.within(format!("element {i}")))?;
                }
                Ok(())
            }
            (T::Record(fields), Value::Record(given)) => {
                let mut seen = BTreeSet::new();
                for (name, v) in given {
                    if !seen.insert(name.as_str()) {
                        return Err(TypeError::new(TypeErrorKind::DuplicateField(name.clone())));
                    }
                    let Some(f) = fields.iter().find(|f| f.name == *name) else {
                        return Err(TypeError::new(TypeErrorKind::UnknownField(name.clone())));
                    };
                    v.check(&f.ty)
                        .map_err(|e| e.within(format!("field {:?}", name)))?;
                }
                if let Some(f) = fields.iter().find(|f| !seen.contains(f.name.as_str())) {
                    return Err(TypeError::new(TypeErrorKind::MissingField(f.name.clone())));
                }
                Ok(())
            }
            (T::Variant(cases), Value::Variant { case, payload }) => {
                let Some(c) = cases.iter().find(|c| c.name == *case) else {
                    return Err(TypeError::new(TypeErrorKind::UnknownCase {
                        name: case.clone(),
                        expected: ty.to_string(),
                    }));
                };
                let cty = c.ty.clone().map(Box::new);
                check_payload(case, payload, &cty, format!("case {:?}", case))
            }
            (T::Enum(names), Value::Enum(name)) => {
                if names.contains(name) {
                    Ok(())
                } else {
                    Err(TypeError::new(TypeErrorKind::UnknownEnumCase {
                        name: name.clone(),
                        expected: ty.to_string(),
                    }))
                }
            }
            (T::Flags(names), Value::Flags(set)) => {
                let mut seen = BTreeSet::new();
                for name in set {
                    if !names.contains(name) {
                        return Err(TypeError::new(TypeErrorKind::UnknownFlag {
                            name: name.clone(),
                            expected: ty.to_string(),
                        }));
                    }
                    if !seen.insert(name.as_str()) {
                        return Err(TypeError::new(TypeErrorKind::DuplicateFlag(name.clone())));
                    }
                }
                Ok(())
            }
            (T::Option(inner), Value::Option(v)) => match v {
                None => Ok(()),
                Some(v) => v.check(inner).map_err(|e| e.within("some".into())),
            },
            (T::Result { ok, err }, Value::Result(r)) => match r {
                Ok(p) => check_payload("ok", p, ok, "ok".into()),
                Err(p) => check_payload("err", p, err, "err".into()),
            },
            _ => Err(mismatch(ty, self)),
        }
    }

    /// Checks this value against `ty` and returns it with every record's fields in the
    /// declared order of `ty` (the order the component model lowers them in).
    pub fn conform(self, ty: &ValueType) -> Result<Value, TypeError> {
        self.check(ty)?;
        Ok(reorder(self, ty))
    }
}

/// Reorders record fields into declared order; `v` has already passed `check(ty)`.
fn reorder(v: Value, ty: &ValueType) -> Value {
    match (v, ty) {
        (Value::List(items), ValueType::List(elem)) => {
            Value::List(items.into_iter().map(|i| reorder(i, elem)).collect())
        }
        (Value::Tuple(items), ValueType::Tuple(types)) => Value::Tuple(
            items
                .into_iter()
                .zip(types)
                .map(|(i, t)| reorder(i, t))
                .collect(),
        ),
        (Value::Record(mut given), ValueType::Record(fields)) => {
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                if let Some(pos) = given.iter().position(|(n, _)| *n == f.name) {
                    let (n, v) = given.swap_remove(pos);
                    out.push((n, reorder(v, &f.ty)));
                }
            }
            Value::Record(out)
        }
        (Value::Variant { case, payload }, ValueType::Variant(cases)) => {
            let cty = cases
                .iter()
                .find(|c| c.name == case)
                .and_then(|c| c.ty.as_ref());
            let payload = match (payload, cty) {
                (Some(p), Some(t)) => Some(Box::new(reorder(*p, t))),
                (p, _) => p,
            };
            Value::Variant { case, payload }
        }
        (Value::Option(Some(v)), ValueType::Option(inner)) => {
            Value::Option(Some(Box::new(reorder(*v, inner))))
        }
        (Value::Result(r), ValueType::Result { ok, err }) => Value::Result(match r {
            Ok(Some(p)) => Ok(Some(Box::new(match ok {
                Some(t) => reorder(*p, t),
                None => *p,
            }))),
            Err(Some(p)) => Err(Some(Box::new(match err {
                Some(t) => reorder(*p, t),
                None => *p,
            }))),
            other => other,
        }),
        (v, _) => v,
    }
}

/// Checks call arguments against a signature: the count, then each argument in order.
///
/// ```
/// use ledgervm_runtime::value::{check_args, Field, FuncType, Value, ValueType};
/// let point = ValueType::Record(vec![Field::new("x", ValueType::U32)]);
/// let f = FuncType {
///     params: vec![Field::new("n", ValueType::U8), Field::new("point", point)],
///     results: vec![],
/// };
/// let bad = [Value::U8(1), Value::Record(vec![("x".into(), Value::String("a".into()))])];
/// assert_eq!(
///     check_args(&f, &bad).unwrap_err().to_string(),
///     "argument 1 (\"point\"): field \"x\": expected u32, got string"
/// );
/// ```
pub fn check_args(func: &FuncType, args: &[Value]) -> Result<(), ArgError> {
    if func.params.len() != args.len() {
        return Err(ArgError::Arity {
            expected: func.params.len(),
            given: args.len(),
        });
    }
    for (index, (param, arg)) in func.params.iter().zip(args).enumerate() {
        arg.check(&param.ty).map_err(|error| ArgError::Type {
            index,
            name: param.name.clone(),
            error,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Case, Field};

    fn b(v: Value) -> Option<Box<Value>> {
        Some(Box::new(v))
    }

    fn kind(v: Value, ty: &ValueType) -> TypeErrorKind {
        v.check(ty).unwrap_err().kind
    }

    #[test]
    fn scalars_match_exactly_except_core_ints() {
        assert!(Value::U32(1).check(&ValueType::U32).is_ok());
        for v in [Value::I32(1), Value::S32(-1), Value::U32(u32::MAX)] {
            assert!(v.check(&ValueType::I32).is_ok());
        }
        for v in [Value::I64(1), Value::S64(-1), Value::U64(u64::MAX)] {
            assert!(v.check(&ValueType::I64).is_ok());
        }
        // Not the other way round, and no widening.
        assert!(Value::I32(1).check(&ValueType::S32).is_err());
        assert!(Value::U8(1).check(&ValueType::U32).is_err());
        assert!(Value::S64(1).check(&ValueType::I32).is_err());
        assert_eq!(
            Value::String("5".into())
                .check(&ValueType::U32)
                .unwrap_err()
                .to_string(),
            "expected u32, got string"
        );
        assert_eq!(
            Value::F32(0).check(&ValueType::F64).unwrap_err().code(),
            "type.mismatch"
        );
    }

    #[test]
    fn every_mismatch_kind_with_its_path() {
        let point = ValueType::Record(vec![
            Field::new("x", ValueType::U32),
            Field::new("y", ValueType::U32),
        ]);
        let rec = |fs: Vec<(&str, Value)>| {
            Value::Record(fs.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
        };
        assert_eq!(
            kind(rec(vec![("x", Value::U32(1))]), &point),
            TypeErrorKind::MissingField("y".into())
        );
        assert_eq!(
            kind(
                rec(vec![
                    ("x", Value::U32(1)),
                    ("y", Value::U32(1)),
                    ("z", Value::U32(1))
                ]),
                &point
            ),
            TypeErrorKind::UnknownField("z".into())
        );
        assert_eq!(
            kind(
                rec(vec![("x", Value::U32(1)), ("x", Value::U32(1))]),
                &point
            ),
            TypeErrorKind::DuplicateField("x".into())
        );
        assert!(
            rec(vec![("y", Value::U32(1)), ("x", Value::U32(2))])
                .check(&point)
                .is_ok()
        );

        let pair = ValueType::Tuple(vec![ValueType::U8, ValueType::Char]);
        assert_eq!(
            kind(Value::Tuple(vec![Value::U8(1)]), &pair),
            TypeErrorKind::TupleLength {
                expected: 2,
                got: 1
            }
        );
        let e = Value::Tuple(vec![Value::U8(1), Value::U8(2)])
            .check(&pair)
            .unwrap_err();
        assert_eq!(e.to_string(), "element 1: expected char, got u8");

        let var = ValueType::Variant(vec![
            Case::new("a", None),
            Case::new("b", Some(ValueType::U8)),
        ]);
        let v = |c: &str, p| Value::Variant {
            case: c.into(),
            payload: p,
        };
        assert_eq!(
            v("c", None).check(&var).unwrap_err().to_string(),
            "unknown case \"c\" of variant { a, b(u8) }"
        );
        assert_eq!(
            kind(v("b", None), &var),
            TypeErrorKind::MissingPayload("b".into())
        );
        assert_eq!(
            kind(v("a", b(Value::U8(1))), &var),
            TypeErrorKind::UnexpectedPayload("a".into())
        );
        assert_eq!(
            v("b", b(Value::S8(1))).check(&var).unwrap_err().to_string(),
            "case \"b\": expected u8, got s8"
        );
        assert!(v("a", None).check(&var).is_ok() && v("b", b(Value::U8(1))).check(&var).is_ok());

        let colors = ValueType::Enum(vec!["red".into(), "green".into()]);
        assert!(Value::Enum("red".into()).check(&colors).is_ok());
        assert!(matches!(
            kind(Value::Enum("blue".into()), &colors),
            TypeErrorKind::UnknownEnumCase { .. }
        ));
        assert_eq!(
            kind(Value::Enum("red".into()), &ValueType::U8).code(),
            "type.mismatch"
        );

        let perms = ValueType::Flags(vec!["read".into(), "write".into()]);
        assert!(Value::Flags(vec![]).check(&perms).is_ok());
        assert!(
            Value::Flags(vec!["write".into(), "read".into()])
                .check(&perms)
                .is_ok()
        );
        assert!(matches!(
            kind(Value::Flags(vec!["exec".into()]), &perms),
            TypeErrorKind::UnknownFlag { .. }
        ));
        assert_eq!(
            kind(Value::Flags(vec!["read".into(), "read".into()]), &perms),
            TypeErrorKind::DuplicateFlag("read".into())
        );

        let res = ValueType::result(Some(ValueType::String), None);
        assert!(
            Value::Result(Ok(b(Value::String("x".into()))))
                .check(&res)
                .is_ok()
        );
        assert!(Value::Result(Err(None)).check(&res).is_ok());
        assert_eq!(
            kind(Value::Result(Ok(None)), &res),
            TypeErrorKind::MissingPayload("ok".into())
        );
        assert_eq!(
            kind(Value::Result(Err(b(Value::U8(1)))), &res),
            TypeErrorKind::UnexpectedPayload("err".into())
        );
        assert_eq!(
            Value::Result(Ok(b(Value::U8(1))))
                .check(&res)
                .unwrap_err()
                .to_string(),
            "ok: expected string, got u8"
        );

        let nested = ValueType::list(ValueType::option(point.clone()));
        let bad = Value::List(vec![
            Value::Option(None),
            Value::Option(b(rec(vec![
                ("x", Value::U32(1)),
                ("y", Value::String("2".into())),
            ]))),
        ]);
        let e = bad.check(&nested).unwrap_err();
        assert_eq!(e.path, vec!["element 1", "some", "field \"y\""]);
        assert_eq!(
            e.to_string(),
            "element 1: some: field \"y\": expected u32, got string"
        );
        assert_eq!(
            Value::List(vec![]).check(&point).unwrap_err().to_string(),
            "expected record { x: u32, y: u32 }, got list"
        );
    }

    #[test]
    fn conform_orders_fields_deeply() {
        let inner = ValueType::Record(vec![
            Field::new("b", ValueType::U8),
            Field::new("a", ValueType::U8),
        ]);
        let ty = ValueType::Tuple(vec![ValueType::list(ValueType::result(
            Some(inner.clone()),
            None,
        ))]);
        let sorted = Value::Record(vec![("a".into(), Value::U8(1)), ("b".into(), Value::U8(2))]);
        let declared = Value::Record(vec![("b".into(), Value::U8(2)), ("a".into(), Value::U8(1))]);
        let wrap = |r: Value| Value::Tuple(vec![Value::List(vec![Value::Result(Ok(b(r)))])]);
        assert_eq!(wrap(sorted).conform(&ty).unwrap(), wrap(declared.clone()));
        let var = ValueType::Variant(vec![Case::new("c", Some(inner.clone()))]);
        let v = Value::Variant {
            case: "c".into(),
            payload: b(declared.clone()),
        };
        assert_eq!(v.clone().conform(&var).unwrap(), v);
        let opt = Value::Option(b(declared.clone()));
        assert_eq!(opt.clone().conform(&ValueType::option(inner)).unwrap(), opt);
        assert!(Value::U8(1).conform(&ValueType::S8).is_err());
    }

    #[test]
    fn argument_errors_name_the_argument() {
        let f = FuncType {
            params: vec![
                Field::new("n", ValueType::U8),
                Field::new(
                    "point",
                    ValueType::Record(vec![Field::new("x", ValueType::U32)]),
                ),
            ],
            results: vec![],
        };
        let e = check_args(&f, &[Value::U8(1)]).unwrap_err();
        assert_eq!(
            e,
            ArgError::Arity {
                expected: 2,
                given: 1
            }
        );
        assert_eq!(e.to_string(), "expected 2 arguments, got 1");
        assert_eq!(e.code(), "args.arity");
        let one = FuncType {
            params: vec![Field::new("a", ValueType::I32)],
            results: vec![],
        };
        assert_eq!(
            check_args(&one, &[]).unwrap_err().to_string(),
            "expected 1 argument, got 0"
        );
        let e = check_args(
            &f,
            &[
                Value::U8(1),
                Value::Record(vec![("x".into(), Value::String("a".into()))]),
            ],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument 1 (\"point\"): field \"x\": expected u32, got string"
        );
        assert_eq!(e.code(), "type.mismatch");
        let e = check_args(&f, &[Value::S8(1), Value::Record(vec![])]).unwrap_err();
        assert_eq!(e.to_string(), "argument 0 (\"n\"): expected u8, got s8");
        assert!(check_args(&one, &[Value::U32(u32::MAX)]).is_ok());
    }
}
