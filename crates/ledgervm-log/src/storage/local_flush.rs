//! [`LocalStorage`]'s journal generations and the flush that retires one: making the
//! files its records wrote durable in place, deleting the journal, and collecting
//! superseded partial tiles.
//!
//! # Why generations
//! A flush fsyncs every file written since the last one: 30–100 ms on the development
//! VM. Run inside a commit it held every call of that moment for as long, enough to
//! decide a p99 on its own. So the journal *rotates*: once it passes the threshold, the
//! commit switches to the spare journal (created, and its directory entry made durable,
//! ahead of time) and a thread retires the old one while commits go on. Journal files
//! are `.journal.<generation>`; recovery replays them oldest first.
//!
//! # Order of a retirement, and why
//! 1. Wait for the background writer to finish the old journal's last batch (a
//!    barrier, so its round stops there), and take the paths written up to it. Those
//!    versions are the bases that the new journal's extend ops build on.
//! 2. Fsync those files, then their directories.
//! 3. Rename the old journal aside (`.retired.journal.<N>`, a name recovery never
//!    reads), create the next spare, fsync the directory. Until this is durable,
//!    recovery replays the old journal again, which is harmless: every file it names is
//!    still there. A rename, not a delete, because it is atomic and frees nothing: the
//!    blocks are released afterwards, a few megabytes at a time (see `release`).
//! 4. Only now delete the partial versions of tiles that became full: the old journal's
//!    extend ops named them as bases, so they had to outlive it. The new journal never
//!    extends a partial of a full tile.
//!
//! With faults injected the retirement runs inline, so that fault steps stay numbered
//! reproducibly.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{JOURNAL, LocalStorage, State, growing_key, io};
use crate::storage::publisher::{self, PubHandle};
use crate::storage::{FaultInjector, StorageError};

/// One journal file: its generation and its open handle.
#[derive(Debug)]
pub(super) struct Journal {
    pub(super) generation: u64,
    pub(super) file: File,
}

/// The path of journal `generation` in `dir`.
pub(super) fn journal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{JOURNAL}.{generation}"))
}

/// The journal files in `dir`, oldest first. A bare `.journal` (the single journal of
/// earlier versions) counts as generation 0.
pub(super) fn list_journals(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io("read_dir", dir))? {
        let e = e.map_err(io("read_dir", dir))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let generation = match name.strip_prefix(JOURNAL) {
            Some("") => 0,
            Some(rest) => match rest.strip_prefix('.').and_then(|g| g.parse::<u64>().ok()) {
                Some(g) => g,
                None => continue,
            },
            None => continue,
        };
        out.push((generation, e.path()));
    }
    out.sort();
    Ok(out)
}

/// Creates an empty journal file. Its directory entry is durable only after the next
/// fsync of the directory.
pub(super) fn create_journal(
    dir: &Path,
    generation: u64,
    fault: &Option<Arc<FaultInjector>>,
) -> Result<Journal, StorageError> {
    step(fault, "journal_create")?;
    let path = journal_path(dir, generation);
    let file = OpenOptions::new()
        // Generations only grow, so an existing file means something else is wrong.
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(io("open", &path))?;
    Ok(Journal { generation, file })
}

/// The files a retirement makes durable.
pub(super) struct Files {
    /// Written inline (recovery, or faults injected).
    pub(super) known: HashSet<String>,
    /// Written by the background writer up to the barrier batch of this sequence number.
    pub(super) sealed: Option<(PubHandle, u64)>,
}

/// Everything one retirement needs, owned, so that it can run on a thread of its own.
pub(super) struct Retire {
    pub(super) dir: PathBuf,
    /// The journals to delete once their files are durable.
    pub(super) old: Vec<PathBuf>,
    pub(super) files: Files,
    /// The generation of the spare journal to create.
    pub(super) spare: u64,
    pub(super) fault: Option<Arc<FaultInjector>>,
}

/// A finished retirement: the new spare journal and the time it took.
#[derive(Debug)]
pub(super) struct Retired {
    pub(super) spare: Journal,
    pub(super) ns: u64,
}

