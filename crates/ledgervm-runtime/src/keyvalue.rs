//! `wasi:keyvalue@0.2.0-draft` (store, atomics, batch) for components, backed by the
//! app's [`StateStore`].
//!
//! # Mapping
//!
//! * **Buckets.** An app has exactly one namespace, its own state. `open("")` and
//!   `open("default")` both return a bucket over it; any other identifier is
//!   `error::no-such-store`. There is no way to name another app's state: the node hands
//!   the runtime one app's store per call.
//! * **Keys** are the UTF-8 bytes of the WIT string; **values** are stored unchanged.
//!   Size limits are the store's ([`crate::state::MAX_KEY_BYTES`],
//!   [`crate::state::MAX_VALUE_BYTES`]).
//! * **`list-keys`** returns pages of [`LIST_PAGE`] keys in bytewise order. The cursor is
//!   an index into a table this bucket keeps of "last key of the previous page", so it is
//!   only meaningful to the bucket that returned it (a fresh instance per call means a
//!   cursor never outlives its call). Keys that are not UTF-8 (written by a core module)
//!   make `list-keys` fail with `error::other`.
//! * **`atomics.increment`** uses the store's integer encoding (8-byte little-endian
//!   `i64`, absent = 0), the same one core modules see through the `ledgervm` import
//!   module, so both kinds of guest share counters. (The upstream in-memory host stores
//!   decimal strings; ours does not.) A delta above `i64::MAX` or a negative result is
//!   `error::other`.
//! * **Errors** from the store become `error::other("<code>: <message>")` with the
//!   [`crate::state::StateError::code`] (e.g. `state.value_too_large`), so a guest sees
//!   a stable code.
//!
//! State is not an oracle (it is a function of the log), so nothing here touches the
//! transcript; the node records the write set.

use crate::state::{SharedState, StateError};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};

mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "wasi:keyvalue/imports@0.2.0-draft",
        imports: { default: trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
        },
        trappable_error_type: {
            "wasi:keyvalue/store.error" => super::KvError,
        },
    });
}

use generated::wasi::keyvalue as kv;

/// Keys per `list-keys` page.
pub const LIST_PAGE: usize = 100;

/// The bucket identifiers that name the app's own state.
pub const OWN_BUCKETS: [&str; 2] = ["", "default"];

/// The host side of a `wasi:keyvalue/store.bucket` resource.
#[derive(Debug, Default)]
pub struct Bucket {
    /// Cursor table for `list-keys`: cursor `n` resumes after `cursors[n]`.
    cursors: Vec<Vec<u8>>,
}

/// A `wasi:keyvalue/store.error` before it is lowered to the guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// `open` named a bucket other than the app's own.
    #[error("no such store")]
    NoSuchStore,
    /// Not used by this host today; kept so the WIT variant maps one to one.
    #[error("access denied")]
    AccessDenied,
    /// Anything else, `"<code>: <message>"`.
    #[error("{0}")]
    Other(String),
}

impl From<StateError> for KvError {
    fn from(e: StateError) -> KvError {
        KvError::Other(format!("{}: {e}", e.code()))
    }
}

impl From<ResourceTableError> for KvError {
    fn from(e: ResourceTableError) -> KvError {
        KvError::Other(format!("kv.resource: {e}"))
    }
}

/// What the host functions need from the store's data: the resource table and the app's
/// state.
pub struct KvView<'a> {
    /// The component's resource table (buckets live there).
    pub table: &'a mut ResourceTable,
    /// The app's state.
    pub state: &'a SharedState,
}

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = KvView<'a>;
}

/// Adds `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft` to `linker`; `view` projects the
/// store's data onto a [`KvView`].
///
/// ```
/// use ledgervm_runtime::keyvalue::{add_to_linker, KvView};
/// use ledgervm_runtime::state::{shared, MemoryState, SharedState};
/// use wasmtime::component::{Linker, ResourceTable};
///
/// struct Data { table: ResourceTable, state: SharedState }
/// let engine = wasmtime::Engine::default();
/// let mut linker = Linker::<Data>::new(&engine);
/// add_to_linker(&mut linker, |d| KvView { table: &mut d.table, state: &d.state }).unwrap();
/// ```
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KvView<'_>,
) -> wasmtime::Result<()> {
    kv::store::add_to_linker::<_, HasKv>(linker, view)?;
    kv::atomics::add_to_linker::<_, HasKv>(linker, view)?;
    kv::batch::add_to_linker::<_, HasKv>(linker, view)?;
    Ok(())
}

fn key_str(key: Vec<u8>) -> Result<String, KvError> {
    String::from_utf8(key)
        .map_err(|_| KvError::Other("kv.key_not_utf8: stored key is not UTF-8".into()))
}

impl KvView<'_> {
    fn bucket(&mut self, b: &Resource<Bucket>) -> Result<&mut Bucket, KvError> {
        Ok(self.table.get_mut(b)?)
    }
}

