//! Each hostile guest ends in its own typed error, with resources bounded, and the same
//! way every time.

mod support;

use ledgervm_runtime::value::Value;
use ledgervm_runtime::{CallError, CallRequest, Limits};
use std::time::Duration;
use support::*;

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

#[test]
fn infinite_loop_runs_out_of_fuel_exactly_at_the_limit() {
    let rt = runtime();
    let app = load(&rt, "hostile-loop.wat");
    block_on(async {
        for fuel in [1_000u64, 10_000_000] {
            let req = CallRequest::live("spin", vec![]).with_limits(limits(|l| l.fuel = fuel));
            let out = app.call(req.clone(), fresh_state()).await;
            assert_eq!(out.result, Err(CallError::OutOfFuel));
            assert_eq!(out.fuel_consumed, fuel);
            assert_eq!(out, app.call(req, fresh_state()).await, "deterministic");
        }
    });
}

#[test]
#[ignore = "known bug, open in issue 3: with a near-u64::MAX fuel limit a deadline stop reports fuel_consumed 0"]
fn infinite_loop_with_huge_fuel_hits_the_deadline() {
    let rt = runtime();
    let app = load(&rt, "hostile-loop.wat");
    block_on(async {
        let req = CallRequest::live("spin", vec![]).with_limits(limits(|l| {
            l.fuel = u64::MAX / 2;
            l.deadline = Duration::from_millis(100);
        }));
        let out = app.call(req, fresh_state()).await;
        match out.result {
            Err(CallError::Deadline { fuel_consumed }) => {
                assert_eq!(fuel_consumed, out.fuel_consumed);
                assert!(fuel_consumed > 0);
                assert_eq!(out.transcript.deadline_fuel, Some(fuel_consumed));
            }
            other => panic!("expected deadline, got {other:?}"),
        }
    });
}

#[test]
fn memory_bomb_is_refused_at_the_limit() {
    let rt = runtime();
    let app = load(&rt, "hostile-membomb.wat");
    let max_pages = 16u64; // 1 MiB
    let req = |f: &str| {
        CallRequest::live(f, vec![]).with_limits(limits(|l| l.max_memory_bytes = max_pages * 65536))
    };
    block_on(async {
        // memory.grow returns -1 at the limit: the module starts with 1 page, so it gets
        // exactly max_pages - 1 more, every time.
        let out = app.call(req("grow_count"), fresh_state()).await;
        assert_eq!(out.result, Ok(vec![Value::I32(max_pages as i32 - 1)]));
        assert_eq!(out, app.call(req("grow_count"), fresh_state()).await);
        // Trapping after the refusal is reported as the memory limit.
        let out = app.call(req("bomb"), fresh_state()).await;
        match &out.result {
            Err(CallError::MemoryLimit { message }) => {
                assert!(message.contains("1048576"), "{message}")
            }
            other => panic!("expected memory limit, got {other:?}"),
        }
        assert_eq!(out, app.call(req("bomb"), fresh_state()).await);
    });
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let rt = runtime();
    let app = load(&rt, "hostile-recursion.wat");
    block_on(async {
        let a = call(&app, "recurse", vec![Value::I64(0)]).await;
        assert_eq!(a.result, Err(CallError::StackOverflow));
        assert!(a.fuel_consumed < rt.config().default_limits.fuel);
        let b = call(&app, "recurse", vec![Value::I64(0)]).await;
        assert_eq!(a, b, "overflows at the same depth (same fuel)");
    });
}

#[test]
fn huge_output_is_capped() {
    let rt = runtime();
    let app = load(&rt, "hostile-output.wat");
    let cap = 200_000usize;
    let req = |f: &str, args| {
        CallRequest::live(f, args).with_limits(limits(|l| l.max_output_bytes = cap))
    };
    block_on(async {
        let out = app.call(req("flood", vec![]), fresh_state()).await;
        assert_eq!(out.result, Err(CallError::OutputLimit { limit: cap }));
        assert_eq!(out.stdout.len(), cap, "keeps exactly what fits");
        assert!(out.stdout.iter().all(|&b| b == b'x'));
        assert_eq!(out, app.call(req("flood", vec![]), fresh_state()).await);
        // Under the cap nothing is lost: 3 chunks of 64 KiB = 196,608 bytes.
        let out = app
            .call(req("write_n", vec![Value::I32(3)]), fresh_state())
            .await;
        assert_eq!(out.result, Ok(vec![Value::I32(3)]));
        assert_eq!(out.stdout.len(), 3 * 65536);
    });
}

#[test]
fn traps_have_stable_codes() {
    let rt = runtime();
    let app = load(&rt, "hostile-trap.wat");
    block_on(async {
        let code = |out: ledgervm_runtime::CallOutcome| match out.result {
            Err(CallError::Trap { code, .. }) => code,
            other => panic!("expected trap, got {other:?}"),
        };
        assert_eq!(
            code(call(&app, "boom", vec![]).await),
            "unreachable_code_reached"
        );
        assert_eq!(
            code(call(&app, "div", vec![Value::I32(1), Value::I32(0)]).await),
            "integer_division_by_zero"
        );
        assert_eq!(
            code(call(&app, "div", vec![Value::I32(i32::MIN), Value::I32(-1)]).await),
            "integer_overflow"
        );
        assert_eq!(
            code(call(&app, "oob", vec![]).await),
            "memory_out_of_bounds"
        );
        let ok = call(&app, "div", vec![Value::I32(7), Value::I32(2)]).await;
        assert_eq!(ok.result, Ok(vec![Value::I32(3)]));
    });
}

#[test]
fn guest_abi_rejects_bad_pointers_without_trapping() {
    let rt = runtime();
    let app = rt
        .load(
            br#"(module
                (import "ledgervm" "kv_set" (func $set (param i32 i32 i32 i32) (result i32)))
                (import "ledgervm" "kv_get" (func $get (param i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 1)
                (data (i32.const 0) "keyvalue")
                (func (export "oob_key") (result i32)
                  (call $set (i32.const 65530) (i32.const 10) (i32.const 0) (i32.const 1)))
                (func (export "neg_len") (result i32)
                  (call $set (i32.const 0) (i32.const -1) (i32.const 0) (i32.const 1)))
                (func (export "roundtrip") (result i32)
                  (drop (call $set (i32.const 0) (i32.const 3) (i32.const 3) (i32.const 5)))
                  (call $get (i32.const 0) (i32.const 3) (i32.const 100) (i32.const 5)))
                (func (export "small_buf") (result i32)
                  (drop (call $set (i32.const 0) (i32.const 3) (i32.const 3) (i32.const 5)))
                  (call $get (i32.const 0) (i32.const 3) (i32.const 100) (i32.const 2)))
                (func (export "missing") (result i32)
                  (call $get (i32.const 3) (i32.const 2) (i32.const 100) (i32.const 5))))"#,
        )
        .unwrap();
    block_on(async {
        for (f, want) in [
            ("oob_key", -2),
            ("neg_len", -2),
            ("roundtrip", 5),
            ("small_buf", 5),
            ("missing", -1),
        ] {
            let out = call(&app, f, vec![]).await;
            assert_eq!(out.result, Ok(vec![Value::I32(want)]), "{f}");
        }
    });
}
