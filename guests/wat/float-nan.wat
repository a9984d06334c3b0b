;; Float-heavy math that produces NaNs. With NaN canonicalization every NaN a float
;; operation produces is the canonical quiet NaN (f32 0x7fc00000, f64 0x7ff8000000000000)
;; whatever the CPU would give; these exports return the raw bits so tests can compare.
(module
  ;; 0/0 as f64 bits.
  (func (export "nan_f64") (result i64)
    (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0))))
  ;; sqrt(-1) as f32 bits.
  (func (export "nan_f32") (result i32)
    (i32.reinterpret_f32 (f32.sqrt (f32.const -1))))
  ;; Arithmetic on a NaN with the given payload: the result is canonical, not the payload.
  (func (export "nan_payload_add") (param $bits i64) (result i64)
    (i64.reinterpret_f64
      (f64.add (f64.reinterpret_i64 (local.get $bits)) (f64.const 1))))
  ;; A float result that is a NaN, returned as a float (the typed-value codec keeps bits).
  (func (export "nan_as_float") (param $x f64) (result f64)
    (f64.mul (f64.sub (local.get $x) (local.get $x)) (f64.div (f64.const 1) (f64.const 0))))
  ;; Float-heavy loop: n steps of a logistic map with a NaN injected every 7th step
  ;; (inf - inf), folding all bits into a checksum.
  (func (export "churn") (param $n i32) (result i64)
    (local $i i32) (local $x f64) (local $acc i64) (local $y f64)
    (local.set $x (f64.const 0.3))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $x
          (f64.mul (f64.mul (f64.const 3.99) (local.get $x))
                   (f64.sub (f64.const 1) (local.get $x))))
        (local.set $y
          (if (result f64) (i32.eqz (i32.rem_u (local.get $i) (i32.const 7)))
            (then (f64.sub (f64.const inf) (f64.const inf)))
            (else (f64.sqrt (local.get $x)))))
        (local.set $acc
          (i64.add
            (i64.rotl (local.get $acc) (i64.const 5))
            (i64.xor (i64.reinterpret_f64 (local.get $y))
                     (i64.extend_i32_u (i32.reinterpret_f32 (f32.demote_f64 (local.get $y)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  ;; f32 min/max with NaN and signed zeros.
  (func (export "minmax") (param $a f32) (param $b f32) (result i32)
    (i32.xor
      (i32.reinterpret_f32 (f32.min (local.get $a) (local.get $b)))
      (i32.rotl (i32.reinterpret_f32 (f32.max (local.get $a) (local.get $b))) (i32.const 1)))))
