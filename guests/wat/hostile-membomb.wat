;; Hostile: grows memory one page at a time until the host refuses (memory.grow returns
;; -1), then traps (`bomb`) or returns how many pages it got (`grow_count`).
(module
  (memory (export "memory") 1)
  (func $grow_all (result i32) (local $n i32)
    (block $done
      (loop $l
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $n))
  (func (export "grow_count") (result i32) (call $grow_all))
  (func (export "bomb")
    (drop (call $grow_all))
    unreachable))
