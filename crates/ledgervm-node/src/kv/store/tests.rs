use super::*;
use crate::record::HexBytes;
use proptest::prelude::*;

fn w(k: &[u8], v: Option<&[u8]>) -> Write {
    Write {
        key: k.to_vec(),
        value: v.map(|v| HexBytes(v.to_vec())),
    }
}

/// Stages and persists a write set as the node does, with the digest after it.
fn commit(kv: &AppKv, index: u64, writes: Vec<Write>) {
    let (mut digest, mut count) = kv.digest();
    for (k, new) in final_writes(&writes) {
        let old = kv.get(k).unwrap();
        Arc::make_mut(&mut digest).update(k, old.as_deref(), new);
        match (old.is_some(), new.is_some()) {
            (false, true) => count += 1,
            (true, false) => count -= 1,
            _ => {}
        }
    }
    let seq = kv.stage(writes, digest, count);
    kv.set_index(seq, index);
    kv.persist_ready().unwrap();
}

#[test]
fn persists_across_reopen_with_digest_count_and_writer_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let key = AppKey::generate();
    {
        let store = KvStore::open(&path).unwrap();
        let kv = store.generation("counter", key.clone()).unwrap();
        commit(&kv, 5, vec![w(b"a", Some(b"1")), w(b"b", Some(b"2"))]);
        commit(&kv, 9, vec![w(b"a", None), w(b"c", Some(b"3"))]);
        store.flush().unwrap();
    }
    let store = KvStore::open(&path).unwrap();
    let kv = store.generation("counter", key).unwrap();
    assert_eq!(kv.next_index(), 10);
    let (digest, count) = kv.digest();
    assert_eq!(count, 2);
    let want = crate::digest::digest_of([(&b"b"[..], &b"2"[..]), (b"c", b"3")]);
    assert_eq!(*digest, want);
    assert_eq!(kv.get(b"a").unwrap(), None);
    assert_eq!(
        kv.read_persisted(b"c").unwrap(),
        Some(StoredValue {
            index: 9,
            value: b"3".to_vec()
        })
    );
    assert_eq!(
        kv.list_keys(b"", None, 10).unwrap(),
        vec![b"b".to_vec(), b"c".to_vec()]
    );
}

#[test]
fn staged_writes_are_visible_before_they_are_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let store = KvStore::open(&dir.path().join("s.redb")).unwrap();
    let kv = store.generation("a", AppKey::generate()).unwrap();
    commit(&kv, 1, vec![w(b"x", Some(b"old")), w(b"y", Some(b"1"))]);
    let seq = kv.stage(
        vec![w(b"x", Some(b"new")), w(b"y", None)],
        Arc::new(LtHash::new()),
        1,
    );
    assert_eq!(kv.get(b"x").unwrap(), Some(b"new".to_vec()));
    assert_eq!(kv.list_keys(b"", None, 10).unwrap(), vec![b"x".to_vec()]);
    // Not vouched for by a durable record yet.
    assert_eq!(kv.read_persisted(b"x").unwrap().unwrap().value, b"old");
    kv.persist_ready().unwrap(); // index unknown: nothing to persist yet
    assert_eq!(kv.read_persisted(b"x").unwrap().unwrap().value, b"old");
    kv.set_index(seq, 2);
    kv.persist_ready().unwrap();
    assert_eq!(kv.read_persisted(b"x").unwrap().unwrap().index, 2);
    assert_eq!(kv.read_persisted(b"y").unwrap(), None);
}

#[test]
fn values_are_encrypted_at_rest_and_need_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = KvStore::open(&path).unwrap();
    let key = AppKey::generate();
    let kv = store.generation("app", key).unwrap();
    let secret = b"PLAINTEXT-MARKER-0123456789";
    commit(&kv, 1, vec![w(b"k", Some(secret))]);
    store.flush().unwrap();
    let raw = std::fs::read(&path).unwrap();
    assert!(!raw.windows(secret.len()).any(|win| win == secret));
    // The same generation under another key cannot read it (a wrong BYOK key).
    drop(kv);
    let wrong = store.generation("app", AppKey::generate()).unwrap();
    assert_eq!(
        wrong.get(b"k").unwrap(),
        None,
        "other key = other namespace"
    );
}

