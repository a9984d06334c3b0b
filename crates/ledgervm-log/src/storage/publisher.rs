//! The background writer of [`LocalStorage`](super::LocalStorage)'s object files and its
//! `checkpoint` file.
//!
//! A commit is durable once its journal record is fsynced; the files themselves are a
//! copy for readers and static serving. Writing them (temp file + rename per tile and
//! bundle) on the commit path took longer than the `fdatasync` it was meant to overlap
//! (2–3 ms against 1–1.5 ms per batch in `ledgervm bench`), so the commit waited on file
//! system metadata work that durability does not need. Now the commit hands the batch to
//! this thread and returns; until an object is in its file, [`Publisher::get`] serves it
//! from memory.
//!
//! # Coalescing
//! Every batch makes a new, one-batch-wider version of each growing object (the level-0
//! partial tile, the partial bundle, a partial tile on each level above). Writing each
//! version as a file cost a new inode per object per batch, and ext4's inode allocator
//! (which avoids recently deleted inodes) made that ~15% of the whole process's CPU in
//! `ledgervm bench`. So the writer works in rounds at most [`ROUND`] apart and writes
//! only the newest version of each object in a round; the versions it skips are
//! prefixes of the one it writes, and `LocalStorage::get` derives them from it (see
//! [`super::prefix`]). The round's objects still precede its checkpoint file, and the
//! newest versions are exactly what that checkpoint names, so the `checkpoint` file
//! never names a missing tile.
//!
//! # Barriers
//! When the journal rotates, the batch that ends the old journal is handed over as a
//! *barrier*: a round never reaches past one, and the files written up to and including
//! it are set aside ([`PubHandle::take_sealed`]) for the flush that retires that
//! journal. That flush must make durable exactly the versions the old journal's last
//! record left newest (later records extend them), and must not collect the partial
//! tiles that records in the new journal still extend.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::StorageError;

const CHECKPOINT: &str = "checkpoint";

/// How long the writer lets batches gather before a round, unless a flush or shutdown
/// is waiting: long enough that a round covers many batches at service rates (hundreds
/// of batches a second), short enough that the files trail the log by little and the
/// versions held in memory meanwhile stay few (at 10k calls/s, a round holds about four
/// tiles' worth). The cost of a round is mostly file creation, and ext4 makes each
/// creation dearer the more inodes were freed recently (its allocator skips them), so
/// the cost grows faster than the round rate: at 20 ms the writer thread was still
/// ~10% of the process in `ledgervm bench`.
const ROUND: Duration = Duration::from_millis(100);

/// Writes committed batches to their files in rounds: the newest version of every object
/// in the round, then the round's newest checkpoint, so the `checkpoint` file never
/// names missing tiles. Versions and checkpoints superseded within a round are skipped.
#[derive(Debug)]
pub(super) struct Publisher {
    shared: Arc<PubShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What a journal flush on another thread needs of the [`Publisher`].
#[derive(Debug, Clone)]
pub(super) struct PubHandle(Arc<PubShared>);

#[derive(Debug, Default)]
struct PubShared {
    state: Mutex<PubState>,
    /// The writer waits here for work (and for the end of a round).
    work: Condvar,
    /// [`Publisher::wait`] waits here for the writer to catch up.
    caught_up: Condvar,
}

#[derive(Debug, Default)]
struct PubState {
    queue: VecDeque<Batch>,
    /// Committed objects not yet in their files, by path: what readers get meanwhile.
    unpublished: HashMap<String, Arc<Vec<u8>>>,
    /// Paths written (not fsynced) since the last [`Publisher::take_dirty`] or barrier.
    dirty: HashSet<String>,
    /// The paths written up to the last barrier, until its flush takes them.
    sealed: HashSet<String>,
    /// Sequence number of the newest batch handed over, and of the last one written.
    want: u64,
    done: u64,
    /// Someone waits for the files: start the round now.
    hurry: bool,
    stop: bool,
    failed: Option<(PathBuf, ErrorKind, String)>,
}

#[derive(Debug)]
struct Batch {
    seq: u64,
    objects: Vec<(String, Arc<Vec<u8>>)>,
    checkpoint: Vec<u8>,
    /// The last batch of a journal: a round ends here (see the module docs).
    barrier: bool,
}

impl Publisher {
    pub(super) fn start(dir: PathBuf) -> Publisher {
        let shared = Arc::new(PubShared::default());
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ledgervm-log-files".into())
            .spawn(move || writer(&dir, &sh))
            .expect("spawn the log file writer");
        Publisher {
            shared,
            thread: Some(thread),
        }
    }

