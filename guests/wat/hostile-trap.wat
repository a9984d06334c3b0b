;; Hostile: traps. `boom` hits `unreachable`; `div` divides (traps on b = 0);
;; `oob` loads far outside memory.
(module
  (memory 1)
  (func (export "boom") unreachable)
  (func (export "div") (param $a i32) (param $b i32) (result i32)
    (i32.div_s (local.get $a) (local.get $b)))
  (func (export "oob") (result i32)
    (i32.load (i32.const 0x7ffffff0))))
