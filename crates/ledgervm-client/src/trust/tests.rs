use super::*;
use crate::verify::open_checkpoint;
use ledgervm_log::checkpoint::Checkpoint;
use ledgervm_log::merkle::{
    leaf_hash, prove_consistency, stored_hashes_for_record_hash, tree_hash,
};
use ledgervm_log::note::Signer;
use proptest::prelude::*;

const ORIGIN: &str = "example.com/testlog";

/// An in-memory log whose entries are `seed ‖ i`: two logs with different seeds share no
/// history.
struct FakeLog {
    seed: u8,
    stored: Vec<Hash>,
    n: u64,
}

impl FakeLog {
    fn new(seed: u8, n: u64) -> FakeLog {
        let mut log = FakeLog {
            seed,
            stored: Vec::new(),
            n: 0,
        };
        log.grow(n);
        log
    }

    fn grow(&mut self, to: u64) {
        while self.n < to {
            let entry = [&[self.seed][..], &self.n.to_be_bytes()].concat();
            let h = stored_hashes_for_record_hash(self.n, leaf_hash(&entry), &self.stored).unwrap();
            self.stored.extend(h);
            self.n += 1;
        }
    }

    fn checkpoint(&self, signer: &Signer, size: u64, key: &LogKey) -> SignedCheckpoint {
        let root = tree_hash(size, &self.stored).unwrap();
        let note = Checkpoint::new(ORIGIN, size, root)
            .unwrap()
            .sign(signer)
            .unwrap();
        open_checkpoint(note.as_bytes(), key).unwrap()
    }

    /// A proof fetcher answering from this log, as an honest server would.
    fn prover(
        &self,
    ) -> impl Fn(u64, u64) -> std::future::Ready<Result<Vec<Hash>, ClientError>> + '_ {
        move |old, new| {
            std::future::ready(
                prove_consistency(old, new, &self.stored)
                    .map_err(|e| ClientError::Protocol(e.to_string())),
            )
        }
    }
}

fn key() -> (Signer, LogKey) {
    let signer = Signer::generate(ORIGIN).unwrap();
    let key = LogKey::parse(&signer.verifier().vkey()).unwrap();
    (signer, key)
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn no_proof(_: u64, _: u64) -> std::future::Ready<Result<Vec<Hash>, ClientError>> {
    panic!("no proof should be needed")
}

fn evidence_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir.join("evidence")) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn accepts_first_use_then_extensions_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, key) = key();
    let store = TrustStore::open(dir.path());
    let mut log = FakeLog::new(1, 5);
    let cp5 = log.checkpoint(&signer, 5, &key);
    assert_eq!(
        block_on(store.advance(&key, &cp5, Freshness::Latest, no_proof)).unwrap(),
        Advance::FirstUse
    );
    assert_eq!(
        block_on(store.advance(&key, &cp5, Freshness::Latest, no_proof)).unwrap(),
        Advance::Unchanged
    );
    log.grow(300);
    let cp300 = log.checkpoint(&signer, 300, &key);
    let got = block_on(store.advance(&key, &cp300, Freshness::Latest, log.prover())).unwrap();
    assert_eq!(got, Advance::Extended { from: 5 });

    // A fresh handle on the same directory sees the advanced state.
    let again = TrustStore::open(dir.path());
    assert_eq!(again.trusted(&key).unwrap().unwrap(), cp300);
    assert!(evidence_files(dir.path()).is_empty());
    // No temp files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("example.com_testlog-") && names[0].ends_with(".json"));
}

#[test]
fn refuses_rollback_and_keeps_both_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, key) = key();
    let store = TrustStore::open(dir.path());
    let log = FakeLog::new(1, 10);
    let cp10 = log.checkpoint(&signer, 10, &key);
    let cp7 = log.checkpoint(&signer, 7, &key);
    block_on(store.advance(&key, &cp10, Freshness::Latest, no_proof)).unwrap();

    let err = block_on(store.advance(&key, &cp7, Freshness::Latest, log.prover())).unwrap_err();
    let ClientError::Rollback {
        trusted_size,
        presented_size,
        evidence,
    } = &err
    else {
        panic!("expected rollback, got {err:?}");
    };
    assert_eq!((*trusted_size, *presented_size), (10, 7));
    assert_eq!(evidence.trusted, cp10.note);
    assert_eq!(evidence.presented, cp7.note);
    let saved = evidence.saved_to.clone().unwrap();
    assert_eq!(evidence_files(dir.path()), vec![saved.clone()]);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(json["kind"], "rollback");
    assert_eq!(json["trusted"], cp10.note.as_str());
    assert_eq!(json["presented"], cp7.note.as_str());
    // The trusted state did not move back.
    assert_eq!(store.trusted(&key).unwrap().unwrap(), cp10);
}

#[test]
fn older_receipt_checkpoint_is_accepted_only_as_a_proven_prefix() {
    let (signer, key) = key();
    let store = TrustStore::memory();
    let log = FakeLog::new(1, 40);
    let cp40 = log.checkpoint(&signer, 40, &key);
    block_on(store.advance(&key, &cp40, Freshness::Latest, no_proof)).unwrap();
    let cp33 = log.checkpoint(&signer, 33, &key);
    let got = block_on(store.advance(&key, &cp33, Freshness::Receipt, log.prover())).unwrap();
    assert_eq!(got, Advance::OlderPrefix { trusted: 40 });
    assert_eq!(store.trusted(&key).unwrap().unwrap(), cp40);

    // An older checkpoint from another history is a fork even for a receipt.
    let other = FakeLog::new(2, 33);
    let forged = other.checkpoint(&signer, 33, &key);
    let err = block_on(store.advance(&key, &forged, Freshness::Receipt, log.prover())).unwrap_err();
    assert_eq!(err.code(), "client.fork");
    assert!(
        err.evidence().unwrap().saved_to.is_none(),
        "memory store keeps evidence in the error only"
    );
}

