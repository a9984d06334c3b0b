;; Hostile: unbounded recursion. Ends in StackOverflow long before the fuel runs out.
(module
  (func $r (export "recurse") (param $n i64) (result i64)
    (i64.add (call $r (i64.add (local.get $n) (i64.const 1))) (i64.const 1))))
