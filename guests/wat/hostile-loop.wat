;; Hostile: spins forever. Ends in OutOfFuel (fuel == limit) or, with huge fuel, Deadline.
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "spin")
    (loop $l (br $l)))
  ;; Spins while counting, asking the wall clock every 4096 iterations, so a deadline
  ;; replay must also reproduce the oracle answers taken before the stop.
  (func (export "spin_clock") (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (if (i32.eqz (i32.and (local.get $i) (i32.const 4095)))
        (then (drop (call $clock (i32.const 0) (i64.const 0) (i32.const 0)))))
      (br $l))))
