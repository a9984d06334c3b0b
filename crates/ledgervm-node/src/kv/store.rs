//! The redb-backed store and one app generation's handle on it (see the module docs of
//! [`crate::kv`]).

use super::DURABLE_EVERY;
use crate::digest::LtHash;
use crate::record::Write;
use crate::secret::AppKey;
use crate::state::{StateBase, final_writes};
use ledgervm_runtime::state::{StateError, check_key};
use parking_lot::Mutex;
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One row per generation: next log index to apply, key count, digest lanes.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Why the store failed. Messages name tables and indexes, never keys or values.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// redb or the file system failed.
    #[error("state store: {0}")]
    Io(String),
    /// Stored bytes do not decode or do not open under the app's key.
    #[error("state store corrupt: {0}")]
    Corrupt(String),
}

fn io(e: impl std::fmt::Display) -> KvError {
    KvError::Io(e.to_string())
}

impl From<KvError> for StateError {
    fn from(e: KvError) -> StateError {
        StateError::Backend(e.to_string())
    }
}

/// The node's state database.
#[derive(Clone)]
pub struct KvStore {
    db: Arc<Database>,
    commits: Arc<AtomicU64>,
}

/// A value as persisted, with the index of the call record that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredValue {
    /// Index of the call record whose write set last set this key.
    pub index: u64,
    /// The value (decrypted).
    pub value: Vec<u8>,
}

/// Writes staged by a sequenced call, waiting for its commit to be durable.
struct Staged {
    seq: u64,
    /// The record's log index, known once its commit is durable.
    index: Option<u64>,
    writes: Vec<Write>,
    digest: Arc<LtHash>,
    count: u64,
}

/// State as of the last sequenced call.
struct Live {
    /// Writes of sequenced calls not yet persisted: key → (stage seq, value or delete).
    pending: BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)>,
    queue: VecDeque<Staged>,
    /// Shared with the stages and the calls that read it: a call that writes nothing
    /// records the same 2 KiB of lanes as the call before it, and copying them twice
    /// per call was ~0.6% of `ledgervm bench`'s CPU.
    digest: Arc<LtHash>,
    count: u64,
    /// Next stage sequence number.
    seq: u64,
    /// First log index not yet persisted.
    next: u64,
    /// A persister ([`AppKv::persist_all_ready`]) has been claimed and not finished.
    persisting: bool,
}

impl Live {
    fn set_index(&mut self, seq: u64, index: u64) {
        if let Some(s) = self.queue.iter_mut().find(|s| s.seq == seq) {
            s.index = Some(index);
        }
    }
}

/// How far staged write sets have been persisted, for [`AppKv::persisted`] waiters.
#[derive(Clone, Copy, Debug, Default)]
struct Persisted {
    /// Highest stage sequence number persisted.
    through: Option<u64>,
    /// A persist failed; the node refuses writes until a restart catches up.
    failed: bool,
}

/// One app generation's state: persisted values plus staged writes.
pub struct AppKv {
    db: Arc<Database>,
    commits: Arc<AtomicU64>,
    table: String,
    key: AppKey,
    live: Mutex<Live>,
    persist: Mutex<()>,
    persisted: tokio::sync::watch::Sender<Persisted>,
}

impl std::fmt::Debug for AppKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKv").field("table", &self.table).finish()
    }
}

fn table_name(app: &str, key_id: &str) -> String {
    format!("kv/{key_id}/{app}")
}

fn decode_meta(bytes: &[u8]) -> Result<(u64, u64, LtHash), KvError> {
    let bad = || KvError::Corrupt("meta row malformed".into());
    if bytes.len() != 16 + crate::digest::LTHASH_BYTES {
        return Err(bad());
    }
    let next = u64::from_be_bytes(bytes[..8].try_into().map_err(|_| bad())?);
    let count = u64::from_be_bytes(bytes[8..16].try_into().map_err(|_| bad())?);
    let digest = LtHash::from_bytes(&bytes[16..]).ok_or_else(bad)?;
    Ok((next, count, digest))
}

