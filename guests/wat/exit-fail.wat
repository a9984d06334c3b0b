;; A command whose `_start` exits with status 3: the call must fail with an `exit` trap.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $proc_exit (i32.const 3)))
  (func (export "Noop") (result i32) (i32.const 1)))
