//! Loaded apps and the call interface: [`Runtime::load`] turns wasm bytes (binary or WAT)
//! into a [`LoadedApp`]; [`LoadedApp::call`] runs one export in a fresh instance.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use ledgervm_runtime::{CallRequest, Runtime, RuntimeConfig, state, value::Value};
//! let rt = Runtime::new(RuntimeConfig::default()).unwrap();
//! let app = rt
//!     .load(br#"(module (func (export "add") (param i32 i32) (result i32)
//!                 local.get 0 local.get 1 i32.add))"#)
//!     .unwrap();
//! let out = app
//!     .call(
//!         CallRequest::live("add", vec![Value::U32(5), Value::U32(7)]),
//!         state::shared(state::MemoryState::new()),
//!     )
//!     .await;
//! assert_eq!(out.result, Ok(vec![Value::I32(12)]));
//! assert!(out.fuel_consumed > 0);
//! # });
//! ```

use crate::Runtime;
use crate::error::{CallError, LoadError};
use crate::limits::Limits;
use crate::state::{Caller, SharedState};
use crate::transcript::{CallMode, Transcript};
use crate::value::{FuncType, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// One call to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRequest {
    /// Export name (`Sum`; for components as RT-component names them).
    pub func: String,
    /// Typed arguments, checked against the export's signature.
    pub args: Vec<Value>,
    /// Live (record) or replay (answer from a transcript).
    pub mode: CallMode,
    /// Who is calling (exposed to the guest).
    pub caller: Caller,
    /// Limits for this call; `None` uses the runtime's defaults.
    pub limits: Option<Limits>,
}

impl CallRequest {
    /// A live, anonymous call with default limits.
    pub fn live(func: impl Into<String>, args: Vec<Value>) -> CallRequest {
        CallRequest {
            func: func.into(),
            args,
            mode: CallMode::Live,
            caller: Caller::anonymous(),
            limits: None,
        }
    }

    /// A replay of a recorded call, anonymous, with default limits.
    pub fn replay(
        func: impl Into<String>,
        args: Vec<Value>,
        transcript: Transcript,
    ) -> CallRequest {
        CallRequest {
            mode: CallMode::Replay(transcript),
            ..CallRequest::live(func, args)
        }
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> CallRequest {
        self.limits = Some(limits);
        self
    }

    /// Sets the caller.
    pub fn with_caller(mut self, caller: Caller) -> CallRequest {
        self.caller = caller;
        self
    }
}

/// Everything a call produced. Two runs of the same call (live then replay with the
/// live transcript) must give equal outcomes, field for field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// Results, or why there are none.
    pub result: Result<Vec<Value>, CallError>,
    /// Fuel used, including `_start` / `_initialize`.
    pub fuel_consumed: u64,
    /// Live: every oracle answer given. Replay: the answers consumed (equal to the input
    /// transcript unless the replay diverged).
    pub transcript: Transcript,
    /// Captured stdout (at most `max_output_bytes`).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most `max_output_bytes`).
    pub stderr: Vec<u8>,
}

impl CallOutcome {
    /// An outcome for a call refused before any guest code ran.
    pub fn refused(err: CallError) -> CallOutcome {
        CallOutcome {
            result: Err(err),
            fuel_consumed: 0,
            transcript: Transcript::default(),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }
}

/// Core module or component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// A WASI Preview 1 core module (command or reactor).
    CoreModule,
    /// A WASI 0.2 component.
    Component,
}

/// The two kinds of guest. An enum rather than a trait object: a boxed `dyn Future`
/// per call meant allocating (and copying into) ~3 KiB, too big for the allocator's
/// thread cache, which alone was a visible share of a trivial call's overhead.
#[derive(Clone)]
pub(crate) enum Guest {
    Core(Arc<crate::core_module::CoreApp>),
    Component(Arc<crate::component::ComponentApp>),
}

/// A loaded app: compiled, linked and pre-instantiated. Cheap to clone.
#[derive(Clone)]
pub struct LoadedApp {
    code_hash: String,
    kind: AppKind,
    exports: Arc<Vec<(String, FuncType)>>,
    runtime: Runtime,
    guest: Guest,
}

impl std::fmt::Debug for LoadedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedApp")
            .field("code_hash", &self.code_hash)
            .field("kind", &self.kind)
            .field("exports", &self.exports)
            .finish_non_exhaustive()
    }
}