fn encode_meta(next: u64, count: u64, digest: &LtHash) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + crate::digest::LTHASH_BYTES);
    out.extend_from_slice(&next.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&digest.to_bytes());
    out
}

impl KvStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<KvStore, KvError> {
        let db = Database::create(path).map_err(io)?;
        Ok(KvStore {
            db: Arc::new(db),
            commits: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Opens app `app`'s generation under `key`, as persisted.
    pub fn generation(&self, app: &str, key: AppKey) -> Result<Arc<AppKv>, KvError> {
        let table = table_name(app, &key.key_id());
        let txn = self.db.begin_read().map_err(io)?;
        let (next, count, digest) = match txn.open_table(META) {
            Ok(meta) => match meta.get(table.as_str()).map_err(io)? {
                Some(row) => decode_meta(row.value())?,
                None => (0, 0, LtHash::new()),
            },
            Err(redb::TableError::TableDoesNotExist(_)) => (0, 0, LtHash::new()),
            Err(e) => return Err(io(e)),
        };
        Ok(Arc::new(AppKv {
            db: self.db.clone(),
            commits: self.commits.clone(),
            table,
            key,
            live: Mutex::new(Live {
                pending: BTreeMap::new(),
                queue: VecDeque::new(),
                digest: Arc::new(digest),
                count,
                seq: 0,
                next,
                persisting: false,
            }),
            persist: Mutex::new(()),
            persisted: tokio::sync::watch::Sender::new(Persisted::default()),
        }))
    }

    /// Deletes a generation's table and meta row, durably.
    pub fn drop_generation(&self, app: &str, key_id: &str) -> Result<(), KvError> {
        let table = table_name(app, key_id);
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(Durability::Immediate).map_err(io)?;
        txn.delete_table(TableDefinition::<&[u8], &[u8]>::new(&table))
            .map_err(io)?;
        {
            let mut meta = txn.open_table(META).map_err(io)?;
            meta.remove(table.as_str()).map_err(io)?;
        }
        txn.commit().map_err(io)
    }

    /// Makes every earlier commit durable.
    pub fn flush(&self) -> Result<(), KvError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(Durability::Immediate).map_err(io)?;
        txn.commit().map_err(io)
    }
}

impl AppKv {
    fn context(&self, key: &[u8]) -> Vec<u8> {
        let mut c = Vec::with_capacity(4 + self.table.len() + key.len());
        c.extend_from_slice(&(self.table.len() as u32).to_be_bytes());
        c.extend_from_slice(self.table.as_bytes());
        c.extend_from_slice(key);
        c
    }

    fn def(&self) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
        TableDefinition::new(&self.table)
    }

    /// The digest and key count as of the last sequenced call. The digest is shared:
    /// change it through [`Arc::make_mut`], which copies it only then.
    pub fn digest(&self) -> (Arc<LtHash>, u64) {
        let live = self.live.lock();
        (live.digest.clone(), live.count)
    }

    /// First log index not yet persisted to this generation.
    pub fn next_index(&self) -> u64 {
        self.live.lock().next
    }

    /// The key this generation is sealed under.
    pub fn key(&self) -> &AppKey {
        &self.key
    }

    /// The persisted value of `key` with the index of the record that wrote it. Staged
    /// writes are not visible here: only what a durable record vouches for.
    pub fn read_persisted(&self, key: &[u8]) -> Result<Option<StoredValue>, KvError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = match txn.open_table(self.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let Some(row) = table.get(key).map_err(io)? else {
            return Ok(None);
        };
        let bytes = row.value();
        if bytes.len() < 8 {
            return Err(KvError::Corrupt(format!("{}: short value", self.table)));
        }
        let index = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let value = self
            .key
            .open_value(&self.context(key), &bytes[8..])
            .map_err(|_| {
                KvError::Corrupt(format!(
                    "{}: a value does not open under the app key",
                    self.table
                ))
            })?;
        Ok(Some(StoredValue { index, value }))
    }

