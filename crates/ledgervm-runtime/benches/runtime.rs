//! Runtime benchmark, one run, plain `main` (`harness = false`):
//!
//! 1. instantiate-and-call of a trivial export through ledgervm-runtime (live mode:
//!    recording on, WASI p1 context, limits, outcome mapping) against bare wasmtime
//!    loops on an engine with the same configuration and pooling allocator
//!    (`InstancePre` + new `Store` + fuel + call), both the async path ledgervm uses and
//!    the sync path (the floor);
//! 2. replay calls against live calls for an export that takes random bytes and a clock
//!    reading.
//!
//! The machine is shared and noisy, so variants are measured in *interleaved rounds*
//! (every variant runs a slice of each round, so a burst of outside load hits them all
//! alike) and in *thread CPU time* (time this thread was descheduled does not count).
//! Calls per CPU-second is the primary figure; wall-clock rates are printed beside it.
//!
//! `cargo bench --workspace --bench runtime` (optional: `LEDGERVM_BENCH_SECS=2` of wall
//! time per variant). Figures go to docs/BENCHMARKS.md. For profiling one variant alone,
//! `LEDGERVM_BENCH_ONLY=<part of its name>[|<part>…]` skips the others (their figures
//! print as NaN), e.g. under `perf record --call-graph dwarf`, or to compare two builds
//! on just `bare wasmtime, async|ledgervm`.

// The allocator the `ledgervm` binary ships with (see its main.rs), for both the bare
// loops and ledgervm's: the ratio is measured as the product runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

const ROUNDS: u32 = 20;

/// A memory/table limiter that allows everything (the cost of having one).
struct Limiter;

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _: usize, _: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
    fn table_growing(&mut self, _: usize, _: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

fn secs() -> Duration {
    let s: f64 = std::env::var("LEDGERVM_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(s)
}

/// CPU time consumed by the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One measured variant.
struct Variant<'a> {
    name: &'static str,
    run: Box<dyn FnMut() + 'a>,
    calls: u64,
    cpu: Duration,
    wall: Duration,
}

impl<'a> Variant<'a> {
    fn new(name: &'static str, run: impl FnMut() + 'a) -> Variant<'a> {
        Variant {
            name,
            run: Box::new(run),
            calls: 0,
            cpu: Duration::ZERO,
            wall: Duration::ZERO,
        }
    }
    /// Calls per second of this thread's CPU time.
    fn cpu_rate(&self) -> f64 {
        self.calls as f64 / self.cpu.as_secs_f64()
    }
    fn wall_rate(&self) -> f64 {
        self.calls as f64 / self.wall.as_secs_f64()
    }
    fn us(&self) -> f64 {
        1e6 / self.cpu_rate()
    }
}

