;; Hostile: writes 64 KiB chunks to stdout forever; the runtime's output cap stops it.
;; `write_n` writes n chunks and returns, for exact-fit tests.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; iovec at 0: {ptr=1024, len=65536}; the chunk is 'x' * 65536 from 1024 (filled at runtime).
  (data (i32.const 0) "\00\04\00\00\00\00\01\00")
  (func $fill (memory.fill (i32.const 1024) (i32.const 120) (i32.const 65536)))
  (func $chunk (result i32)
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
  (func (export "flood")
    (call $fill)
    (loop $l (drop (call $chunk)) (br $l)))
  (func (export "write_n") (param $n i32) (result i32) (local $i i32)
    (call $fill)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (drop (call $chunk))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $i)))
