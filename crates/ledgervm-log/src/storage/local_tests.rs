//! Unit tests for [`LocalStorage`](super::LocalStorage).

use super::*;

#[test]
fn commit_publishes_only_after_swap() {
    let d = tempfile::tempdir().unwrap();
    let s = LocalStorage::open(d.path()).unwrap();
    s.put("tile/0/000.p/1", vec![1; 32]).unwrap();
    assert_eq!(s.get("tile/0/000.p/1").unwrap(), None);
    s.swap_checkpoint(None, b"one").unwrap();
    assert_eq!(s.get("tile/0/000.p/1").unwrap(), Some(vec![1; 32]));
    assert_eq!(s.read_checkpoint().unwrap().as_deref(), Some(&b"one"[..]));
    let e = s.swap_checkpoint(None, b"two").unwrap_err();
    assert_eq!(e.code(), "storage.checkpoint_mismatch");
    s.swap_checkpoint(Some(b"one"), b"two").unwrap();
}

#[test]
fn second_handle_is_locked_out() {
    let d = tempfile::tempdir().unwrap();
    let _s = LocalStorage::open(d.path()).unwrap();
    assert_eq!(
        LocalStorage::open(d.path()).unwrap_err().code(),
        "storage.locked"
    );
}

#[test]
fn replay_restores_extended_objects_and_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let v1 = vec![5u8; 1000];
    let mut v2 = v1.clone();
    v2.extend_from_slice(b"abc");
    {
        let s = LocalStorage::open(d.path()).unwrap();
        s.put("tile/entries/000.p/1", v1.clone()).unwrap();
        s.swap_checkpoint(None, b"cp1").unwrap();
        let j1 = s.journal_len();
        s.put("tile/entries/000.p/2", v2.clone()).unwrap();
        s.swap_checkpoint(Some(b"cp1"), b"cp2").unwrap();
        // The second record holds an extend op, not the 1003 bytes again.
        let j2 = s.journal_len();
        assert!(
            j1 > 1000 && j2 - j1 < 100,
            "records of {j1} and {} bytes",
            j2 - j1
        );
    }
    // Simulate lost page cache: clobber what the journal must restore.
    fs::write(d.path().join("tile/entries/000.p/2"), b"junk").unwrap();
    fs::write(d.path().join("checkpoint"), b"cp1").unwrap();
    let s = LocalStorage::open(d.path()).unwrap();
    assert_eq!(s.journal_len(), 0);
    assert_eq!(s.get("tile/entries/000.p/2").unwrap().unwrap(), v2);
    assert_eq!(s.read_checkpoint().unwrap().unwrap(), b"cp2");
}

#[test]
fn checkpoint_file_catches_up_on_flush_and_on_drop() {
    let d = tempfile::tempdir().unwrap();
    let cp = |i: u32| format!("cp-{i}").into_bytes();
    let s = LocalStorage::open(d.path()).unwrap();
    s.swap_checkpoint(None, &cp(0)).unwrap();
    for i in 1..50 {
        s.put(&format!("tile/0/000.p/{i}"), vec![i as u8; 32 * i as usize])
            .unwrap();
        s.swap_checkpoint(Some(&cp(i - 1)), &cp(i)).unwrap();
    }
    s.flush().unwrap();
    assert_eq!(fs::read(d.path().join(CHECKPOINT)).unwrap(), cp(49));
    for i in 50..80 {
        s.swap_checkpoint(Some(&cp(i - 1)), &cp(i)).unwrap();
    }
    drop(s);
    assert_eq!(fs::read(d.path().join(CHECKPOINT)).unwrap(), cp(79));
    assert!(!d.path().join(".checkpoint.tmp").exists());
}

#[test]
fn flush_deletes_partials_of_full_tiles_only() {
    let d = tempfile::tempdir().unwrap();
    let s = LocalStorage::open(d.path()).unwrap();
    s.put("tile/0/000.p/1", vec![1; 32]).unwrap();
    s.put("tile/0/001.p/1", vec![1; 32]).unwrap();
    s.swap_checkpoint(None, b"a").unwrap();
    s.put("tile/0/000.p/2", vec![1; 64]).unwrap();
    s.swap_checkpoint(Some(b"a"), b"b").unwrap();
    s.put("tile/0/000", vec![1; 8192]).unwrap();
    s.swap_checkpoint(Some(b"b"), b"c").unwrap();
    s.flush().unwrap();
    assert!(!d.path().join("tile/0/000.p").exists());
    assert!(d.path().join("tile/0/000").exists());
    assert!(d.path().join("tile/0/001.p/1").exists());
}

