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
//! * [`signing`] — what callers sign and how it is checked. Pure.
//! * [`nonces`] — the replay window. Pure.
//! * [`authz`] — policies, ownership, the admin key and `--debug` users.
//! * [`kv`] — the persistent, encrypted per-app store (redb) and sealed app keys.
//! * [`digest`] — the LtHash state digest records carry. Pure.
//! * [`secret`] and [`private`] — app keys, AES-256-GCM sealing, private call records.
//!   Pure.
//!
//! This crate knows nothing of HTTP: transports live in `ledgervm-server`.

pub mod authz;
pub mod blobs;
pub mod canonical;
pub mod digest;
pub mod error;
pub mod identity;
pub mod ids;
pub mod kv;
pub mod node;
pub mod nonces;
pub mod private;
pub mod receipt;
pub mod record;
pub mod registry;
pub mod secret;
pub mod signing;
pub mod state;

pub use authz::{AuthOptions, Requester, SignedRequest};
pub use error::{ErrorKind, NodeError};
pub use node::{CallInput, CallResult, LoadRequest, LogStats, Node, NodeOptions};
pub use receipt::{Receipt, VerifiedReceipt};
pub use registry::AppInfo;
