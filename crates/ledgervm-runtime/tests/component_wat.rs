//! Components beyond enclave-example: interface exports (`iface#func`), argument
//! checking, and the limits (fuel, memory, deadline) applied as for core modules.

mod support;

use ledgervm_runtime::component::{ComponentOptions, load_component};
use ledgervm_runtime::state::{MemoryState, shared};
use ledgervm_runtime::value::{Field, FuncType, Value, ValueType};
use ledgervm_runtime::{CallError, CallRequest, Limits, LoadError};
use std::time::Duration;

const MATH: &str = include_str!("data/math_component.wat");

fn load() -> ledgervm_runtime::LoadedApp {
    let rt = support::runtime();
    load_component(&rt, MATH.as_bytes(), ComponentOptions::default()).unwrap()
}

#[test]
fn interface_functions_are_named_iface_hash_func() {
    let app = load();
    let names: Vec<&str> = app.exports().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "ledgervm:test/math#add",
            "ledgervm:test/math#mix",
            "spin",
            "boom",
            "grow"
        ]
    );
    assert_eq!(
        app.export("ledgervm:test/math#mix").unwrap(),
        &FuncType {
            params: vec![
                Field::new("x", ValueType::S64),
                Field::new("flag", ValueType::Bool)
            ],
            results: vec![ValueType::S64],
        }
    );
    assert_eq!(
        app.export("spin").unwrap(),
        &FuncType {
            params: vec![],
            results: vec![]
        }
    );
}

#[tokio::test]
async fn calls_and_argument_checks() {
    let app = load();
    let st = shared(MemoryState::new());
    let out = app
        .call(
            CallRequest::live("ledgervm:test/math#add", vec![Value::U32(5), Value::U32(7)]),
            st.clone(),
        )
        .await;
    assert_eq!(out.result, Ok(vec![Value::U32(12)]));
    assert!(out.fuel_consumed > 0);
    let out = app
        .call(
            CallRequest::live(
                "ledgervm:test/math#mix",
                vec![Value::S64(-2), Value::Bool(true)],
            ),
            st.clone(),
        )
        .await;
    assert_eq!(out.result, Ok(vec![Value::S64(-61)]));
    // u32 wraps as the canonical ABI says.
    let out = app
        .call(
            CallRequest::live(
                "ledgervm:test/math#add",
                vec![Value::U32(u32::MAX), Value::U32(2)],
            ),
            st.clone(),
        )
        .await;
    assert_eq!(out.result, Ok(vec![Value::U32(1)]));

    // Wrong type: the error names the argument and both types.
    let out = app
        .call(
            CallRequest::live(
                "ledgervm:test/math#add",
                vec![Value::U32(1), Value::String("2".into())],
            ),
            st.clone(),
        )
        .await;
    match out.result {
        Err(CallError::BadArguments { message }) => {
            assert!(
                message.contains('b') && message.contains("u32") && message.contains("string"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out.fuel_consumed, 0);
    let out = app
        .call(
            CallRequest::live("ledgervm:test/math#add", vec![Value::U32(1)]),
            st.clone(),
        )
        .await;
    assert!(matches!(out.result, Err(CallError::BadArguments { .. })));
}

#[tokio::test]
async fn limits_apply_to_components() {
    let app = load();
    let st = shared(MemoryState::new());
    let limits = Limits {
        fuel: 100_000,
        ..Limits::default()
    };
    let out = app
        .call(
            CallRequest::live("spin", vec![]).with_limits(limits.clone()),
            st.clone(),
        )
        .await;
    assert_eq!(out.result, Err(CallError::OutOfFuel));
    assert_eq!(out.fuel_consumed, 100_000);

    let out = app
        .call(CallRequest::live("boom", vec![]), st.clone())
        .await;
    assert!(
        matches!(&out.result, Err(CallError::Trap { code, .. }) if code.contains("unreachable")),
        "{:?}",
        out.result
    );

    // memory.grow past the limit fails deterministically with -1.
    let small = Limits {
        max_memory_bytes: 4 * 64 * 1024,
        ..Limits::default()
    };
    let out = app
        .call(
            CallRequest::live("grow", vec![Value::U32(3)]).with_limits(small.clone()),
            st.clone(),
        )
        .await;
    assert_eq!(out.result, Ok(vec![Value::S32(1)]));
    let out = app
        .call(
            CallRequest::live("grow", vec![Value::U32(4)]).with_limits(small),
            st.clone(),
        )
        .await;
    assert_eq!(out.result, Ok(vec![Value::S32(-1)]));

    // The wall-clock deadline stops a spinning component and records the fuel; a
    // replay given that fuel stops at the same point.
    let deadline = Limits {
        fuel: u64::MAX / 2,
        deadline: Duration::from_millis(200),
        ..Limits::default()
    };
    let live = app
        .call(
            CallRequest::live("spin", vec![]).with_limits(deadline.clone()),
            st.clone(),
        )
        .await;
    let fuel = match live.result {
        Err(CallError::Deadline { fuel_consumed }) => fuel_consumed,
        ref other => panic!("{other:?}"),
    };
    assert_eq!(live.transcript.deadline_fuel, Some(fuel));
    let replay = app
        .call(
            CallRequest::replay("spin", vec![], live.transcript.clone()).with_limits(deadline),
            st.clone(),
        )
        .await;
    assert_eq!(replay, live);
}

#[test]
fn non_components_and_garbage_are_load_errors() {
    let rt = support::runtime();
    let e = load_component(&rt, b"(module)", ComponentOptions::default()).unwrap_err();
    assert_eq!(e.code(), "load.unsupported");
    let e = load_component(
        &rt,
        b"\0asm\x0d\0\x01\0garbage",
        ComponentOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, LoadError::Compile(_)), "{e:?}");
    // A component importing something the host does not offer fails to link.
    let wat = r#"(component (import "acme:nope/thing" (instance (export "f" (func)))))"#;
    let e = load_component(&rt, wat.as_bytes(), ComponentOptions::default()).unwrap_err();
    assert_eq!(e.code(), "load.link", "{e}");
}