impl kv::store::Host for KvView<'_> {
    fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        if !OWN_BUCKETS.contains(&identifier.as_str()) {
            return Err(KvError::NoSuchStore);
        }
        Ok(self.table.push(Bucket::default())?)
    }

    fn convert_error(&mut self, err: KvError) -> wasmtime::Result<kv::store::Error> {
        Ok(match err {
            KvError::NoSuchStore => kv::store::Error::NoSuchStore,
            KvError::AccessDenied => kv::store::Error::AccessDenied,
            KvError::Other(s) => kv::store::Error::Other(s),
        })
    }
}

impl kv::store::HostBucket for KvView<'_> {
    fn get(&mut self, b: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket(&b)?;
        Ok(self.state.lock().get(key.as_bytes())?)
    }

    fn set(&mut self, b: Resource<Bucket>, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.bucket(&b)?;
        Ok(self.state.lock().set(key.as_bytes(), &value)?)
    }

    fn delete(&mut self, b: Resource<Bucket>, key: String) -> Result<(), KvError> {
        self.bucket(&b)?;
        self.state.lock().delete(key.as_bytes())?;
        Ok(())
    }

    fn exists(&mut self, b: Resource<Bucket>, key: String) -> Result<bool, KvError> {
        self.bucket(&b)?;
        Ok(self.state.lock().exists(key.as_bytes())?)
    }

    fn list_keys(
        &mut self,
        b: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<kv::store::KeyResponse, KvError> {
        let start_after = match cursor {
            None => None,
            Some(c) => {
                let bucket = self.bucket(&b)?;
                let i = usize::try_from(c)
                    .ok()
                    .filter(|&i| i < bucket.cursors.len());
                match i {
                    Some(i) => Some(bucket.cursors[i].clone()),
                    None => {
                        return Err(KvError::Other(format!("kv.bad_cursor: unknown cursor {c}")));
                    }
                }
            }
        };
        let page = self
            .state
            .lock()
            .list_keys(b"", start_after.as_deref(), LIST_PAGE)?;
        let next = if page.len() == LIST_PAGE {
            let bucket = self.bucket(&b)?;
            bucket.cursors.push(page[LIST_PAGE - 1].clone());
            Some((bucket.cursors.len() - 1) as u64)
        } else {
            None
        };
        let keys = page.into_iter().map(key_str).collect::<Result<_, _>>()?;
        Ok(kv::store::KeyResponse { keys, cursor: next })
    }

    fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl kv::atomics::Host for KvView<'_> {
    fn increment(&mut self, b: Resource<Bucket>, key: String, delta: u64) -> Result<u64, KvError> {
        self.bucket(&b)?;
        let delta = i64::try_from(delta)
            .map_err(|_| KvError::Other("kv.delta_too_large: delta exceeds i64::MAX".into()))?;
        let new = self.state.lock().increment(key.as_bytes(), delta)?;
        u64::try_from(new)
            .map_err(|_| KvError::Other(format!("kv.negative: counter {key} is negative ({new})")))
    }
}

