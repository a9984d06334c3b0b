//! The `ledgervm` core import module (version [`crate::engine::GUEST_ABI_VERSION`]): the
//! caller's identity and the app's key-value state for WASI Preview 1 core modules.
//! Documented for guest authors in `docs/GUEST_ABI.md`; keep the two in step.
//!
//! Every function takes `(ptr, len)` pairs into the guest's exported `memory`, checks
//! each range before touching it, and returns a non-negative `i32` on success or one of
//! the negative codes below. A failing state *backend* is not a guest-visible code: it
//! ends the call as `Internal` (the result would not be a function of the log).
//!
//! Each call charges [`HOSTCALL_FUEL`] plus one unit per [`FUEL_BYTES_PER_UNIT`] bytes
//! moved, so state traffic is bounded by the fuel limit like everything else.

pub mod batch;

use crate::exec::StateBackendFailure;
use crate::state::{SharedState, StateError};
use wasmtime::{Caller, Extern, Linker, Memory, Trap};

/// The import module name.
pub const MODULE: &str = "ledgervm";

/// Not found (key absent; or anonymous caller for `caller_id`).
pub const ERR_NOT_FOUND: i32 = -1;
/// A `(ptr, len)` range is outside the guest's memory, a length is negative, or the
/// module exports no `memory`.
pub const ERR_BAD_POINTER: i32 = -2;
/// Key longer than 256 bytes.
pub const ERR_KEY_TOO_LARGE: i32 = -3;
/// Value longer than 1 MiB.
pub const ERR_VALUE_TOO_LARGE: i32 = -4;
/// The output buffer cannot hold even one item (`kv_list_keys`).
pub const ERR_BUFFER_TOO_SMALL: i32 = -5;
/// `kv_increment` on a value that is not an 8-byte little-endian integer.
pub const ERR_NOT_AN_INTEGER: i32 = -6;
/// `kv_increment` would overflow.
pub const ERR_OVERFLOW: i32 = -7;

/// The write would grow the app's state past its key limit.
pub const ERR_TOO_MANY_KEYS: i32 = -8;

/// A batch buffer (`kv_get_many` keys, `kv_set_many` entries) is not a whole number of
/// length-prefixed items.
pub const ERR_MALFORMED: i32 = -9;

/// Base fuel charged per host call.
pub const HOSTCALL_FUEL: u64 = 100;
/// Bytes per extra unit of fuel.
pub const FUEL_BYTES_PER_UNIT: u64 = 16;

/// Host data the module needs from the store.
pub trait AbiHost: Send + 'static {
    /// The caller id exposed to the guest.
    fn caller_id(&self) -> Option<&str>;
    /// The app's state.
    fn state(&self) -> &SharedState;
}

/// A guest-visible failure (negative code) or a trap.
enum Fail {
    Code(i32),
    Trap(wasmtime::Error),
}

impl From<StateError> for Fail {
    fn from(e: StateError) -> Fail {
        match e {
            StateError::KeyTooLarge(_) => Fail::Code(ERR_KEY_TOO_LARGE),
            StateError::ValueTooLarge(_) => Fail::Code(ERR_VALUE_TOO_LARGE),
            StateError::NotAnInteger => Fail::Code(ERR_NOT_AN_INTEGER),
            StateError::Overflow => Fail::Code(ERR_OVERFLOW),
            StateError::TooManyKeys(_) => Fail::Code(ERR_TOO_MANY_KEYS),
            StateError::Backend(m) => Fail::Trap(wasmtime::Error::new(StateBackendFailure(m))),
        }
    }
}

impl From<batch::BatchError> for Fail {
    fn from(e: batch::BatchError) -> Fail {
        match e {
            batch::BatchError::Malformed(_) => Fail::Code(ERR_MALFORMED),
            batch::BatchError::KeyTooLarge(_) => Fail::Code(ERR_KEY_TOO_LARGE),
            batch::BatchError::ValueTooLarge(_) => Fail::Code(ERR_VALUE_TOO_LARGE),
        }
    }
}

type R = Result<i32, Fail>;

fn finish(r: R) -> wasmtime::Result<i32> {
    match r {
        Ok(n) => Ok(n),
        Err(Fail::Code(c)) => Ok(c),
        Err(Fail::Trap(e)) => Err(e),
    }
}

fn memory<T>(caller: &mut Caller<'_, T>) -> Result<Memory, Fail> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(Fail::Code(ERR_BAD_POINTER)),
    }
}

/// Checks `(ptr, len)` against a memory of `size` bytes; pure. Pointers are wasm32
/// addresses (the i32's bits read as u32); lengths must be non-negative.
pub fn range(size: usize, ptr: i32, len: i32) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(ptr as u32).ok()?;
    let len = usize::try_from(u32::try_from(len).ok()?).ok()?;
    let end = start.checked_add(len)?;
    (end <= size).then_some(start..end)
}

