//! The on-disk module cache: a restart does not recompile; a corrupt file is detected
//! and recompiled, never trusted.

mod support;

use ledgervm_runtime::value::Value;
use ledgervm_runtime::{Runtime, RuntimeConfig};
use support::*;

fn cached_runtime(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..config()
    })
    .unwrap()
}

fn sum_works(rt: &Runtime) {
    let app = load(rt, "sum.wasm");
    block_on(async {
        let out = call(&app, "Sum", vec![Value::U32(40), Value::U32(2)]).await;
        assert_eq!(out.result, Ok(vec![Value::I32(42)]));
    });
}

fn cache_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect()
}

#[test]
fn restart_loads_from_disk_without_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let rt = cached_runtime(dir.path());
    sum_works(&rt);
    let s = rt.cache_stats();
    assert_eq!((s.compiles, s.hits, s.stores), (1, 0, 1));
    drop(rt);

    let rt = cached_runtime(dir.path());
    sum_works(&rt);
    let s = rt.cache_stats();
    assert_eq!((s.compiles, s.hits, s.corrupt), (0, 1, 0));
    assert_eq!(cache_files(dir.path()).len(), 1);
}

#[test]
fn corrupt_cache_file_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    sum_works(&cached_runtime(dir.path()));
    let files = cache_files(dir.path());
    assert_eq!(files.len(), 1);
    let path = &files[0];
    let good = std::fs::read(path).unwrap();

    // Flip one byte in the compiled code (past the header), then in the header checksum.
    for at in [good.len() / 2, 10] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        std::fs::write(path, &bad).unwrap();
        let rt = cached_runtime(dir.path());
        sum_works(&rt);
        let s = rt.cache_stats();
        assert_eq!((s.corrupt, s.compiles, s.hits), (1, 1, 0), "flip at {at}");
        // The recompiled artifact replaced the corrupt one.
        assert_eq!(std::fs::read(path).unwrap(), good);
    }

    // A truncated file too.
    std::fs::write(path, &good[..good.len() - 100]).unwrap();
    let rt = cached_runtime(dir.path());
    sum_works(&rt);
    assert_eq!(rt.cache_stats().corrupt, 1);
}

#[test]
fn different_modules_and_engines_get_different_entries() {
    let dir = tempfile::tempdir().unwrap();
    let rt = cached_runtime(dir.path());
    load(&rt, "sum.wasm");
    load(&rt, "float-nan.wat");
    assert_eq!(cache_files(dir.path()).len(), 2);
    // Another engine configuration (stack size changes the fingerprint) compiles anew.
    let other = Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        max_wasm_stack: 256 * 1024,
        ..config()
    })
    .unwrap();
    assert_ne!(other.fingerprint(), rt.fingerprint());
    load(&other, "sum.wasm");
    assert_eq!(other.cache_stats().compiles, 1);
    assert_eq!(cache_files(dir.path()).len(), 3);
}
