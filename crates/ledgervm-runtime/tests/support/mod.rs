//! Shared helpers for the runtime's integration tests (one module for all of them):
//! where the built guests are, a small runtime, call shorthands, and the local HTTPS
//! server with egress settings for the component and HTTP tests.
#![allow(dead_code)]

pub mod https_server;

use ledgervm_runtime::component::{ComponentOptions, load_component};
use ledgervm_runtime::http::EgressConfig;
use ledgervm_runtime::http::policy::EgressPolicy;
use ledgervm_runtime::state::{self, MemoryState};
use ledgervm_runtime::value::Value;
use ledgervm_runtime::{CallOutcome, CallRequest, LoadedApp, Runtime, RuntimeConfig, SharedState};
use std::path::PathBuf;
use std::sync::Arc;

/// `LEDGERVM_GUESTS_DIR`, or `<repo>/guests/out` (filled by `scripts/build-guests`).
pub fn guests_dir() -> PathBuf {
    match std::env::var_os("LEDGERVM_GUESTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => manifest_dir().join("../../guests/out"),
    }
}

/// The bytes of a built guest (`sum.wasm`, `hostile-loop.wat`, …).
pub fn guest(name: &str) -> Vec<u8> {
    let p = guests_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — build the guests first: scripts/build-guests",
            p.display()
        )
    })
}

/// A runtime with a small pool (tests run many runtimes in one process).
pub fn runtime() -> Runtime {
    Runtime::new(config()).unwrap()
}

/// The small-pool configuration used by [`runtime`].
pub fn config() -> RuntimeConfig {
    RuntimeConfig {
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    }
}

/// Loads a guest by file name.
pub fn load(rt: &Runtime, name: &str) -> LoadedApp {
    rt.load(&guest(name))
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// Fresh empty state.
pub fn fresh_state() -> SharedState {
    state::shared(MemoryState::new())
}

/// Runs a future to completion on a current-thread tokio runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A live call with fresh state.
pub async fn call(app: &LoadedApp, func: &str, args: Vec<Value>) -> CallOutcome {
    app.call(CallRequest::live(func, args), fresh_state()).await
}

/// Replays `live` (same function and arguments, its transcript) with fresh state.
pub async fn replay(
    app: &LoadedApp,
    func: &str,
    args: Vec<Value>,
    live: &CallOutcome,
) -> CallOutcome {
    app.call(
        CallRequest::replay(func, args, live.transcript.clone()),
        fresh_state(),
    )
    .await
}

/// The enclave-example component's bytes. Panics (the test fails, it does not skip)
/// when the guests have not been built.
pub fn enclave_example_wasm() -> Vec<u8> {
    guest("enclave_example.wasm")
}

/// Egress for the local test server: allow exactly its address, trust only its CA.
pub fn egress_for(server: &https_server::TestServer) -> EgressConfig {
    let rule = format!("127.0.0.1:{}", server.addr.port()).parse().unwrap();
    EgressConfig::new(EgressPolicy::new(vec![rule]))
        .with_roots(std::slice::from_ref(&server.ca_der), false)
        .unwrap()
}

/// Loads enclave-example with `egress`.
pub fn load_enclave(rt: &Runtime, egress: EgressConfig) -> LoadedApp {
    load_component(
        rt,
        &enclave_example_wasm(),
        ComponentOptions {
            egress: Arc::new(egress),
        },
    )
    .unwrap()
}

/// The crate's directory, read at run time: the shared target directory may hold a test
/// binary that was built in another checkout, and `env!` would point there.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
