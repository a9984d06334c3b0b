//! Typed values: the wire form of every argument and result.
//!
//! This module is **pure**: no I/O and no wasmtime types. The conversions to and from
//! wasmtime's `Val` / `component::Val` live in [`crate::value::wasm`], so the client and
//! the log record encoding can share this codec without pulling in an engine.
//!
//! JSON forms (all self-describing, `{"type": T, "value": V}`):
//!
//! | type | `value` |
//! |---|---|
//! | `bool` | `true` |
//! | `s8` `u8` `s16` `u16` `s32` `u32` `s64` `u64` `i32` `i64` | JSON integer (64-bit also accepted as a decimal string) |
//! | `f32` `f64` | JSON number when finite; `"inf"`, `"-inf"`, `"nan"` otherwise; an optional `"bits": "0x…"` is authoritative and is always emitted for NaN, so payloads survive |
//! | `char` | one-character string |
//! | `string` | string |
//! | `list`, `tuple` | array of typed values |
//! | `record` | object of field name → typed value |
//! | `variant` | `{"case": name, "payload": typed or null}` |
//! | `enum` | case name |
//! | `option` | `null` or a typed value |
//! | `result` | `{"ok": typed or null}` or `{"err": typed or null}` |
//! | `flags` | array of set flag names |
//!
//! `i32`/`i64` are the sign-agnostic core-module types: a core `i32` parameter accepts an
//! `i32`, `s32` or `u32` value, and an `i64` parameter accepts `i64`, `s64` or `u64`.

//!
//! Integers of 64 bits are emitted as JSON numbers while their magnitude is at most
//! 2^53−1 and as decimal strings beyond, because RFC 8785 canonical JSON (the call-log
//! encoding) represents every number as an IEEE double. For the same reason a negative
//! zero float always carries `bits`.
//!
//! A decoded `record` keeps its fields in JSON object order (sorted by name with
//! `serde_json`'s default map); [`Value::from_json_typed`] reorders them into the
//! declared order of a [`ValueType`].
//!
//! ```
//! use ledgervm_runtime::value::{Value, ValueType};
//! let v = Value::from_json(&serde_json::json!({"type": "u32", "value": 42})).unwrap();
//! assert_eq!(v, Value::U32(42));
//! assert_eq!(v.to_json(), serde_json::json!({"type": "u32", "value": 42}));
//! let nan = Value::F32(0x7fc0_0001);
//! assert_eq!(Value::from_json(&nan.to_json()).unwrap(), nan);
//! assert!(v.check(&ValueType::U32).is_ok());
//! ```

mod check;
mod error;
mod json;
mod num;
mod path;
mod plain;
mod serde_impls;
mod type_json;
pub mod wasm;

pub use check::check_args;
pub use error::{ArgError, TypeError, TypeErrorKind, ValueError, ValueErrorKind};
pub use json::MAX_DEPTH;
pub use plain::parse_plain;
pub use wasm::WasmTypeError;

/// A value type: every core Wasm number type and every component value type.
///
/// Its JSON form (used in export introspection) is described on
/// [`ValueType::to_json`]; its [`Display`](std::fmt::Display) is WIT-like
/// (`list<u8>`, `result<string, u32>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `bool`.
    Bool,
    /// Signed 8-bit integer.
    S8,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 16-bit integer.
    S16,
    /// Unsigned 16-bit integer.
    U16,
    /// Signed 32-bit integer (component `s32`).
    S32,
    /// Unsigned 32-bit integer.
    U32,
    /// Signed 64-bit integer (component `s64`).
    S64,
    /// Unsigned 64-bit integer.
    U64,
    /// Core-module `i32`: sign-agnostic.
    I32,
    /// Core-module `i64`: sign-agnostic.
    I64,
    /// 32-bit IEEE-754 float.
    F32,
    /// 64-bit IEEE-754 float.
    F64,
    /// A Unicode scalar value.
    Char,
    /// A UTF-8 string.
    String,
    /// A homogeneous list.
    List(Box<ValueType>),
    /// A record: named fields in declaration order.
    Record(Vec<Field>),
    /// A tuple: positional fields.
    Tuple(Vec<ValueType>),
    /// A variant: named cases, each with an optional payload.
    Variant(Vec<Case>),
    /// An enum: payload-less case names.
    Enum(Vec<String>),
    /// An optional value.
    Option(Box<ValueType>),
    /// A result with optional `ok` and `err` payload types.
    Result {
        /// The `ok` payload type, if any.
        ok: Option<Box<ValueType>>,
        /// The `err` payload type, if any.
        err: Option<Box<ValueType>>,
    },
    /// A set of named boolean flags.
    Flags(Vec<String>),
}

/// A named record field type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// Field (or parameter) name.
    pub name: String,
    /// Its type.
    pub ty: ValueType,
}

/// A variant case: a name and an optional payload type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Case {
    /// Case name.
    pub name: String,
    /// Payload type, or `None` for a payload-less case.
    pub ty: Option<ValueType>,
}

