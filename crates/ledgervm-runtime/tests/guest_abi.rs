//! The `ledgervm` core import module seen from a guest: every function is driven with
//! raw pointers from a WAT module, good and hostile, and the state is inspected after.

mod support;

use ledgervm_runtime::guest_abi::{
    ERR_BAD_POINTER, ERR_KEY_TOO_LARGE, ERR_MALFORMED, ERR_NOT_FOUND,
};
use ledgervm_runtime::state::{self, MemoryState, StateStore};
use ledgervm_runtime::value::Value;
use ledgervm_runtime::{CallRequest, LoadedApp, SharedState};
use parking_lot::Mutex;
use std::sync::Arc;
use support::*;

/// Thin exports that pass their arguments straight to the imports, over a memory laid
/// out as:
///   0   keys   `1‖a 1‖b`                          (10 bytes)
///   16  entries `1‖a 1‖1 1‖b 2‖22`                (21 bytes)
///   64  malformed: a 5-byte length with 1 byte    (5 bytes)
///   200 "a1x"  key, expected, new for kv_cas
///   300 a 257-byte key as a one-key batch          (261 bytes)
///   1024.. scratch for answers
const ABI_WAT: &str = r#"
(module
  (import "ledgervm" "kv_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "ledgervm" "kv_cas" (func $cas (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "ledgervm" "kv_list_keys" (func $list (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "ledgervm" "kv_get_many" (func $get_many (param i32 i32 i32 i32) (result i32)))
  (import "ledgervm" "kv_set_many" (func $set_many (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\01\00\00\00a\01\00\00\00b")
  (data (i32.const 16) "\01\00\00\00a\01\00\00\001\01\00\00\00b\02\00\00\0022")
  (data (i32.const 64) "\05\00\00\00x")
  (data (i32.const 200) "a1x")
  (data (i32.const 300) "\01\01\00\00")
  (func (export "get") (param i32 i32 i32 i32) (result i32)
    (call $get (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "cas") (param i32 i32 i32 i32 i32 i32) (result i32)
    (call $cas (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get 5)))
  (func (export "list") (param i32 i32 i32 i32 i32 i32) (result i32)
    (call $list (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get 5)))
  (func (export "get_many") (param i32 i32 i32 i32) (result i32)
    (call $get_many (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "set_many") (param i32 i32) (result i32)
    (call $set_many (local.get 0) (local.get 1)))
  ;; Reads back the i32 that a get_many answer put at 1024 + offset, after running it.
  (func (export "get_many_slot") (param i32) (result i32)
    (drop (call $get_many (i32.const 0) (i32.const 10) (i32.const 1024) (i32.const 100)))
    (i32.load (i32.add (i32.const 1024) (local.get 0))))
)
"#;

struct Fixture {
    app: LoadedApp,
    store: Arc<Mutex<MemoryState>>,
}

impl Fixture {
    fn new() -> Fixture {
        let rt = runtime();
        let app = rt.load(&wat::parse_str(ABI_WAT).unwrap()).unwrap();
        Fixture {
            app,
            store: Arc::new(Mutex::new(MemoryState::new())),
        }
    }

    fn call(&self, func: &str, args: &[i32]) -> i32 {
        let shared: SharedState = self.store.clone();
        let values = args.iter().map(|&a| Value::I32(a)).collect();
        let out = block_on(self.app.call(CallRequest::live(func, values), shared));
        match out.result {
            Ok(v) => match v[..] {
                [Value::I32(n)] => n,
                _ => panic!("{v:?}"),
            },
            Err(e) => panic!("{func}{args:?}: {e:?}"),
        }
    }

    fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.store.lock().get(key).unwrap()
    }
}

#[test]
fn set_many_then_get_many_round_trips() {
    let f = Fixture::new();
    assert_eq!(f.call("set_many", &[16, 21]), 2);
    assert_eq!(f.value(b"a").as_deref(), Some(&b"1"[..]));
    assert_eq!(f.value(b"b").as_deref(), Some(&b"22"[..]));
    // Slots: len(a)=1 ‖ "1" ‖ len(b)=2 ‖ "22": 11 bytes.
    assert_eq!(f.call("get_many", &[0, 10, 1024, 100]), 11);
    assert_eq!(f.call("get_many_slot", &[0]), 1);
    assert_eq!(f.call("get_many_slot", &[5]), 2);
    // Too small a buffer: the full size comes back and nothing is written (the buffer
    // pointer is not even checked, as with kv_get).
    assert_eq!(f.call("get_many", &[0, 10, 70000, 3]), 11);
    // An empty batch is a no-op.
    assert_eq!(f.call("set_many", &[16, 0]), 0);
    assert_eq!(f.call("get_many", &[0, 0, 1024, 100]), 0);
}

#[test]
fn absent_keys_answer_minus_one() {
    let f = Fixture::new();
    assert_eq!(f.call("get_many", &[0, 10, 1024, 100]), 8);
    assert_eq!(f.call("get_many_slot", &[0]), ERR_NOT_FOUND);
    assert_eq!(f.call("get_many_slot", &[4]), ERR_NOT_FOUND);
}

#[test]
fn malformed_and_hostile_batches_get_their_codes_and_change_nothing() {
    let f = Fixture::new();
    assert_eq!(f.call("set_many", &[64, 5]), ERR_MALFORMED);
    assert_eq!(f.call("get_many", &[64, 5, 1024, 100]), ERR_MALFORMED);
    // Entries cut mid-value.
    assert_eq!(f.call("set_many", &[16, 20]), ERR_MALFORMED);
    // A 257-byte key (its length prefix at 300, the bytes are zero memory).
    assert_eq!(
        f.call("get_many", &[300, 261, 1024, 100]),
        ERR_KEY_TOO_LARGE
    );
    // Ranges outside memory, negative lengths and capacities.
    assert_eq!(f.call("set_many", &[65530, 100]), ERR_BAD_POINTER);
    assert_eq!(f.call("set_many", &[16, -1]), ERR_BAD_POINTER);
    assert_eq!(f.call("get_many", &[0, 10, 1024, -1]), ERR_BAD_POINTER);
    assert!(f.store.lock().map.is_empty(), "nothing written");
    // The answer fits `cap` but `buf` is outside memory.
    assert_eq!(f.call("get_many", &[0, 10, 65530, 100]), ERR_BAD_POINTER);
}

#[test]
fn cas_and_list_keys_through_the_core_abi() {
    let f = Fixture::new();
    assert_eq!(f.call("set_many", &[16, 21]), 2);
    // kv_cas(a, expect "1", new "x"): swaps once, then the expectation is stale.
    assert_eq!(f.call("cas", &[200, 1, 201, 1, 202, 1]), 1);
    assert_eq!(f.value(b"a").as_deref(), Some(&b"x"[..]));
    assert_eq!(f.call("cas", &[200, 1, 201, 1, 202, 1]), 0);
    // expected_len = -1: "expect absent" fails on a present key.
    assert_eq!(f.call("cas", &[200, 1, 0, -1, 201, 1]), 0);
    // list everything (empty prefix): two 5-byte entries; after "a": one.
    assert_eq!(f.call("list", &[0, 0, 0, -1, 1024, 100]), 10);
    assert_eq!(f.call("list", &[200, 0, 200, 1, 1024, 100]), 5);
    // A 4-byte buffer cannot hold `1‖a` (5 bytes).
    assert_eq!(f.call("list", &[0, 0, 0, -1, 1024, 4]), -5);
    assert_eq!(f.call("get", &[200, 1, 1024, 10]), 1);
}

#[test]
fn rust_guest_batch_export_round_trips_and_replays() {
    let rt = runtime();
    let app = load(&rt, "oracle_guest.wasm");
    let st = state::shared(MemoryState::new());
    let out = block_on(app.call(CallRequest::live("Batch", vec![Value::I32(20)]), st.clone()));
    // 20 slots of 4 + 2·len("batch/i") and one absent slot.
    let expect: usize = (0..20)
        .map(|i| 4 + 2 * format!("batch/{i}").len())
        .sum::<usize>()
        + 4;
    assert_eq!(out.result, Ok(vec![Value::I32(expect as i32)]));
    assert_eq!(
        st.lock().get(b"batch/7").unwrap().as_deref(),
        Some(&b"batch/7batch/7"[..])
    );
    let again = block_on(replay(&app, "Batch", vec![Value::I32(20)], &out));
    assert_eq!(again.result, out.result);
    assert_eq!(again.fuel_consumed, out.fuel_consumed);
}
