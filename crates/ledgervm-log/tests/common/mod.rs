//! Helpers shared by the log's integration tests.
#![allow(dead_code)]

use ledgervm_log::appender::{Log, LogOptions, VerifyOnOpen};
use ledgervm_log::checkpoint::Checkpoint;
use ledgervm_log::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use ledgervm_log::note::{Signer, VerifierSet};
use ledgervm_log::storage::LocalStorage;
use std::path::Path;

pub const ORIGIN: &str = "test.ledgervm.example/log";

/// A fixed key, so a child process and its parent sign with the same key.
pub fn signer() -> Signer {
    use ed25519_dalek::SigningKey;
    Signer::new(ORIGIN, SigningKey::from_bytes(&[42; 32])).unwrap()
}

/// The deterministic entry submitted `k`-th in a test (lengths vary, some cross 255).
pub fn entry(k: u64) -> Vec<u8> {
    let mut e = format!("entry-{k}").into_bytes();
    e.resize(e.len() + (k * 131 % 400) as usize, b'0' + (k % 10) as u8);
    e
}

pub fn opts(max_batch: usize) -> LogOptions {
    LogOptions {
        max_batch,
        verify_on_open: VerifyOnOpen::Full,
        ..LogOptions::default()
    }
}

/// Re-opens the log in `dir` (full verification) and checks the recovery invariants:
/// the checkpoint verifies; every acknowledged `(index, entry)` is present with a valid
/// inclusion proof; every entry present equals `expected(index)` when given (nothing
/// half-written) from `old`'s size on; `old` (size, root), if given, is consistent with the new head.
pub async fn reopen_and_check(
    dir: &Path,
    acked: &[(u64, Vec<u8>)],
    expected: Option<&dyn Fn(u64) -> Vec<u8>>,
    old: Option<(u64, [u8; 32])>,
) -> Log {
    let storage = LocalStorage::open(dir).expect("storage re-opens");
    let log = Log::open(storage, signer(), ORIGIN, opts(64))
        .await
        .unwrap_or_else(|e| panic!("log re-opens after the crash: {e} ({})", e.code()));
    let known = VerifierSet::new(vec![Box::new(signer().verifier())]);
    let (cp, _) = Checkpoint::open(&log.checkpoint(), ORIGIN, &known).expect("checkpoint verifies");
    assert_eq!(cp.size, log.size());
    assert_eq!(cp.root_hash, log.root());
    let on_disk = std::fs::read(dir.join("checkpoint")).unwrap();
    assert_eq!(
        on_disk,
        *log.checkpoint(),
        "checkpoint file is the log's checkpoint"
    );
    let size = log.size();
    for (i, e) in acked {
        assert!(*i < size, "acknowledged entry {i} lost (size {size})");
        assert_eq!(&log.entry(*i).unwrap(), e, "acknowledged entry {i} differs");
        let proof = log.inclusion_proof(*i, size).unwrap();
        verify_inclusion(*i, size, &leaf_hash(e), &proof, &log.root()).unwrap();
    }
    if let Some(expected) = expected {
        // Below the previous head the entries were already checked, and re-opening with
        // full verification re-hashed them against the tree; a crash only touches the tail.
        for i in old.map_or(0, |(s, _)| s)..size {
            assert_eq!(
                log.entry(i).unwrap(),
                expected(i),
                "entry {i} is not what was appended"
            );
        }
    }
    if let Some((old_size, old_root)) = old {
        assert!(size >= old_size, "log shrank from {old_size} to {size}");
        let proof = log.consistency_proof(old_size, size).unwrap();
        verify_consistency(old_size, size, &old_root, &log.root(), &proof).unwrap();
    }
    log
}
