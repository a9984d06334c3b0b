;; A reactor: `_initialize` must run before any export (it sets the base that `Get` adds).
(module
  (global $base (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $base (i32.const 40)))
  (func (export "Get") (param $x i32) (result i32)
    (i32.add (global.get $base) (local.get $x))))