    /// A handle for a flush that runs on another thread.
    pub(super) fn handle(&self) -> PubHandle {
        PubHandle(self.shared.clone())
    }

    fn failure(st: &PubState) -> Option<StorageError> {
        st.failed
            .as_ref()
            .map(|(path, kind, msg)| StorageError::Io {
                op: "publish",
                path: path.clone(),
                source: std::io::Error::new(*kind, msg.clone()),
            })
    }

    /// Hands over a durable batch: its objects, then its checkpoint, and returns its
    /// sequence number. A `barrier` batch is the last of its journal (see the module
    /// docs). Fails if an earlier batch could not be written (the caller then poisons
    /// the storage; a re-open rewrites everything from the journal).
    pub(super) fn publish(
        &self,
        objects: Vec<(String, Arc<Vec<u8>>)>,
        checkpoint: &[u8],
        barrier: bool,
    ) -> Result<u64, StorageError> {
        let mut st = self.shared.state.lock();
        if let Some(e) = Self::failure(&st) {
            return Err(e);
        }
        for (path, data) in &objects {
            st.unpublished.insert(path.clone(), data.clone());
        }
        st.want += 1;
        let seq = st.want;
        st.queue.push_back(Batch {
            seq,
            objects,
            checkpoint: checkpoint.to_vec(),
            barrier,
        });
        // Only the first batch of a round wakes the writer; the others would only cost a
        // context switch (on two cores, one that preempts the sequencer).
        if st.queue.len() == 1 {
            self.shared.work.notify_one();
        }
        Ok(seq)
    }

    /// A committed object that is not in its file yet.
    pub(super) fn get(&self, path: &str) -> Option<Arc<Vec<u8>>> {
        self.shared.state.lock().unpublished.get(path).cloned()
    }

    /// Waits until every batch handed over is in its files (not necessarily fsynced).
    pub(super) fn wait(&self) -> Result<(), StorageError> {
        let want = self.shared.state.lock().want;
        self.handle().wait_for(want).map(drop)
    }

    /// The paths written since the last call or barrier flush, barrier or not (for a
    /// flush of everything to fsync).
    pub(super) fn take_dirty(&self) -> HashSet<String> {
        let mut st = self.shared.state.lock();
        let mut all = std::mem::take(&mut st.sealed);
        all.extend(std::mem::take(&mut st.dirty));
        all
    }
}

impl PubHandle {
    /// Waits until batch `seq` and all before it are in their files.
    fn wait_for(&self, seq: u64) -> Result<parking_lot::MutexGuard<'_, PubState>, StorageError> {
        let sh = &self.0;
        let mut st = sh.state.lock();
        while st.done < seq && st.failed.is_none() {
            st.hurry = true;
            sh.work.notify_one();
            sh.caught_up.wait(&mut st);
        }
        match Publisher::failure(&st) {
            Some(e) => Err(e),
            None => Ok(st),
        }
    }

    /// Waits until the barrier batch `seq` is in its files, then takes the paths
    /// written up to it since the previous barrier (for the flush of its journal).
    pub(super) fn take_sealed(&self, seq: u64) -> Result<HashSet<String>, StorageError> {
        let mut st = self.wait_for(seq)?;
        Ok(std::mem::take(&mut st.sealed))
    }
}

