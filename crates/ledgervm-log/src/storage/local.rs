//! [`LocalStorage`]: a `tlog-tiles` data directory on local disk, group-committed through
//! a write-ahead journal.
//!
//! # Layout
//! The directory is exactly a `tlog-tiles` tree (`checkpoint`, `tile/<L>/...`,
//! `tile/entries/...`), so it can be served as static files. The backend's private files
//! start with a dot: `.journal.<N>` (the write-ahead journal) and `.lock` (held with an
//! advisory lock so that two processes never write one log). A static server should not
//! serve dot-files.
//!
//! # Why a journal: one fsync per batch
//! A batch changes several files at once: one or two entry bundles, a level-0 tile or two,
//! partial tiles on every level above, and the checkpoint. Making each durable the classic
//! way (temp file, `fsync`, `rename`, `fsync` the directory) costs 8–12 fsyncs per batch;
//! on the development VM an fsync costs ≈3–4 ms, so a batch of 256 would take ~40 ms
//! against ~9 ms for the raw `write`+`fdatasync` baseline.
//!
//! Instead, [`Storage::swap_checkpoint`] appends one record holding every object of the
//! batch plus the new checkpoint to the journal and calls `fdatasync` **once**. That is the
//! commit point, and all the commit waits for. The batch is then handed to a background
//! thread ([`Publisher`]) that writes the objects to their real paths (temp file +
//! `rename`, no fsync) and then the `checkpoint` file, so the file never names a tile
//! that is not there yet; until an object is in its file, [`Storage::get`] serves it
//! from memory. Writing the files inline cost more than the fdatasync (2–3 ms against
//! 1–1.5 ms per batch on the development VM, measured by `ledgervm bench`), and replacing
//! the checkpoint file right after the fdatasync waited for the filesystem journal commit
//! that sync had started. The files may lag the commit and intermediate checkpoint files
//! may be skipped; [`Storage::read_checkpoint`] and [`LocalStorage::flush`] are exact.
//! Growing objects (partial tiles, entry bundles) are journaled as *extend* ops — "the
//! previous version plus these bytes" — so a record is about the size of the batch's new
//! entries and hashes rather than whole 64 KiB bundles; frames carry a CRC-32.
//!
//! The journal is retired by a *flush*: once it passes
//! [`LocalOptions::flush_threshold`] bytes, commits switch to a spare journal, and a
//! background thread fsyncs every file the old journal's records wrote (on a few
//! threads, so the filesystem folds them into a few journal commits), then their
//! directories, then renames the old journal aside and frees it a few megabytes at a
//! time. Last, the partial versions of every tile
//! that became full are deleted, which bounds the directory to about one partial tile
//! per level. Journal files are `.journal.<generation>`; see [`flush`] for the order
//! and why it is safe.
//!
//! # Every version stays readable
//! The background writer skips versions of a growing object superseded within one of its
//! rounds, and the flush collects partials once the full tile is durable. A `get` of such
//! a version is answered by cutting the newest version there is (in memory, the full
//! tile, or the widest partial file) to the width asked for: a log only grows, so that
//! prefix *is* the version (see [`super::prefix`]). A static server of the directory has
//! the newest versions only; `tlog-tiles` clients fall back to the full tile.
//!
//! With [`LocalOptions::fault`] set, all of this runs in one thread in a fixed order
//! (journal, objects, checkpoint file, flush) so that fault step numbers are
//! reproducible.
//!
//! # Recovery
//! [`LocalStorage::open`] reads the journals oldest first, drops a torn tail (a record
//! whose checksum fails was never acknowledged; only the newest journal may have one),
//! re-applies every complete record in order — rewriting objects whose un-fsynced
//! contents may have been lost or torn — makes the files durable, and starts a new,
//! empty journal. Re-applying is idempotent, so a crash during recovery is harmless.
//!
//! # After a failure
//! Any error after the journal append leaves the outcome unknown, and after a failed
//! fsync the kernel may already have dropped the dirty pages. The handle therefore
//! *poisons* itself: all later writes fail with [`StorageError::Poisoned`], and the
//! caller re-opens the directory, which recovers from what is actually on disk.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::fault::{FaultInjector, FaultMode};
use super::journal::{self, Op};
use super::prefix::{self, growing_key};
use super::publisher::{Publisher, temp_path, write_temp};
use super::{Storage, StorageError, validate_path};
use flush::{Files, Journal, Retire, Retired, create_journal, journal_path, list_journals};

