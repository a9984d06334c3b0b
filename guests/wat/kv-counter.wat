;; A counter and a KV-heavy call over the `ledgervm` import module (docs/GUEST_ABI.md).
;; Used by crates/ledgervm-node/tests/state.rs and `ledgervm bench`.
(module
  (import "ledgervm" "kv_increment" (func $inc (param i32 i32 i64 i32) (result i32)))
  (import "ledgervm" "kv_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "ledgervm" "kv_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "counter")
  (data (i32.const 16) "k0")
  ;; bump(delta) -> the counter after adding delta
  (func (export "bump") (param $d i64) (result i64)
    (if (i32.lt_s (call $inc (i32.const 0) (i32.const 7) (local.get $d) (i32.const 64)) (i32.const 0))
      (then (unreachable)))
    (i64.load (i32.const 64)))
  ;; get() -> the counter, or -1 when it was never set
  (func (export "get") (result i64)
    (if (result i64) (i32.eq (call $get (i32.const 0) (i32.const 7) (i32.const 64) (i32.const 8)) (i32.const 8))
      (then (i64.load (i32.const 64)))
      (else (i64.const -1))))
  ;; put(k, v): sets key "k" + byte k to the 8 bytes of v; returns kv_set's code
  (func (export "put") (param $k i32) (param $v i64) (result i32)
    (i32.store8 (i32.const 17) (local.get $k))
    (i64.store (i32.const 64) (local.get $v))
    (call $set (i32.const 16) (i32.const 2) (i32.const 64) (i32.const 8)))
  ;; kv10() -> 10: reads and then writes keys "k0".."k9" (10 reads, 10 writes)
  (func (export "kv10") (result i32)
    (local $i i32)
    (loop $l
      (i32.store8 (i32.const 17) (i32.add (i32.const 48) (local.get $i)))
      (drop (call $get (i32.const 16) (i32.const 2) (i32.const 64) (i32.const 8)))
      (i64.store (i32.const 64) (i64.add (i64.load (i32.const 64)) (i64.const 1)))
      (drop (call $set (i32.const 16) (i32.const 2) (i32.const 64) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
    (i32.const 10)))
