//! The deterministic wasmtime engine: one [`Runtime`] per process (or per test), shared by
//! every app. It owns the `wasmtime::Engine`, the epoch ticker thread behind the
//! wall-clock deadline, the compiled-module cache and the core-module linker.
//!
//! ```
//! use ledgervm_runtime::{Runtime, RuntimeConfig};
//! let rt = Runtime::new(RuntimeConfig::default()).unwrap();
//! let fp = rt.fingerprint();
//! assert_eq!(fp.wasmtime_version, "48.0.8");
//! assert_eq!(fp.config_hash.len(), 64);
//! ```

use crate::cache::{CacheStats, ModuleCache};
use crate::core_module::{CoreHost, build_linker};
use crate::error::LoadError;
use crate::http::EgressConfig;
use crate::limits::RuntimeConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig};

/// The wasmtime version this crate is pinned to (`=48.0.8` in the workspace manifest).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Version of the `ledgervm` core import module (docs/GUEST_ABI.md). Part of the
/// fingerprint: a change in host-function semantics changes results. Version 2 added
/// `kv_get_many`, `kv_set_many` and the `MALFORMED` code.
pub const GUEST_ABI_VERSION: u32 = 2;

/// Identifies an engine configuration: two runtimes with equal fingerprints give
/// bit-identical results for the same (module, arguments, state, transcript, limits).
/// Records carry it so that a replay on another engine reports that instead of a false
/// mismatch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EngineFingerprint {
    /// e.g. `"48.0.8"`.
    pub wasmtime_version: String,
    /// Lowercase hex SHA-256 of [`EngineFingerprint::settings`]' canonical text.
    pub config_hash: String,
}

/// The wasmtime switches that can change a result. [`engine_config`] applies them and the
/// fingerprint hashes them from this one value, so the two cannot drift apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Determinism {
    nan_canonicalization: bool,
    relaxed_simd_deterministic: bool,
    consume_fuel: bool,
    epoch_interruption: bool,
}

const DETERMINISM: Determinism = Determinism {
    nan_canonicalization: true,
    relaxed_simd_deterministic: true,
    consume_fuel: true,
    epoch_interruption: true,
};

impl EngineFingerprint {
    /// The canonical text hashed into `config_hash`: one `name=value` line per setting
    /// that can change a result.
    pub fn settings(cfg: &RuntimeConfig) -> String {
        Self::settings_with(cfg, &DETERMINISM)
    }

    fn settings_with(cfg: &RuntimeConfig, d: &Determinism) -> String {
        let lines = [
            "ledgervm-engine-fingerprint=1".to_string(),
            format!("guest_abi=ledgervm/{GUEST_ABI_VERSION}"),
            format!("cranelift_nan_canonicalization={}", d.nan_canonicalization),
            format!(
                "relaxed_simd_deterministic={}",
                d.relaxed_simd_deterministic
            ),
            "wasm_threads=false(not compiled in)".to_string(),
            "shared_memory=false".to_string(),
            format!("consume_fuel={}", d.consume_fuel),
            "operator_cost=wasmtime-default".to_string(),
            format!("epoch_interruption={}", d.epoch_interruption),
            // Where recursion overflows depends on the stack size.
            format!("max_wasm_stack={}", cfg.max_wasm_stack),
            // Asking for the resolution is not an oracle because it is this constant.
            format!(
                "clock_resolution_nanos={}",
                crate::oracle::CLOCK_RESOLUTION_NANOS
            ),
            format!("max_random_bytes={}", crate::oracle::MAX_RANDOM_BYTES),
            // How a random request maps to transcript events (src/random.rs): a
            // transcript recorded one way does not replay the other way.
            "random_events=one_per_host_call".to_string(),
            "insecure_random_seed=0".to_string(),
            // Overflowing output traps at the cap (see output.rs).
            "output_overflow=trap".to_string(),
            "memory_grow_refusal=returns_-1".to_string(),
        ];
        let mut s = lines.join("\n");
        s.push('\n');
        s
    }

    fn compute(cfg: &RuntimeConfig) -> EngineFingerprint {
        Self::compute_with(cfg, &DETERMINISM)
    }

