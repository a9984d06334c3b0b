//! Cross-engine check for components: the PyPI `wasmtime` package (48.0.0, through its
//! C API) runs the same component calls with the same inputs and must get the same
//! results and the same fuel as ledgervm-runtime. The Python side is
//! tests/interop/cross_engine_component.py; its interpreter is `$LEDGERVM_PYTHON` (set
//! by scripts/env.sh to the venv that scripts/install-python-tools fills).

mod support;

use ledgervm_runtime::component::{ComponentOptions, load_component};
use ledgervm_runtime::state::{MemoryState, shared};
use ledgervm_runtime::value::Value;
use ledgervm_runtime::{CallError, CallRequest, Limits, LoadedApp};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn python() -> PathBuf {
    let p = match std::env::var_os("LEDGERVM_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME").expect("HOME");
            PathBuf::from(home).join(".cache/ledgervm-target/venv/bin/python")
        }
    };
    assert!(
        p.exists(),
        "{} not found: run scripts/install-python-tools (or set LEDGERVM_PYTHON)",
        p.display()
    );
    p
}

fn script() -> PathBuf {
    manifest_dir().join("../../tests/interop/cross_engine_component.py")
}

/// Runs `calls` in Python and returns `(result, fuel_consumed)` per call.
fn run_python(
    component: &std::path::Path,
    fuel: u64,
    calls: &[(&str, Vec<Value>)],
) -> Vec<(serde_json::Value, u64)> {
    let req = json!({
        "component": component,
        "fuel": fuel,
        "calls": calls.iter().map(|(f, args)| json!({"func": f, "args": args})).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python())
        .arg(script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(req.to_string().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter()
        .map(|o| {
            // Typed values go through our codec so both sides use one canonical form
            // (e.g. 64-bit integers as JSON numbers or strings).
            let result = match serde_json::from_value::<Vec<Value>>(o["result"].clone()) {
                Ok(values) => serde_json::to_value(&values).unwrap(),
                Err(_) => o["result"].clone(),
            };
            (result, o["fuel_consumed"].as_u64().unwrap())
        })
        .collect()
}

/// Our side of the same calls, in the Python script's shape.
async fn run_ours(
    app: &LoadedApp,
    fuel: u64,
    calls: &[(&str, Vec<Value>)],
) -> Vec<(serde_json::Value, u64)> {
    let mut out = Vec::new();
    for (f, args) in calls {
        let limits = Limits {
            fuel,
            ..Limits::default()
        };
        let o = app
            .call(
                CallRequest::live(*f, args.clone()).with_limits(limits),
                shared(MemoryState::new()),
            )
            .await;
        let result = match o.result {
            Ok(values) => serde_json::to_value(&values).unwrap(),
            Err(CallError::OutOfFuel) => json!({"error": "out_of_fuel"}),
            Err(CallError::Trap { .. }) => json!({"error": "trap"}),
            Err(e) => panic!("{f}: {e}"),
        };
        out.push((result, o.fuel_consumed));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypi_wasmtime_agrees_on_component_calls() {
    let rt = support::runtime();
    let dir = tempfile::tempdir().unwrap();

    // A hand-written component: typed parameters, an interface export, a trap and a loop
    // that runs out of fuel (both engines must stop at the same count).
    let math = wat::parse_str(include_str!("data/math_component.wat")).unwrap();
    let math_path = dir.path().join("math.wasm");
    std::fs::write(&math_path, &math).unwrap();
    let app = load_component(&rt, &math, ComponentOptions::default()).unwrap();
    let calls: Vec<(&str, Vec<Value>)> = vec![
        ("ledgervm:test/math#add", vec![Value::U32(5), Value::U32(7)]),
        (
            "ledgervm:test/math#add",
            vec![Value::U32(u32::MAX), Value::U32(9)],
        ),
        (
            "ledgervm:test/math#mix",
            vec![Value::S64(-2), Value::Bool(true)],
        ),
        (
            "ledgervm:test/math#mix",
            vec![Value::S64(i64::MAX), Value::Bool(false)],
        ),
        ("grow", vec![Value::U32(1)]),
        ("boom", vec![]),
        ("spin", vec![]),
    ];
    let fuel = 100_000;
    let ours = run_ours(&app, fuel, &calls).await;
    let theirs = run_python(&math_path, fuel, &calls);
    assert_eq!(ours, theirs);
    assert_eq!(ours[0].0, json!([{"type": "u32", "value": 12}]));

    // The enclave-example guest: `hello` and `whoami` (anonymous) touch no oracle and
    // no state.
    let wasm = support::enclave_example_wasm();
    let path = dir.path().join("enclave_example.wasm");
    std::fs::write(&path, &wasm).unwrap();
    let app = load_component(&rt, &wasm, ComponentOptions::default()).unwrap();
    let calls: Vec<(&str, Vec<Value>)> = vec![("hello", vec![]), ("whoami", vec![])];
    let fuel = 10_000_000;
    let ours = run_ours(&app, fuel, &calls).await;
    let theirs = run_python(&path, fuel, &calls);
    assert_eq!(ours, theirs);
    assert_eq!(
        ours[0].0,
        json!([{"type": "string", "value": "Hello, World!"}])
    );
    assert_eq!(ours[1].0, json!([{"type": "string", "value": "anonymous"}]));
}

/// The crate's directory, read at run time: the shared target directory may hold a test
/// binary that was built in another checkout, and `env!` would point there.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
