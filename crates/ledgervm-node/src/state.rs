//! Per-app state as the call pipeline sees it: a base store plus a per-call overlay.
//!
//! A call's writes go to an overlay, never straight to the app's store. When the call
//! returns results, the overlay's writes become the record's write set and are applied;
//! when it fails (trap, out of fuel, …) they are dropped, so a failed call changes
//! nothing — the same rule the auditor's replay applies, which keeps state a pure
//! function of the log. The app's lock is held for the whole call, so the base cannot
//! change underneath an overlay.
//!
//! The base is anything implementing [`StateBase`]: the node's persistent, encrypted
//! store (`kv`) or an in-memory map (the auditor's replay, tests). Both count keys the
//! same way, so the per-app key limit fails the same call on the node and on replay.

use crate::digest::LtHash;
use crate::record::{HexBytes, Write};
use ledgervm_runtime::state::{MemoryState, StateError, StateStore, check_key, check_value};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One app's committed state in memory (the auditor's replay; tests).
pub type AppState = Arc<Mutex<MemoryState>>;

/// Read access to an app's committed state, as a call's overlay needs it.
pub trait StateBase: Send + Sync {
    /// The value of `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// Up to `limit` keys starting with `prefix`, strictly after `start_after`, in
    /// bytewise order.
    fn list_keys(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StateError>;
    /// How many keys the state holds.
    fn key_count(&self) -> u64;
}

impl StateBase for Mutex<MemoryState> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.lock().get(key)
    }
    fn list_keys(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StateError> {
        self.lock().list_keys(prefix, start_after, limit)
    }
    fn key_count(&self) -> u64 {
        self.lock().map.len() as u64
    }
}

/// A call's view: reads fall through to the base, writes stay in the overlay.
pub struct Overlay {
    base: Arc<dyn StateBase>,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    log: Vec<Write>,
    /// Keys in base + overlay now.
    count: u64,
    max_keys: u64,
}

impl Overlay {
    /// A fresh overlay over `base`, refusing to grow the state past `max_keys` keys.
    pub fn new(base: Arc<dyn StateBase>, max_keys: u64) -> Overlay {
        let count = base.key_count();
        Overlay {
            base,
            pending: BTreeMap::new(),
            log: Vec::new(),
            count,
            max_keys,
        }
    }

    /// The writes, in the order the guest made them.
    pub fn into_write_set(self) -> Vec<Write> {
        self.log
    }

    /// How many keys the state would hold with this overlay applied.
    pub fn key_count(&self) -> u64 {
        self.count
    }

    /// Takes the write set out, leaving an empty overlay behind.
    pub fn take_write_set(&mut self) -> Vec<Write> {
        self.pending.clear();
        std::mem::take(&mut self.log)
    }
}

/// The final value of each key a write set touches (the last write wins).
pub fn final_writes(writes: &[Write]) -> BTreeMap<&[u8], Option<&[u8]>> {
    writes
        .iter()
        .map(|w| (w.key.as_slice(), w.value.as_ref().map(|v| v.0.as_slice())))
        .collect()
}

/// Updates `digest` for `writes` applied over `base` (read before they are applied).
pub fn update_digest(
    digest: &mut LtHash,
    base: &dyn StateBase,
    writes: &[Write],
) -> Result<(), StateError> {
    for (key, new) in final_writes(writes) {
        let old = base.get(key)?;
        digest.update(key, old.as_deref(), new);
    }
    Ok(())
}

/// [`update_digest`] on a digest shared with the stages ([`crate::kv::AppKv::digest`]):
/// copied (by [`Arc::make_mut`]) only when `writes` change it, so a call that writes
/// nothing copies nothing.
pub fn update_shared_digest(
    digest: &mut Arc<LtHash>,
    base: &dyn StateBase,
    writes: &[Write],
) -> Result<(), StateError> {
    if writes.is_empty() {
        return Ok(());
    }
    update_digest(Arc::make_mut(digest), base, writes)
}

/// Applies a write set to a store (used after a successful call and in recovery).
pub fn apply(store: &mut MemoryState, writes: &[Write]) {
    for w in writes {
        match &w.value {
            Some(HexBytes(v)) => {
                store.map.insert(w.key.clone(), v.clone());
            }
            None => {
                store.map.remove(&w.key);
            }
        }
    }
}

impl StateStore for Overlay {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        check_key(key)?;
        match self.pending.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        check_key(key)?;
        check_value(value)?;
        if self.get(key)?.is_none() {
            if self.count >= self.max_keys {
                return Err(StateError::TooManyKeys(self.max_keys));
            }
            self.count += 1;
        }
        self.pending.insert(key.to_vec(), Some(value.to_vec()));
        self.log.push(Write {
            key: key.to_vec(),
            value: Some(HexBytes(value.to_vec())),
        });
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, StateError> {
        let existed = self.get(key)?.is_some();
        if existed {
            self.count -= 1;
        }
        self.pending.insert(key.to_vec(), None);
        self.log.push(Write {
            key: key.to_vec(),
            value: None,
        });
        Ok(existed)
    }

    fn set_many(&mut self, entries: &[(&[u8], &[u8])]) -> Result<(), StateError> {
        // All-or-nothing, key limit included: count the new keys before writing any.
        let mut fresh = std::collections::BTreeSet::new();
        for (k, v) in entries {
            check_key(k)?;
            check_value(v)?;
            if self.get(k)?.is_none() {
                fresh.insert(*k);
            }
        }
        if self.count + fresh.len() as u64 > self.max_keys {
            return Err(StateError::TooManyKeys(self.max_keys));
        }
        for (k, v) in entries {
            self.set(k, v)?;
        }
        Ok(())
    }