/// The journal files' name; generation `N` is `.journal.N`.
const JOURNAL: &str = ".journal";
const LOCK: &str = ".lock";
const CHECKPOINT: &str = "checkpoint";

/// Options for [`LocalStorage`].
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Journal size in bytes after which commits move to a new journal and the old one
    /// is flushed in the background: every file it wrote is fsynced, then it is deleted.
    /// Larger values amortise better; smaller ones bound recovery time. Default 32 MiB.
    pub flush_threshold: u64,
    /// Fault injection at each internal write step (tests only).
    pub fault: Option<Arc<FaultInjector>>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            flush_threshold: 32 << 20,
            fault: None,
        }
    }
}

/// A [`Storage`] backend on a local `tlog-tiles` data directory. See the module docs.
///
/// ```
/// use ledgervm_log::storage::{LocalStorage, Storage};
/// let dir = tempfile::tempdir().unwrap();
/// let s = LocalStorage::open(dir.path()).unwrap();
/// s.put("tile/0/000.p/1", vec![7; 32]).unwrap();
/// s.swap_checkpoint(None, b"checkpoint bytes").unwrap(); // one fdatasync
/// assert_eq!(s.get("tile/0/000.p/1").unwrap(), Some(vec![7; 32]));
/// s.flush().unwrap(); // the checkpoint *file* is replaced in the background; wait for it
/// assert_eq!(std::fs::read(dir.path().join("checkpoint")).unwrap(), b"checkpoint bytes");
/// ```
#[derive(Debug)]
pub struct LocalStorage {
    // Declared first so it is dropped (and finishes its last write) before `st` releases
    // the directory lock.
    publisher: Option<Publisher>,
    dir: PathBuf,
    opts: LocalOptions,
    st: Mutex<State>,
    /// Per growing object (path without its `.p/<W>` suffix): the latest committed
    /// version's path and bytes — the base for the next extend op, and what older
    /// versions are derived from. Apart from `st` so that reads never wait for a commit's
    /// fdatasync (lock order: `st`, then this).
    growing: Mutex<HashMap<String, Version>>,
}

/// One committed version of a growing object: its path and bytes.
type Version = (String, Arc<Vec<u8>>);

#[derive(Debug)]
struct State {
    _lock: File,
    /// The journal commits append to.
    journal: Journal,
    journal_len: u64,
    /// The next journal, ready (and its directory entry durable) for the next rotation;
    /// `None` while the previous journal is being retired.
    spare: Option<Journal>,
    /// The background retirement of the previous journal, if one is running.
    flusher: Option<std::thread::JoinHandle<Result<Retired, StorageError>>>,
    /// Objects put since the last commit, in order.
    pending: Vec<(String, Vec<u8>)>,
    checkpoint: Option<Vec<u8>>,
    /// Relative paths written (not fsynced) by this thread since the last flush (the
    /// background writer keeps its own, taken at the flush).
    dirty: HashSet<String>,
    record: Vec<u8>,
    poisoned: bool,
    stats: LocalStats,
}

/// Where [`LocalStorage`]'s commit time goes (cumulative since open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalStats {
    /// Successful commits.
    pub commits: u64,
    /// Journal bytes written.
    pub journal_bytes: u64,
    /// Time appending to the journal and in its `fdatasync`, in nanoseconds.
    pub journal_ns: u64,
    /// Time handing the batch's objects and checkpoint to the background file writer
    /// (writing them, when faults are injected), in nanoseconds.
    pub publish_ns: u64,
    /// Wall time of whole commits, in nanoseconds. Background flushes are not in it;
    /// flushes run inline (faults injected, [`LocalStorage::flush`]) are.
    pub commit_ns: u64,
    /// Flushes finished: journals retired (their files fsynced, the journal deleted).
    pub flushes: u64,
    /// Time in those flushes, in nanoseconds, mostly on the background thread.
    pub flush_ns: u64,
}