#[test]
fn dropped_generation_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = KvStore::open(&dir.path().join("s.redb")).unwrap();
    let key = AppKey::generate();
    let kv = store.generation("app", key.clone()).unwrap();
    commit(&kv, 1, vec![w(b"k", Some(b"v"))]);
    store.drop_generation("app", &key.key_id()).unwrap();
    let again = store.generation("app", key).unwrap();
    assert_eq!(again.get(b"k").unwrap(), None);
    assert_eq!(again.next_index(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Whatever names and key bytes two apps use — names that are prefixes of each
    /// other, keys that spell the other's table name, separators, NULs — neither ever
    /// sees a key of the other, by get, exists or listing.
    #[test]
    fn apps_never_see_each_others_keys(
        suffix in "[a-z0-9._-]{0,3}",
        keys_a in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..8),
        keys_b in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..8),
        same_key in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::open(&dir.path().join("s.redb")).unwrap();
        let name_a = "app".to_string();
        let name_b = format!("app{suffix}");
        prop_assume!(name_a != name_b);
        let key_a = AppKey::generate();
        // Even the same BYOK key under two names must not share state.
        let key_b = if same_key { key_a.clone() } else { AppKey::generate() };
        let a = store.generation(&name_a, key_a.clone()).unwrap();
        let b = store.generation(&name_b, key_b).unwrap();
        let mut adversarial = keys_b.clone();
        adversarial.push(format!("/{name_a}").into_bytes());
        adversarial.push(format!("kv/{}/{name_a}", key_a.key_id()).into_bytes());
        adversarial.push(b"\0".to_vec());
        commit(&a, 1, keys_a.iter().map(|k| w(k, Some(b"A"))).collect());
        commit(&b, 2, keys_b.iter().map(|k| w(k, Some(b"B"))).collect());
        for k in keys_a.iter().chain(&adversarial) {
            if !keys_b.contains(k) {
                prop_assert_eq!(b.get(k).unwrap(), None);
            } else {
                prop_assert_eq!(b.get(k).unwrap(), Some(b"B".to_vec()));
            }
        }
        for k in keys_b.iter().chain(&adversarial) {
            if !keys_a.contains(k) {
                prop_assert_eq!(a.get(k).unwrap(), None);
            } else {
                prop_assert_eq!(a.get(k).unwrap(), Some(b"A".to_vec()));
            }
        }
        let listed_b: BTreeSet<Vec<u8>> = b.list_keys(b"", None, 1000).unwrap().into_iter().collect();
        let want_b: BTreeSet<Vec<u8>> = keys_b.iter().cloned().collect();
        prop_assert_eq!(listed_b, want_b);
        let listed_a: BTreeSet<Vec<u8>> = a.list_keys(b"", None, 1000).unwrap().into_iter().collect();
        let want_a: BTreeSet<Vec<u8>> = keys_a.iter().cloned().collect();
        prop_assert_eq!(listed_a, want_a);
    }
}

#[tokio::test]
async fn write_free_stages_retire_without_a_store_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = KvStore::open(&dir.path().join("s.redb")).unwrap();
    let kv = store.generation("app", AppKey::generate()).unwrap();
    commit(&kv, 3, vec![w(b"a", Some(b"1"))]);
    assert_eq!(kv.next_index(), 4);
    let stage = |kv: &AppKv, writes| {
        let (digest, count) = kv.digest();
        kv.stage(writes, digest, count)
    };

    // Two write-free calls: the claimer retires both inline, the metadata stays put.
    let (s1, s2) = (stage(&kv, vec![]), stage(&kv, vec![]));
    assert!(kv.set_index_and_claim(s1, 4));
    kv.set_index(s2, 5);
    assert!(kv.persist_write_free(), "nothing with writes is left");
    kv.persisted(s2).await;
    assert_eq!((kv.staged(), kv.next_index()), (0, 4));

    // A write-free stage behind one that is not durable yet is not retired early, and
    // one behind a stage with writes leaves the work to the blocking persister.
    let (s3, s4) = (stage(&kv, vec![w(b"b", Some(b"2"))]), stage(&kv, vec![]));
    assert!(kv.set_index_and_claim(s4, 7));
    assert!(kv.persist_write_free(), "the claim is released");
    assert_eq!(kv.staged(), 2);
    assert!(kv.set_index_and_claim(s3, 6));
    assert!(!kv.persist_write_free(), "stage 3 has writes");
    kv.persist_all_ready().unwrap();
    kv.persisted(s4).await;
    assert_eq!((kv.staged(), kv.next_index()), (0, 8));
    assert_eq!(kv.read_persisted(b"b").unwrap().map(|v| v.index), Some(6));
}