/// The writer thread: waits for a batch, lets a round's worth gather, then writes the
/// newest version of each object and the newest checkpoint, and reports.
fn writer(dir: &Path, sh: &PubShared) {
    loop {
        let batches: Vec<Batch> = {
            let mut st = sh.state.lock();
            while st.queue.is_empty() && !st.stop {
                sh.work.wait(&mut st);
            }
            if st.queue.is_empty() {
                return;
            }
            let end = Instant::now() + ROUND;
            while !st.stop && !st.hurry && !sh.work.wait_until(&mut st, end).timed_out() {}
            st.hurry = false;
            let n = st
                .queue
                .iter()
                .position(|b| b.barrier)
                .map_or(st.queue.len(), |i| i + 1);
            st.queue.drain(..n).collect()
        };
        let last = batches.last().expect("not empty");
        let (seq, checkpoint, barrier) = (last.seq, &last.checkpoint, last.barrier);
        let newest = newest_versions(&batches);
        let mut result = Ok(());
        let mut written = 0;
        for (path, data) in &newest {
            result = write_file(dir, path, data);
            if result.is_err() {
                break;
            }
            written += 1;
        }
        if result.is_ok() {
            result = write_file(dir, CHECKPOINT, checkpoint);
        }
        let mut st = sh.state.lock();
        for (path, _) in &newest[..written] {
            st.dirty.insert(path.to_string());
        }
        // Versions written or superseded leave memory (the skipped ones are derived from
        // newer versions from now on), unless a later batch put the same path again.
        let gone = if result.is_ok() { batches.len() } else { 0 };
        for b in &batches[..gone] {
            for (path, data) in &b.objects {
                if st
                    .unpublished
                    .get(path)
                    .is_some_and(|d| Arc::ptr_eq(d, data))
                {
                    st.unpublished.remove(path);
                }
            }
        }
        match result {
            Ok(()) => {
                st.dirty.insert(CHECKPOINT.to_string());
                if barrier {
                    let written = std::mem::take(&mut st.dirty);
                    st.sealed.extend(written);
                }
                st.done = seq;
            }
            Err((path, e)) => {
                st.failed = Some((path, e.kind(), e.to_string()));
                sh.caught_up.notify_all();
                return;
            }
        }
        sh.caught_up.notify_all();
    }
}

/// The last version of each object across `batches`, in the order objects first
/// appeared. Versions of one growing object (`X.p/8`, `X.p/12`, then `X`) count as one
/// object.
fn newest_versions(batches: &[Batch]) -> Vec<(&str, &Arc<Vec<u8>>)> {
    let mut out: Vec<(&str, &Arc<Vec<u8>>)> = Vec::new();
    let mut slot: HashMap<&str, usize> = HashMap::new();
    for (path, data) in batches.iter().flat_map(|b| &b.objects) {
        let key = super::prefix::growing_key(path);
        match slot.get(key) {
            Some(&i) => out[i] = (path, data),
            None => {
                slot.insert(key, out.len());
                out.push((path, data));
            }
        }
    }
    out
}

/// Writes `data` at `rel` under `dir` atomically (temp file + rename), without fsync.
fn write_file(dir: &Path, rel: &str, data: &[u8]) -> Result<(), (PathBuf, std::io::Error)> {
    let path = dir.join(rel);
    write_temp(&path, data)
        .and_then(|tmp| fs::rename(tmp, &path))
        .map_err(|e| (path.clone(), e))
}

/// Writes `data` to the temp file of `path` ([`temp_path`]), ready to be renamed over
/// it, creating the parent directory when it is missing. Directories are made when
/// first needed, and may have been removed by the collection of superseded partial
/// tiles since.
pub(super) fn write_temp(path: &Path, data: &[u8]) -> std::io::Result<PathBuf> {
    let tmp = temp_path(path);
    let write = |tmp: &Path| -> std::io::Result<()> {
        let mut f = fs::File::create(tmp)?;
        f.write_all(data)?;
        start_writeback(&f);
        Ok(())
    };
    match write(&tmp) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(path.parent().expect("object paths have a parent"))?;
            write(&tmp)
        }
        r => r,
    }?;
    Ok(tmp)
}

/// Asks the kernel to start writing `f`'s dirty pages now, without waiting. Files left
/// to the kernel's own writeback (tens of seconds later) were written all at once by
/// the journal's flush: tens of megabytes in a burst, during which the commits'
/// `fdatasync`s queued behind it. Started here, the writeback trickles along with the
/// commits, and the flush's fsyncs find little left to do (RocksDB's `bytes_per_sync`
/// does the same for its SST files). A hint only: durability still comes from the
/// flush.
#[cfg(target_os = "linux")]
pub(super) fn start_writeback(f: &fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; the call reads no memory of ours.
    unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

#[cfg(not(target_os = "linux"))]
pub(super) fn start_writeback(_: &fs::File) {}

/// Where a file is written before it is renamed over `path`: a dot-file next to it, so a
/// static server skips it and a crash leaves nothing at `path` half-written.
pub(super) fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().expect("object paths have a file name");
    path.with_file_name(format!(".{}.tmp", name.to_string_lossy()))
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.work.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
