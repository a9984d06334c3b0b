//! Conversions between the codec's types and wasmtime's: core `ValType`/`Val`/`FuncType`
//! and component `types::Type`/`Val`/`ComponentFunc`. The only file of the codec that
//! depends on wasmtime.

use super::error::{TypeError, TypeErrorKind};
use super::{Case, Field, FuncType, Value, ValueType};
use wasmtime::component::Val as CVal;
use wasmtime::component::types::{ComponentFunc, Type};
use wasmtime::{Val, ValType};

/// A wasmtime type or value the codec cannot represent, or a value that does not fit the
/// wasmtime type it is converted to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WasmTypeError {
    /// A type or value outside the codec: `v128`, references, resources, futures,
    /// streams, error contexts, maps, fixed-length lists.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// A value of a kind core Wasm has no counterpart for (only `i32`/`s32`/`u32`,
    /// `i64`/`s64`/`u64`, `f32` and `f64` pass to core functions).
    #[error("a {0} value cannot be passed to a core Wasm function")]
    NotCore(&'static str),
    /// The value does not have the component type.
    #[error("{0}")]
    Type(#[from] TypeError),
}

impl WasmTypeError {
    /// Stable machine code: `"wasm.unsupported"`, `"wasm.not_core"` or a `type.*` code.
    pub fn code(&self) -> &'static str {
        match self {
            WasmTypeError::Unsupported(_) => "wasm.unsupported",
            WasmTypeError::NotCore(_) => "wasm.not_core",
            WasmTypeError::Type(e) => e.code(),
        }
    }
}

impl ValueType {
    /// The codec type of a core Wasm value type: `i32`→[`ValueType::I32`], `i64`→
    /// [`ValueType::I64`], `f32`, `f64`; `v128` and references are unsupported.
    pub fn from_core(ty: ValType) -> Result<ValueType, WasmTypeError> {
        match ty {
            ValType::I32 => Ok(ValueType::I32),
            ValType::I64 => Ok(ValueType::I64),
            ValType::F32 => Ok(ValueType::F32),
            ValType::F64 => Ok(ValueType::F64),
            other => Err(WasmTypeError::Unsupported(format!("core type {other}"))),
        }
    }

    /// The codec type of a component value type. Resources (`own`/`borrow`), futures,
    /// streams, `error-context`, maps and fixed-length lists are unsupported.
    pub fn from_component(ty: &Type) -> Result<ValueType, WasmTypeError> {
        let opt = |t: Option<Type>| -> Result<Option<Box<ValueType>>, WasmTypeError> {
            t.map(|t| ValueType::from_component(&t).map(Box::new))
                .transpose()
        };
        Ok(match ty {
            Type::Bool => ValueType::Bool,
            Type::S8 => ValueType::S8,
            Type::U8 => ValueType::U8,
            Type::S16 => ValueType::S16,
            Type::U16 => ValueType::U16,
            Type::S32 => ValueType::S32,
            Type::U32 => ValueType::U32,
            Type::S64 => ValueType::S64,
            Type::U64 => ValueType::U64,
            Type::Float32 => ValueType::F32,
            Type::Float64 => ValueType::F64,
            Type::Char => ValueType::Char,
            Type::String => ValueType::String,
            Type::List(l) => ValueType::List(Box::new(ValueType::from_component(&l.ty())?)),
            Type::Record(r) => ValueType::Record(
                r.fields()
                    .map(|f| Ok(Field::new(f.name, ValueType::from_component(&f.ty)?)))
                    .collect::<Result<_, WasmTypeError>>()?,
            ),
            Type::Tuple(t) => ValueType::Tuple(
                t.types()
                    .map(|t| ValueType::from_component(&t))
                    .collect::<Result<_, _>>()?,
            ),
            Type::Variant(v) => ValueType::Variant(
                v.cases()
                    .map(|c| {
                        let ty = c.ty.as_ref().map(ValueType::from_component).transpose()?;
                        Ok(Case::new(c.name, ty))
                    })
                    .collect::<Result<_, WasmTypeError>>()?,
            ),
            Type::Enum(e) => ValueType::Enum(e.names().map(str::to_owned).collect()),
            Type::Option(o) => ValueType::Option(Box::new(ValueType::from_component(&o.ty())?)),
            Type::Result(r) => ValueType::Result {
                ok: opt(r.ok())?,
                err: opt(r.err())?,
            },
            Type::Flags(f) => ValueType::Flags(f.names().map(str::to_owned).collect()),
            Type::Map(_) => return Err(WasmTypeError::Unsupported("map".into())),
            Type::Own(_) | Type::Borrow(_) => {
                return Err(WasmTypeError::Unsupported("resource handle".into()));
            }
            Type::Future(_) => return Err(WasmTypeError::Unsupported("future".into())),
            Type::Stream(_) => return Err(WasmTypeError::Unsupported("stream".into())),
            Type::ErrorContext => return Err(WasmTypeError::Unsupported("error-context".into())),
            Type::FixedLengthList(_) => {
                return Err(WasmTypeError::Unsupported("fixed-length list".into()));
            }
        })
    }
}

