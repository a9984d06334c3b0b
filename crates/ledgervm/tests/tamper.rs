//! Tampering: flip one random byte somewhere in a real data directory, run
//! `ledgervm verify DATA --vkey VKEY`, and classify each trial:
//!
//! * **detected** — verify exits non-zero;
//! * **harmless** — verify passes, the flipped file is not part of what the server
//!   serves for its current checkpoint, *and* an independent check agrees: the real
//!   server started over the tampered directory serves exactly the pristine bytes for
//!   every read path of the current tree (checkpoint, every tile and entry bundle, every
//!   blob, every record, the app list), or refuses to start at all; a flipped module-cache
//!   file must also have been repaired (checksum failure → recompiled);
//! * **missed** — anything else. Must be zero.
//!
//! The served set is computed here from the checkpoint with the tile math, not taken
//! from the auditor. CI runs a short version; the full run is
//! `LEDGERVM_TAMPER_TRIALS=1000 cargo nextest run --workspace -E 'test(tamper)' --no-capture`.

mod common;

use common::{Rng, Server, cli, copy_dir, env_count, files_under, guests, ok, verify_dir};
use ledgervm_log::checkpoint::Checkpoint;
use ledgervm_log::note::Note;
use ledgervm_log::tile::{MAX_TILE_LEVEL, tile_in_tree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A data directory with both sample apps, key-value state and a handful of calls.
fn build_data(tmp: &Path) -> (PathBuf, String) {
    let data = tmp.join("pristine");
    let trust = tmp.join("trust");
    let g = guests();
    let server = Server::start(&data);
    ok(cli(
        &server,
        &trust,
        &["deploy", g.join("sum.wasm").to_str().unwrap()],
    ));
    let ex = g.join("enclave_example.wasm");
    let ex = ex.to_str().unwrap();
    ok(cli(
        &server,
        &trust,
        &["deploy", ex, "--name", "enclave-example"],
    ));
    for (a, b) in [("5", "7"), ("1", "2"), ("40", "2")] {
        ok(cli(&server, &trust, &["call", "sum.wasm", "Sum", a, b]));
    }
    for (k, v) in [
        ("greeting", "hello"),
        ("colour", "blue"),
        ("greeting", "bye"),
    ] {
        ok(cli(
            &server,
            &trust,
            &["call", "enclave-example", "kv-store", k, v],
        ));
    }
    ok(cli(
        &server,
        &trust,
        &["call", "enclave-example", "get-random"],
    ));
    ok(cli(
        &server,
        &trust,
        &["call", "enclave-example", "kv-read", "colour"],
    ));
    let vkey = server.vkey.clone();
    server.stop();
    (data, vkey)
}

/// The log size of a data directory's checkpoint.
fn size_of(data: &Path) -> u64 {
    let note = Note::parse(&std::fs::read(data.join("log/checkpoint")).unwrap()).unwrap();
    Checkpoint::parse(&note.text).unwrap().size
}

/// Every path the server serves for the current tree, relative to the data directory
/// and as URL paths: the checkpoint, every hash tile and entry bundle of the tree of
/// `size` leaves, and every blob.
fn served_set(data: &Path, size: u64) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    out.insert(
        PathBuf::from("log/checkpoint"),
        "/log/checkpoint".to_string(),
    );
    for level in 0..=MAX_TILE_LEVEL {
        let mut k = 0;
        while let Some(t) = tile_in_tree(level, k, size) {
            out.insert(
                PathBuf::from("log").join(t.path()),
                format!("/log/{}", t.path()),
            );
            if level == 0 {
                let p = t.entries_path();
                out.insert(PathBuf::from("log").join(&p), format!("/log/{p}"));
            }
            k += 1;
        }
    }
    for f in files_under(&data.join("blobs")) {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        out.insert(PathBuf::from("blobs").join(&name), format!("/blobs/{name}"));
    }
    out
}