impl LocalStorage {
    /// Opens (creating if needed) the data directory `dir` with default options,
    /// recovering from the journal.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(dir, LocalOptions::default())
    }

    /// Opens `dir` with `opts`. Fails with [`StorageError::Locked`] if another handle or
    /// process has it open.
    pub fn open_with(dir: impl AsRef<Path>, opts: LocalOptions) -> Result<Self, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io("create_dir", &dir))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StorageError::Locked(dir)),
            Err(fs::TryLockError::Error(e)) => return Err(io("lock", &lock_path)(e)),
        }
        flush::release_leftovers(&dir)?;
        let journals = list_journals(&dir)?;
        let newest = journals.last().map_or(0, |(g, _)| *g);
        let mut me = LocalStorage {
            publisher: None,
            growing: Mutex::new(HashMap::new()),
            st: Mutex::new(State {
                _lock: lock,
                // Opening's own journal steps are not fault points: the fault tests count
                // the steps of the run that follows.
                journal: create_journal(&dir, newest + 1, &None)?,
                journal_len: 0,
                spare: None,
                flusher: None,
                pending: Vec::new(),
                checkpoint: None,
                dirty: HashSet::new(),
                record: Vec::new(),
                poisoned: false,
                stats: LocalStats::default(),
            }),
            dir,
            opts,
        };
        {
            let mut st = me.st.lock();
            me.recover(&mut st, &journals)?;
            let cp_path = me.dir.join(CHECKPOINT);
            st.checkpoint = match fs::read(&cp_path) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(io("read", &cp_path)(e)),
            };
        }
        if me.opts.fault.is_none() {
            me.publisher = Some(Publisher::start(me.dir.clone()));
        }
        Ok(me)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The journal's current size in bytes (zero right after a flush).
    pub fn journal_len(&self) -> u64 {
        self.st.lock().journal_len
    }

    /// Cumulative commit statistics.
    pub fn stats(&self) -> LocalStats {
        self.st.lock().stats
    }

    /// Makes every committed file durable in place, retires the journal, and deletes
    /// superseded partial tiles; waits for a flush running in the background first.
    pub fn flush(&self) -> Result<(), StorageError> {
        let mut st = self.st.lock();
        if st.poisoned {
            return Err(StorageError::Poisoned);
        }
        let r = self.flush_locked(&mut st);
        if r.is_err() {
            st.poisoned = true;
        }
        r
    }

    /// Replays `journals` (oldest first) into the files, makes those durable, deletes
    /// the journals and creates the spare; `st.journal`, the generation after all of
    /// them, is already open.
    fn recover(&self, st: &mut State, journals: &[(u64, PathBuf)]) -> Result<(), StorageError> {
        let mut torn_in: Option<&Path> = None;
        let mut replayed = 0;
        for (_, jpath) in journals {
            let mut buf = Vec::new();
            File::open(jpath)
                .and_then(|mut f| f.read_to_end(&mut buf))
                .map_err(io("read", jpath))?;
            let scan = journal::scan(&buf).map_err(|e| StorageError::CorruptJournal {
                path: jpath.clone(),
                reason: e.to_string(),
            })?;
            if let Some(torn) = torn_in
                && !scan.records.is_empty()
            {
                // A journal is rotated only after a commit succeeded, so a torn record
                // can only end the newest one.
                return Err(StorageError::CorruptJournal {
                    path: torn.to_path_buf(),
                    reason: format!("a torn record, yet {} holds later ones", jpath.display()),
                });
            }
            if scan.torn_bytes > 0 {
                tracing::warn!(
                    journal = %jpath.display(),
                    bytes = scan.torn_bytes,
                    "dropping the torn tail of the journal (an unacknowledged commit)"
                );
                torn_in = Some(jpath);
            }
            self.replay(st, jpath, &scan.records)?;
            replayed += scan.records.len();
        }
        if replayed > 0 {
            tracing::info!(records = replayed, "replayed the journal");
        }
        let done = Retire {
            dir: self.dir.clone(),
            old: journals.iter().map(|(_, p)| p.clone()).collect(),
            files: Files {
                known: std::mem::take(&mut st.dirty),
                sealed: None,
            },
            spare: st.journal.generation + 1,
            fault: None,
        }
        .run()?;
        st.spare = Some(done.spare);
        Ok(())
    }

    fn replay(
        &self,
        st: &mut State,
        jpath: &Path,
        records: &[journal::Record<'_>],
    ) -> Result<(), StorageError> {
        for rec in records {
            for op in &rec.ops {
                match *op {
                    Op::Put { path, data } => self.write_file(&mut st.dirty, path, data)?,
                    Op::Extend {
                        path,
                        base,
                        base_len,
                        suffix,
                    } => {
                        let bpath = self.dir.join(base);
                        let mut data = fs::read(&bpath).map_err(io("read", &bpath))?;
                        if data.len() < base_len as usize {
                            return Err(StorageError::CorruptJournal {
                                path: jpath.to_path_buf(),
                                reason: format!("extend base {base} is shorter than {base_len}"),
                            });
                        }
                        data.truncate(base_len as usize);
                        data.extend_from_slice(suffix);
                        self.write_file(&mut st.dirty, path, &data)?;
                    }
                }
            }
            self.write_file(&mut st.dirty, CHECKPOINT, rec.checkpoint)?;
        }
        Ok(())
    }

    fn fault(&self, what: &'static str) -> Result<Option<FaultMode>, StorageError> {
        match &self.opts.fault {
            None => Ok(None),
            Some(f) => f.step(what),
        }
    }

    fn injected(&self, what: &'static str) -> StorageError {
        self.opts
            .fault
            .as_ref()
            .map_or(StorageError::Poisoned, |f| f.error(what))
    }

    /// Writes `data` at `rel` atomically (temp file + rename) without fsync, and remembers
    /// it for the next flush.
    fn write_file(
        &self,
        dirty: &mut HashSet<String>,
        rel: &str,
        data: &[u8],
    ) -> Result<(), StorageError> {
        let path = self.dir.join(rel);
        match self.fault("write")? {
            None => {}
            Some(FaultMode::Fail) => return Err(self.injected("write")),
            Some(FaultMode::Tear) => {
                // What a power cut can leave behind: the rename landed, the data did not.
                let _ = write_temp(&path, &data[..data.len() / 2])
                    .and_then(|tmp| fs::rename(tmp, &path));
                return Err(self.injected("write"));
            }
        }
        let tmp = write_temp(&path, data).map_err(io("write", &temp_path(&path)))?;
        if self.fault("rename")?.is_some() {
            return Err(self.injected("rename"));
        }
        fs::rename(&tmp, &path).map_err(io("rename", &path))?;
        dirty.insert(rel.to_string());
        Ok(())
    }

    /// Appends `record` to the journal and makes it durable: the commit point. Returns
    /// the time taken, in nanoseconds.
    fn append_journal(&self, journal: &mut Journal, record: &[u8]) -> Result<u64, StorageError> {
        let t = Instant::now();
        let jpath = journal_path(&self.dir, journal.generation);
        let journal = &mut journal.file;
        match self.fault("journal_append")? {
            None => journal.write_all(record).map_err(io("write", &jpath))?,
            Some(FaultMode::Fail) => return Err(self.injected("journal_append")),
            Some(FaultMode::Tear) => {
                let _ = journal.write_all(&record[..record.len() / 2]);
                return Err(self.injected("journal_append"));
            }
        }
        if self.fault("journal_sync")?.is_some() {
            return Err(self.injected("journal_sync"));
        }
        journal.sync_data().map_err(io("fdatasync", &jpath))?;
        Ok(t.elapsed().as_nanos() as u64)
    }

    /// The object stored at `path`: in the writer's memory until it is in its file (the
    /// writer removes it only after the rename, or once a newer version supersedes it).
    fn read_stored(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(data) = self.publisher.as_ref().and_then(|p| p.get(path)) {
            return Ok(Some(data.to_vec()));
        }
        let p = self.dir.join(path);
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &p)(e)),
        }
    }

    /// A committed partial version that is not stored — the writer skipped it for a newer
    /// one, or it was collected once its full tile was durable — cut from the newest
    /// version there is (see [`super::prefix`]): the one in memory, the full object, or
    /// after a restart the widest partial file.
    fn derive_partial(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let Some((full, width)) = prefix::split(path) else {
            return Ok(None);
        };
        let newest = self.growing.lock().get(full).map(|(_, d)| d.clone());
        if let Some(cut) = newest.and_then(|d| prefix::cut(path, width, &d)) {
            return Ok(Some(cut));
        }
        if let Some(d) = self.read_stored(full)? {
            return Ok(prefix::cut(path, width, &d));
        }
        let dir = self.dir.join(format!("{full}.p"));
        let widest = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u16>().ok())
                .filter(|&w| w > width)
                .max(),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(io("read_dir", &dir)(e)),
        };
        match widest {
            Some(w) => Ok(self
                .read_stored(&format!("{full}.p/{w}"))?
                .and_then(|d| prefix::cut(path, width, &d))),
            None => Ok(None),
        }
    }

    fn commit(&self, st: &mut State, new: &[u8]) -> Result<(), StorageError> {
        // A failed background flush fails the next commit before it writes anything.
        self.reap_flusher(st, false)?;
        let pending: Vec<(String, Arc<Vec<u8>>)> = std::mem::take(&mut st.pending)
            .into_iter()
            .map(|(path, data)| (path, Arc::new(data)))
            .collect();
        let mut record = std::mem::take(&mut st.record);
        record.clear();
        {
            let growing = self.growing.lock();
            let ops: Vec<Op<'_>> = pending
                .iter()
                .map(|(path, data)| match growing.get(growing_key(path)) {
                    Some((bpath, bdata))
                        if !bdata.is_empty() && bpath != path && data.starts_with(bdata) =>
                    {
                        Op::Extend {
                            path,
                            base: bpath,
                            base_len: bdata.len() as u32,
                            suffix: &data[bdata.len()..],
                        }
                    }
                    _ => Op::Put { path, data },
                })
                .collect();
            journal::encode(&ops, new, &mut record);
        }
        let t0 = Instant::now();
        let journal_ns = self.append_journal(&mut st.journal, &record)?;
        st.journal_len += record.len() as u64;
        st.stats.journal_bytes += record.len() as u64;
        st.stats.journal_ns += journal_ns;
        st.record = record;
        // Durable from here on: publish the files. With faults injected this happens
        // inline in a fixed order (objects, then the checkpoint file), so that fault step
        // numbers are reproducible; otherwise the background writer does it.
        {
            let mut growing = self.growing.lock();
            for (path, data) in &pending {
                let key = growing_key(path);
                if key.len() == path.len() {
                    growing.remove(key);
                } else {
                    growing.insert(key.to_string(), (path.clone(), data.clone()));
                }
            }
        }
        // Past the threshold, this batch ends its journal. With a retirement still
        // running there is no spare yet, and the journal grows until there is.
        let rotate = st.journal_len >= self.opts.flush_threshold && st.spare.is_some();
        let tp = Instant::now();
        let sealed = match &self.publisher {
            Some(p) => {
                let seq = p.publish(pending, new, rotate)?;
                rotate.then(|| (p.handle(), seq))
            }
            None => {
                for (path, data) in &pending {
                    self.write_file(&mut st.dirty, path, data)?;
                }
                self.write_file(&mut st.dirty, CHECKPOINT, new)?;
                None
            }
        };
        st.stats.publish_ns += tp.elapsed().as_nanos() as u64;
        st.checkpoint = Some(new.to_vec());
        if rotate {
            self.rotate(st, sealed)?;
        }
        st.stats.commit_ns += t0.elapsed().as_nanos() as u64;
        st.stats.commits += 1;
        Ok(())
    }
}

impl Drop for LocalStorage {
    fn drop(&mut self) {
        // Before the publisher stops (it is dropped first among the fields): a running
        // retirement may be waiting for it. Nothing may write after the lock is released.
        if let Some(h) = self.st.get_mut().flusher.take() {
            let _ = h.join();
        }
    }
}

impl Storage for LocalStorage {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        validate_path(path)?;
        match self.read_stored(path)? {
            Some(data) => Ok(Some(data)),
            None => self.derive_partial(path),
        }
    }

    fn put(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        validate_path(path)?;
        let mut st = self.st.lock();
        if st.poisoned {
            return Err(StorageError::Poisoned);
        }
        st.pending.push((path.to_string(), data));
        Ok(())
    }

    fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.st.lock().checkpoint.clone())
    }

    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> Result<(), StorageError> {
        let mut st = self.st.lock();
        if st.poisoned {
            return Err(StorageError::Poisoned);
        }
        if st.checkpoint.as_deref() != old {
            st.pending.clear();
            return Err(StorageError::CheckpointMismatch);
        }
        let r = self.commit(&mut st, new);
        if r.is_err() {
            st.poisoned = true;
        }
        r
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Io { op, path, source }
}

#[path = "local_flush.rs"]
mod flush;

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