/// Runs every variant for `budget` of wall time in total, interleaved over [`ROUNDS`].
fn measure(budget: Duration, variants: &mut [Variant<'_>]) {
    let only = std::env::var("LEDGERVM_BENCH_ONLY").unwrap_or_default();
    let mut variants: Vec<&mut Variant<'_>> = variants
        .iter_mut()
        .filter(|v| only.split('|').any(|part| v.name.contains(part)))
        .collect();
    for v in variants.iter_mut() {
        for _ in 0..200 {
            (v.run)(); // warm-up: pool slots, caches
        }
    }
    let slice = budget / ROUNDS;
    for _ in 0..ROUNDS {
        for v in variants.iter_mut() {
            let (w0, c0) = (Instant::now(), thread_cpu());
            while w0.elapsed() < slice {
                for _ in 0..50 {
                    (v.run)();
                }
                v.calls += 50;
            }
            v.cpu += thread_cpu() - c0;
            v.wall += w0.elapsed();
        }
    }
}

fn print(variants: &[Variant<'_>]) {
    for v in variants {
        println!(
            "  {:<34} {:>10.0} {:>8.2} {:>12.0}",
            v.name,
            v.cpu_rate(),
            v.us(),
            v.wall_rate()
        );
    }
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
    let pre_limited = Linker::<Limiter>::new(&engine)
        .instantiate_pre(&module)
        .unwrap();

    let rt = Runtime::new(cfg).unwrap();
    let app = rt.load(TRIVIAL.as_bytes()).unwrap();
    let st = state::shared(MemoryState::new());

    let tokio = &tokio;
    let mut trivial = [
        Variant::new("bare wasmtime, sync", || {
            let mut store = Store::new(&engine, ());
            store.set_fuel(fuel).unwrap();
            store.set_epoch_deadline(1_000_000);
            let i = pre.instantiate(&mut store).unwrap();
            let f = i.get_typed_func::<(), i32>(&mut store, "one").unwrap();
            assert_eq!(f.call(&mut store, ()).unwrap(), 1);
        }),
        Variant::new("bare wasmtime, async", || {
            tokio.block_on(async {
                let mut store = Store::new(&engine, ());
                store.set_fuel(fuel).unwrap();
                store.set_epoch_deadline(1_000_000);
                let i = pre.instantiate_async(&mut store).await.unwrap();
                let f = i.get_typed_func::<(), i32>(&mut store, "one").unwrap();
                assert_eq!(f.call_async(&mut store, ()).await.unwrap(), 1);
            })
        }),
        Variant::new("  async + store setup as ledgervm", || {
            tokio.block_on(async {
                let mut store = Store::new(&engine, Limiter);
                store.limiter(|l| l as &mut dyn wasmtime::ResourceLimiter);
                store.set_fuel(fuel).unwrap();
                store.fuel_async_yield_interval(Some(1_000_000)).unwrap();
                store.set_epoch_deadline(1);
                let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                store.epoch_deadline_callback(move |_| {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                    Ok(wasmtime::UpdateDeadline::Yield(1))
                });
                let i = pre_limited.instantiate_async(&mut store).await.unwrap();
                let f = i.get_typed_func::<(), i32>(&mut store, "one").unwrap();
                assert_eq!(f.call_async(&mut store, ()).await.unwrap(), 1);
            })
        }),
        Variant::new("  async + untyped call by name", || {
            tokio.block_on(async {
                let mut store = Store::new(&engine, ());
                store.set_fuel(fuel).unwrap();
                store.set_epoch_deadline(1_000_000);
                let i = pre.instantiate_async(&mut store).await.unwrap();
                let f = i.get_func(&mut store, "one").unwrap();
                let mut out = vec![wasmtime::Val::I32(0); f.ty(&store).results().len()];
                f.call_async(&mut store, &[], &mut out).await.unwrap();
                assert_eq!(out[0].unwrap_i32(), 1);
            })
        }),
        Variant::new("ledgervm-runtime, live", || {
            let out = tokio.block_on(app.call(CallRequest::live("one", vec![]), st.clone()));
            assert_eq!(out.result, Ok(vec![Value::I32(1)]));
        }),
    ];
    measure(budget, &mut trivial);
    let [bare_sync, bare_async, _, _, ours] = &trivial;

    // Live versus replay with oracles.
    let oracle = rt.load(ORACLE.as_bytes()).unwrap();
    let recorded = tokio.block_on(oracle.call(CallRequest::live("draw", vec![]), st.clone()));
    assert_eq!(recorded.transcript.events.len(), 2);
    let mut oracles = [
        Variant::new("live (recording)", || {
            let out = tokio.block_on(oracle.call(CallRequest::live("draw", vec![]), st.clone()));
            assert!(out.result.is_ok());
        }),
        Variant::new("replay", || {
            let out = tokio.block_on(oracle.call(
                CallRequest::replay("draw", vec![], recorded.transcript.clone()),
                st.clone(),
            ));
            assert_eq!(out.result, recorded.result);
        }),
    ];
    measure(budget, &mut oracles);
    let [live, replay] = &oracles;

    println!(
        "ledgervm-runtime benchmark ({:.1}s wall per variant in {ROUNDS} interleaved rounds, one thread)",
        budget.as_secs_f64()
    );
    println!("instantiate+call trivial export:    calls/CPU-s  us/call  calls/wall-s");
    print(&trivial);
    println!(
        "  throughput ratio vs bare async (goal >= 0.8)   {:>6.2}",
        ours.cpu_rate() / bare_async.cpu_rate()
    );
    println!(
        "  throughput ratio vs bare sync                  {:>6.2}",
        ours.cpu_rate() / bare_sync.cpu_rate()
    );
    println!(
        "  extra per call vs bare async                   {:>6.2} us",
        ours.us() - bare_async.us()
    );
    println!("random(16) + wall clock export:");
    print(&oracles);
    println!(
        "  replay / live throughput                       {:>6.2}",
        replay.cpu_rate() / live.cpu_rate()
    );
}
