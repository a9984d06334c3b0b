//! # ledgervm-node
//!
//! The service core, transport-agnostic: the app registry, the call pipeline
//! (authorize → execute → record → append → receipt) and recovery from the log.
//!
//! * [`Node`] ([`node`]) — open/recover, load, unload, call, read records and proofs.
//! * [`record`] — the canonical, versioned log entry encoding. Pure.
//! * [`receipt`] — offline-verifiable receipts (entry + C2SP `tlog-proof`). Pure.
//! * [`identity`] — the identity document bound to the TLS certificate. Pure.
//! * [`ids`] — code hashes, CIDv1 and app-name rules. Pure.
//! * [`blobs`] — the content-addressed blob store (modules, oversized records).
//! * [`registry`] and [`state`] — loaded apps, their locks and per-call state overlays.
//!
//! This crate knows nothing of HTTP: transports live in `ledgervm-server`.

pub mod blobs;
pub mod error;
pub mod identity;
pub mod ids;
pub mod node;
pub mod receipt;
pub mod record;
pub mod registry;
pub mod state;

pub use error::{ErrorKind, NodeError};
pub use node::{CallInput, CallResult, LoadRequest, Node, NodeOptions};
pub use receipt::{Receipt, VerifiedReceipt};
pub use registry::AppInfo;
