//! Interop: a log written by ledgervm-log, checked by third-party verifiers (the PyPI
//! packages `tlog-scales` and `sigstore`) through `tests/interop/check_log.py`.
//!
//! Needs `LEDGERVM_PYTHON` (set by `scripts/env.sh`; `scripts/test` or
//! `scripts/install-python-tools` installs the venv it points at).

use std::collections::BTreeMap;
use std::process::Command;

use ledgervm_log::appender::{Log, LogOptions};
use ledgervm_log::note::Signer;
use ledgervm_log::storage::LocalStorage;
use rand::{Rng, SeedableRng};
use serde_json::json;

const ORIGIN: &str = "interop.ledgervm.test/log";
const ENTRIES: u64 = 1_500;

fn entry(i: u64) -> Vec<u8> {
    // Varied lengths, including empty entries and ones longer than 255 bytes.
    let len = (i * 37 % 700) as usize;
    let mut e = format!("entry {i}:").into_bytes();
    e.resize(
        if i.is_multiple_of(97) {
            0
        } else {
            len.max(e.len())
        },
        b'a' + (i % 26) as u8,
    );
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_verifiers_accept_our_log() {
    let Ok(python) = std::env::var("LEDGERVM_PYTHON") else {
        panic!(
            "LEDGERVM_PYTHON is not set: run the suite with scripts/test, or run \
             scripts/install-python-tools and `source scripts/env.sh` first"
        );
    };
    let script = manifest_dir().join("../../tests/interop/check_log.py");
    let dump = tempfile::tempdir().unwrap();
    let log_dir = dump.path().join("log");

    let signer = Signer::generate(ORIGIN).unwrap();
    let storage = std::sync::Arc::new(LocalStorage::open(&log_dir).unwrap());
    let opts = LogOptions {
        max_batch: 100,
        ..LogOptions::default()
    };
    let log = Log::open(storage.clone(), signer.clone(), ORIGIN, opts)
        .await
        .unwrap();

    // Append in waves of varied sizes so checkpoints land on and off tile boundaries.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut roots: BTreeMap<u64, String> = BTreeMap::new();
    roots.insert(0, hex::encode(log.root()));
    let mut next = 0u64;
    while next < ENTRIES {
        let wave = rng.gen_range(1..=300).min(ENTRIES - next);
        let handles: Vec<_> = (next..next + wave)
            .map(|i| tokio::spawn(log.append(entry(i))))
            .collect();
        for (i, h) in (next..).zip(handles) {
            assert_eq!(h.await.unwrap().unwrap(), i);
        }
        next += wave;
        roots.insert(log.size(), hex::encode(log.root()));
    }
    let size = log.size();
    assert_eq!(size, ENTRIES);

    // Roots of a few sizes that were never checkpointed, computed from the tiles.
    for s in [1, 255, 256, 257, 511, 512, 1000, 1024] {
        roots.insert(s, hex::encode(log.root_at(s).unwrap()));
    }
    let sizes: Vec<u64> = roots.keys().copied().collect();

    let mut inclusion = Vec::new();
    for i in 0..size {
        let proof = log.inclusion_proof(i, size).unwrap();
        inclusion.push(json!({"index": i, "size": size, "proof": proof.iter().map(hex::encode).collect::<Vec<_>>()}));
    }
    for &s in &sizes {
        for i in [0, s / 3, s.saturating_sub(1)] {
            if i < s {
                let proof = log.inclusion_proof(i, s).unwrap();
                inclusion.push(json!({"index": i, "size": s, "proof": proof.iter().map(hex::encode).collect::<Vec<_>>()}));
            }
        }
    }
    let mut consistency = Vec::new();
    for (a, &old) in sizes.iter().enumerate() {
        for &new in &sizes[a..] {
            let proof = log.consistency_proof(old, new).unwrap();
            consistency.push(json!({"old": old, "new": new, "proof": proof.iter().map(hex::encode).collect::<Vec<_>>()}));
        }
    }
    let entries: Vec<String> = (0..size)
        .map(|i| hex::encode(log.entry(i).unwrap()))
        .collect();
    for i in 0..size {
        assert_eq!(entries[i as usize], hex::encode(entry(i)));
    }
    let doc = json!({
        "size": size,
        "roots": roots.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        "entries": entries,
        "inclusion": inclusion,
        "consistency": consistency,
    });
    std::fs::write(dump.path().join("proofs.json"), doc.to_string()).unwrap();
    std::fs::write(dump.path().join("vkey"), signer.verifier().vkey()).unwrap();

    // Make everything durable in place, including the checkpoint file (which LocalStorage
    // replaces in the background), as an operator would before handing the dir over.
    storage.flush().unwrap();
    let out = Command::new(&python)
        .arg(&script)
        .arg(dump.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run scripts/install-python-tools"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "check_log.py failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    println!("{stdout}");
    assert!(stdout.starts_with("ok:"), "unexpected output: {stdout}");
}

/// The crate's directory, read at run time: the shared target directory may hold a test
/// binary that was built in another checkout, and `env!` would point there.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
