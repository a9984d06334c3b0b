//! Random bytes as one oracle event per host call.
//!
//! wasmtime-wasi 48 serves `wasi:random/random.get-random-bytes(n)` (and p1 `random_get`,
//! which goes through it) by drawing one RNG word *per byte*, so with the oracle as the
//! RNG a 4-byte request became four 4-byte transcript events. This module shadows those
//! host functions so that each guest request is exactly one [`OracleEvent::Random`]
//! holding exactly the bytes the guest received. A replay then checks the request's
//! length against the recorded event, and a divergence names the host call
//! (`random(4 bytes)`), not a fragment of it.
//!
//! The default insecure seed stays wasmtime-wasi's (a constant, see
//! [`crate::oracle::Oracles::configure_wasi`]); the RNG hooks installed there remain as a
//! fallback for any wasmtime-wasi path not shadowed here.
//!
//! [`OracleEvent::Random`]: crate::transcript::OracleEvent::Random

use crate::oracle::{MAX_RANDOM_BYTES, Oracles};

/// The `wasi:random` version wasmtime-wasi 48.0.8 defines; guests importing any
/// semver-compatible 0.2.x resolve to it.
const WASI_RANDOM: &str = "wasi:random/random@0.2.12";
const WASI_INSECURE: &str = "wasi:random/insecure@0.2.12";

/// p1 `errno` for a buffer outside linear memory (`EFAULT`), as wasmtime-wasi returns.
const ERRNO_FAULT: i32 = 21;

/// Store data that can hand out the call's oracles.
pub trait RandomHost {
    /// The call's oracle handle.
    fn oracles(&self) -> &Oracles;
}

/// `n` random bytes from the oracle, one event. Over [`MAX_RANDOM_BYTES`] traps, as
/// wasmtime-wasi does.
fn draw(oracles: &Oracles, n: u64) -> wasmtime::Result<Vec<u8>> {
    if n > MAX_RANDOM_BYTES {
        wasmtime::bail!("requested {n} random bytes, more than the limit {MAX_RANDOM_BYTES}");
    }
    let mut buf = vec![0u8; usize::try_from(n)?];
    oracles.random(&mut buf);
    Ok(buf)
}

fn draw_u64(oracles: &Oracles) -> u64 {
    let mut b = [0u8; 8];
    oracles.random(&mut b);
    u64::from_le_bytes(b)
}

/// Replaces `get-random-bytes`, `get-random-u64` and their insecure twins in a component
/// linker that already has wasmtime-wasi's p2 interfaces.
pub fn shadow_component<T: RandomHost + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    for (iface, bytes_fn, u64_fn) in [
        (WASI_RANDOM, "get-random-bytes", "get-random-u64"),
        (
            WASI_INSECURE,
            "get-insecure-random-bytes",
            "get-insecure-random-u64",
        ),
    ] {
        let mut inst = linker.instance(iface)?;
        inst.func_wrap(
            bytes_fn,
            |store: wasmtime::StoreContextMut<'_, T>, (n,): (u64,)| {
                Ok((draw(store.data().oracles(), n)?,))
            },
        )?;
        inst.func_wrap(u64_fn, |store: wasmtime::StoreContextMut<'_, T>, (): ()| {
            Ok((draw_u64(store.data().oracles()),))
        })?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// Replaces p1 `random_get` in a core-module linker that already has wasmtime-wasi's p1.
pub fn shadow_core<T: RandomHost + 'static>(
    linker: &mut wasmtime::Linker<T>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "random_get",
        |mut caller: wasmtime::Caller<'_, T>, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            let Some(wasmtime::Extern::Memory(mem)) = caller.get_export("memory") else {
                wasmtime::bail!("random_get: the module exports no memory");
            };
            // Unsigned, as WASI reads pointers and sizes. The cap is checked first (a
            // trap, as in wasmtime-wasi), then the bounds (EFAULT, nothing drawn).
            let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
            if len as u64 > MAX_RANDOM_BYTES {
                return draw(caller.data().oracles(), len as u64).map(|_| ERRNO_FAULT);
            }
            let Some(end) = ptr.checked_add(len) else {
                return Ok(ERRNO_FAULT);
            };
            if end > mem.data_size(&caller) {
                return Ok(ERRNO_FAULT);
            }
            let bytes = draw(caller.data().oracles(), len as u64)?;
            mem.data_mut(&mut caller)[ptr..end].copy_from_slice(&bytes);
            Ok(0)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{CallMode, OracleEvent};
    use std::time::Instant;

    #[test]
    fn one_event_per_draw_and_the_cap() {
        let o = Oracles::new(&CallMode::Live, Instant::now());
        let bytes = draw(&o, 16).unwrap();
        let x = draw_u64(&o);
        assert!(draw(&o, MAX_RANDOM_BYTES + 1).is_err());
        let (t, _) = o.finish();
        assert_eq!(
            t.events,
            vec![
                OracleEvent::Random { bytes },
                OracleEvent::Random {
                    bytes: x.to_le_bytes().to_vec()
                }
            ]
        );
    }
}