impl Retire {
    /// Runs the retirement (see the module docs for the order).
    pub(super) fn run(self) -> Result<Retired, StorageError> {
        let t0 = Instant::now();
        let Files { mut known, sealed } = self.files;
        if let Some((publisher, seq)) = sealed {
            known.extend(publisher.take_sealed(seq)?);
        }
        let files: Vec<PathBuf> = known.iter().map(|r| self.dir.join(r)).collect();
        // Tiles and bundles that became full in these journals.
        let full: Vec<&String> = known
            .iter()
            .filter(|r| r.starts_with("tile/") && growing_key(r).len() == r.len())
            .collect();
        let mut dirs: HashSet<PathBuf> = HashSet::new();
        for f in &files {
            let mut p = f.parent();
            while let Some(d) = p {
                if d == self.dir || !dirs.insert(d.to_path_buf()) {
                    break;
                }
                p = d.parent();
            }
        }
        // The top directory too: renames there (`checkpoint`) must be durable before the
        // journal that would redo them is deleted.
        dirs.insert(self.dir.clone());
        let dirs: Vec<PathBuf> = dirs.into_iter().collect();
        let waited = t0.elapsed();
        fsync_all(&files, "fsync", &self.fault)?;
        fsync_all(&dirs, "fsync_dir", &self.fault)?;
        let synced = t0.elapsed();
        // Renamed out of the way rather than deleted: a rename frees no blocks (see
        // `release`).
        let mut trash = Vec::with_capacity(self.old.len());
        for old in &self.old {
            step(&self.fault, "journal_retire")?;
            let to = retired_path(old);
            match fs::rename(old, &to) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(io("rename", old)(e)),
                Err(_) => {}
                Ok(()) => trash.push(to),
            }
        }
        let spare = create_journal(&self.dir, self.spare, &self.fault)?;
        fsync_all(std::slice::from_ref(&self.dir), "fsync_dir", &self.fault)?;
        let retired = t0.elapsed();
        let paced = self.fault.is_none();
        for t in &trash {
            release(t, paced);
        }
        collect_partials(&self.dir, &full, paced);
        tracing::debug!(
            ?waited,
            ?synced,
            ?retired,
            total = ?t0.elapsed(),
            files = files.len(),
            dirs = dirs.len(),
            full = full.len(),
            "flushed a journal"
        );
        Ok(Retired {
            spare,
            ns: t0.elapsed().as_nanos() as u64,
        })
    }
}

impl LocalStorage {
    /// Switches commits to the spare journal and retires the current one: on a thread of
    /// its own when `sealed` names the barrier batch the background writer must reach
    /// first (there is a writer only when no faults are injected), inline otherwise. The
    /// caller has checked that a spare is ready.
    pub(super) fn rotate(
        &self,
        st: &mut State,
        sealed: Option<(PubHandle, u64)>,
    ) -> Result<(), StorageError> {
        let spare = st.spare.take().expect("rotate only with a spare journal");
        let old = std::mem::replace(&mut st.journal, spare);
        st.journal_len = 0;
        let background = sealed.is_some();
        let job = Retire {
            dir: self.dir.clone(),
            old: vec![journal_path(&self.dir, old.generation)],
            files: Files {
                known: std::mem::take(&mut st.dirty),
                sealed,
            },
            spare: st.journal.generation + 1,
            fault: self.opts.fault.clone(),
        };
        drop(old);
        if background {
            let handle = std::thread::Builder::new()
                .name("ledgervm-journal-flush".into())
                .spawn(move || job.run())
                .map_err(io("spawn the journal flush for", &self.dir))?;
            st.flusher = Some(handle);
            Ok(())
        } else {
            let done = job.run()?;
            self.retired(st, done);
            Ok(())
        }
    }

    /// Takes the result of the background retirement if it has finished (or, with
    /// `wait`, once it has). A failed retirement fails this call, and the caller
    /// poisons the handle: what is durable is no longer known.
    pub(super) fn reap_flusher(&self, st: &mut State, wait: bool) -> Result<(), StorageError> {
        if st
            .flusher
            .as_ref()
            .is_none_or(|h| !wait && !h.is_finished())
        {
            return Ok(());
        }
        let handle = st.flusher.take().expect("checked above");
        match handle.join() {
            Ok(Ok(done)) => {
                self.retired(st, done);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io("flush the journal in", &self.dir)(
                std::io::Error::other("the journal flush thread panicked"),
            )),
        }
    }

    fn retired(&self, st: &mut State, done: Retired) {
        st.spare = Some(done.spare);
        st.stats.flushes += 1;
        st.stats.flush_ns += done.ns;
    }

