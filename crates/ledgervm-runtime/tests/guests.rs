//! Every well-behaved core-module guest loads, introspects and runs.

mod support;

use ledgervm_runtime::value::{FuncType, Value, ValueType};
use ledgervm_runtime::{AppKind, CallError, CallRequest, Caller};
use support::*;

#[test]
fn sum_reactor_exports_and_adds() {
    let rt = runtime();
    let app = load(&rt, "sum.wasm");
    assert_eq!(app.kind(), AppKind::CoreModule);
    assert_eq!(app.code_hash().len(), 64);
    let ty: &FuncType = app.export("Sum").expect("Sum exported");
    assert_eq!(ty.results, vec![ValueType::I32]);
    assert_eq!(
        ty.params.iter().map(|f| f.ty.clone()).collect::<Vec<_>>(),
        vec![ValueType::I32, ValueType::I32]
    );
    block_on(async {
        let out = call(&app, "Sum", vec![Value::U32(5), Value::U32(7)]).await;
        assert_eq!(out.result, Ok(vec![Value::I32(12)]));
        assert!(out.fuel_consumed > 0);
        assert!(out.transcript.events.is_empty());
        // Wrapping add on u32 inputs.
        let out = call(&app, "Sum", vec![Value::U32(u32::MAX), Value::U32(2)]).await;
        assert_eq!(out.result, Ok(vec![Value::I32(1)]));
    });
}

#[test]
fn command_module_runs_start_first_and_exit_zero_is_success() {
    let rt = runtime();
    let app = load(&rt, "sum-command.wat");
    // `_start` is not a callable export.
    assert!(app.export("_start").is_none());
    block_on(async {
        let out = call(&app, "Sum", vec![Value::U32(5), Value::U32(7)]).await;
        // 12, not 1000012: `_start` ran (and its proc_exit(0) was not a failure).
        assert_eq!(out.result, Ok(vec![Value::I32(12)]));
        assert_eq!(out.stdout, b"started\n");
        // Fresh instance per call: `_start` runs (and prints) again.
        let again = call(&app, "Sum", vec![Value::U32(1), Value::U32(1)]).await;
        assert_eq!(again.result, Ok(vec![Value::I32(2)]));
        assert_eq!(again.stdout, b"started\n");
    });
}

#[test]
fn reactor_runs_initialize_first() {
    let rt = runtime();
    let app = load(&rt, "reactor.wat");
    assert!(app.export("_initialize").is_none());
    block_on(async {
        let out = call(&app, "Get", vec![Value::I32(2)]).await;
        assert_eq!(out.result, Ok(vec![Value::I32(42)]));
    });
}

#[test]
fn start_exiting_nonzero_is_an_exit_trap() {
    let rt = runtime();
    let app = load(&rt, "exit-fail.wat");
    block_on(async {
        let out = call(&app, "Noop", vec![]).await;
        match out.result {
            Err(CallError::Trap { code, message }) => {
                assert_eq!(code, "exit");
                assert!(message.contains('3'), "{message}");
            }
            other => panic!("expected exit trap, got {other:?}"),
        }
    });
}

#[test]
fn oracle_guest_runs_every_export() {
    let rt = runtime();
    let app = load(&rt, "oracle_guest.wasm");
    let names: Vec<&str> = app.exports().iter().map(|(n, _)| n.as_str()).collect();
    for f in [
        "RandomU32",
        "Dice",
        "NowNanos",
        "Elapsed",
        "Mix",
        "Count",
        "SwapRandom",
        "WhoAmI",
    ] {
        assert!(names.contains(&f), "{f} missing from {names:?}");
    }
    block_on(async {
        let out = call(&app, "Dice", vec![]).await;
        let Ok(v) = &out.result else {
            panic!("{out:?}")
        };
        let Value::I32(roll) = v[0] else { panic!() };
        assert!((1..=6).contains(&roll));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("rolled {roll}\n")
        );

        let out = call(&app, "NowNanos", vec![]).await;
        let Ok(v) = &out.result else {
            panic!("{out:?}")
        };
        let Value::I64(ns) = v[0] else { panic!() };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        assert!(
            (now - ns).abs() < 60_000_000_000,
            "wall clock is live: {ns} vs {now}"
        );

        let out = call(&app, "Mix", vec![Value::U32(9)]).await;
        assert!(out.result.is_ok(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("mix seed=9 "));
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("mono="));
        assert!(out.transcript.events.len() >= 3, "{:?}", out.transcript);

        // Caller identity.
        let anon = call(&app, "WhoAmI", vec![]).await;
        assert_eq!(anon.result, Ok(vec![Value::I32(-1)]));
        let key = "ab".repeat(32);
        let named = app
            .call(
                CallRequest::live("WhoAmI", vec![]).with_caller(Caller::with_id(key.clone())),
                fresh_state(),
            )
            .await;
        assert_eq!(named.result, Ok(vec![Value::I32(64)]));
        assert_eq!(named.stdout, format!("caller {key}\n").into_bytes());
    });
}

