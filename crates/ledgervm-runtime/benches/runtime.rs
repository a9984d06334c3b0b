//! Runtime benchmark, one run, plain `main` (`harness = false`):
//!
//! 1. instantiate-and-call/s of a trivial export through ledgervm-runtime (live mode:
//!    recording on, WASI p1 context, limits, outcome mapping) against bare wasmtime
//!    loops on an engine with the same configuration and pooling allocator
//!    (`InstancePre` + new `Store` + fuel + call), both the async path ledgervm uses and
//!    the sync path (the floor);
//! 2. replay calls/s against live calls/s for an export that takes random bytes and a
//!    clock reading.
//!
//! `cargo bench --workspace --bench runtime` (optional: `LEDGERVM_BENCH_SECS=2` per
//! measurement). Prints calls/s and µs per call for each, and the ratios.
//! Figures go to docs/BENCHMARKS.md.

use ledgervm_runtime::engine::engine_config;
use ledgervm_runtime::state::{self, MemoryState};
use ledgervm_runtime::value::Value;
use ledgervm_runtime::{CallRequest, Runtime, RuntimeConfig};
use std::time::{Duration, Instant};
use wasmtime::{Engine, Linker, Module, Store};

const TRIVIAL: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "one") (result i32) i32.const 1))"#;

const ORACLE: &str = r#"(module
  (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "draw") (result i64)
    (drop (call $rand (i32.const 0) (i32.const 16)))
    (drop (call $clock (i32.const 0) (i64.const 0) (i32.const 16)))
    (i64.xor (i64.load (i32.const 0)) (i64.load (i32.const 16)))))"#;

fn secs() -> Duration {
    let s: f64 = std::env::var("LEDGERVM_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(s)
}

/// Runs `f` in batches until `budget` has passed; returns calls per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..200 {
        f(); // warm-up: pool slots, caches
    }
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < budget {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let budget = secs();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cfg = RuntimeConfig::default();

    // Bare wasmtime on the same configuration (fuel, epochs, pooling, NaN canon, …).
    let engine = Engine::new(&engine_config(&cfg)).unwrap();
    // WAT to binary first: the engine is built without wasmtime's `wat` feature.
    let binary = ledgervm_runtime::app::to_binary(TRIVIAL.as_bytes()).unwrap();
    let module = Module::new(&engine, &binary).unwrap();
    let pre = Linker::<()>::new(&engine).instantiate_pre(&module).unwrap();
    let fuel = cfg.default_limits.fuel;
    let bare_sync = rate(budget, || {
        let mut store = Store::new(&engine, ());
        store.set_fuel(fuel).unwrap();
        store.set_epoch_deadline(1_000_000);
        let i = pre.instantiate(&mut store).unwrap();
        let f = i.get_typed_func::<(), i32>(&mut store, "one").unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), 1);
    });
    let bare_async = rate(budget, || {
        tokio.block_on(async {
            let mut store = Store::new(&engine, ());
            store.set_fuel(fuel).unwrap();
            store.set_epoch_deadline(1_000_000);
            let i = pre.instantiate_async(&mut store).await.unwrap();
            let f = i.get_typed_func::<(), i32>(&mut store, "one").unwrap();
            assert_eq!(f.call_async(&mut store, ()).await.unwrap(), 1);
        })
    });

    // Through ledgervm-runtime, live (recording on).
    let rt = Runtime::new(cfg).unwrap();
    let app = rt.load(TRIVIAL.as_bytes()).unwrap();
    let st = state::shared(MemoryState::new());
    let ours = rate(budget, || {
        let out = tokio.block_on(app.call(CallRequest::live("one", vec![]), st.clone()));
        assert_eq!(out.result, Ok(vec![Value::I32(1)]));
    });

    // Live versus replay with oracles.
    let oracle = rt.load(ORACLE.as_bytes()).unwrap();
    let recorded = tokio.block_on(oracle.call(CallRequest::live("draw", vec![]), st.clone()));
    assert_eq!(recorded.transcript.events.len(), 2);
    let live = rate(budget, || {
        let out = tokio.block_on(oracle.call(CallRequest::live("draw", vec![]), st.clone()));
        assert!(out.result.is_ok());
    });
    let replay = rate(budget, || {
        let out = tokio.block_on(oracle.call(
            CallRequest::replay("draw", vec![], recorded.transcript.clone()),
            st.clone(),
        ));
        assert_eq!(out.result, recorded.result);
    });

    let us = |rate: f64| 1e6 / rate;
    println!(
        "ledgervm-runtime benchmark ({:.1}s per measurement, one thread)",
        budget.as_secs_f64()
    );
    println!("instantiate+call trivial export:       calls/s   us/call");
    println!(
        "  bare wasmtime, sync          {bare_sync:>10.0} {:>9.2}",
        us(bare_sync)
    );
    println!(
        "  bare wasmtime, async         {bare_async:>10.0} {:>9.2}",
        us(bare_async)
    );
    println!(
        "  ledgervm-runtime, live       {ours:>10.0} {:>9.2}",
        us(ours)
    );
    println!(
        "  throughput ratio vs bare async (goal >= 0.8) {:>6.2}",
        ours / bare_async
    );
    println!(
        "  throughput ratio vs bare sync                {:>6.2}",
        ours / bare_sync
    );
    println!(
        "  per-call cost, ledgervm / bare async         {:>6.2}x",
        bare_async / ours
    );
    println!(
        "  per-call cost, ledgervm / bare sync          {:>6.2}x",
        bare_sync / ours
    );
    println!("random(16) + wall clock export:");
    println!(
        "  live (recording)             {live:>10.0} {:>9.2}",
        us(live)
    );
    println!(
        "  replay                       {replay:>10.0} {:>9.2}",
        us(replay)
    );
    println!(
        "  replay / live throughput                     {:>6.2}",
        replay / live
    );
}
