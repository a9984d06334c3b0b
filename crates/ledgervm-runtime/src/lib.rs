//! # ledgervm-runtime
//!
//! Runs guest WebAssembly so that a second run gives the same bytes.
//!
//! * [`value`] — the typed JSON value codec (`{"type":"u32","value":42}`), value types
//!   and signature checking. Pure: no I/O, no wasmtime.
//! * [`transcript`] — oracle answers (random bytes, clocks, HTTP exchanges) recorded in
//!   live mode and replayed in replay mode. Pure data.
//!
//! This crate knows nothing of the log or of HTTP serving.

pub mod value;
pub mod transcript;
