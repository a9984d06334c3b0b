//! Fuzz target bodies. Each takes arbitrary bytes, must never panic, and asserts the
//! parser's own promise where it makes one (strict parsers re-encode to their input).
//!
//! The bodies are plain functions so that a stable `cargo test`
//! (`crates/ledgervm-server/tests/fuzz_smoke.rs`, which includes these files) runs them
//! over the seed corpus and generated inputs without nightly or libFuzzer.

#[cfg(feature = "runtime")]
pub mod frames;
pub mod log;
#[cfg(feature = "runtime")]
pub mod node;