/// A typed value. Floats are kept as raw bits so NaN payloads and `-0.0` survive every
/// round trip.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// `bool`.
    Bool(bool),
    /// `s8`.
    S8(i8),
    /// `u8`.
    U8(u8),
    /// `s16`.
    S16(i16),
    /// `u16`.
    U16(u16),
    /// `s32`.
    S32(i32),
    /// `u32`.
    U32(u32),
    /// `s64`.
    S64(i64),
    /// `u64`.
    U64(u64),
    /// Core `i32` (sign-agnostic; shown signed).
    I32(i32),
    /// Core `i64` (sign-agnostic; shown signed).
    I64(i64),
    /// IEEE-754 bits of an `f32`.
    F32(u32),
    /// IEEE-754 bits of an `f64`.
    F64(u64),
    /// `char`.
    Char(char),
    /// `string`.
    String(String),
    /// `list`: elements in order.
    List(Vec<Value>),
    /// `record`: (field name, value) pairs.
    Record(Vec<(String, Value)>),
    /// `tuple`: elements in order.
    Tuple(Vec<Value>),
    /// `variant`: the chosen case and its payload.
    Variant {
        /// Case name.
        case: String,
        /// Payload, if the case has one.
        payload: Option<Box<Value>>,
    },
    /// `enum`: the chosen case name.
    Enum(String),
    /// `option`.
    Option(Option<Box<Value>>),
    /// `result`: `Ok`/`Err` with optional payloads.
    Result(Result<Option<Box<Value>>, Option<Box<Value>>>),
    /// `flags`: the names of the set flags.
    Flags(Vec<String>),
}

/// A function's signature as the runtime introspects it on load.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FuncType {
    /// Parameter names (component exports have names; core params are `p0`, `p1`, …).
    pub params: Vec<Field>,
    /// Result types, in order.
    pub results: Vec<ValueType>,
}

impl Value {
    /// The JSON `type` name of this value (`"u32"`, `"record"`, …), as used in error
    /// messages ("expected u32, got string").
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::S8(_) => "s8",
            Value::U8(_) => "u8",
            Value::S16(_) => "s16",
            Value::U16(_) => "u16",
            Value::S32(_) => "s32",
            Value::U32(_) => "u32",
            Value::S64(_) => "s64",
            Value::U64(_) => "u64",
            Value::I32(_) => "i32",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Char(_) => "char",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Record(_) => "record",
            Value::Tuple(_) => "tuple",
            Value::Variant { .. } => "variant",
            Value::Enum(_) => "enum",
            Value::Option(_) => "option",
            Value::Result(_) => "result",
            Value::Flags(_) => "flags",
        }
    }

    /// The `f32` this value holds, if it is an [`Value::F32`].
    pub fn as_f32(&self) -> Option<f32> {
        match self {
            Value::F32(bits) => Some(f32::from_bits(*bits)),
            _ => None,
        }
    }

    /// The `f64` this value holds, if it is an [`Value::F64`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(bits) => Some(f64::from_bits(*bits)),
            _ => None,
        }
    }

    /// An `f32` value, keeping its exact bits.
    pub fn f32(x: f32) -> Value {
        Value::F32(x.to_bits())
    }

    /// An `f64` value, keeping its exact bits.
    pub fn f64(x: f64) -> Value {
        Value::F64(x.to_bits())
    }
}

impl ValueType {
    /// The kind name of this type, identical to [`Value::type_name`] of its values.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ValueType::Bool => "bool",
            ValueType::S8 => "s8",
            ValueType::U8 => "u8",
            ValueType::S16 => "s16",
            ValueType::U16 => "u16",
            ValueType::S32 => "s32",
            ValueType::U32 => "u32",
            ValueType::S64 => "s64",
            ValueType::U64 => "u64",
            ValueType::I32 => "i32",
            ValueType::I64 => "i64",
            ValueType::F32 => "f32",
            ValueType::F64 => "f64",
            ValueType::Char => "char",
            ValueType::String => "string",
            ValueType::List(_) => "list",
            ValueType::Record(_) => "record",
            ValueType::Tuple(_) => "tuple",
            ValueType::Variant(_) => "variant",
            ValueType::Enum(_) => "enum",
            ValueType::Option(_) => "option",
            ValueType::Result { .. } => "result",
            ValueType::Flags(_) => "flags",
        }
    }

    /// The scalar type named `name` (`"u32"`, `"string"`, …); `None` for compound or
    /// unknown names.
    pub fn scalar_from_name(name: &str) -> Option<ValueType> {
        Some(match name {
            "bool" => ValueType::Bool,
            "s8" => ValueType::S8,
            "u8" => ValueType::U8,
            "s16" => ValueType::S16,
            "u16" => ValueType::U16,
            "s32" => ValueType::S32,
            "u32" => ValueType::U32,
            "s64" => ValueType::S64,
            "u64" => ValueType::U64,
            "i32" => ValueType::I32,
            "i64" => ValueType::I64,
            "f32" => ValueType::F32,
            "f64" => ValueType::F64,
            "char" => ValueType::Char,
            "string" => ValueType::String,
            _ => return None,
        })
    }

    /// Shorthand for `list<T>`.
    pub fn list(elem: ValueType) -> ValueType {
        ValueType::List(Box::new(elem))
    }

    /// Shorthand for `option<T>`.
    pub fn option(inner: ValueType) -> ValueType {
        ValueType::Option(Box::new(inner))
    }

    /// Shorthand for `result<ok, err>`.
    pub fn result(ok: Option<ValueType>, err: Option<ValueType>) -> ValueType {
        ValueType::Result {
            ok: ok.map(Box::new),
            err: err.map(Box::new),
        }
    }
}

impl Field {
    /// A field named `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: ValueType) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }
}

impl Case {
    /// A case named `name` with payload type `ty`.
    pub fn new(name: impl Into<String>, ty: Option<ValueType>) -> Case {
        Case {
            name: name.into(),
            ty,
        }
    }
}