#[test]
fn state_persists_across_calls_through_the_shared_store() {
    let rt = runtime();
    let app = load(&rt, "oracle_guest.wasm");
    let state = fresh_state();
    block_on(async {
        for expect in [3i64, 6, 9] {
            let out = app
                .call(
                    CallRequest::live("Count", vec![Value::I64(3)]),
                    state.clone(),
                )
                .await;
            assert_eq!(out.result, Ok(vec![Value::I64(expect)]));
        }
    });
    assert_eq!(
        state.lock().get(b"counter").unwrap(),
        Some(9i64.to_le_bytes().to_vec())
    );
}

#[test]
fn float_guest_gives_canonical_nans() {
    let rt = runtime();
    let app = load(&rt, "float-nan.wat");
    block_on(async {
        let out = call(&app, "nan_f64", vec![]).await;
        assert_eq!(out.result, Ok(vec![Value::I64(0x7ff8_0000_0000_0000)]));
        let out = call(&app, "nan_f32", vec![]).await;
        assert_eq!(out.result, Ok(vec![Value::I32(0x7fc0_0000)]));
        // A signalling NaN with a payload and the sign bit set comes out canonical.
        let out = call(
            &app,
            "nan_payload_add",
            vec![Value::I64(0xfff4_0000_dead_beefu64 as i64)],
        )
        .await;
        assert_eq!(out.result, Ok(vec![Value::I64(0x7ff8_0000_0000_0000)]));
        let out = call(&app, "nan_as_float", vec![Value::F64(2.5f64.to_bits())]).await;
        assert_eq!(out.result, Ok(vec![Value::F64(0x7ff8_0000_0000_0000)]));
        let a = call(&app, "churn", vec![Value::I32(10_000)]).await;
        let b = call(&app, "churn", vec![Value::I32(10_000)]).await;
        assert!(a.result.is_ok());
        assert_eq!(a, b, "float-heavy runs are identical, fuel included");
    });
}

#[test]
fn bad_calls_are_refused_with_typed_errors() {
    let rt = runtime();
    let app = load(&rt, "sum.wasm");
    block_on(async {
        let out = call(&app, "Nope", vec![]).await;
        assert_eq!(out.result.unwrap_err().code(), "no_such_function");
        let out = call(&app, "Sum", vec![Value::U32(1)]).await;
        assert_eq!(out.result.unwrap_err().code(), "bad_arguments");
        let out = call(&app, "Sum", vec![Value::String("1".into()), Value::U32(1)]).await;
        let err = out.result.unwrap_err();
        assert_eq!(err.code(), "bad_arguments");
        let mut limits = rt.config().default_limits.clone();
        limits.max_memory_bytes = rt.config().max_memory_bytes_ceiling + 1;
        let out = app
            .call(
                CallRequest::live("Sum", vec![Value::U32(1), Value::U32(2)]).with_limits(limits),
                fresh_state(),
            )
            .await;
        assert_eq!(out.result.unwrap_err().code(), "invalid_limits");
    });
}

#[test]
fn load_rejects_garbage_and_unknown_imports() {
    let rt = runtime();
    assert_eq!(
        rt.load(b"\0asm\x01\0\0\0garbage").unwrap_err().code(),
        "load.compile"
    );
    assert_eq!(
        rt.load(b"not wasm at all (").unwrap_err().code(),
        "load.not_wasm"
    );
    let err = rt
        .load(br#"(module (import "env" "open" (func)))"#)
        .unwrap_err();
    assert_eq!(err.code(), "load.link");
}
