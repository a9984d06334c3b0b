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

/// The journal files on disk and their sizes, oldest first (skipping one that a
/// background retirement deletes between the listing and the `stat`).
fn journals(dir: &Path) -> Vec<(u64, u64)> {
    list_journals(dir)
        .unwrap()
        .into_iter()
        .filter_map(|(g, p)| Some((g, fs::metadata(p).ok()?.len())))
        .collect()
}

#[test]
fn a_full_journal_is_retired_in_the_background() {
    let d = tempfile::tempdir().unwrap();
    let s = LocalStorage::open_with(
        d.path(),
        LocalOptions {
            flush_threshold: 1,
            fault: None,
        },
    )
    .unwrap();
    // A new directory starts with an empty journal and an empty spare.
    assert_eq!(journals(d.path()), [(1, 0), (2, 0)]);
    s.put("tile/0/000", vec![3; 8192]).unwrap();
    s.swap_checkpoint(None, b"cp").unwrap();
    // The commit moved on to the spare at once; the old journal goes in the background.
    assert_eq!(s.journal_len(), 0);
    s.flush().unwrap();
    assert_eq!(s.stats().flushes, 1);
    assert_eq!(journals(d.path()), [(2, 0), (3, 0)]);
    assert!(!d.path().join(".retired.journal.1").exists(), "released");
    assert_eq!(
        fs::read(d.path().join("tile/0/000")).unwrap(),
        vec![3; 8192]
    );
    assert_eq!(fs::read(d.path().join(CHECKPOINT)).unwrap(), b"cp");
}

/// Commits go on while a retirement runs; the journal then grows past the threshold
/// until the spare is back. Whatever was committed survives a restart, at any point.
#[test]
fn commits_continue_while_a_journal_is_retired() {
    let d = tempfile::tempdir().unwrap();
    let hashes: Vec<u8> = (0..256 * 32).map(|i| (i % 251) as u8).collect();
    let mut cp: Option<Vec<u8>> = None;
    for round in 0..3 {
        let s = LocalStorage::open_with(
            d.path(),
            LocalOptions {
                flush_threshold: 2 << 10,
                fault: None,
            },
        )
        .unwrap();
        for w in 1..256usize {
            s.put(
                &format!("tile/0/{round:03}.p/{w}"),
                hashes[..w * 32].to_vec(),
            )
            .unwrap();
            let next = format!("cp-{round}-{w}").into_bytes();
            s.swap_checkpoint(cp.as_deref(), &next).unwrap();
            cp = Some(next);
            assert!(
                journals(d.path()).len() <= 3,
                "at most old, active and spare"
            );
        }
        s.put(&format!("tile/0/{round:03}"), hashes.clone())
            .unwrap();
        let next = format!("cp-{round}-full").into_bytes();
        s.swap_checkpoint(cp.as_deref(), &next).unwrap();
        cp = Some(next);
        assert!(
            s.stats().flushes > 0,
            "retirements finished during the round"
        );
        // Dropped without a flush: the newest records may be only in a journal.
    }
    let s = LocalStorage::open(d.path()).unwrap();
    assert_eq!(s.read_checkpoint().unwrap(), cp);
    for round in 0..3 {
        assert_eq!(
            s.get(&format!("tile/0/{round:03}")).unwrap().unwrap(),
            hashes
        );
        for w in [1, 77, 255] {
            let p = format!("tile/0/{round:03}.p/{w}");
            assert_eq!(s.get(&p).unwrap().unwrap(), hashes[..w * 32], "{p}");
        }
    }
    assert_eq!(journals(d.path()).len(), 2);
}

/// Records in the single `.journal` of earlier versions are replayed, and the file is
/// then deleted.
#[test]
fn the_journal_of_earlier_versions_is_replayed() {
    let d = tempfile::tempdir().unwrap();
    let mut rec = Vec::new();
    let ops = [Op::Put {
        path: "tile/0/000.p/1",
        data: &[9; 32],
    }];
    journal::encode(&ops, b"legacy cp", &mut rec);
    fs::write(d.path().join(JOURNAL), &rec).unwrap();
    let s = LocalStorage::open(d.path()).unwrap();
    assert_eq!(s.read_checkpoint().unwrap().unwrap(), b"legacy cp");
    assert_eq!(s.get("tile/0/000.p/1").unwrap().unwrap(), vec![9; 32]);
    assert!(!d.path().join(JOURNAL).exists());
}

/// A journal retired (renamed aside) but not yet released when the process died is
/// never replayed, and the next open deletes it.
#[test]
fn a_retired_journal_left_by_a_crash_is_deleted_not_replayed() {
    let d = tempfile::tempdir().unwrap();
    let mut rec = Vec::new();
    journal::encode(&[], b"stale cp", &mut rec);
    fs::write(d.path().join(".retired.journal.7"), &rec).unwrap();
    let s = LocalStorage::open(d.path()).unwrap();
    assert_eq!(s.read_checkpoint().unwrap(), None);
    assert!(!d.path().join(".retired.journal.7").exists());
}

/// Only the newest journal may end in a torn record: a journal rotates only after a
/// commit succeeded. A torn record followed by a later journal's records is corruption,
/// and recovery says so rather than guess.
#[test]
fn a_torn_record_before_a_later_journal_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    let mut first = Vec::new();
    journal::encode(&[], b"cp1", &mut first);
    let mut torn = first.clone();
    torn.extend_from_slice(&first[..first.len() / 2]);
    let mut second = Vec::new();
    journal::encode(&[], b"cp2", &mut second);
    fs::write(journal_path(d.path(), 4), &torn).unwrap();
    fs::write(journal_path(d.path(), 5), &second).unwrap();
    let e = LocalStorage::open(d.path()).unwrap_err();
    assert_eq!(e.code(), "storage.corrupt_journal", "{e}");
    assert!(e.to_string().contains(".journal.4"), "{e}");
    // Nothing was deleted: the evidence stays for whoever investigates.
    assert_eq!(fs::read(journal_path(d.path(), 4)).unwrap(), torn);
    assert_eq!(fs::read(journal_path(d.path(), 5)).unwrap(), second);

    // In the newest journal, the same torn tail is an unacknowledged commit.
    fs::remove_file(journal_path(d.path(), 5)).unwrap();
    let s = LocalStorage::open(d.path()).unwrap();
    assert_eq!(s.read_checkpoint().unwrap().unwrap(), b"cp1");
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
