//! App state as guests see it: a per-app key-value store behind a trait the node
//! implements (encrypted, write-set tracking), plus an in-memory implementation for tests.
//!
//! Guests reach it through the `ledgervm` core import module (see `docs/GUEST_ABI.md`)
//! or `wasi:keyvalue` (components). State is *not* an oracle: it is a function of the log,
//! so reads are not recorded in the transcript; the node records the write set.
//!
//! ```
//! use ledgervm_runtime::state::{MemoryState, StateStore};
//! let mut s = MemoryState::new();
//! s.set(b"greeting", b"hi").unwrap();
//! assert_eq!(s.get(b"greeting").unwrap().as_deref(), Some(&b"hi"[..]));
//! assert_eq!(s.increment(b"n", 5).unwrap(), 5);
//! ```

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Why a state operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Key longer than [`MAX_KEY_BYTES`].
    #[error("key of {0} bytes exceeds the {MAX_KEY_BYTES}-byte limit")]
    KeyTooLarge(usize),
    /// Value longer than [`MAX_VALUE_BYTES`].
    #[error("value of {0} bytes exceeds the {MAX_VALUE_BYTES}-byte limit")]
    ValueTooLarge(usize),
    /// `increment` on a value that is not an 8-byte little-endian integer.
    #[error("value is not an 8-byte little-endian integer")]
    NotAnInteger,
    /// `increment` would overflow an i64.
    #[error("integer overflow")]
    Overflow,
    /// The write would grow the app's state past its key limit (the limit is given).
    #[error("state already holds its limit of {0} keys")]
    TooManyKeys(u64),
    /// The backing store failed (I/O, decryption, …).
    #[error("state backend error: {0}")]
    Backend(String),
}

impl StateError {
    /// Stable machine code, e.g. `"state.key_too_large"`.
    pub fn code(&self) -> &'static str {
        match self {
            StateError::KeyTooLarge(_) => "state.key_too_large",
            StateError::ValueTooLarge(_) => "state.value_too_large",
            StateError::NotAnInteger => "state.not_an_integer",
            StateError::Overflow => "state.overflow",
            StateError::TooManyKeys(_) => "state.too_many_keys",
            StateError::Backend(_) => "state.backend",
        }
    }
}

/// Checks a key against [`MAX_KEY_BYTES`].
pub fn check_key(key: &[u8]) -> Result<(), StateError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StateError::KeyTooLarge(key.len()));
    }
    Ok(())
}

/// Checks a value against [`MAX_VALUE_BYTES`].
pub fn check_value(value: &[u8]) -> Result<(), StateError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StateError::ValueTooLarge(value.len()));
    }
    Ok(())
}