impl FuncType {
    /// The signature of a core function; parameters are named `p0`, `p1`, ….
    pub fn from_core(ty: &wasmtime::FuncType) -> Result<FuncType, WasmTypeError> {
        Ok(FuncType {
            params: ty
                .params()
                .enumerate()
                .map(|(i, t)| Ok(Field::new(format!("p{i}"), ValueType::from_core(t)?)))
                .collect::<Result<_, WasmTypeError>>()?,
            results: ty
                .results()
                .map(ValueType::from_core)
                .collect::<Result<_, _>>()?,
        })
    }

    /// The signature of a component function, with its parameter names.
    pub fn from_component(ty: &ComponentFunc) -> Result<FuncType, WasmTypeError> {
        Ok(FuncType {
            params: ty
                .params()
                .map(|(name, t)| Ok(Field::new(name, ValueType::from_component(&t)?)))
                .collect::<Result<_, WasmTypeError>>()?,
            results: ty
                .results()
                .map(|t| ValueType::from_component(&t))
                .collect::<Result<_, _>>()?,
        })
    }
}

fn boxed(v: &Option<Box<Value>>) -> Result<Option<Box<CVal>>, WasmTypeError> {
    v.as_deref()
        .map(|v| structural(v).map(Box::new))
        .transpose()
}

/// Value → component value without a type; callers have conformed the value first.
fn structural(v: &Value) -> Result<CVal, WasmTypeError> {
    let list = |items: &[Value]| items.iter().map(structural).collect::<Result<Vec<_>, _>>();
    Ok(match v {
        Value::Bool(b) => CVal::Bool(*b),
        Value::S8(n) => CVal::S8(*n),
        Value::U8(n) => CVal::U8(*n),
        Value::S16(n) => CVal::S16(*n),
        Value::U16(n) => CVal::U16(*n),
        Value::S32(n) => CVal::S32(*n),
        Value::U32(n) => CVal::U32(*n),
        Value::S64(n) => CVal::S64(*n),
        Value::U64(n) => CVal::U64(*n),
        Value::F32(b) => CVal::Float32(f32::from_bits(*b)),
        Value::F64(b) => CVal::Float64(f64::from_bits(*b)),
        Value::Char(c) => CVal::Char(*c),
        Value::String(s) => CVal::String(s.clone()),
        Value::List(items) => CVal::List(list(items)?),
        Value::Tuple(items) => CVal::Tuple(list(items)?),
        Value::Record(fields) => CVal::Record(
            fields
                .iter()
                .map(|(n, v)| Ok((n.clone(), structural(v)?)))
                .collect::<Result<_, WasmTypeError>>()?,
        ),
        Value::Variant { case, payload } => CVal::Variant(case.clone(), boxed(payload)?),
        Value::Enum(n) => CVal::Enum(n.clone()),
        Value::Option(o) => CVal::Option(boxed(o)?),
        Value::Result(Ok(p)) => CVal::Result(Ok(boxed(p)?)),
        Value::Result(Err(p)) => CVal::Result(Err(boxed(p)?)),
        Value::Flags(f) => CVal::Flags(f.clone()),
        // Component types never produce a core type, so a conformed value has none.
        Value::I32(_) | Value::I64(_) => {
            return Err(TypeError::new(TypeErrorKind::Mismatch {
                expected: "a component type".into(),
                got: v.type_name(),
            })
            .into());
        }
    })
}