/// Everything a reader gets from a server over `data`: the served set plus the API's
/// record and app views. `None` when the server refuses to start.
fn served_view(data: &Path, urls: &[String]) -> Option<BTreeMap<String, Vec<u8>>> {
    let child = std::process::Command::new(common::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Server::from_child(child)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let view = rt.block_on(async {
        // The server's certificate is self-signed (its binding is tested elsewhere); here
        // only the bytes it serves matter.
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let mut view = BTreeMap::new();
        for u in urls {
            let resp = http.get(format!("{}{u}", server.url)).send().await.unwrap();
            let status = resp.status().as_u16().to_be_bytes().to_vec();
            view.insert(
                u.clone(),
                [status, resp.bytes().await.unwrap().to_vec()].concat(),
            );
        }
        view
    });
    server.stop();
    Some(view)
}

#[test]
fn tamper() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let trials = env_count("LEDGERVM_TAMPER_TRIALS", 40);
    let seed = env_count("LEDGERVM_TAMPER_SEED", 7) as u64;
    let tmp = tempfile::tempdir().unwrap();
    let (pristine, vkey) = build_data(tmp.path());
    assert!(ok(verify_dir(&pristine, &vkey)).contains("CLEAN"));
    let size = size_of(&pristine);
    let served = served_set(&pristine, size);
    let mut urls: Vec<String> = served.values().cloned().collect();
    urls.extend((0..size).map(|i| format!("/v1/records/{i}")));
    urls.push("/v1/apps".into());
    let before = served_view(&pristine, &urls).expect("pristine server starts");
    // Starting a server over the pristine directory must not change what it serves.
    assert_eq!(before, served_view(&pristine, &urls).unwrap());

    let work = tmp.path().join("work");
    copy_dir(&pristine, &work);
    let files: Vec<PathBuf> = files_under(&work)
        .into_iter()
        .filter(|f| std::fs::metadata(f).unwrap().len() > 0)
        .collect();
    let mut rng = Rng(seed.max(1));
    let (mut detected, mut harmless, mut missed) = (0, 0, Vec::new());
    let mut harmless_kinds: BTreeMap<String, usize> = BTreeMap::new();
    for trial in 0..trials {
        let file = &files[rng.below(files.len())];
        let rel = file.strip_prefix(&work).unwrap().to_path_buf();
        let original = std::fs::read(file).unwrap();
        let at = rng.below(original.len());
        let mask = 1 + rng.below(255) as u8;
        let mut bytes = original.clone();
        bytes[at] ^= mask;
        std::fs::write(file, &bytes).unwrap();

        let out = verify_dir(&work, &vkey);
        if !out.status.success() {
            detected += 1;
        } else if served.contains_key(&rel) {
            missed.push(format!(
                "trial {trial}: {} byte {at} ^ {mask:#x}",
                rel.display()
            ));
        } else {
            match served_view(&work, &urls) {
                None => {
                    harmless += 1;
                    *harmless_kinds
                        .entry(format!("{} (server refuses to start)", kind(&rel)))
                        .or_default() += 1;
                }
                Some(view) if view == before => {
                    // A cache file must have been noticed and rewritten, not trusted.
                    if rel.starts_with("cache") && std::fs::read(file).ok().as_ref() == Some(&bytes)
                    {
                        missed.push(format!(
                            "trial {trial}: corrupt cache file {} kept",
                            rel.display()
                        ));
                    } else {
                        harmless += 1;
                        *harmless_kinds.entry(kind(&rel)).or_default() += 1;
                    }
                }
                Some(_) => missed.push(format!(
                    "trial {trial}: {} byte {at} ^ {mask:#x} changes what the server serves",
                    rel.display()
                )),
            }
        }
        // Undo the flip and anything a server run rewrote.
        restore(&pristine, &work);
    }
    println!(
        "tamper: {trials} trials over {} files: detected {detected}, harmless {harmless} {harmless_kinds:?}, missed {}",
        files.len(),
        missed.len()
    );
    assert!(missed.is_empty(), "undetected tampering: {missed:#?}");
    assert_eq!(detected + harmless, trials);
}

/// What kind of file a harmless flip hit, for the report.
fn kind(rel: &Path) -> String {
    let s = rel.to_string_lossy();
    if s.starts_with("cache") {
        "module cache".into()
    } else if s.contains(".p/") {
        "superseded partial tile".into()
    } else {
        s.into_owned()
    }
}

/// Makes `work` byte-identical to `pristine` again (a server run may have rewritten
/// cache files, and must not have touched anything else the next trial relies on).
fn restore(pristine: &Path, work: &Path) {
    let want: BTreeSet<PathBuf> = files_under(pristine)
        .iter()
        .map(|f| f.strip_prefix(pristine).unwrap().to_path_buf())
        .collect();
    for f in files_under(work) {
        if !want.contains(f.strip_prefix(work).unwrap()) {
            std::fs::remove_file(f).unwrap();
        }
    }
    for rel in want {
        let (p, w) = (pristine.join(&rel), work.join(&rel));
        let pb = std::fs::read(&p).unwrap();
        if std::fs::read(&w).ok() != Some(pb.clone()) {
            std::fs::create_dir_all(w.parent().unwrap()).unwrap();
            std::fs::write(&w, pb).unwrap();
        }
    }
}
