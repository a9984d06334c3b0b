//! Error types of the value codec. Each carries a stable machine code (`code()`) so the
//! API layer can return it unchanged.

use std::fmt;

/// A JSON value (or a plain word) that does not decode to a [`Value`](super::Value) or
/// [`ValueType`](super::ValueType). `path` says where, e.g. `args[1].value.x`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}", if path.is_empty() { String::new() } else { format!("at {path}: ") })]
pub struct ValueError {
    /// JSON path of the offending element (`$` is the root of the decoded document;
    /// empty for a plain word).
    pub path: String,
    /// What is wrong there.
    pub kind: ValueErrorKind,
}

impl ValueError {
    pub(crate) fn new(path: impl Into<String>, kind: ValueErrorKind) -> ValueError {
        ValueError {
            path: path.into(),
            kind,
        }
    }

    /// Stable machine code, e.g. `"value.unknown_type"`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// The reasons a JSON value can fail to decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueErrorKind {
    /// The text is not JSON (this includes lone UTF-16 surrogates in `\u` escapes).
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// The JSON element has the wrong kind.
    #[error("expected {expected}, got {got}")]
    Shape {
        /// What was expected (`"object"`, `"array"`, `"string"`, …).
        expected: &'static str,
        /// The JSON kind found.
        got: &'static str,
    },
    /// A required object key is absent.
    #[error("missing key \"{0}\"")]
    MissingKey(&'static str),
    /// An object key that this form does not allow.
    #[error("unknown key \"{0}\"")]
    UnknownKey(String),
    /// A `type` name that is not in the table.
    #[error("unknown type \"{0}\"")]
    UnknownType(String),
    /// An integer that does not fit its type.
    #[error("{value} is out of range for {ty}")]
    IntOutOfRange {
        /// The integer type.
        ty: &'static str,
        /// The value as given.
        value: String,
    },
    /// Not an integer (a fraction, an exponent, a malformed decimal string, …).
    #[error("invalid {ty} integer {text}")]
    InvalidInt {
        /// The integer type.
        ty: &'static str,
        /// The offending text or JSON.
        text: String,
    },
    /// A finite number too large for an `f32`.
    #[error("{0} is out of range for f32")]
    FloatOutOfRange(String),
    /// Not a float: neither a JSON number nor `"inf"`, `"-inf"`, `"nan"`.
    #[error("invalid {ty} {text}")]
    InvalidFloat {
        /// `"f32"` or `"f64"`.
        ty: &'static str,
        /// The offending text or JSON.
        text: String,
    },
    /// A `bits` field that is not `0x` followed by at most 8 (f32) or 16 (f64) hex digits.
    #[error("invalid {ty} bits {text}")]
    InvalidBits {
        /// `"f32"` or `"f64"`.
        ty: &'static str,
        /// The offending text or JSON.
        text: String,
    },
    /// `bits` and `value` describe different floats.
    #[error("bits {bits} do not match value {value}")]
    BitsMismatch {
        /// The `bits` as given.
        bits: String,
        /// The `value` as given.
        value: String,
    },
    /// A `char` string that is not exactly one Unicode scalar value.
    #[error("a char must be exactly one Unicode scalar value, got {0}")]
    InvalidChar(usize),
    /// The same name twice where names must be unique.
    #[error("duplicate {what} \"{name}\"")]
    Duplicate {
        /// `"flag"`, `"field"`, `"case"`, …
        what: &'static str,
        /// The repeated name.
        name: String,
    },
    /// An empty name where a name is required.
    #[error("empty {0} name")]
    EmptyName(&'static str),
    /// A `result` value that does not have exactly one of `ok` / `err`.
    #[error("a result needs exactly one of \"ok\" or \"err\"")]
    ResultShape,
    /// Nesting deeper than the codec accepts.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// A well-formed value of the wrong type (type-directed decoding).
    #[error("{0}")]
    Type(TypeError),
}

impl ValueErrorKind {
    /// Stable machine code of this kind.
    pub fn code(&self) -> &'static str {
        match self {
            ValueErrorKind::Syntax(_) => "value.syntax",
            ValueErrorKind::Shape { .. } => "value.shape",
            ValueErrorKind::MissingKey(_) => "value.missing_key",
            ValueErrorKind::UnknownKey(_) => "value.unknown_key",
            ValueErrorKind::UnknownType(_) => "value.unknown_type",
            ValueErrorKind::IntOutOfRange { .. } => "value.int_range",
            ValueErrorKind::InvalidInt { .. } => "value.int_syntax",
            ValueErrorKind::FloatOutOfRange(_) => "value.float_range",
            ValueErrorKind::InvalidFloat { .. } => "value.float_syntax",
            ValueErrorKind::InvalidBits { .. } => "value.bits_syntax",
            ValueErrorKind::BitsMismatch { .. } => "value.bits_mismatch",
            ValueErrorKind::InvalidChar(_) => "value.char",
            ValueErrorKind::Duplicate { .. } => "value.duplicate",
            ValueErrorKind::EmptyName(_) => "value.empty_name",
            ValueErrorKind::ResultShape => "value.result_shape",
            ValueErrorKind::TooDeep(_) => "value.too_deep",
            ValueErrorKind::Type(e) => e.code(),
        }
    }
}

/// A value that does not have the expected type. `path` locates it inside the checked
/// value, outermost first (`field "x"`, `element 3`, …).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct TypeError {
    /// Steps from the checked value down to the offending part, e.g.
    /// `["field \"p\"", "element 2"]`.
    pub path: Vec<String>,
    /// What is wrong there.
    pub kind: TypeErrorKind,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.path {
            write!(f, "{step}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl TypeError {
    pub(crate) fn new(kind: TypeErrorKind) -> TypeError {
        TypeError {
            path: Vec::new(),
            kind,
        }
    }

    /// Prepends a path step (errors are built innermost first).
    pub(crate) fn within(mut self, step: String) -> TypeError {
        self.path.insert(0, step);
        self
    }

    /// Stable machine code, e.g. `"type.mismatch"`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// The ways a value can fail to match a type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypeErrorKind {
    /// Different kinds of value, e.g. a string where a `u32` is expected.
    #[error("expected {expected}, got {got}")]
    Mismatch {
        /// The expected type, WIT-like.
        expected: String,
        /// The [`type_name`](super::Value::type_name) of the value given.
        got: &'static str,
    },
    /// A record value lacks a declared field.
    #[error("missing field \"{0}\"")]
    MissingField(String),
    /// A record value has a field the type does not declare.
    #[error("unknown field \"{0}\"")]
    UnknownField(String),
    /// A record value names the same field twice.
    #[error("duplicate field \"{0}\"")]
    DuplicateField(String),
    /// A tuple value of the wrong length.
    #[error("expected a tuple of {expected} elements, got {got}")]
    TupleLength {
        /// Declared length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// A variant case the type does not declare.
    #[error("unknown case \"{name}\" of {expected}")]
    UnknownCase {
        /// The case given.
        name: String,
        /// The variant type, WIT-like.
        expected: String,
    },
    /// A case (or `ok`/`err`) declared with a payload was given none.
    #[error("case \"{0}\" needs a payload")]
    MissingPayload(String),
    /// A case (or `ok`/`err`) declared without a payload was given one.
    #[error("case \"{0}\" takes no payload")]
    UnexpectedPayload(String),
    /// An enum name the type does not declare.
    #[error("unknown enum case \"{name}\" of {expected}")]
    UnknownEnumCase {
        /// The name given.
        name: String,
        /// The enum type, WIT-like.
        expected: String,
    },
    /// A flag name the type does not declare.
    #[error("unknown flag \"{name}\" of {expected}")]
    UnknownFlag {
        /// The name given.
        name: String,
        /// The flags type, WIT-like.
        expected: String,
    },
    /// The same flag set twice.
    #[error("duplicate flag \"{0}\"")]
    DuplicateFlag(String),
}

impl TypeErrorKind {
    /// Stable machine code of this kind.
    pub fn code(&self) -> &'static str {
        match self {
            TypeErrorKind::Mismatch { .. } => "type.mismatch",
            TypeErrorKind::MissingField(_) => "type.missing_field",
            TypeErrorKind::UnknownField(_) => "type.unknown_field",
            TypeErrorKind::DuplicateField(_) => "type.duplicate_field",
            TypeErrorKind::TupleLength { .. } => "type.tuple_length",
            TypeErrorKind::UnknownCase { .. } => "type.unknown_case",
            TypeErrorKind::MissingPayload(_) => "type.missing_payload",
            TypeErrorKind::UnexpectedPayload(_) => "type.unexpected_payload",
            TypeErrorKind::UnknownEnumCase { .. } => "type.unknown_enum_case",
            TypeErrorKind::UnknownFlag { .. } => "type.unknown_flag",
            TypeErrorKind::DuplicateFlag(_) => "type.duplicate_flag",
        }
    }
}

/// Call arguments that do not fit a function's signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// Wrong number of arguments.
    #[error("expected {expected} argument{}, got {given}", if *expected == 1 { "" } else { "s" })]
    Arity {
        /// Declared parameter count.
        expected: usize,
        /// Arguments given.
        given: usize,
    },
    /// One argument has the wrong type. `index` is 0-based, as in `args[index]`.
    #[error("argument {index} (\"{name}\"): {error}")]
    Type {
        /// 0-based argument position.
        index: usize,
        /// Parameter name from the signature.
        name: String,
        /// The mismatch, with its path inside the argument.
        error: TypeError,
    },
}

impl ArgError {
    /// Stable machine code: `"args.arity"` or the inner type error's code.
    pub fn code(&self) -> &'static str {
        match self {
            ArgError::Arity { .. } => "args.arity",
            ArgError::Type { error, .. } => error.code(),
        }
    }
}
