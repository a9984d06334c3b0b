//! # ledgervm-client
//!
//! Talk to a ledgervm server without trusting it.
//!
//! * [`Client`] ([`http`]) — the typed HTTP API. Every answer that carries a receipt or
//!   checkpoint is verified before it is returned.
//! * [`TrustStore`] ([`trust`]) — the last checkpoint verified per log (a file under the
//!   user's config directory); a checkpoint that does not extend it is refused as a
//!   [`ClientError::Rollback`] or [`ClientError::Fork`], with both checkpoints kept as
//!   evidence.
//! * [`CallerKey`] ([`signing`]) — a caller identity that signs calls, loads and
//!   unloads ([`Client::set_caller_key`]).
//! * [`verify`] — the pure checks, and [`verify_receipt_file`] for offline receipts.
//! * [`attest`] — the TLS verifier and the certificate-to-identity-document binding.
//! * [`ws`] — a JSON-RPC client for the WebSocket API.
//! * [`audit`] — download a whole log, verify its tree, replay every call and report
//!   the first divergence.
//!
//! The client shares formats with the node through its pure modules
//! (`ledgervm_node::record`, `ledgervm_node::receipt`, `ledgervm_log`), never through the
//! server's internals.

pub mod attest;
pub mod audit;
pub mod error;
pub mod http;
pub mod kv;
pub mod signing;
pub mod trust;
pub mod verify;
pub mod ws;

pub use attest::{Attested, AttestedVerifier};
pub use audit::{AuditOptions, AuditReport, AuditTarget, Divergence, DivergenceKind, audit};
pub use error::{ClientError, Evidence};
pub use http::{CallResponse, Client, KeyPin, LoadOptions, LogInfo, RecordResponse, Unloaded};
pub use signing::{CallerKey, SignedHeaders};
pub use trust::{Advance, Freshness, TrustStore};
pub use verify::{LogKey, LoggedCall, SignedCheckpoint, verify_receipt_file};