    /// Makes every committed file durable in place and retires the journal now, waiting
    /// for a background retirement first.
    pub(super) fn flush_locked(&self, st: &mut State) -> Result<(), StorageError> {
        self.reap_flusher(st, true)?;
        if let Some(p) = &self.publisher {
            p.wait()?;
            st.dirty.extend(p.take_dirty());
        }
        if st.journal_len == 0 && st.dirty.is_empty() {
            return Ok(());
        }
        if st.spare.is_none() {
            // Only a failed retirement leaves no spare, and that poisoned the handle.
            return Err(StorageError::Poisoned);
        }
        self.rotate(st, None)
    }
}

fn step(fault: &Option<Arc<FaultInjector>>, what: &'static str) -> Result<(), StorageError> {
    match fault {
        Some(f) if f.step(what)?.is_some() => Err(f.error(what)),
        _ => Ok(()),
    }
}

/// Deletes the partial versions (`<path>.p/`) of every tile or bundle in `full` (those
/// that became full in the retired journals), once the journals are gone. Without this a
/// log appended one entry at a time would keep ~255 superseded copies of every bundle.
/// `LocalStorage::get` still answers for them, cut from the full tile, and a static
/// server's `tlog-tiles` clients fall back to the full tile. The deleted files were
/// fsynced like all others, so a crash before or during the deletion leaves whole files.
/// Best effort: a leftover is only garbage.
///
/// With `paced`, it pauses between directories, for the same reason as [`release`].
fn collect_partials(dir: &Path, full: &[&String], paced: bool) {
    for rel in full {
        let d = dir.join(format!("{rel}.p"));
        match fs::remove_dir_all(&d) {
            Ok(()) if paced => std::thread::sleep(PACE),
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %d.display(), error = %e, "cannot delete partial tiles")
            }
        }
    }
}

/// The pause between two steps of freeing disk space in the background.
const PACE: Duration = Duration::from_millis(2);

/// How much of a retired journal one step frees.
const RELEASE_STEP: u64 = 2 << 20;

/// Where a retired journal waits to be released: a name recovery does not read.
fn retired_path(journal: &Path) -> PathBuf {
    let name = journal.file_name().expect("journal paths have a file name");
    journal.with_file_name(format!(".retired{}", name.to_string_lossy()))
}

/// Frees a retired journal's blocks and deletes it. With `paced`, a few megabytes at a
/// time with a pause between steps: on a filesystem mounted with online discard (like
/// the development VM's), freeing a 32 MiB journal at once put a discard of all of it
/// into one filesystem-journal commit, and every commit's `fdatasync` that queued behind
/// it stalled for tens of milliseconds. Best effort: a leftover is deleted on the next
/// open.
fn release(path: &Path, paced: bool) {
    let shrink = || -> std::io::Result<()> {
        let f = OpenOptions::new().write(true).open(path)?;
        let mut len = f.metadata()?.len();
        while paced && len > RELEASE_STEP {
            len -= RELEASE_STEP;
            f.set_len(len)?;
            std::thread::sleep(PACE);
        }
        Ok(())
    };
    if let Err(e) = shrink().and_then(|()| fs::remove_file(path)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete a retired journal");
    }
}

/// Deletes journals retired before a crash (see [`release`]).
pub(super) fn release_leftovers(dir: &Path) -> Result<(), StorageError> {
    for e in fs::read_dir(dir).map_err(io("read_dir", dir))? {
        let e = e.map_err(io("read_dir", dir))?;
        if e.file_name().to_string_lossy().starts_with(".retired") {
            release(&e.path(), false);
        }
    }
    Ok(())
}

/// Fsyncs every path. Writeback of all of them is started first, and the fsyncs then
/// run on a few threads at once, so the filesystem folds them into a few journal
/// commits instead of one per file.
fn fsync_all(
    paths: &[PathBuf],
    what: &'static str,
    fault: &Option<Arc<FaultInjector>>,
) -> Result<(), StorageError> {
    if fault.is_some() {
        // Deterministic step numbering for the fault tests.
        for p in paths {
            step(fault, what)?;
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

/// Starts writeback of `p` (see [`publisher::start_writeback`]).
fn start_writeback(p: &Path) {
    if let Ok(f) = File::open(p) {
        publisher::start_writeback(&f);
    }
}

fn fsync_path(p: &Path) -> Result<(), StorageError> {
    let f = File::open(p).map_err(io("open", p))?;
    f.sync_all().map_err(io("fsync", p))
}
