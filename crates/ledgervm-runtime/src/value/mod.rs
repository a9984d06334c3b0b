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

// Implementation modules (json codec, checking, wasmtime conversions) are added beside
// this file; see the helper notes in the issue.

/// A value type: every core Wasm number type and every component value type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    Bool,
    S8,
    U8,
    S16,
    U16,
    S32,
    U32,
    S64,
    U64,
    /// Core-module `i32`: sign-agnostic.
    I32,
    /// Core-module `i64`: sign-agnostic.
    I64,
    F32,
    F64,
    Char,
    String,
    List(Box<ValueType>),
    Record(Vec<Field>),
    Tuple(Vec<ValueType>),
    Variant(Vec<Case>),
    Enum(Vec<String>),
    Option(Box<ValueType>),
    Result {
        ok: Option<Box<ValueType>>,
        err: Option<Box<ValueType>>,
    },
    Flags(Vec<String>),
}

/// A named record field type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: String,
    pub ty: ValueType,
}

/// A variant case: a name and an optional payload type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Case {
    pub name: String,
    pub ty: Option<ValueType>,
}

/// A typed value. Floats are kept as raw bits so NaN payloads and `-0.0` survive every
/// round trip.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Bool(bool),
    S8(i8),
    U8(u8),
    S16(i16),
    U16(u16),
    S32(i32),
    U32(u32),
    S64(i64),
    U64(u64),
    I32(i32),
    I64(i64),
    /// IEEE-754 bits of an `f32`.
    F32(u32),
    /// IEEE-754 bits of an `f64`.
    F64(u64),
    Char(char),
    String(String),
    List(Vec<Value>),
    Record(Vec<(String, Value)>),
    Tuple(Vec<Value>),
    Variant {
        case: String,
        payload: Option<Box<Value>>,
    },
    Enum(String),
    Option(Option<Box<Value>>),
    Result(Result<Option<Box<Value>>, Option<Box<Value>>>),
    Flags(Vec<String>),
}

/// A function's signature as the runtime introspects it on load.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FuncType {
    /// Parameter names (component exports have names; core params are `p0`, `p1`, …).
    pub params: Vec<Field>,
    pub results: Vec<ValueType>,
}