fn read<T>(caller: &mut Caller<'_, T>, mem: Memory, ptr: i32, len: i32) -> Result<Vec<u8>, Fail> {
    let data = mem.data(&*caller);
    let r = range(data.len(), ptr, len).ok_or(Fail::Code(ERR_BAD_POINTER))?;
    Ok(data[r].to_vec())
}

fn write<T>(caller: &mut Caller<'_, T>, mem: Memory, ptr: i32, bytes: &[u8]) -> Result<(), Fail> {
    let len = i32::try_from(bytes.len()).map_err(|_| Fail::Code(ERR_BAD_POINTER))?;
    let data = mem.data_mut(&mut *caller);
    let r = range(data.len(), ptr, len).ok_or(Fail::Code(ERR_BAD_POINTER))?;
    data[r].copy_from_slice(bytes);
    Ok(())
}

/// Charges fuel for a host call moving `bytes` bytes.
fn charge<T>(caller: &mut Caller<'_, T>, bytes: usize) -> Result<(), Fail> {
    let cost = HOSTCALL_FUEL + bytes as u64 / FUEL_BYTES_PER_UNIT;
    let left = caller.get_fuel().map_err(Fail::Trap)?;
    if left < cost {
        caller.set_fuel(0).map_err(Fail::Trap)?;
        return Err(Fail::Trap(wasmtime::Error::new(Trap::OutOfFuel)));
    }
    caller.set_fuel(left - cost).map_err(Fail::Trap)
}

/// Copies `value` into `(buf, cap)` if it fits and returns its full length (so a guest
/// with too small a buffer learns the size and retries).
fn copy_out<T>(caller: &mut Caller<'_, T>, mem: Memory, buf: i32, cap: i32, value: &[u8]) -> R {
    let n = i32::try_from(value.len()).map_err(|_| Fail::Code(ERR_VALUE_TOO_LARGE))?;
    if cap < 0 {
        return Err(Fail::Code(ERR_BAD_POINTER));
    }
    if n <= cap {
        write(caller, mem, buf, value)?;
    }
    Ok(n)
}

/// Registers the module's functions on `linker`.
pub fn add_to_linker<T: AbiHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "caller_id",
        |mut c: Caller<'_, T>, buf: i32, cap: i32| {
            finish((|| {
                charge(&mut c, 0)?;
                let Some(id) = c.data().caller_id().map(|s| s.as_bytes().to_vec()) else {
                    return Err(Fail::Code(ERR_NOT_FOUND));
                };
                let mem = memory(&mut c)?;
                copy_out(&mut c, mem, buf, cap, &id)
            })())
        },
    )?;

    linker.func_wrap(
        MODULE,
        "kv_get",
        |mut c: Caller<'_, T>, kp: i32, kl: i32, buf: i32, cap: i32| {
            finish((|| {
                let mem = memory(&mut c)?;
                let key = read(&mut c, mem, kp, kl)?;
                let value = c.data().state().lock().get(&key)?;
                let Some(value) = value else {
                    charge(&mut c, key.len())?;
                    return Err(Fail::Code(ERR_NOT_FOUND));
                };
                charge(&mut c, key.len() + value.len())?;
                copy_out(&mut c, mem, buf, cap, &value)
            })())
        },
    )?;

    linker.func_wrap(
        MODULE,
        "kv_set",
        |mut c: Caller<'_, T>, kp: i32, kl: i32, vp: i32, vl: i32| {
            finish((|| {
                let mem = memory(&mut c)?;
                let key = read(&mut c, mem, kp, kl)?;
                let value = read(&mut c, mem, vp, vl)?;
                charge(&mut c, key.len() + value.len())?;
                c.data().state().lock().set(&key, &value)?;
                Ok(0)
            })())
        },
    )?;

    linker.func_wrap(
        MODULE,
        "kv_delete",
        |mut c: Caller<'_, T>, kp: i32, kl: i32| {
            finish((|| {
                let mem = memory(&mut c)?;
                let key = read(&mut c, mem, kp, kl)?;
                charge(&mut c, key.len())?;
                Ok(i32::from(c.data().state().lock().delete(&key)?))
            })())
        },
    )?;

    linker.func_wrap(
        MODULE,
        "kv_exists",
        |mut c: Caller<'_, T>, kp: i32, kl: i32| {
            finish((|| {
                let mem = memory(&mut c)?;
                let key = read(&mut c, mem, kp, kl)?;
                charge(&mut c, key.len())?;
                Ok(i32::from(c.data().state().lock().exists(&key)?))
            })())
        },
    )?;

    linker.func_wrap(
        MODULE,
        "kv_increment",
        |mut c: Caller<'_, T>, kp: i32, kl: i32, delta: i64, out: i32| {
            finish((|| {
                let mem = memory(&mut c)?;
                let key = read(&mut c, mem, kp, kl)?;
                // Check the output slot before changing state, so a bad pointer
                // leaves the state untouched.
                range(mem.data_size(&c), out, 8).ok_or(Fail::Code(ERR_BAD_POINTER))?;
                charge(&mut c, key.len() + 8)?;
                let new = c.data().state().lock().increment(&key, delta)?;
                write(&mut c, mem, out, &new.to_le_bytes())?;
                Ok(0)
            })())
        },
    )?;

    linker.func_wrap(
        MODULE,
        "kv_cas",
        |mut c: Caller<'_, T>, kp: i32, kl: i32, ep: i32, el: i32, np: i32, nl: i32| {
            finish((|| {
                let mem = memory(&mut c)?;
                let key = read(&mut c, mem, kp, kl)?;
                // el == -1: expect the key to be absent.
                let expected = if el == -1 {
                    None
                } else {
                    Some(read(&mut c, mem, ep, el)?)
                };
                let new = read(&mut c, mem, np, nl)?;
                charge(
                    &mut c,
                    key.len() + expected.as_ref().map_or(0, Vec::len) + new.len(),
                )?;
                let swapped =
                    c.data()
                        .state()
                        .lock()
                        .compare_and_swap(&key, expected.as_deref(), &new)?;
                Ok(i32::from(swapped))
            })())
        },
    )?;

    linker.func_wrap(
        MODULE,
        "kv_list_keys",
        |mut c: Caller<'_, T>, pp: i32, pl: i32, ap: i32, al: i32, buf: i32, cap: i32| {
            finish((|| {
                let mem = memory(&mut c)?;
                let prefix = read(&mut c, mem, pp, pl)?;
                // al == -1: start from the first key with the prefix.
                let after = if al == -1 {
                    None
                } else {
                    Some(read(&mut c, mem, ap, al)?)
                };
                let cap_bytes = usize::try_from(cap).map_err(|_| Fail::Code(ERR_BAD_POINTER))?;
                range(mem.data_size(&c), buf, cap).ok_or(Fail::Code(ERR_BAD_POINTER))?;
                // Each entry takes at least 4 bytes, which bounds how many can fit.
                let limit = cap_bytes / 4;
                let keys = c
                    .data()
                    .state()
                    .lock()
                    .list_keys(&prefix, after.as_deref(), limit)?;
                let mut out = Vec::new();
                for k in &keys {
                    if out.len() + 4 + k.len() > cap_bytes {
                        break;
                    }
                    out.extend_from_slice(&(k.len() as u32).to_le_bytes());
                    out.extend_from_slice(k);
                }
                if out.is_empty() && !keys.is_empty() {
                    return Err(Fail::Code(ERR_BUFFER_TOO_SMALL));
                }
                charge(&mut c, prefix.len() + out.len())?;
                write(&mut c, mem, buf, &out)?;
                Ok(out.len() as i32)
            })())
        },
    )?;
    add_batch_to_linker(linker)
}

