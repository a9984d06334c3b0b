//! The background writer of [`LocalStorage`](super::LocalStorage)'s `checkpoint` file.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use super::StorageError;

const CHECKPOINT: &str = "checkpoint";

/// Replaces the checkpoint file in the background, always with the newest committed
/// checkpoint (intermediate ones may be skipped). The objects a checkpoint covers are
/// written before it is handed over, so the file never names missing tiles.
#[derive(Debug)]
pub(super) struct Publisher {
    shared: Arc<PubShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct PubShared {
    state: Mutex<PubState>,
    cv: parking_lot::Condvar,
}

#[derive(Debug, Default)]
struct PubState {
    latest: Vec<u8>,
    /// Sequence number of `latest`, and of the last one written.
    want: u64,
    done: u64,
    stop: bool,
    failed: Option<(PathBuf, std::io::ErrorKind, String)>,
}

impl Publisher {
    pub(super) fn start(dir: PathBuf) -> Publisher {
        let shared = Arc::new(PubShared::default());
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ledgervm-checkpoint".into())
            .spawn(move || {
                let (tmp, path) = (dir.join(".checkpoint.tmp"), dir.join(CHECKPOINT));
                loop {
                    let (seq, data) = {
                        let mut st = sh.state.lock();
                        while st.done == st.want && !st.stop {
                            sh.cv.wait(&mut st);
                        }
                        if st.done == st.want {
                            return;
                        }
                        (st.want, st.latest.clone())
                    };
                    let r = fs::write(&tmp, &data).and_then(|()| fs::rename(&tmp, &path));
                    let mut st = sh.state.lock();
                    match r {
                        Ok(()) => st.done = seq,
                        Err(e) => {
                            st.failed = Some((path.clone(), e.kind(), e.to_string()));
                            sh.cv.notify_all();
                            return;
                        }
                    }
                    sh.cv.notify_all();
                }
            })
            .expect("spawn the checkpoint publisher");
        Publisher {
            shared,
            thread: Some(thread),
        }
    }

    fn failure(st: &PubState) -> Option<StorageError> {
        st.failed
            .as_ref()
            .map(|(path, kind, msg)| StorageError::Io {
                op: "publish checkpoint",
                path: path.clone(),
                source: std::io::Error::new(*kind, msg.clone()),
            })
    }

    pub(super) fn publish(&self, data: &[u8]) -> Result<(), StorageError> {
        let mut st = self.shared.state.lock();
        if let Some(e) = Self::failure(&st) {
            return Err(e);
        }
        st.latest = data.to_vec();
        st.want += 1;
        self.shared.cv.notify_all();
        Ok(())
    }

    /// Waits until the newest checkpoint is in the file (not necessarily fsynced).
    pub(super) fn wait(&self) -> Result<(), StorageError> {
        let mut st = self.shared.state.lock();
        while st.done < st.want && st.failed.is_none() {
            self.shared.cv.wait(&mut st);
        }
        match Self::failure(&st) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