#[test]
fn flush_truncates_the_journal() {
    let d = tempfile::tempdir().unwrap();
    let s = LocalStorage::open_with(
        d.path(),
        LocalOptions {
            flush_threshold: 1,
            fault: None,
        },
    )
    .unwrap();
    s.put("tile/0/000", vec![3; 8192]).unwrap();
    s.swap_checkpoint(None, b"cp").unwrap();
    assert_eq!(s.journal_len(), 0);
    assert_eq!(fs::metadata(d.path().join(JOURNAL)).unwrap().len(), 0);
}

#[test]
fn torn_journal_tail_is_dropped() {
    let d = tempfile::tempdir().unwrap();
    {
        let s = LocalStorage::open_with(
            d.path(),
            LocalOptions {
                flush_threshold: u64::MAX,
                fault: Some(FaultInjector::new(0, FaultMode::Fail)),
            },
        )
        .unwrap();
        s.put("tile/0/000.p/1", vec![1; 32]).unwrap();
        s.swap_checkpoint(None, b"cp1").unwrap();
        s.flush().unwrap();
    }
    {
        // Second commit tears in the journal append.
        let f = FaultInjector::new(1, FaultMode::Tear);
        let s = LocalStorage::open_with(
            d.path(),
            LocalOptions {
                flush_threshold: u64::MAX,
                fault: Some(f),
            },
        )
        .unwrap();
        s.put("tile/0/000.p/2", vec![1; 64]).unwrap();
        assert!(s.swap_checkpoint(Some(b"cp1"), b"cp2").is_err());
        assert_eq!(s.put("x", vec![]).unwrap_err().code(), "storage.poisoned");
    }
    let s = LocalStorage::open(d.path()).unwrap();
    assert_eq!(s.read_checkpoint().unwrap().unwrap(), b"cp1");
    assert_eq!(s.get("tile/0/000.p/2").unwrap(), None);
    assert_eq!(s.get("tile/0/000.p/1").unwrap(), Some(vec![1; 32]));
}

/// Every committed version of a growing tile or bundle stays readable whether or not the
/// background writer wrote its file: skipped, collected and pre-restart versions are all
/// cut from newer ones.
#[test]
fn every_partial_version_stays_readable() {
    let d = tempfile::tempdir().unwrap();
    let hashes: Vec<u8> = (0..300 * 32).map(|i| (i * 7 / 32) as u8).collect();
    let entries: Vec<Vec<u8>> = (0..300).map(|i| vec![i as u8; i % 50]).collect();
    let bundle = |w: usize| crate::tile::encode_entry_bundle(&entries[..w]).unwrap();
    let check = |s: &LocalStorage, upto: usize| {
        for w in 1..upto.min(256) {
            let (t, b) = (
                format!("tile/0/000.p/{w}"),
                format!("tile/entries/000.p/{w}"),
            );
            assert_eq!(s.get(&t).unwrap().unwrap(), hashes[..w * 32], "{t}");
            assert_eq!(s.get(&b).unwrap().unwrap(), bundle(w), "{b}");
        }
        assert_eq!(s.get(&format!("tile/0/000.p/{upto}")).unwrap(), None);
    };
    let s = LocalStorage::open(d.path()).unwrap();
    let mut old: Option<Vec<u8>> = None;
    for w in 1..=256usize {
        let (t, b) = match w {
            256 => ("tile/0/000".to_string(), "tile/entries/000".to_string()),
            _ => (
                format!("tile/0/000.p/{w}"),
                format!("tile/entries/000.p/{w}"),
            ),
        };
        s.put(&t, hashes[..w * 32].to_vec()).unwrap();
        s.put(&b, bundle(w)).unwrap();
        let cp = format!("cp{w}").into_bytes();
        s.swap_checkpoint(old.as_deref(), &cp).unwrap();
        old = Some(cp);
        if w == 100 {
            check(&s, 101);
        }
    }
    check(&s, 256);
    s.flush().unwrap();
    assert!(!d.path().join("tile/0/000.p").exists(), "collected");
    check(&s, 256);
    drop(s);

    // After a restart, with only partial files on disk: the widest one is cut.
    let d = tempfile::tempdir().unwrap();
    let s = LocalStorage::open(d.path()).unwrap();
    for w in 1..=40usize {
        s.put(&format!("tile/0/000.p/{w}"), hashes[..w * 32].to_vec())
            .unwrap();
        s.put(&format!("tile/entries/000.p/{w}"), bundle(w))
            .unwrap();
        let cp = format!("cp{w}").into_bytes();
        s.swap_checkpoint(
            (w > 1)
                .then(|| format!("cp{}", w - 1).into_bytes())
                .as_deref(),
            &cp,
        )
        .unwrap();
    }
    drop(s);
    let s = LocalStorage::open(d.path()).unwrap();
    check(&s, 41);
}