fn from_boxed(v: &Option<Box<CVal>>) -> Result<Option<Box<Value>>, WasmTypeError> {
    v.as_deref()
        .map(|v| Value::from_component(v).map(Box::new))
        .transpose()
}

impl Value {
    /// The core Wasm value: `i32`/`s32`/`u32` become `Val::I32` (bits reinterpreted),
    /// `i64`/`s64`/`u64` become `Val::I64`, floats keep their exact bits.
    pub fn to_core(&self) -> Result<Val, WasmTypeError> {
        Ok(match self {
            Value::I32(n) | Value::S32(n) => Val::I32(*n),
            Value::U32(n) => Val::I32(*n as i32),
            Value::I64(n) | Value::S64(n) => Val::I64(*n),
            Value::U64(n) => Val::I64(*n as i64),
            Value::F32(b) => Val::F32(*b),
            Value::F64(b) => Val::F64(*b),
            other => return Err(WasmTypeError::NotCore(other.type_name())),
        })
    }

    /// The codec value of a core Wasm value (`I32`, `I64`, `F32`, `F64`); `v128` and
    /// references are unsupported.
    pub fn from_core(v: &Val) -> Result<Value, WasmTypeError> {
        match v {
            Val::I32(n) => Ok(Value::I32(*n)),
            Val::I64(n) => Ok(Value::I64(*n)),
            Val::F32(b) => Ok(Value::F32(*b)),
            Val::F64(b) => Ok(Value::F64(*b)),
            Val::V128(_) => Err(WasmTypeError::Unsupported("core type v128".into())),
            _ => Err(WasmTypeError::Unsupported("core reference value".into())),
        }
    }

    /// The component value for a parameter of type `ty`, after checking the value
    /// against it (record fields are reordered into declared order).
    pub fn to_component(&self, ty: &Type) -> Result<CVal, WasmTypeError> {
        self.to_component_as(&ValueType::from_component(ty)?)
    }

    /// [`to_component`](Value::to_component) for a caller that already holds the
    /// codec type (e.g. cached from [`FuncType::from_component`]).
    pub fn to_component_as(&self, ty: &ValueType) -> Result<CVal, WasmTypeError> {
        let conformed = self.clone().conform(ty)?;
        structural(&conformed)
    }