/// One app's key-value state, as the runtime needs it.
///
/// Keys and values are bytes; keys are ordered bytewise (so `list_keys` pages are
/// deterministic). Integers used by [`StateStore::increment`] are stored as 8-byte
/// little-endian `i64`; an absent key counts as 0. Implementations must check sizes with
/// [`check_key`] / [`check_value`] so every backend fails the same way.
///
/// Only the default methods' observable behaviour is part of the contract; a backend may
/// override them with faster equivalents.
pub trait StateStore: Send {
    /// The value of `key`, if any.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// Sets `key` to `value`.
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError>;
    /// Removes `key`; returns whether it existed.
    fn delete(&mut self, key: &[u8]) -> Result<bool, StateError>;
    /// Up to `limit` keys starting with `prefix`, strictly after `start_after` if given,
    /// in bytewise order.
    fn list_keys(
        &mut self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StateError>;

    /// Whether `key` exists.
    fn exists(&mut self, key: &[u8]) -> Result<bool, StateError> {
        Ok(self.get(key)?.is_some())
    }

    /// Adds `delta` to the integer at `key` (absent = 0) and returns the new value.
    fn increment(&mut self, key: &[u8], delta: i64) -> Result<i64, StateError> {
        let current = match self.get(key)? {
            None => 0,
            Some(v) => i64::from_le_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| StateError::NotAnInteger)?,
            ),
        };
        let new = current.checked_add(delta).ok_or(StateError::Overflow)?;
        self.set(key, &new.to_le_bytes())?;
        Ok(new)
    }

    /// Sets `key` to `new` only if its current value equals `expected` (`None` = absent).
    /// Returns whether the swap happened.
    fn compare_and_swap(
        &mut self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StateError> {
        check_value(new)?;
        if self.get(key)?.as_deref() != expected {
            return Ok(false);
        }
        self.set(key, new)?;
        Ok(true)
    }

    /// The values of several keys, in order.
    fn get_many(&mut self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StateError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Sets several keys, all or nothing: sizes are checked before anything is written,
    /// and a store with a key limit must check it for the whole batch first (the node's
    /// overlay does).
    fn set_many(&mut self, entries: &[(&[u8], &[u8])]) -> Result<(), StateError> {
        for (k, v) in entries {
            check_key(k)?;
            check_value(v)?;
        }
        for (k, v) in entries {
            self.set(k, v)?;
        }
        Ok(())
    }
}

/// A state store shared between the caller and the running guest's host functions.
///
/// wasmtime stores need `'static` data, so the runtime cannot borrow the caller's store
/// for the duration of a call; the caller keeps an `Arc<Mutex<ConcreteStore>>` and passes
/// a clone (it coerces to this type), then inspects its concrete store afterwards.
pub type SharedState = Arc<Mutex<dyn StateStore>>;

/// Wraps a store into a [`SharedState`].
pub fn shared(store: impl StateStore + 'static) -> SharedState {
    Arc::new(Mutex::new(store))
}

/// In-memory [`StateStore`] (ordered map). For tests and tools; the node has its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryState {
    /// The entries.
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryState {
    /// An empty store.
    pub fn new() -> MemoryState {
        MemoryState::default()
    }
}

impl StateStore for MemoryState {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        check_key(key)?;
        Ok(self.map.get(key).cloned())
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        check_key(key)?;
        check_value(value)?;
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, StateError> {
        check_key(key)?;
        Ok(self.map.remove(key).is_some())
    }

    fn list_keys(
        &mut self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StateError> {
        use std::ops::Bound;
        let lower = match start_after {
            Some(s) if s >= prefix => Bound::Excluded(s.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        Ok(self
            .map
            .range((lower, Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .take(limit)
            .cloned()
            .collect())
    }
}

/// Who is calling, as exposed to the guest (`ledgervm.caller_id`, and to components by
/// RT-component's interface). `None` is an anonymous call; otherwise the caller's
/// Ed25519 public key as lowercase hex (or another stable id the node chooses).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The caller's id, `None` when anonymous.
    pub id: Option<String>,
}

impl Caller {
    /// An anonymous caller.
    pub fn anonymous() -> Caller {
        Caller { id: None }
    }

    /// A caller identified by `id` (public key hex).
    pub fn with_id(id: impl Into<String>) -> Caller {
        Caller {
            id: Some(id.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn size_limits() {
        let mut s = MemoryState::new();
        let big_key = vec![b'k'; MAX_KEY_BYTES + 1];
        assert_eq!(
            s.set(&big_key, b"v"),
            Err(StateError::KeyTooLarge(MAX_KEY_BYTES + 1))
        );
        let big_val = vec![0u8; MAX_VALUE_BYTES + 1];
        assert_eq!(
            s.set(b"k", &big_val).unwrap_err().code(),
            "state.value_too_large"
        );
        s.set(&vec![b'k'; MAX_KEY_BYTES], &vec![0u8; MAX_VALUE_BYTES])
            .unwrap();
        // set_many checks everything before writing anything.
        let err = s
            .set_many(&[(&b"a"[..], &b"1"[..]), (&b"b"[..], &big_val[..])])
            .unwrap_err();
        assert_eq!(err, StateError::ValueTooLarge(MAX_VALUE_BYTES + 1));
        assert!(!s.exists(b"a").unwrap());
    }

    #[test]
    fn increment_and_cas() {
        let mut s = MemoryState::new();
        assert_eq!(s.increment(b"n", 3).unwrap(), 3);
        assert_eq!(s.increment(b"n", -5).unwrap(), -2);
        s.set(b"n", &i64::MAX.to_le_bytes()).unwrap();
        assert_eq!(s.increment(b"n", 1), Err(StateError::Overflow));
        s.set(b"t", b"text").unwrap();
        assert_eq!(s.increment(b"t", 1), Err(StateError::NotAnInteger));
        assert!(s.compare_and_swap(b"c", None, b"1").unwrap());
        assert!(!s.compare_and_swap(b"c", None, b"2").unwrap());
        assert!(s.compare_and_swap(b"c", Some(b"1"), b"2").unwrap());
        assert_eq!(s.get(b"c").unwrap().unwrap(), b"2");
        assert_eq!(
            s.get_many(&[&b"c"[..], &b"zz"[..]]).unwrap(),
            vec![Some(b"2".to_vec()), None]
        );
        assert!(s.delete(b"c").unwrap());
        assert!(!s.delete(b"c").unwrap());
    }

    proptest! {
        /// Paging through list_keys with start_after visits exactly the prefixed keys,
        /// in order, whatever the page size.
        #[test]
        fn paging_visits_every_prefixed_key_once(
            keys in proptest::collection::btree_set(proptest::collection::vec(0u8..4, 0..4), 0..30),
            prefix in proptest::collection::vec(0u8..4, 0..2),
            page in 1usize..5,
        ) {
            let mut s = MemoryState::new();
            for k in &keys { s.set(k, b"").unwrap(); }
            let want: Vec<Vec<u8>> = keys.iter().filter(|k| k.starts_with(&prefix)).cloned().collect();
            let mut got = Vec::new();
            let mut after: Option<Vec<u8>> = None;
            loop {
                let batch = s.list_keys(&prefix, after.as_deref(), page).unwrap();
                if batch.is_empty() { break; }
                prop_assert!(batch.len() <= page);
                after = batch.last().cloned();
                got.extend(batch);
            }
            prop_assert_eq!(got, want);
        }
    }
}
