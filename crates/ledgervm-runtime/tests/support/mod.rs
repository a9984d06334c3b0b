//! Shared helpers for the component and HTTP integration tests.

#![allow(dead_code)]

pub mod https_server;

use ledgervm_runtime::component::{ComponentOptions, load_component};
use ledgervm_runtime::http::EgressConfig;
use ledgervm_runtime::http::policy::EgressPolicy;
use ledgervm_runtime::{LoadedApp, Runtime, RuntimeConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// Where `scripts/build-guests` puts guest artifacts.
pub fn guests_dir() -> PathBuf {
    match std::env::var_os("LEDGERVM_GUESTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => manifest_dir().join("../../guests/out"),
    }
}

/// The enclave-example component's bytes. Panics (the test fails, it does not skip)
/// when the guests have not been built.
pub fn enclave_example_wasm() -> Vec<u8> {
    let p = guests_dir().join("enclave_example.wasm");
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the guests first with scripts/build-guests",
            p.display()
        )
    })
}

/// A runtime with default settings.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).unwrap()
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