    /// Stages the write set of a call whose record was just sequenced (its place in the
    /// log fixed, not yet durable), with the digest and key count after it; later calls
    /// see the writes at once. Returns the stage number to pass to
    /// [`AppKv::set_index`]. Calls must come in log order (the app lock ensures it).
    pub fn stage(&self, writes: Vec<Write>, digest: Arc<LtHash>, count: u64) -> u64 {
        let mut live = self.live.lock();
        let seq = live.seq;
        live.seq += 1;
        for (k, v) in final_writes(&writes) {
            live.pending
                .insert(k.to_vec(), (seq, v.map(<[u8]>::to_vec)));
        }
        live.digest = digest.clone();
        live.count = count;
        live.queue.push_back(Staged {
            seq,
            index: None,
            writes,
            digest,
            count,
        });
        seq
    }

    /// How many staged write sets are not persisted yet.
    pub fn staged(&self) -> usize {
        self.live.lock().queue.len()
    }

    /// Records that staged call `seq` is durable at log index `index`.
    pub fn set_index(&self, seq: u64, index: u64) {
        self.live.lock().set_index(seq, index);
    }

    /// [`AppKv::set_index`], and claims the job of persisting: returns `true` if the
    /// caller must now run [`AppKv::persist_all_ready`] (on a blocking thread), `false` if
    /// a persister is already running and will pick this stage up.
    ///
    /// Why: every call of an app used to run its own blocking persist. Calls finish a
    /// batch at a time, so one persist took them all and the rest found nothing to do,
    /// each still paying for a blocking-pool hand-off and the locks.
    pub fn set_index_and_claim(&self, seq: u64, index: u64) -> bool {
        let mut live = self.live.lock();
        live.set_index(seq, index);
        !std::mem::replace(&mut live.persisting, true)
    }

    /// Run by the persister claimed with [`AppKv::set_index_and_claim`]: persists until
    /// no durable stage is left, then releases the claim. The check and the release
    /// happen under the lock that `set_index_and_claim` takes, so a stage made durable
    /// meanwhile is either seen here or claims a new persister.
    pub fn persist_all_ready(&self) -> Result<(), KvError> {
        loop {
            if let Err(e) = self.persist_ready() {
                self.live.lock().persisting = false;
                self.persisted.send_modify(|p| p.failed = true);
                return Err(e);
            }
            let mut live = self.live.lock();
            if live.queue.front().is_none_or(|s| s.index.is_none()) {
                live.persisting = false;
                return Ok(());
            }
        }
    }

    /// Run by a claimed persister before it goes to a blocking thread: retires, without
    /// I/O, the durable stages at the front of the queue that wrote nothing. Returns
    /// `true`, with the claim released, when no durable stage is left; `false` when a
    /// stage with writes is next and [`AppKv::persist_all_ready`] must run.
    ///
    /// Why: a call that writes nothing leaves the store, its digest and its key count as
    /// they were, so there is nothing to persist. Only the metadata's next index would
    /// move, and recovery re-applies write-free records at no cost (it scans the whole
    /// log anyway, checking each record's digest). A redb commit on a blocking thread
    /// per batch of such calls was ~2.5% of `ledgervm bench`'s CPU.
    pub fn persist_write_free(&self) -> bool {
        let mut live = self.live.lock();
        let mut through = None;
        while let Some(s) = live.queue.front()
            && s.index.is_some()
            && s.writes.is_empty()
        {
            through = Some(s.seq);
            live.queue.pop_front();
        }
        let done = live.queue.front().is_none_or(|s| s.index.is_none());
        if done {
            live.persisting = false;
        }
        drop(live);
        if let Some(seq) = through {
            self.persisted.send_modify(|p| p.through = Some(seq));
        }
        done
    }

    /// Waits until stage `seq` is persisted (or a persist has failed).
    pub async fn persisted(&self, seq: u64) {
        let mut rx = self.persisted.subscribe();
        let _ = rx
            .wait_for(|p| p.failed || p.through.is_some_and(|t| t >= seq))
            .await;
    }

