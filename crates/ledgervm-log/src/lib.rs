//! # ledgervm-log
//!
//! The verifiable, append-only log under every ledgervm promise.
//!
//! * [`merkle`] — RFC 6962 / RFC 9162 hashing, tree heads, inclusion and consistency
//!   proofs. Pure: no I/O.
//! * [`tile`] — C2SP `tlog-tiles` coordinates, paths and entry bundles. Pure.
//! * [`note`] and [`checkpoint`] — C2SP `signed-note`, `tlog-checkpoint` and
//!   `tlog-cosignature`. Pure.
//! * [`tlog_proof`] — C2SP `tlog-proof`, the offline receipt text. Pure.
//! * [`storage`] — the narrow storage trait (immutable objects + checkpoint
//!   compare-and-swap), with a local-disk backend and a fault-injecting wrapper.
//! * [`appender`] — group-committed durable appends.
//! * [`reader`] — entries and proofs served from tiles through a small cache.
//!
//! Invariant: the modules marked *pure* never do I/O; everything that touches a disk goes
//! through [`storage::Storage`].

pub mod appender;
pub mod checkpoint;
pub mod merkle;
pub mod note;
pub mod reader;
pub mod storage;
pub mod tile;
pub mod tlog_proof;