    fn compute_with(cfg: &RuntimeConfig, d: &Determinism) -> EngineFingerprint {
        EngineFingerprint {
            wasmtime_version: WASMTIME_VERSION.to_string(),
            config_hash: hex::encode(Sha256::digest(Self::settings_with(cfg, d).as_bytes())),
        }
    }
}

/// Builds the deterministic `wasmtime::Config` for `cfg`.
///
/// Async support is always available in wasmtime 48 (`Config::async_support` is a
/// no-op): calls use `instantiate_async` / `call_async` so that guests run on fibers and
/// yield to tokio at every epoch tick, and so wasmtime-wasi-http (components) works.
pub fn engine_config(cfg: &RuntimeConfig) -> Config {
    let mut c = Config::new();
    let d = DETERMINISM;
    c.cranelift_nan_canonicalization(d.nan_canonicalization)
        .relaxed_simd_deterministic(d.relaxed_simd_deterministic)
        // Threads: wasmtime is built without its `threads` feature, so the proposal
        // (and shared memories) cannot be enabled at all; stated for the record.
        .shared_memory(false)
        .consume_fuel(d.consume_fuel)
        .epoch_interruption(d.epoch_interruption)
        .max_wasm_stack(cfg.max_wasm_stack)
        // The fiber stack must hold the whole wasm stack plus host frames.
        .async_stack_size(cfg.max_wasm_stack + 1024 * 1024);

    let n = cfg.max_concurrent_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(n.saturating_mul(4))
        .total_component_instances(n)
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(2))
        .total_stacks(n)
        .max_memory_size(usize::try_from(cfg.max_memory_bytes_ceiling).unwrap_or(usize::MAX))
        .table_elements(usize::try_from(cfg.max_table_elements_ceiling).unwrap_or(usize::MAX))
        // Reset the first 64 KiB of a freed memory (and tables) with memset instead of
        // madvise: for small guests this avoids a syscall, a TLB shootdown to the other
        // cores running this process, and the page faults of the next instance. Costs
        // at most 64 KiB of resident memory per pool slot.
        .linear_memory_keep_resident(64 << 10)
        .table_keep_resident(16 << 10);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}