    /// Persists, in one redb commit, every staged write set at the front of the queue
    /// whose record is known to be durable ([`AppKv::set_index`]).
    pub fn persist_ready(&self) -> Result<(), KvError> {
        let _one_at_a_time = self.persist.lock();
        let batch: Vec<(u64, u64, Staged)> = {
            let mut live = self.live.lock();
            let mut out = Vec::new();
            while let Some(index) = live.queue.front().and_then(|s| s.index) {
                let s = live.queue.pop_front().expect("checked");
                out.push((s.seq, index, s));
            }
            out
        };
        let Some((last_seq, last_index, last)) = batch.last() else {
            return Ok(());
        };
        let (last_seq, last_index) = (*last_seq, *last_index);
        if batch.iter().all(|(_, _, s)| s.writes.is_empty()) {
            // Nothing changed (see `persist_write_free`).
            self.persisted.send_modify(|p| p.through = Some(last_seq));
            return Ok(());
        }
        let (last_count, last_digest) = (last.count, last.digest.clone());
        let mut txn = self.db.begin_write().map_err(io)?;
        let n = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        let durability = if n.is_multiple_of(DURABLE_EVERY) {
            Durability::Immediate
        } else {
            Durability::None
        };
        txn.set_durability(durability).map_err(io)?;
        {
            let mut table = txn.open_table(self.def()).map_err(io)?;
            for (_, index, staged) in &batch {
                for (k, v) in final_writes(&staged.writes) {
                    match v {
                        Some(v) => {
                            let mut row = index.to_be_bytes().to_vec();
                            row.extend(self.key.seal_value(&self.context(k), v));
                            table.insert(k, row.as_slice()).map_err(io)?;
                        }
                        None => {
                            table.remove(k).map_err(io)?;
                        }
                    }
                }
            }
            let mut meta = txn.open_table(META).map_err(io)?;
            let row = encode_meta(last_index + 1, last_count, &last_digest);
            meta.insert(self.table.as_str(), row.as_slice())
                .map_err(io)?;
        }
        txn.commit().map_err(io)?;
        {
            let mut live = self.live.lock();
            live.pending.retain(|_, (seq, _)| *seq > last_seq);
            live.next = last_index + 1;
        }
        self.persisted.send_modify(|p| p.through = Some(last_seq));
        Ok(())
    }

    fn persisted_keys(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, KvError> {
        use std::ops::Bound;
        let txn = self.db.begin_read().map_err(io)?;
        let table = match txn.open_table(self.def()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let lower: Bound<&[u8]> = match start_after {
            Some(s) if s >= prefix => Bound::Excluded(s),
            _ => Bound::Included(prefix),
        };
        let mut out = Vec::new();
        for row in table
            .range::<&[u8]>((lower, Bound::Unbounded))
            .map_err(io)?
        {
            let (k, _) = row.map_err(io)?;
            let k = k.value();
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push(k.to_vec());
        }
        Ok(out)
    }
}

impl StateBase for AppKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        check_key(key)?;
        if let Some((_, v)) = self.live.lock().pending.get(key) {
            return Ok(v.clone());
        }
        Ok(self.read_persisted(key)?.map(|s| s.value))
    }

    fn list_keys(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StateError> {
        let live = self.live.lock();
        let deleted = live.pending.values().filter(|(_, v)| v.is_none()).count();
        let mut keys: BTreeSet<Vec<u8>> = self
            .persisted_keys(prefix, start_after, limit.saturating_add(deleted))?
            .into_iter()
            .collect();
        for (k, (_, v)) in &live.pending {
            if k.starts_with(prefix) && start_after.is_none_or(|s| k.as_slice() > s) {
                match v {
                    Some(_) => keys.insert(k.clone()),
                    None => keys.remove(k),
                };
            }
        }
        Ok(keys.into_iter().take(limit).collect())
    }

    fn key_count(&self) -> u64 {
        self.live.lock().count
    }
}

#[cfg(test)]
mod tests;
