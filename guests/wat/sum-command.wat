;; A command-style module like TinyGo's output for the immudb demo: `_start` initialises
;; the module (here: sets $ready) and ends with proc_exit(0); `Sum` works only after it.
;; Sum returns a + b when `_start` has run and a + b + 1000000 otherwise, so a test can
;; see that the runtime ran `_start` first.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $ready (mut i32) (i32.const 0))
  ;; iovec at 0: {ptr=16, len=8}; "started\n" at 16.
  (data (i32.const 0) "\10\00\00\00\08\00\00\00")
  (data (i32.const 16) "started\n")
  (func (export "_start")
    (global.set $ready (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 32)))
    (call $proc_exit (i32.const 0)))
  (func (export "Sum") (param $a i32) (param $b i32) (result i32)
    (i32.add
      (i32.add (local.get $a) (local.get $b))
      (select (i32.const 0) (i32.const 1000000) (global.get $ready)))))