    fn list_keys(
        &mut self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StateError> {
        // Merge the base's keys with the overlay's: take enough from the base to cover
        // keys the overlay deletes, then apply the overlay and cut to `limit`.
        let deleted = self.pending.values().filter(|v| v.is_none()).count();
        let mut keys: std::collections::BTreeSet<Vec<u8>> = self
            .base
            .list_keys(prefix, start_after, limit.saturating_add(deleted))?
            .into_iter()
            .collect();
        for (k, v) in &self.pending {
            let after = start_after.is_none_or(|s| k.as_slice() > s);
            if k.starts_with(prefix) && after {
                match v {
                    Some(_) => keys.insert(k.clone()),
                    None => keys.remove(k),
                };
            }
        }
        Ok(keys.into_iter().take(limit).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(pairs: &[(&str, &str)]) -> AppState {
        let mut m = MemoryState::new();
        for (k, v) in pairs {
            m.set(k.as_bytes(), v.as_bytes()).unwrap();
        }
        Arc::new(Mutex::new(m))
    }

    #[test]
    fn overlay_reads_its_own_writes_and_leaves_the_base_alone() {
        let b = base(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let mut o = Overlay::new(b.clone(), 1000);
        o.set(b"b", b"20").unwrap();
        assert!(o.delete(b"a").unwrap());
        assert!(!o.delete(b"zz").unwrap());
        o.set(b"d", b"4").unwrap();
        assert_eq!(o.get(b"b").unwrap(), Some(b"20".to_vec()));
        assert_eq!(o.get(b"a").unwrap(), None);
        assert_eq!(o.increment(b"n", 5).unwrap(), 5);
        let keys = o.list_keys(b"", None, 10).unwrap();
        assert_eq!(
            keys,
            vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec(), b"n".to_vec()]
        );
        assert_eq!(
            o.list_keys(b"", Some(b"b"), 2).unwrap(),
            vec![b"c".to_vec(), b"d".to_vec()]
        );
        assert_eq!(
            b.lock().get(b"b").unwrap(),
            Some(b"2".to_vec()),
            "base untouched"
        );

        let writes = o.into_write_set();
        assert_eq!(writes.len(), 5);
        apply(&mut b.lock(), &writes);
        let m = b.lock();
        assert_eq!(m.map.get(&b"b"[..]), Some(&b"20".to_vec()));
        assert_eq!(m.map.get(&b"a"[..]), None);
        assert_eq!(m.map.get(&b"zz"[..]), None);
        assert_eq!(m.map.get(&b"n"[..]), Some(&5i64.to_le_bytes().to_vec()));
    }

    #[test]
    fn limits_still_apply() {
        let mut o = Overlay::new(base(&[]), 1000);
        assert!(o.set(&[0; 257], b"v").is_err());
        assert!(o.set(b"k", &vec![0; 1024 * 1024 + 1]).is_err());
        assert!(o.into_write_set().is_empty());
    }

    #[test]
    fn key_limit_counts_base_and_overlay() {
        let mut o = Overlay::new(base(&[("a", "1"), ("b", "2")]), 3);
        o.set(b"a", b"again").unwrap(); // existing key: no growth
        o.set(b"c", b"3").unwrap();
        assert_eq!(o.set(b"d", b"4"), Err(StateError::TooManyKeys(3)));
        assert!(o.delete(b"a").unwrap());
        o.set(b"d", b"4").unwrap();
        // Batch: all-or-nothing.
        let err = o.set_many(&[(&b"b"[..], &b"x"[..]), (&b"e"[..], &b"5"[..])]);
        assert_eq!(err, Err(StateError::TooManyKeys(3)));
        assert_eq!(o.get(b"b").unwrap(), Some(b"2".to_vec()));
    }

    #[test]
    fn digest_tracks_the_applied_state() {
        let b = base(&[("a", "1"), ("b", "2")]);
        let mut digest = crate::digest::digest_of([(&b"a"[..], &b"1"[..]), (b"b", b"2")]);
        let mut o = Overlay::new(b.clone(), 100);
        o.set(b"a", b"x").unwrap();
        o.set(b"a", b"y").unwrap();
        o.delete(b"b").unwrap();
        o.set(b"c", b"3").unwrap();
        let writes = o.into_write_set();
        update_digest(&mut digest, &*b, &writes).unwrap();
        apply(&mut b.lock(), &writes);
        let m = b.lock();
        let full =
            crate::digest::digest_of(m.map.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
        assert_eq!(digest, full);
    }

    #[test]
    fn a_shared_digest_is_copied_only_when_writes_change_it() {
        let b = base(&[("a", "1")]);
        let before = Arc::new(crate::digest::digest_of([(&b"a"[..], &b"1"[..])]));
        let mut same = before.clone();
        update_shared_digest(&mut same, &*b, &[]).unwrap();
        assert!(Arc::ptr_eq(&same, &before), "no writes, no copy");

        let mut o = Overlay::new(b.clone(), 100);
        o.set(b"a", b"2").unwrap();
        let writes = o.into_write_set();
        let mut changed = before.clone();
        update_shared_digest(&mut changed, &*b, &writes).unwrap();
        assert!(!Arc::ptr_eq(&changed, &before));
        assert_eq!(*before, crate::digest::digest_of([(&b"a"[..], &b"1"[..])]));
        assert_eq!(*changed, crate::digest::digest_of([(&b"a"[..], &b"2"[..])]));
    }
}
