//! `cargo bench -p ledgervm-log`: durable appends/s against a raw `write` + `fdatasync`
//! baseline at batch sizes 1, 16 and 256, then inclusion proofs/s from a log of one
//! million entries.
//!
//! The baseline is the most generous one for the raw side: per batch, one `write` of all
//! the batch's entries (length-prefixed, as in a bundle) to an append-only file, then
//! one `fdatasync`. Durable appends go through the whole stack (sequencer, tiles, signed
//! checkpoint, `LocalStorage` journal) with default options, so their figure includes
//! the cost of the journal flushes: each durable round ends with a [`LocalStorage::flush`]
//! inside the timed region, so the writeback and fsync of every tile written in the round
//! is charged to it (and not left for the next raw round to pay). Raw and durable runs
//! alternate in short rounds so that drift in the (shared) disk's speed hits both alike.
//!
//! Environment: `LEDGERVM_BENCH_DIR` (default: the system temp dir; must not be tmpfs),
//! `LEDGERVM_BENCH_ENTRY` (entry size, default 512), `LEDGERVM_BENCH_SECS` (seconds per
//! round, default 1), `LEDGERVM_BENCH_PROOF_LEAVES` (default 1,000,000).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ledgervm_log::appender::{Log, LogOptions, VerifyOnOpen};
use ledgervm_log::note::Signer;
use ledgervm_log::storage::{LocalOptions, LocalStorage};
use rand::{Rng, SeedableRng};

const ORIGIN: &str = "bench.ledgervm.example/log";
const ROUNDS: u32 = 4;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The filesystem type of the mount holding `path`, from /proc/mounts.
fn fs_type(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best = (0, "unknown".to_string());
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 2 && path.starts_with(f[1]) && f[1].len() >= best.0 {
            best = (f[1].len(), f[2].to_string());
        }
    }
    best.1
}

/// Raw baseline: `batches` × (one write of `batch` entries + one fdatasync).
fn raw_round(file: &mut std::fs::File, entry: &[u8], batch: usize, secs: f64) -> (u64, f64) {
    let mut buf = Vec::with_capacity(batch * (entry.len() + 2));
    for _ in 0..batch {
        buf.extend_from_slice(&(entry.len() as u16).to_be_bytes());
        buf.extend_from_slice(entry);
    }
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed().as_secs_f64() < secs {
        file.write_all(&buf).unwrap();
        file.sync_data().unwrap();
        n += batch as u64;
    }
    (n, start.elapsed().as_secs_f64())
}

async fn durable_round(
    log: &Log,
    storage: &LocalStorage,
    entry: &[u8],
    batch: usize,
    secs: f64,
) -> (u64, f64, f64) {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed().as_secs_f64() < secs {
        // Queue exactly one batch, then wait for all of it: each commit is `batch` entries.
        let futs: Vec<_> = (0..batch).map(|_| log.append(entry.to_vec())).collect();
        for f in futs {
            f.await.unwrap();
        }
        n += batch as u64;
    }
    let f = Instant::now();
    storage.flush().unwrap();
    let flush = f.elapsed().as_secs_f64();
    (n, start.elapsed().as_secs_f64(), flush)
}

async fn appends(dir: &Path, entry_len: usize, secs: f64) {
    println!("batch  raw write+fdatasync/s  durable appends/s   ratio");
    let entry = vec![0xa5u8; entry_len];
    let signer = Signer::generate(ORIGIN).unwrap();
    let batches: Vec<usize> = std::env::var("LEDGERVM_BENCH_BATCHES")
        .ok()
        .map(|v| v.split(',').filter_map(|b| b.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16, 256]);
    let mut breakdown = Vec::new();
    for batch in batches {
        let log_dir = dir.join(format!("log-{batch}"));
        let storage = Arc::new(LocalStorage::open(&log_dir).unwrap());
        let opts = LogOptions {
            max_batch: batch,
            ..LogOptions::default()
        };
        let log = Log::open(storage.clone(), signer.clone(), ORIGIN, opts)
            .await
            .unwrap();
        let raw_path = dir.join(format!("raw-{batch}"));
        let mut raw = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&raw_path)
            .unwrap();
        let (mut rn, mut rt, mut dn, mut dt, mut ft) = (0, 0.0, 0, 0.0, 0.0);
        for _ in 0..ROUNDS {
            let (n, t) = raw_round(&mut raw, &entry, batch, secs);
            rn += n;
            rt += t;
            let (n, t, f) = durable_round(&log, &storage, &entry, batch, secs).await;
            dn += n;
            dt += t;
            ft += f;
        }
        let (r, d) = (rn as f64 / rt, dn as f64 / dt);
        println!("{batch:>5}  {r:>20.0}  {d:>17.0}  {:>6.2}", d / r);
        let st = storage.stats();
        let per = |ns: u64| ns as f64 / 1e6 / st.commits.max(1) as f64;
        // Round-end flush time beyond the flush itself: the wait for the background
        // deletion of superseded partial tiles.
        let gc = (ft * 1e3 / st.commits.max(1) as f64 - per(st.flush_ns)).max(0.0);
        breakdown.push(format!(
            "{batch:>5}  {} commits; raw {:.2} ms/batch; durable {:.2} ms/batch: storage commit \
             {:.2} (journal write+fdatasync {:.2} for {:.0} KiB, then handing the tiles to the \
             background file writer {:.2}) + flushes {:.2} ({} flushes) + waiting at round ends \
             for partial-tile deletion {:.2} + sequencer, hashing, signing {:.2}",
            st.commits,
            1e3 * batch as f64 / r,
            1e3 * batch as f64 / d,
            per(st.commit_ns),
            per(st.journal_ns),
            st.journal_bytes as f64 / 1024.0 / st.commits.max(1) as f64,
            per(st.publish_ns),
            per(st.flush_ns),
            st.flushes,
            gc,
            1e3 * batch as f64 / d - per(st.commit_ns) - per(st.flush_ns) - gc,
        ));
        log.close().await;
        std::fs::remove_file(&raw_path).unwrap();
        drop(storage);
        std::fs::remove_dir_all(&log_dir).unwrap();
    }
    println!("where the time goes (per commit):");
    for b in breakdown {
        println!("{b}");
    }
}