#[test]
fn refuses_same_size_fork_and_non_extending_growth() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, key) = key();
    let store = TrustStore::open(dir.path());
    let honest = FakeLog::new(1, 20);
    let evil = FakeLog::new(2, 30);
    let cp20 = honest.checkpoint(&signer, 20, &key);
    block_on(store.advance(&key, &cp20, Freshness::Latest, no_proof)).unwrap();

    let twin = evil.checkpoint(&signer, 20, &key);
    let err = block_on(store.advance(&key, &twin, Freshness::Latest, no_proof)).unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Fork {
                trusted_size: 20,
                presented_size: 20,
                ..
            }
        ),
        "{err:?}"
    );

    // A larger checkpoint of another history: the server's best proof cannot verify.
    let cp30 = evil.checkpoint(&signer, 30, &key);
    let err = block_on(store.advance(&key, &cp30, Freshness::Latest, evil.prover())).unwrap_err();
    let ClientError::Fork {
        reason, evidence, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(reason.contains("consistency"), "{reason}");
    assert_eq!(evidence.presented, cp30.note);
    assert_eq!(evidence_files(dir.path()).len(), 2);
    assert_eq!(store.trusted(&key).unwrap().unwrap(), cp20);
}

#[test]
fn a_refused_proof_request_accepts_nothing() {
    let (signer, key) = key();
    let store = TrustStore::memory();
    let log = FakeLog::new(1, 9);
    block_on(store.advance(
        &key,
        &log.checkpoint(&signer, 4, &key),
        Freshness::Latest,
        no_proof,
    ))
    .unwrap();
    let refuse = |_: u64, _: u64| std::future::ready(Err(ClientError::Transport("down".into())));
    let err = block_on(store.advance(
        &key,
        &log.checkpoint(&signer, 9, &key),
        Freshness::Latest,
        refuse,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "client.transport");
    assert_eq!(store.trusted(&key).unwrap().unwrap().checkpoint.size, 4);
}

#[test]
fn state_is_per_key_and_pins_refuse_a_changed_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = TrustStore::open(dir.path());
    let (s1, k1) = key();
    let (s2, k2) = key();
    let log = FakeLog::new(1, 3);
    block_on(store.advance(
        &k1,
        &log.checkpoint(&s1, 3, &k1),
        Freshness::Latest,
        no_proof,
    ))
    .unwrap();
    assert!(
        store.trusted(&k2).unwrap().is_none(),
        "a new key starts from nothing"
    );
    block_on(store.advance(
        &k2,
        &log.checkpoint(&s2, 1, &k2),
        Freshness::Latest,
        no_proof,
    ))
    .unwrap();
    assert_eq!(store.trusted(&k1).unwrap().unwrap().checkpoint.size, 3);

    let url = "http://127.0.0.1:8080/";
    assert_eq!(store.pinned_key(url).unwrap(), None);
    store.pin_key(url, k1.vkey()).unwrap();
    store.pin_key(url, k1.vkey()).unwrap();
    assert_eq!(store.pinned_key(url).unwrap().as_deref(), Some(k1.vkey()));
    let err = store.pin_key(url, k2.vkey()).unwrap_err();
    assert!(matches!(err, ClientError::KeyChanged { .. }), "{err:?}");
    assert_eq!(store.pinned_key("http://127.0.0.1:8081/").unwrap(), None);
}

#[test]
fn a_tampered_trust_file_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let store = TrustStore::open(dir.path());
    let (signer, key) = key();
    let log = FakeLog::new(1, 3);
    block_on(store.advance(
        &key,
        &log.checkpoint(&signer, 3, &key),
        Freshness::Latest,
        no_proof,
    ))
    .unwrap();
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\\n3\\n", "\\n2\\n");
    std::fs::write(&file, text).unwrap();
    assert_eq!(
        store.trusted(&key).unwrap_err().code(),
        "client.bad_signature"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Honest growth is always accepted; any checkpoint from a history that differs in
    /// an entry the trusted tree covers is always refused.
    #[test]
    fn honest_growth_accepted_and_divergent_history_refused(old in 1u64..600, extra in 0u64..600, flip in any::<prop::sample::Index>()) {
        let (signer, key) = key();
        let new = old + extra;
        let honest = FakeLog::new(1, new);
        let store = TrustStore::memory();
        block_on(store.advance(&key, &honest.checkpoint(&signer, old, &key), Freshness::Latest, no_proof)).unwrap();
        let got = block_on(store.advance(&key, &honest.checkpoint(&signer, new, &key), Freshness::Latest, honest.prover())).unwrap();
        prop_assert_eq!(got, if extra == 0 { Advance::Unchanged } else { Advance::Extended { from: old } });

        // Same entries except one inside the trusted prefix.
        let at = flip.index(old as usize) as u64;
        let mut evil = FakeLog { seed: 1, stored: Vec::new(), n: 0 };
        for i in 0..new + 1 {
            let entry = if i == at { vec![9u8; 3] } else { [&[1u8][..], &i.to_be_bytes()].concat() };
            let h = stored_hashes_for_record_hash(i, leaf_hash(&entry), &evil.stored).unwrap();
            evil.stored.extend(h);
            evil.n += 1;
        }
        let err = block_on(store.advance(&key, &evil.checkpoint(&signer, new + 1, &key), Freshness::Latest, evil.prover())).unwrap_err();
        prop_assert_eq!(err.code(), "client.fork");
    }
}
