;; A hand-written component for the component tests and the cross-engine check:
;; an exported interface instance (`ledgervm:test/math`, so its function is named
;; `ledgervm:test/math#add`) and top-level functions that loop, trap and grow memory.
(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "add") (param i32 i32) (result i32)
      (i32.add (local.get 0) (local.get 1)))
    (func (export "mix") (param i64 i32) (result i64)
      (i64.add (i64.mul (local.get 0) (i64.const 31)) (i64.extend_i32_s (local.get 1))))
    (func (export "spin") (loop $l (br $l)))
    (func (export "boom") unreachable)
    (func (export "grow") (param i32) (result i32)
      (memory.grow (local.get 0))))
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (func $mix (param "x" s64) (param "flag" bool) (result s64) (canon lift (core func $i "mix")))
  (func $spin (canon lift (core func $i "spin")))
  (func $boom (canon lift (core func $i "boom")))
  (func $grow (param "pages" u32) (result s32) (canon lift (core func $i "grow")))
  (instance $math
    (export "add" (func $add))
    (export "mix" (func $mix)))
  (export "ledgervm:test/math" (instance $math))
  (export "spin" (func $spin))
  (export "boom" (func $boom))
  (export "grow" (func $grow))
)