async fn proofs(dir: &Path, leaves: u64, secs: f64) {
    let log_dir = dir.join("proof-log");
    // Building the tree is not what is measured, so skip the journal flushes (thousands
    // of per-file fsyncs) while building; the journal still makes every batch durable.
    let storage = LocalStorage::open_with(
        &log_dir,
        LocalOptions {
            flush_threshold: u64::MAX,
            ..LocalOptions::default()
        },
    )
    .unwrap();
    let opts = LogOptions {
        max_batch: 1 << 15,
        verify_on_open: VerifyOnOpen::Edge,
        ..LogOptions::default()
    };
    let signer = Signer::generate(ORIGIN).unwrap();
    let log = Log::open(storage, signer, ORIGIN, opts.clone())
        .await
        .unwrap();
    let build = Instant::now();
    let mut k = 0u64;
    while k < leaves {
        let n = (leaves - k).min(1 << 15);
        let futs: Vec<_> = (k..k + n)
            .map(|i| log.append(format!("entry {i:>12} of the proof benchmark log").into_bytes()))
            .collect();
        for f in futs {
            f.await.unwrap();
        }
        k += n;
    }
    let build = build.elapsed();
    let size = log.size();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    // Warm up the cache a little, then measure.
    for _ in 0..1000 {
        log.inclusion_proof(rng.gen_range(0..size), size).unwrap();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs * 2.0 {
        for _ in 0..100 {
            log.inclusion_proof(rng.gen_range(0..size), size).unwrap();
        }
        n += 100;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    println!(
        "inclusion proofs/s (random index, tree of {size} entries, one thread, \
         {} cached full tiles, each proof self-checked against the root): {rate:.0}",
        opts.cache_tiles
    );
    println!(
        "  (built the {size}-entry log in {:.1} s with batches of {})",
        build.as_secs_f64(),
        opts.max_batch
    );
    log.close().await;
    std::fs::remove_dir_all(&log_dir).unwrap();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run briefly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let base: PathBuf = std::env::var_os("LEDGERVM_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base).unwrap();
    let fs = fs_type(dir.path());
    let entry_len = env_u64("LEDGERVM_BENCH_ENTRY", 512) as usize;
    let secs = if quick {
        0.05
    } else {
        env_u64("LEDGERVM_BENCH_SECS", 1) as f64
    };
    let leaves = if quick {
        5_000
    } else {
        env_u64("LEDGERVM_BENCH_PROOF_LEAVES", 1_000_000)
    };
    println!("ledgervm-log benchmark");
    println!(
        "data dir {} ({fs}), entry {entry_len} B, {ROUNDS} alternating rounds of {secs} s each",
        dir.path().display()
    );
    if fs == "tmpfs" || fs == "ramfs" {
        println!("WARNING: {fs} makes fsync free; set LEDGERVM_BENCH_DIR to a real disk");
    }
    // One runtime thread: the benchmark loop queues a whole batch before the sequencer
    // task can run, so every commit holds exactly `batch` entries. (Commits themselves
    // run on tokio's blocking pool.)
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        appends(dir.path(), entry_len, secs).await;
        if leaves > 0 {
            proofs(dir.path(), leaves, secs).await;
        }
    });
}