impl LoadedApp {
    /// Wraps a loaded guest. `code_hash` is the lowercase hex SHA-256 of the wasm
    /// binary; `exports` are the callable functions with their types.
    pub(crate) fn new(
        runtime: Runtime,
        code_hash: String,
        exports: Vec<(String, FuncType)>,
        guest: Guest,
    ) -> LoadedApp {
        let kind = match guest {
            Guest::Core(_) => AppKind::CoreModule,
            Guest::Component(_) => AppKind::Component,
        };
        LoadedApp {
            code_hash,
            kind,
            exports: Arc::new(exports),
            runtime,
            guest,
        }
    }

    /// Lowercase hex SHA-256 of the wasm binary (after WAT conversion).
    pub fn code_hash(&self) -> &str {
        &self.code_hash
    }

    /// Core module or component.
    pub fn kind(&self) -> AppKind {
        self.kind
    }

    /// Callable exports and their types, in the module's export order.
    pub fn exports(&self) -> &[(String, FuncType)] {
        &self.exports
    }

    /// The type of one export.
    pub fn export(&self, name: &str) -> Option<&FuncType> {
        self.exports.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Runs one call in a fresh instance. Never panics on bad input: every failure is
    /// in the outcome's `result`.
    ///
    /// Not an `async fn`, on purpose: the checks run now and the guest's own future is
    /// returned as is. An `async fn` wrapping it would hold the request twice (as its
    /// argument and as the guest future's) and be moved whole into every `spawn` and
    /// `block_on`; the runtime benchmark measured the difference.
    pub fn call(
        &self,
        req: CallRequest,
        state: SharedState,
    ) -> impl Future<Output = CallOutcome> + Send + '_ {
        use futures_util::future::{Either, ready};
        let limits = match self.check(&req) {
            Ok(limits) => limits,
            Err(e) => return Either::Left(ready(CallOutcome::refused(e))),
        };
        Either::Right(match &self.guest {
            Guest::Core(app) => Either::Left(app.call(req, limits, state)),
            // Boxed: a component call's future is several times a core call's, and would
            // otherwise make every call's future that size. A component call costs tens
            // of microseconds; the allocation is noise there.
            Guest::Component(app) => Either::Right(Box::pin(app.call(req, limits, state))),
        })
    }

    /// The checks before any guest code runs: the export exists, the arguments fit its
    /// type, and the limits are within the runtime's ceilings.
    fn check(&self, req: &CallRequest) -> Result<Limits, CallError> {
        let Some(ty) = self.export(&req.func) else {
            return Err(CallError::NoSuchFunction {
                name: req.func.clone(),
            });
        };
        if let Err(e) = crate::value::check_args(ty, &req.args) {
            return Err(CallError::BadArguments {
                message: e.to_string(),
            });
        }
        let limits = req
            .limits
            .clone()
            .unwrap_or_else(|| self.runtime.config().default_limits.clone());
        limits
            .check_against(self.runtime.config())
            .map_err(|message| CallError::InvalidLimits { message })?;
        Ok(limits)
    }
}

/// Whether a wasm binary is a component (layer 1) rather than a core module.
pub fn is_component(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && wasm[..4] == *b"\0asm" && wasm[6..8] == [1, 0]
}

/// Binary form of `bytes`: wasm binaries pass through; anything else is parsed as WAT
/// text, so the code hash is always that of the binary that runs.
pub fn to_binary(bytes: &[u8]) -> Result<Vec<u8>, LoadError> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes.to_vec());
    }
    wat::parse_bytes(bytes)
        .map(|b| b.into_owned())
        .map_err(|e| LoadError::NotWasm(e.to_string()))
}

/// Lowercase hex SHA-256.
pub fn code_hash(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

impl Runtime {
    /// Loads a core module or component from a wasm binary or WAT text: compiles (through
    /// the cache), links against the host, pre-instantiates and introspects exports.
    /// Components get the runtime's egress configuration ([`RuntimeConfig::egress`]).
    ///
    /// [`RuntimeConfig::egress`]: crate::RuntimeConfig::egress
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedApp, LoadError> {
        let wasm = to_binary(bytes)?;
        let hash = code_hash(&wasm);
        if is_component(&wasm) {
            let opts = crate::component::ComponentOptions {
                egress: self.egress(),
            };
            return crate::component::load(self, &wasm, hash, opts);
        }
        crate::core_module::load(self, &wasm, hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_detection_and_wat() {
        let m = to_binary(b"(module)").unwrap();
        assert!(m.starts_with(b"\0asm") && !is_component(&m));
        let c = to_binary(b"(component)").unwrap();
        assert!(is_component(&c));
        assert!(matches!(to_binary(b"(modul"), Err(LoadError::NotWasm(_))));
        assert_eq!(code_hash(b"").len(), 64);
    }
}