    /// The codec value of a component value. Resources, futures, streams, error
    /// contexts, maps and fixed-length lists are unsupported.
    pub fn from_component(v: &CVal) -> Result<Value, WasmTypeError> {
        let list = |items: &[CVal]| {
            items
                .iter()
                .map(Value::from_component)
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match v {
            CVal::Bool(b) => Value::Bool(*b),
            CVal::S8(n) => Value::S8(*n),
            CVal::U8(n) => Value::U8(*n),
            CVal::S16(n) => Value::S16(*n),
            CVal::U16(n) => Value::U16(*n),
            CVal::S32(n) => Value::S32(*n),
            CVal::U32(n) => Value::U32(*n),
            CVal::S64(n) => Value::S64(*n),
            CVal::U64(n) => Value::U64(*n),
            CVal::Float32(x) => Value::F32(x.to_bits()),
            CVal::Float64(x) => Value::F64(x.to_bits()),
            CVal::Char(c) => Value::Char(*c),
            CVal::String(s) => Value::String(s.clone()),
            CVal::List(items) => Value::List(list(items)?),
            CVal::Tuple(items) => Value::Tuple(list(items)?),
            CVal::Record(fields) => Value::Record(
                fields
                    .iter()
                    .map(|(n, v)| Ok((n.clone(), Value::from_component(v)?)))
                    .collect::<Result<_, WasmTypeError>>()?,
            ),
            CVal::Variant(case, payload) => Value::Variant {
                case: case.clone(),
                payload: from_boxed(payload)?,
            },
            CVal::Enum(n) => Value::Enum(n.clone()),
            CVal::Option(o) => Value::Option(from_boxed(o)?),
            CVal::Result(Ok(p)) => Value::Result(Ok(from_boxed(p)?)),
            CVal::Result(Err(p)) => Value::Result(Err(from_boxed(p)?)),
            CVal::Flags(f) => Value::Flags(f.clone()),
            CVal::Map(_) => return Err(WasmTypeError::Unsupported("map".into())),
            CVal::Resource(_) => return Err(WasmTypeError::Unsupported("resource handle".into())),
            CVal::Future(_) => return Err(WasmTypeError::Unsupported("future".into())),
            CVal::Stream(_) => return Err(WasmTypeError::Unsupported("stream".into())),
            CVal::ErrorContext(_) => {
                return Err(WasmTypeError::Unsupported("error-context".into()));
            }
            CVal::FixedLengthList(_) => {
                return Err(WasmTypeError::Unsupported("fixed-length list".into()));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_types() {
        assert_eq!(ValueType::from_core(ValType::I32), Ok(ValueType::I32));
        assert_eq!(ValueType::from_core(ValType::I64), Ok(ValueType::I64));
        assert_eq!(ValueType::from_core(ValType::F32), Ok(ValueType::F32));
        assert_eq!(ValueType::from_core(ValType::F64), Ok(ValueType::F64));
        let e = ValueType::from_core(ValType::V128).unwrap_err();
        assert_eq!(e.code(), "wasm.unsupported");
        assert!(ValueType::from_core(ValType::EXTERNREF).is_err());
        assert!(ValueType::from_core(ValType::FUNCREF).is_err());
    }

    #[test]
    fn core_values_reinterpret_and_keep_bits() {
        assert!(matches!(Value::U32(u32::MAX).to_core(), Ok(Val::I32(-1))));
        assert!(matches!(
            Value::S32(i32::MIN).to_core(),
            Ok(Val::I32(i32::MIN))
        ));
        assert!(matches!(Value::U64(u64::MAX).to_core(), Ok(Val::I64(-1))));
        assert!(matches!(Value::S64(5).to_core(), Ok(Val::I64(5))));
        assert!(matches!(
            Value::F32(0x7fc0_0001).to_core(),
            Ok(Val::F32(0x7fc0_0001))
        ));
        let nan = 0x7ff0_0000_0000_0001;
        assert!(matches!(Value::F64(nan).to_core(), Ok(Val::F64(b)) if b == nan));
        assert_eq!(
            Value::String("x".into()).to_core().unwrap_err(),
            WasmTypeError::NotCore("string")
        );
        assert_eq!(Value::U8(1).to_core().unwrap_err().code(), "wasm.not_core");
        for v in [
            Value::I32(-7),
            Value::I64(i64::MIN),
            Value::F32(0x8000_0000),
            Value::F64(1),
        ] {
            assert_eq!(Value::from_core(&v.to_core().unwrap()).unwrap(), v);
        }
        let v128 = Val::V128(0u128.into());
        assert_eq!(
            Value::from_core(&v128).unwrap_err().code(),
            "wasm.unsupported"
        );
        assert!(Value::from_core(&Val::FuncRef(None)).is_err());
    }

    #[test]
    fn core_func_type() {
        let engine = wasmtime::Engine::default();
        let ft = wasmtime::FuncType::new(&engine, [ValType::I32, ValType::F64], [ValType::I64]);
        let f = FuncType::from_core(&ft).unwrap();
        assert_eq!(f.to_string(), "func(p0: i32, p1: f64) -> i64");
        let bad = wasmtime::FuncType::new(&engine, [ValType::V128], []);
        assert!(FuncType::from_core(&bad).is_err());
    }
}