struct Inner {
    engine: Engine,
    config: RuntimeConfig,
    fingerprint: EngineFingerprint,
    cache: Option<ModuleCache>,
    origin: Instant,
    core_linker: Linker<CoreHost>,
    egress: Arc<EgressConfig>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

/// The shared engine. Cheap to clone (an `Arc`); dropping the last clone stops the epoch
/// ticker thread.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("fingerprint", &self.inner.fingerprint)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine, opens the module cache (if `cfg.cache_dir` is set) and starts
    /// the epoch ticker.
    pub fn new(cfg: RuntimeConfig) -> Result<Runtime, LoadError> {
        cfg.default_limits
            .check_against(&cfg)
            .map_err(LoadError::Unsupported)?;
        let engine = Engine::new(&engine_config(&cfg))
            .map_err(|e| LoadError::Unsupported(format!("engine configuration: {e}")))?;
        let cache = match &cfg.cache_dir {
            Some(dir) => Some(ModuleCache::open(dir)?),
            None => None,
        };
        let core_linker = build_linker(&engine).map_err(|e| LoadError::Link(e.to_string()))?;
        let egress = cfg
            .egress
            .to_config()
            .map_err(|e| LoadError::Unsupported(format!("egress configuration: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            let tick = cfg.epoch_tick;
            std::thread::Builder::new()
                .name("ledgervm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(LoadError::CacheIo)?
        };
        Ok(Runtime {
            inner: Arc::new(Inner {
                fingerprint: EngineFingerprint::compute(&cfg),
                engine,
                config: cfg,
                cache,
                origin: Instant::now(),
                core_linker,
                egress: Arc::new(egress),
                stop,
                ticker: Some(ticker),
            }),
        })
    }

    /// The wasmtime engine (for RT-component and tests that need raw wasmtime).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The configuration this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The engine fingerprint to put in load records.
    pub fn fingerprint(&self) -> &EngineFingerprint {
        &self.inner.fingerprint
    }

    /// Origin of live monotonic-clock readings.
    pub fn monotonic_origin(&self) -> Instant {
        self.inner.origin
    }

    /// Module-cache counters (all zero without a cache directory).
    pub fn cache_stats(&self) -> CacheStats {
        self.inner
            .cache
            .as_ref()
            .map(|c| c.stats())
            .unwrap_or_default()
    }

    /// The egress configuration built from [`RuntimeConfig::egress`], used by every
    /// component loaded with [`Runtime::load`].
    pub fn egress(&self) -> Arc<EgressConfig> {
        self.inner.egress.clone()
    }

    pub(crate) fn core_linker(&self) -> &Linker<CoreHost> {
        &self.inner.core_linker
    }

    /// Compiles a core module (binary), through the disk cache when configured.
    pub fn compile_module(&self, wasm: &[u8]) -> Result<wasmtime::Module, LoadError> {
        match &self.inner.cache {
            Some(c) => c.module(&self.inner.engine, &self.inner.fingerprint, wasm),
            None => wasmtime::Module::new(&self.inner.engine, wasm)
                .map_err(|e| LoadError::Compile(format!("{e:#}"))),
        }
    }

    /// Compiles a component (binary), through the disk cache when configured.
    pub fn compile_component(
        &self,
        wasm: &[u8],
    ) -> Result<wasmtime::component::Component, LoadError> {
        match &self.inner.cache {
            Some(c) => c.component(&self.inner.engine, &self.inner.fingerprint, wasm),
            None => wasmtime::component::Component::new(&self.inner.engine, wasm)
                .map_err(|e| LoadError::Compile(format!("{e:#}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_covers_stack_size() {
        let a = EngineFingerprint::compute(&RuntimeConfig::default());
        let b = EngineFingerprint::compute(&RuntimeConfig {
            max_wasm_stack: 256 * 1024,
            ..RuntimeConfig::default()
        });
        assert_ne!(a.config_hash, b.config_hash);
        // Settings that cannot change a result do not change the fingerprint.
        let c = EngineFingerprint::compute(&RuntimeConfig {
            max_concurrent_instances: 7,
            ..RuntimeConfig::default()
        });
        assert_eq!(a, c);
    }

    /// The fingerprint of the default configuration, pinned. If this fails, a setting
    /// that records carry changed: that is a format change (old records will report an
    /// engine mismatch on replay), so update the value only on purpose and say so.
    const DEFAULT_CONFIG_HASH: &str =
        "dc14d6645b41f092126a5172dc7d3296a68edaa3fd03bb4f96461bfa0c0f1a91";

    #[test]
    fn fingerprint_is_pinned() {
        let fp = EngineFingerprint::compute(&RuntimeConfig::default());
        assert_eq!(fp.wasmtime_version, "48.0.8");
        assert_eq!(fp.config_hash, DEFAULT_CONFIG_HASH);
        assert_eq!(
            Runtime::new(RuntimeConfig::default())
                .unwrap()
                .fingerprint()
                .config_hash,
            DEFAULT_CONFIG_HASH
        );
    }

    #[test]
    fn every_determinism_switch_changes_the_fingerprint() {
        let cfg = RuntimeConfig::default();
        let base = EngineFingerprint::compute(&cfg);
        let flips = [
            Determinism {
                nan_canonicalization: false,
                ..DETERMINISM
            },
            Determinism {
                relaxed_simd_deterministic: false,
                ..DETERMINISM
            },
            Determinism {
                consume_fuel: false,
                ..DETERMINISM
            },
            Determinism {
                epoch_interruption: false,
                ..DETERMINISM
            },
        ];
        let mut seen = std::collections::HashSet::from([base.config_hash.clone()]);
        for d in flips {
            let fp = EngineFingerprint::compute_with(&cfg, &d);
            assert!(seen.insert(fp.config_hash), "{d:?} did not change it");
        }
        for stack in [256 * 1024, 1024 * 1024] {
            let fp = EngineFingerprint::compute(&RuntimeConfig {
                max_wasm_stack: stack,
                ..RuntimeConfig::default()
            });
            assert!(seen.insert(fp.config_hash), "max_wasm_stack {stack}");
        }
    }
}
