//! Per-call resource limits and the runtime-wide configuration they are checked against.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Wasm page size: limits on memory are applied in whole pages.
pub const WASM_PAGE: u64 = 64 * 1024;

/// Resource limits for one call (per app; the node stores them with the app).
///
/// Only `fuel`, `max_memory_bytes`, `max_table_elements` and `max_output_bytes` can change
/// an outcome, and they do so deterministically. `deadline` is a wall-clock safety net:
/// when it fires the fuel consumed is recorded so a replay stops at the same point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fuel per call (roughly one unit per wasm operator). Default 10,000,000, as in
    /// Enclave OS.
    pub fuel: u64,
    /// Maximum linear memory per memory, in bytes (rounded down to whole pages).
    /// `memory.grow` beyond it returns -1.
    pub max_memory_bytes: u64,
    /// Maximum elements per table; `table.grow` beyond it returns -1.
    pub max_table_elements: u64,
    /// Maximum bytes per output stream (stdout, stderr). Writing more ends the call with
    /// [`crate::CallError::OutputLimit`].
    pub max_output_bytes: usize,
    /// Wall-clock deadline for the whole call.
    #[serde(with = "duration_ms")]
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel: 10_000_000,
            max_memory_bytes: 64 * 1024 * 1024,
            max_table_elements: 100_000,
            max_output_bytes: 1024 * 1024,
            deadline: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// Checks these limits against the runtime's ceilings (the pooling allocator's slot
    /// sizes). Returns a message naming the offending limit.
    pub fn check_against(&self, cfg: &RuntimeConfig) -> Result<(), String> {
        if self.max_memory_bytes > cfg.max_memory_bytes_ceiling {
            return Err(format!(
                "max_memory_bytes {} exceeds the runtime ceiling {}",
                self.max_memory_bytes, cfg.max_memory_bytes_ceiling
            ));
        }
        if self.max_table_elements > cfg.max_table_elements_ceiling {
            return Err(format!(
                "max_table_elements {} exceeds the runtime ceiling {}",
                self.max_table_elements, cfg.max_table_elements_ceiling
            ));
        }
        if self.deadline.is_zero() {
            return Err("deadline must be positive".into());
        }
        Ok(())
    }
}

/// Runtime-wide settings: the engine and its instance pool. Everything here that can
/// change an outcome is covered by the [`crate::EngineFingerprint`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Limits used when a call does not bring its own.
    pub default_limits: Limits,
    /// Native stack available to wasm, in bytes. Engine-wide (wasmtime sets it per
    /// engine), and part of the fingerprint because it decides where recursion overflows.
    pub max_wasm_stack: usize,
    /// Largest `max_memory_bytes` any call may ask for: the pool's per-memory slot size.
    pub max_memory_bytes_ceiling: u64,
    /// Largest `max_table_elements` any call may ask for: the pool's per-table size.
    pub max_table_elements_ceiling: u64,
    /// How many instances may be live at once (core instances; components get the same
    /// number of component slots). Calls beyond it fail with `Internal`.
    pub max_concurrent_instances: u32,
    /// Epoch tick: the granularity of the wall-clock deadline.
    pub epoch_tick: Duration,
    /// Directory for the compiled-module cache; `None` disables the disk cache.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Outbound HTTPS for components loaded with [`crate::Runtime::load`]: allow rules
    /// for non-public destinations and extra root CAs. The default refuses every
    /// non-public address and trusts Mozilla's roots.
    pub egress: crate::http::EgressSettings,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            default_limits: Limits::default(),
            max_wasm_stack: 512 * 1024,
            max_memory_bytes_ceiling: 256 * 1024 * 1024,
            max_table_elements_ceiling: 1_000_000,
            max_concurrent_instances: 128,
            epoch_tick: Duration::from_millis(5),
            cache_dir: None,
            egress: crate::http::EgressSettings::default(),
        }
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_the_default_ceilings() {
        let cfg = RuntimeConfig::default();
        assert_eq!(cfg.default_limits.fuel, 10_000_000);
        cfg.default_limits.check_against(&cfg).unwrap();
    }

    #[test]
    fn over_ceiling_is_named() {
        let cfg = RuntimeConfig::default();
        let l = Limits {
            max_memory_bytes: cfg.max_memory_bytes_ceiling + 1,
            ..Limits::default()
        };
        assert!(
            l.check_against(&cfg)
                .unwrap_err()
                .contains("max_memory_bytes")
        );
        let l = Limits {
            max_table_elements: cfg.max_table_elements_ceiling + 1,
            ..Limits::default()
        };
        assert!(
            l.check_against(&cfg)
                .unwrap_err()
                .contains("max_table_elements")
        );
        let l = Limits {
            deadline: Duration::ZERO,
            ..Limits::default()
        };
        assert!(l.check_against(&cfg).is_err());
    }

    #[test]
    fn limits_json_round_trip() {
        let l = Limits::default();
        let j = serde_json::to_string(&l).unwrap();
        assert!(j.contains("\"deadline\":5000"), "{j}");
        assert_eq!(serde_json::from_str::<Limits>(&j).unwrap(), l);
    }
}
