//! Typed errors of the runtime. Every variant has a stable machine code ([`CallError::code`],
//! [`LoadError::code`]) that the node records in call records and returns over the API, so
//! renaming a variant is fine but changing a code is a format change.

use serde::{Deserialize, Serialize};

/// Why a call did not produce results.
///
/// The outcome of a call is part of its record, so every variant is deterministic for a
/// given (module, arguments, state, transcript, limits) — except [`CallError::Deadline`],
/// which is a host safety net whose stop point is pinned by the fuel it records (see
/// [`crate::transcript::Transcript::deadline_fuel`]) and [`CallError::Internal`], which
/// means the host failed and the call proves nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum CallError {
    /// The call used all the fuel it was given.
    #[error("out of fuel")]
    OutOfFuel,
    /// The wall-clock deadline fired. `fuel_consumed` is the fuel used up to the stop; a
    /// replay given exactly that fuel stops at the same point.
    #[error("wall-clock deadline exceeded after {fuel_consumed} fuel")]
    Deadline {
        /// Fuel consumed when the deadline fired.
        fuel_consumed: u64,
    },
    /// The guest trapped. `code` is a stable snake_case name (`unreachable`,
    /// `integer_divide_by_zero`, `memory_out_of_bounds`, `exit`, `host`, …).
    #[error("trap ({code}): {message}")]
    Trap {
        /// Stable trap kind.
        code: String,
        /// Human-readable detail (deterministic: no backtraces or addresses).
        message: String,
    },
    /// The guest trapped after the host refused to grow its memory (or a table) beyond
    /// the call's limit, or the module needs more memory than the limit to instantiate.
    #[error("memory limit reached: {message}")]
    MemoryLimit {
        /// What ended the call after the refusal.
        message: String,
    },
    /// The guest exhausted the wasm stack (deep recursion).
    #[error("wasm stack overflow")]
    StackOverflow,
    /// The guest wrote more than `max_output_bytes` to stdout or stderr.
    #[error("output limit of {limit} bytes exceeded")]
    OutputLimit {
        /// The cap, in bytes, per stream.
        limit: usize,
    },
    /// The arguments do not match the export's signature.
    #[error("bad arguments: {message}")]
    BadArguments {
        /// Which argument and expected versus given type.
        message: String,
    },
    /// The app has no exported function of that name.
    #[error("no such function: {name}")]
    NoSuchFunction {
        /// The function asked for.
        name: String,
    },
    /// In replay mode the guest asked for something the transcript does not hold.
    #[error(transparent)]
    Divergence(#[from] Divergence),
    /// The call's limits exceed what this runtime's pool was configured for.
    #[error("invalid limits: {message}")]
    InvalidLimits {
        /// Which limit exceeds which ceiling.
        message: String,
    },
    /// The host failed (instance pool exhausted, I/O error, …). Not a property of the
    /// guest; a record with this outcome proves nothing.
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
}

impl CallError {
    /// Shorthand for [`CallError::Internal`].
    pub fn internal(message: impl std::fmt::Display) -> CallError {
        CallError::Internal {
            message: message.to_string(),
        }
    }

    /// Stable machine code, e.g. `"out_of_fuel"`; the same string as the serde tag
    /// (`{"error": "out_of_fuel"}`).
    pub fn code(&self) -> &'static str {
        match self {
            CallError::OutOfFuel => "out_of_fuel",
            CallError::Deadline { .. } => "deadline",
            CallError::Trap { .. } => "trap",
            CallError::MemoryLimit { .. } => "memory_limit",
            CallError::StackOverflow => "stack_overflow",
            CallError::OutputLimit { .. } => "output_limit",
            CallError::BadArguments { .. } => "bad_arguments",
            CallError::NoSuchFunction { .. } => "no_such_function",
            CallError::Divergence(_) => "divergence",
            CallError::InvalidLimits { .. } => "invalid_limits",
            CallError::Internal { .. } => "internal",
        }
    }
}

/// A replay that did not follow its transcript: the guest asked oracle number
/// `oracle_index` (0-based position in the transcript) for `asked`, but the transcript
/// holds `expected` there (or nothing: `"end of transcript"`; or the guest finished
/// while events were left: `asked == "end of call"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error(
    "replay diverged{} at oracle #{oracle_index}: guest asked for {asked}, transcript has {expected}",
    call_index.map(|c| format!(" in call #{c}")).unwrap_or_default()
)]
pub struct Divergence {
    /// Index of the call in the log; the runtime leaves it `None` and the caller layer
    /// (node / auditor), which knows the call number, fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_index: Option<u64>,
    /// 0-based position in the transcript's events.
    pub oracle_index: usize,
    /// What the guest asked, e.g. `"random(16 bytes)"`, `"wall clock"`.
    pub asked: String,
    /// What the transcript holds at that position.
    pub expected: String,
}

/// Why a module or component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Neither a valid Wasm binary nor WAT text.
    #[error("not a wasm module: {0}")]
    NotWasm(String),
    /// wasmtime rejected the module (validation or compilation).
    #[error("compile error: {0}")]
    Compile(String),
    /// The module imports something the host does not offer (e.g. filesystem-only WASI
    /// is offered but sockets are not), or the linker failed.
    #[error("link error: {0}")]
    Link(String),
    /// The module or component kind is not supported by this build.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An export's type cannot be represented as a typed value.
    #[error("unsupported export type: {0}")]
    ExportType(String),
    /// The on-disk cache failed in a way that is not just a miss.
    #[error("cache I/O error: {0}")]
    CacheIo(#[from] std::io::Error),
}

impl LoadError {
    /// Stable machine code, e.g. `"load.compile"`.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::NotWasm(_) => "load.not_wasm",
            LoadError::Compile(_) => "load.compile",
            LoadError::Link(_) => "load.link",
            LoadError::Unsupported(_) => "load.unsupported",
            LoadError::ExportType(_) => "load.export_type",
            LoadError::CacheIo(_) => "load.cache_io",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_serde_tags() {
        let all = [
            CallError::OutOfFuel,
            CallError::Deadline { fuel_consumed: 7 },
            CallError::Trap {
                code: "unreachable".into(),
                message: "x".into(),
            },
            CallError::MemoryLimit {
                message: "m".into(),
            },
            CallError::StackOverflow,
            CallError::OutputLimit { limit: 3 },
            CallError::BadArguments {
                message: "b".into(),
            },
            CallError::NoSuchFunction { name: "f".into() },
            CallError::Divergence(Divergence {
                call_index: Some(3),
                oracle_index: 1,
                asked: "wall clock".into(),
                expected: "random(4 bytes)".into(),
            }),
            CallError::InvalidLimits {
                message: "l".into(),
            },
            CallError::Internal {
                message: "i".into(),
            },
        ];
        for e in all {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json["error"], e.code(), "{json}");
            let back: CallError = serde_json::from_value(json).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn divergence_message_names_call_and_oracle() {
        let d = Divergence {
            call_index: Some(12),
            oracle_index: 4,
            asked: "wall clock".into(),
            expected: "random(8 bytes)".into(),
        };
        let s = d.to_string();
        assert!(s.contains("call #12") && s.contains("oracle #4"), "{s}");
        assert!(
            s.contains("wall clock") && s.contains("random(8 bytes)"),
            "{s}"
        );
    }
}
