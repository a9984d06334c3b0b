//! [`LocalStorage`]'s flush: making the files written since the last flush durable in
//! place, emptying the journal, and collecting superseded partial tiles.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{JOURNAL, LocalStorage, State, growing_key, io};
use crate::storage::StorageError;

impl LocalStorage {
    pub(super) fn flush_locked(&self, st: &mut State) -> Result<(), StorageError> {
        let t0 = Instant::now();
        if let Some(p) = &self.publisher {
            p.wait()?;
            st.dirty.extend(p.take_dirty());
        }
        let files: Vec<PathBuf> = st.dirty.iter().map(|r| self.dir.join(r)).collect();
        // Tiles and bundles that became full since the last flush.
        let full: Vec<String> = st
            .dirty
            .iter()
            .filter(|r| r.starts_with("tile/") && growing_key(r).len() == r.len())
            .cloned()
            .collect();
        let mut dirs: HashSet<PathBuf> = HashSet::new();
        for f in &files {
            let mut p = f.parent();
            while let Some(d) = p {
                if !dirs.insert(d.to_path_buf()) || d == self.dir {
                    break;
                }
                p = d.parent();
            }
        }
        dirs.insert(self.dir.clone());
        let dirs: Vec<PathBuf> = dirs.into_iter().collect();
        self.fsync_all(&files, "fsync")?;
        self.fsync_all(&dirs, "fsync_dir")?;
        match self.fault("journal_truncate")? {
            None => {}
            Some(_) => return Err(self.injected("journal_truncate")),
        }
        let jpath = self.dir.join(JOURNAL);
        st.journal.set_len(0).map_err(io("truncate", &jpath))?;
        st.journal.sync_all().map_err(io("fsync", &jpath))?;
        st.journal_len = 0;
        // Only now: journal records (of a full object, or of a later partial) may name a
        // partial version as the base of an extend op, so it must outlive the journal.
        self.collect_partials(&full);
        st.dirty.clear();
        st.stats.flushes += 1;
        st.stats.flush_ns += t0.elapsed().as_nanos() as u64;
        Ok(())
    }

    /// Deletes the partial versions (`<path>.p/`) of every tile or bundle in `full` (those
    /// that became full since the last flush), once the full one is durable. Without this a log
    /// appended one entry at a time would keep ~255 superseded copies of every bundle.
    /// `LocalStorage::get` still answers for them, cut from the full tile, and a static
    /// server's `tlog-tiles` clients fall back to the full tile. Runs after the journal is emptied
    /// (extend ops in it may name these files as bases); the deleted files were fsynced
    /// like all others, so a crash before or during the deletion leaves whole files.
    /// Best effort: a leftover is only garbage.
    ///
    /// The deletion runs on a background thread: unlinking hundreds of files and the
    /// filesystem work that follows (block frees, discards) measurably slowed the commits
    /// that came after it when it ran inline.
    fn collect_partials(&self, full: &[String]) {
        let dirs: Vec<PathBuf> = full
            .iter()
            .map(|rel| self.dir.join(format!("{rel}.p")))
            .filter(|d| d.exists())
            .collect();
        if dirs.is_empty() {
            return;
        }
        let collect = move || {
            for d in dirs {
                if let Err(e) = fs::remove_dir_all(&d)
                    && e.kind() != ErrorKind::NotFound
                {
                    tracing::warn!(dir = %d.display(), error = %e, "cannot delete partial tiles");
                }
            }
        };
        if self.opts.fault.is_some() {
            collect();
            return;
        }
        let mut gc = self.gc.lock();
        // At most one collector at a time; the previous one is normally long finished.
        if let Some(prev) = gc.take() {
            let _ = prev.join();
        }
        *gc = std::thread::Builder::new()
            .name("ledgervm-tile-gc".into())
            .spawn(collect)
            .ok();
    }

    /// Fsyncs every path. Writeback of all of them is started first, and the fsyncs
    /// then run on a few threads at once, so the filesystem folds them into a few journal
    /// commits instead of one per file.
    fn fsync_all(&self, paths: &[PathBuf], what: &'static str) -> Result<(), StorageError> {
        if self.opts.fault.is_some() {
            // Deterministic step numbering for the fault tests.
            for p in paths {
                if self.fault(what)?.is_some() {
                    return Err(self.injected(what));
                }
                fsync_path(p)?;
            }
            return Ok(());
        }
        for p in paths {
            start_writeback(p);
        }
        let threads = paths.len().clamp(1, 8);
        let chunk = paths.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = paths
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().try_for_each(|p| fsync_path(p))))
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().expect("fsync thread panicked"))
        })
    }
}

/// Asks the kernel to start writing `p`'s dirty pages now, without waiting. A hint only:
/// durability still comes from the fsync that follows.
#[cfg(target_os = "linux")]
fn start_writeback(p: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(f) = File::open(p) {
        // SAFETY: a valid open descriptor; the call reads no memory of ours.
        unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &Path) {}

fn fsync_path(p: &Path) -> Result<(), StorageError> {
    let f = File::open(p).map_err(io("open", p))?;
    f.sync_all().map_err(io("fsync", p))
}
