//! Per-app state as the call pipeline sees it: a base store plus a per-call overlay.
//!
//! A call's writes go to an overlay, never straight to the app's store. When the call
//! returns results, the overlay's writes become the record's write set and are applied;
//! when it fails (trap, out of fuel, …) they are dropped, so a failed call changes
//! nothing — the same rule the auditor's replay applies, which keeps state a pure
//! function of the log. The app's lock is held for the whole call, so the base cannot
//! change underneath an overlay.

use crate::record::{HexBytes, Write};
use ledgervm_runtime::state::{MemoryState, StateError, StateStore, check_key, check_value};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One app's committed state (in memory; rebuilt from write sets on start).
pub type AppState = Arc<Mutex<MemoryState>>;

/// A call's view: reads fall through to the base, writes stay in the overlay.
pub struct Overlay {
    base: AppState,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    log: Vec<Write>,
}

impl Overlay {
    /// A fresh overlay over `base`.
    pub fn new(base: AppState) -> Overlay {
        Overlay {
            base,
            pending: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// The writes, in the order the guest made them.
    pub fn into_write_set(self) -> Vec<Write> {
        self.log
    }
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
            None => self.base.lock().get(key),
        }
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        check_key(key)?;
        check_value(value)?;
        self.pending.insert(key.to_vec(), Some(value.to_vec()));
        self.log.push(Write {
            key: key.to_vec(),
            value: Some(HexBytes(value.to_vec())),
        });
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, StateError> {
        let existed = self.get(key)?.is_some();
        self.pending.insert(key.to_vec(), None);
        self.log.push(Write {
            key: key.to_vec(),
            value: None,
        });
        Ok(existed)
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
            .lock()
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
        let mut o = Overlay::new(b.clone());
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
        let mut o = Overlay::new(base(&[]));
        assert!(o.set(&[0; 257], b"v").is_err());
        assert!(o.set(b"k", &vec![0; 1024 * 1024 + 1]).is_err());
        assert!(o.into_write_set().is_empty());
    }
}
