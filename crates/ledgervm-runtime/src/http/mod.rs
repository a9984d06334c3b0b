//! Outbound HTTPS for components: `wasi:http/outgoing-handler` as an oracle.
//!
//! * [`policy`] — which destinations are reachable: `https://` only; loopback, private,
//!   link-local, CGNAT, IPv4-mapped, unique-local, multicast, unspecified and cloud
//!   metadata addresses are refused unless an operator [`policy::AllowRule`] permits them.
//!   Pure.
//! * [`record`] — the transcript form of a request (sorted headers) and the comparison
//!   replay uses. Pure.
//! * [`error`] — typed failures with stable codes, and their `wasi:http` error codes.
//! * [`client`] — the live exchange: resolve, check the resolved address, connect to that
//!   address (no second resolution, so no DNS rebinding), TLS with rustls and
//!   configurable roots, size caps and timeouts.
//! * [`handler`] — the `wasi:http/outgoing-handler` host function: live mode performs the
//!   exchange and records an `OracleEvent::Http`; replay mode answers from the transcript
//!   without touching the network and reports a divergence when the request (method, URL,
//!   headers or body) differs from the recorded one.
//!
//! ```
//! use ledgervm_runtime::http::{EgressConfig, policy::EgressPolicy};
//! // Tests talk to a local HTTPS server: allow exactly its address and trust its CA.
//! let cfg = EgressConfig::new(EgressPolicy::new(vec!["127.0.0.1:8443".parse().unwrap()]));
//! assert_eq!(cfg.policy.allow.len(), 1);
//! ```

pub mod client;
pub mod error;
pub mod handler;
pub mod policy;
pub mod record;

pub use client::{EgressConfig, EgressSettings};
pub use error::HttpError;
pub use handler::{EgressCtx, EgressView, add_to_linker};
