//! # ledgervm-runtime
//!
//! Runs guest WebAssembly so that a second run gives the same bytes.
//!
//! * [`Runtime`] ([`engine`]) — one deterministic wasmtime engine (NaN canonicalization,
//!   deterministic relaxed SIMD, no threads, fuel, epoch deadline, pooling allocator),
//!   its [`EngineFingerprint`], the on-disk module [`cache`] and the epoch ticker.
//! * [`Runtime::load`] → [`LoadedApp`] ([`app`]) — a pre-instantiated module with its
//!   introspected exports; [`LoadedApp::call`] runs a [`CallRequest`] in a fresh instance
//!   and returns a [`CallOutcome`] (results or a typed [`CallError`], fuel, transcript,
//!   captured output).
//! * [`limits`] — per-call [`Limits`] and the runtime-wide [`RuntimeConfig`].
//! * [`transcript`] / [`oracle`] — oracle answers (random bytes, clocks, HTTP exchanges)
//!   recorded in live mode and replayed in replay mode, with precise divergence errors.
//! * [`state`] — the [`state::StateStore`] trait the node implements, and the caller id.
//! * [`exec`] — per-call setup and outcome mapping shared by core modules and components.
//! * [`guest_abi`] — the `ledgervm` core import module (docs/GUEST_ABI.md).
//! * [`component`] — WASI 0.2 components: load, introspect (`func`, `iface#func`), call in
//!   a fresh instance; [`keyvalue`] — `wasi:keyvalue` over the app's state; [`http`] —
//!   `wasi:http` egress (https only, address policy, recorded/replayed exchanges).
//! * [`value`] — the typed JSON value codec (`{"type":"u32","value":42}`), value types
//!   and signature checking. Pure: no I/O, no wasmtime.
//!
//! This crate knows nothing of the log or of HTTP serving.

pub mod app;
pub mod cache;
pub mod component;
pub mod core_module;
pub mod engine;
pub mod error;
pub mod exec;
pub mod guest_abi;
pub mod http;
pub mod keyvalue;
pub mod limits;
pub mod oracle;
pub mod output;
pub mod random;
pub mod state;
pub mod transcript;
pub mod value;

pub use app::{AppKind, CallOutcome, CallRequest, LoadedApp};
pub use engine::{EngineFingerprint, Runtime};
pub use error::{CallError, Divergence, LoadError};
pub use limits::{Limits, RuntimeConfig};
pub use state::{Caller, SharedState, StateStore};
pub use transcript::{CallMode, OracleEvent, Transcript};