/// `kv_get_many` and `kv_set_many` (guest ABI version 2).
fn add_batch_to_linker<T: AbiHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "kv_get_many",
        |mut c: Caller<'_, T>, kp: i32, kl: i32, buf: i32, cap: i32| {
            finish((|| {
                let mem = memory(&mut c)?;
                let input = read(&mut c, mem, kp, kl)?;
                let keys = batch::parse_keys(&input)?;
                if cap < 0 {
                    return Err(Fail::Code(ERR_BAD_POINTER));
                }
                let cap = cap as usize;
                // Read one key at a time and charge as we go, so a guest cannot make the
                // host hold more than its fuel pays for; once the answer outgrows `cap`
                // only its length is still needed.
                charge(&mut c, input.len())?;
                let (mut out, mut total) = (Vec::new(), 0usize);
                for key in keys {
                    let value = c.data().state().lock().get(key)?;
                    charge(&mut c, value.as_ref().map_or(0, Vec::len))?;
                    total += batch::answer_len(value.as_deref());
                    if total <= cap {
                        batch::push_answer(&mut out, value.as_deref());
                    }
                }
                let total = i32::try_from(total).map_err(|_| Fail::Code(ERR_VALUE_TOO_LARGE))?;
                if total as usize <= cap {
                    write(&mut c, mem, buf, &out)?;
                }
                Ok(total)
            })())
        },
    )?;

    linker.func_wrap(
        MODULE,
        "kv_set_many",
        |mut c: Caller<'_, T>, ep: i32, el: i32| {
            finish((|| {
                let mem = memory(&mut c)?;
                let input = read(&mut c, mem, ep, el)?;
                let entries = batch::parse_entries(&input)?;
                charge(&mut c, input.len())?;
                c.data().state().lock().set_many(&entries)?;
                Ok(entries.len() as i32)
            })())
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_checks() {
        assert_eq!(range(10, 0, 10), Some(0..10));
        assert_eq!(range(10, 10, 0), Some(10..10));
        assert_eq!(range(10, 10, 1), None);
        assert_eq!(range(10, 5, 6), None);
        assert_eq!(range(10, -1, 1), None);
        assert_eq!(range(1 << 32, -1, 1), Some(0xffff_ffff..1 << 32));
        assert_eq!(range(10, 0, -1), None);
        assert_eq!(
            range(usize::MAX, i32::MAX, i32::MAX),
            Some(i32::MAX as usize..(i32::MAX as usize) * 2)
        );
    }
}