impl kv::batch::Host for KvView<'_> {
    fn get_many(
        &mut self,
        b: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvError> {
        self.bucket(&b)?;
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let values = self.state.lock().get_many(&refs)?;
        Ok(keys
            .into_iter()
            .zip(values)
            .map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    fn set_many(
        &mut self,
        b: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        self.bucket(&b)?;
        let entries: Vec<(&[u8], &[u8])> = key_values
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_slice()))
            .collect();
        Ok(self.state.lock().set_many(&entries)?)
    }

    fn delete_many(&mut self, b: Resource<Bucket>, keys: Vec<String>) -> Result<(), KvError> {
        self.bucket(&b)?;
        let mut state = self.state.lock();
        for k in &keys {
            state.delete(k.as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{MemoryState, StateStore, shared};
    use kv::atomics::Host as _;
    use kv::batch::Host as _;
    use kv::store::{Host as _, HostBucket as _};

    struct Fixture {
        table: ResourceTable,
        state: SharedState,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                table: ResourceTable::new(),
                state: shared(MemoryState::new()),
            }
        }
        fn view(&mut self) -> KvView<'_> {
            KvView {
                table: &mut self.table,
                state: &self.state,
            }
        }
    }

    fn rep(b: &Resource<Bucket>) -> Resource<Bucket> {
        Resource::new_borrow(b.rep())
    }

    #[test]
    fn only_own_bucket_opens() {
        let mut f = Fixture::new();
        let mut v = f.view();
        assert!(v.open(String::new()).is_ok());
        assert!(v.open("default".into()).is_ok());
        assert_eq!(
            v.open("other-app".into()).unwrap_err(),
            KvError::NoSuchStore
        );
        assert!(matches!(
            v.convert_error(KvError::NoSuchStore).unwrap(),
            kv::store::Error::NoSuchStore
        ));
        assert!(matches!(
            v.convert_error(KvError::Other("x".into())).unwrap(),
            kv::store::Error::Other(s) if s == "x"
        ));
    }

    #[test]
    fn get_set_delete_exists_go_to_the_state_store() {
        let mut f = Fixture::new();
        let mut v = f.view();
        let b = v.open(String::new()).unwrap();
        assert_eq!(v.get(rep(&b), "k".into()).unwrap(), None);
        v.set(rep(&b), "k".into(), b"v".to_vec()).unwrap();
        assert_eq!(v.get(rep(&b), "k".into()).unwrap(), Some(b"v".to_vec()));
        assert!(v.exists(rep(&b), "k".into()).unwrap());
        v.delete(rep(&b), "k".into()).unwrap();
        assert!(!v.exists(rep(&b), "k".into()).unwrap());
        v.set(rep(&b), "x".into(), b"1".to_vec()).unwrap();
        v.drop(b).unwrap();
        assert_eq!(f.state.lock().get(b"x").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn store_errors_carry_their_code() {
        let mut f = Fixture::new();
        let mut v = f.view();
        let b = v.open(String::new()).unwrap();
        let big = "k".repeat(crate::state::MAX_KEY_BYTES + 1);
        let e = v.set(rep(&b), big, vec![]).unwrap_err();
        assert!(
            matches!(&e, KvError::Other(s) if s.starts_with("state.key_too_large: ")),
            "{e}"
        );
    }

    #[test]
    fn list_keys_pages_through_everything_in_order() {
        let mut f = Fixture::new();
        let n = LIST_PAGE * 2 + 7;
        {
            let mut s = f.state.lock();
            for i in 0..n {
                s.set(format!("key{i:05}").as_bytes(), b"").unwrap();
            }
        }
        let mut v = f.view();
        let b = v.open(String::new()).unwrap();
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = v.list_keys(rep(&b), cursor).unwrap();
            assert!(page.keys.len() <= LIST_PAGE);
            all.extend(page.keys);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let want: Vec<String> = (0..n).map(|i| format!("key{i:05}")).collect();
        assert_eq!(all, want);
        assert!(
            matches!(v.list_keys(rep(&b), Some(99)), Err(KvError::Other(s)) if s.starts_with("kv.bad_cursor"))
        );
    }

    #[test]
    fn increment_shares_the_core_integer_encoding() {
        let mut f = Fixture::new();
        let mut v = f.view();
        let b = v.open(String::new()).unwrap();
        assert_eq!(v.increment(rep(&b), "n".into(), 5).unwrap(), 5);
        assert_eq!(v.increment(rep(&b), "n".into(), 2).unwrap(), 7);
        assert_eq!(
            f.state.lock().get(b"n").unwrap(),
            Some(7i64.to_le_bytes().to_vec())
        );
        let mut v = f.view();
        assert!(v.increment(rep(&b), "n".into(), u64::MAX).is_err());
        f.state.lock().set(b"neg", &(-3i64).to_le_bytes()).unwrap();
        let mut v = f.view();
        assert!(v.increment(rep(&b), "neg".into(), 1).is_err());
        v.set(rep(&b), "t".into(), b"text".to_vec()).unwrap();
        assert!(
            matches!(v.increment(rep(&b), "t".into(), 1), Err(KvError::Other(s)) if s.starts_with("state.not_an_integer"))
        );
    }

    #[test]
    fn batch_operations() {
        let mut f = Fixture::new();
        let mut v = f.view();
        let b = v.open(String::new()).unwrap();
        v.set_many(
            rep(&b),
            vec![("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())],
        )
        .unwrap();
        assert_eq!(
            v.get_many(rep(&b), vec!["a".into(), "zz".into(), "b".into()])
                .unwrap(),
            vec![
                Some(("a".into(), b"1".to_vec())),
                None,
                Some(("b".into(), b"2".to_vec()))
            ]
        );
        v.delete_many(rep(&b), vec!["a".into(), "zz".into()])
            .unwrap();
        assert_eq!(v.get(rep(&b), "a".into()).unwrap(), None);
        assert_eq!(v.get(rep(&b), "b".into()).unwrap(), Some(b"2".to_vec()));
    }

    #[test]
    fn non_utf8_keys_fail_listing_without_panicking() {
        let mut f = Fixture::new();
        f.state.lock().set(&[0xff, 0xfe], b"").unwrap();
        let mut v = f.view();
        let b = v.open(String::new()).unwrap();
        assert!(
            matches!(v.list_keys(rep(&b), None), Err(KvError::Other(s)) if s.starts_with("kv.key_not_utf8"))
        );
    }

    #[test]
    fn a_closed_bucket_is_an_error_not_a_panic() {
        let mut f = Fixture::new();
        let mut v = f.view();
        let b = v.open(String::new()).unwrap();
        let stale = rep(&b);
        v.drop(b).unwrap();
        assert!(v.get(stale, "k".into()).is_err());
        let _ = StateStore::get(&mut *f.state.lock(), b"k");
    }
}
