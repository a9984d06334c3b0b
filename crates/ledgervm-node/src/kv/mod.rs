//! The persistent, encrypted per-app key-value store.
//!
//! One [redb](https://docs.rs/redb) database (`<data>/state/state.redb`) holds every app's
//! state. redb over fjall: the store is read far more than written, calls of one app are
//! serialized anyway, and redb gives ACID multi-table transactions (an app's values and
//! its `meta` row — applied log index, key count, digest lanes — commit together) in one
//! pure-Rust file with no background compaction threads competing with the runtime on a
//! small machine. fjall's LSM write throughput is not what this workload needs.
//!
//! # Namespaces
//! An app's state *generation* is named by the app's name and the id of its key
//! ([`crate::secret::AppKey::key_id`]) and lives in its own redb table
//! `kv/<key_id>/<name>`. App names cannot contain `/` and key ids are 64 hex
//! characters, so the encoding is injective; the table is chosen by the node from the
//! load record, never from anything a guest or caller supplies, and a guest's key bytes
//! only ever index inside that table. Values are sealed with AES-256-GCM under the app's
//! key with the table name and the key as associated data, so even a value copied
//! between tables on disk no longer opens.
//!
//! # Never ahead of the log
//! A call's writes are *staged* once its record is sequenced (later calls of the app see
//! them) and *persisted* to redb only after the log commit covering the record is durable
//! ([`AppKv::persist_ready`]). The `meta` row records the last log index persisted, so
//! after a crash recovery applies exactly the write sets after it. redb commits use
//! non-durable commits, with a durable one every [`DURABLE_EVERY`] commits and on unload:
//! whatever a crash loses, the log still has.

pub mod keys;
mod store;

pub use store::{AppKv, KvError, KvStore, StoredValue};

/// A durable redb commit at least every this many state commits.
pub const DURABLE_EVERY: u64 = 64;

/// Default most keys per app.
pub const DEFAULT_MAX_KEYS: u64 = 100_000;
