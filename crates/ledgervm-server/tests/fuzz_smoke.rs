//! CI smoke run of the cargo-fuzz targets in `fuzz/`, on stable: each target body runs
//! over its committed seed corpus (`fuzz/seeds/<target>/`) and a few thousand inputs made
//! by mutating those seeds. The long runs are `cargo +nightly fuzz run` (docs/SECURITY.md).
//!
//! The bodies are the very files the fuzz targets compile (included by path), so the
//! smoke run and libFuzzer exercise the same assertions.

#[path = "../../../fuzz/src/frames.rs"]
mod frames;
#[path = "../../../fuzz/src/log.rs"]
mod log;
#[path = "../../../fuzz/src/node.rs"]
mod node;

use std::path::PathBuf;

/// Generated inputs per target, on top of the seeds.
const GENERATED: usize = 3000;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let dir = root.join("../../fuzz/seeds").join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed corpus {}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out.sort();
    out
}

/// A small deterministic generator (xorshift64*), so a failure reproduces exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to these formats, so mutations hit separators and digits often.
const INTERESTING: &[u8] = b"\n\0 /.-+={}[]\":,0123456789xpe\xe2\x80\x94\xff";

/// One libFuzzer-style mutation chain: flips, inserts, deletes, splices, duplicates.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if at < v.len() => {
                let end = (at + 1 + rng.below(8)).min(v.len());
                v.drain(at..end);
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                v.splice(at..at, other[from..].iter().copied().take(16));
            }
            4 if at < v.len() => {
                let chunk: Vec<u8> = v[at..(at + 8).min(v.len())].to_vec();
                v.splice(at..at, chunk);
            }
            _ => v.truncate(at),
        }
    }
    v
}

fn smoke(target: &str, body: fn(&[u8])) {
    let seeds = seeds(target);
    for s in &seeds {
        body(s);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    for _ in 0..GENERATED {
        body(&mutate(&mut rng, &seeds));
    }
}

#[test]
fn checkpoint() {
    smoke("checkpoint", log::checkpoint);
}

#[test]
fn note() {
    smoke("note", log::note);
}

#[test]
fn tile_path() {
    smoke("tile_path", log::tile_path);
}

#[test]
fn entry_bundle() {
    smoke("entry_bundle", log::entry_bundle);
}

#[test]
fn tlog_proof() {
    smoke("tlog_proof", log::tlog_proof);
}

#[test]
fn record() {
    smoke("record", node::record);
}

#[test]
fn typed_value() {
    smoke("typed_value", node::typed_value);
}

#[test]
fn http_body() {
    smoke("http_body", node::http_body);
}

#[test]
fn frames() {
    smoke("frames", frames::frames);
}

/// The seeds reach the interesting paths: a check that would fail if a format change
/// made every seed a parse error (and the smoke run silently shallow).
#[test]
fn seeds_parse() {
    use ledgervm_log::checkpoint::Checkpoint;
    use ledgervm_log::note::{Note, Signer, VerifierSet};
    let signed = seeds("checkpoint")
        .into_iter()
        .find(|s| s.windows(2).any(|w| w == b"\n\n"))
        .expect("a signed checkpoint seed");
    let set = VerifierSet::new(vec![Box::new(
        Signer::from_private_key(log::FUZZ_KEY).unwrap().verifier(),
    )]);
    Checkpoint::open(&signed, log::FUZZ_ORIGIN, &set).expect("signed seed opens");
    for s in seeds("note") {
        Note::parse(&s).expect("note seed parses");
    }
    for s in seeds("record") {
        ledgervm_node::record::Record::decode(&s).expect("record seed decodes");
    }
    for s in seeds("tlog_proof") {
        ledgervm_log::tlog_proof::TlogProof::parse(&s).expect("proof seed parses");
    }
    // Every request kind, bare and enveloped, is among the frame seeds.
    let mut kinds = std::collections::BTreeSet::new();
    for s in seeds("frames") {
        let mut d = ledgervm_server::frames::FrameDecoder::new(frames::FUZZ_MAX_FRAME);
        d.push(&s[1..]);
        while let Ok(Some(f)) = d.next_frame() {
            use ledgervm_server::frames::{Request, open_payload, parse_request};
            let Ok((v, how)) = open_payload(&f) else {
                continue;
            };
            if let Ok(r) = parse_request(v) {
                let kind = match r {
                    Request::WasmLoad(_) => "load",
                    Request::WasmCall(_) => "call",
                    Request::WasmList(_) => "list",
                    Request::WasmUnload(_) => "unload",
                };
                kinds.insert(format!("{kind}/{how:?}"));
            }
        }
    }
    for k in ["load/Bare", "call/Bare", "list/Envelope", "unload/Bare"] {
        assert!(kinds.contains(k), "no {k} frame seed: {kinds:?}");
    }
}
