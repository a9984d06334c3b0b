//! A WASI Preview 1 reactor that asks the host every nondeterministic question ledgervm
//! answers as an oracle — random bytes, wall clock, monotonic clock — writes to stdout,
//! and uses the `ledgervm` import module (caller id, key-value state). Record/replay
//! tests call it many times and require bit-identical replays.

#![allow(non_snake_case)]

use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn random_get(buf: *mut u8, len: usize) -> u16;
}

#[link(wasm_import_module = "ledgervm")]
unsafe extern "C" {
    fn caller_id(buf: *mut u8, cap: i32) -> i32;
    fn kv_get(kp: *const u8, kl: i32, buf: *mut u8, cap: i32) -> i32;
    fn kv_set(kp: *const u8, kl: i32, vp: *const u8, vl: i32) -> i32;
    fn kv_increment(kp: *const u8, kl: i32, delta: i64, out: *mut i64) -> i32;
    fn kv_get_many(kp: *const u8, kl: i32, buf: *mut u8, cap: i32) -> i32;
    fn kv_set_many(ep: *const u8, el: i32) -> i32;
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // SAFETY: the buffer is valid for N bytes.
    let errno = unsafe { random_get(b.as_mut_ptr(), N) };
    assert_eq!(errno, 0, "random_get failed");
    b
}

/// A random u32 (one 4-byte `random_get`).
#[unsafe(no_mangle)]
pub extern "C" fn RandomU32() -> u32 {
    u32::from_le_bytes(random_bytes::<4>())
}

/// A die roll in 1..=6, printed to stdout.
#[unsafe(no_mangle)]
pub extern "C" fn Dice() -> u32 {
    let roll = u32::from_le_bytes(random_bytes::<4>()) % 6 + 1;
    println!("rolled {roll}");
    roll
}

/// Wall-clock nanoseconds since the Unix epoch.
#[unsafe(no_mangle)]
pub extern "C" fn NowNanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(-1)
}

/// Monotonic nanoseconds spent on `n` rounds of hashing (two monotonic readings).
#[unsafe(no_mangle)]
pub extern "C" fn Elapsed(n: u32) -> i64 {
    let t0 = Instant::now();
    let mut h: u64 = 0xcbf29ce484222325;
    for i in 0..n {
        h = (h ^ u64::from(i)).wrapping_mul(0x100000001b3);
    }
    std::hint::black_box(h);
    t0.elapsed().as_nanos() as i64
}

/// Everything at once: random, both clocks, stdout and stderr; returns a mix of them so
/// any changed answer changes the result.
#[unsafe(no_mangle)]
pub extern "C" fn Mix(seed: u32) -> i64 {
    let r = u64::from_le_bytes(random_bytes::<8>());
    let wall = NowNanos() as u64;
    let t0 = Instant::now();
    // HashMap's RandomState draws its keys from random_get as well.
    let mut m = std::collections::HashMap::new();
    m.insert(seed, r);
    let mono = t0.elapsed().as_nanos() as u64;
    println!("mix seed={seed} r={r:016x} wall={wall} entries={}", m.len());
    eprintln!("mono={mono}");
    (r ^ wall.rotate_left(17) ^ mono.rotate_left(41) ^ u64::from(seed)) as i64
}

/// Increments the state counter `key`-less "counter" by `delta` and returns the new value.
#[unsafe(no_mangle)]
pub extern "C" fn Count(delta: i64) -> i64 {
    let key = b"counter";
    let mut out = 0i64;
    // SAFETY: pointers into live locals with their lengths.
    let rc = unsafe { kv_increment(key.as_ptr(), key.len() as i32, delta, &mut out) };
    if rc < 0 { i64::from(rc) } else { out }
}

/// Stores a random 8-byte value under "last" and returns the previous one's first byte
/// (or -1 when absent), so state and randomness interact.
#[unsafe(no_mangle)]
pub extern "C" fn SwapRandom() -> i32 {
    let key = b"last";
    let mut prev = [0u8; 8];
    // SAFETY: pointers into live locals with their lengths.
    let n = unsafe { kv_get(key.as_ptr(), key.len() as i32, prev.as_mut_ptr(), 8) };
    let value = random_bytes::<8>();
    // SAFETY: as above.
    let rc = unsafe { kv_set(key.as_ptr(), key.len() as i32, value.as_ptr(), 8) };
    if rc < 0 {
        return rc;
    }
    if n < 0 { n } else { i32::from(prev[0]) }
}

/// Length of the caller id, or -1 when anonymous; prints the id.
#[unsafe(no_mangle)]
pub extern "C" fn WhoAmI() -> i32 {
    let mut buf = [0u8; 128];
    // SAFETY: the buffer is valid for its length.
    let n = unsafe { caller_id(buf.as_mut_ptr(), buf.len() as i32) };
    if n > 0 && n as usize <= buf.len() {
        println!("caller {}", String::from_utf8_lossy(&buf[..n as usize]));
    }
    n
}

/// Writes `n` keys `batch/0`.. (value = the key repeated twice) with one `kv_set_many`,
/// reads them back plus one absent key with one `kv_get_many`, checks every slot, and
/// returns the answer's byte length (a negative ABI code or -100 on a mismatch).
#[unsafe(no_mangle)]
pub extern "C" fn Batch(n: i32) -> i32 {
    let keys: Vec<Vec<u8>> = (0..n.max(0)).map(|i| format!("batch/{i}").into_bytes()).collect();
    let mut entries = Vec::new();
    for k in &keys {
        let v = [k.as_slice(), k.as_slice()].concat();
        for item in [k.as_slice(), v.as_slice()] {
            entries.extend_from_slice(&(item.len() as u32).to_le_bytes());
            entries.extend_from_slice(item);
        }
    }
    // SAFETY: pointer and length of a live buffer.
    let rc = unsafe { kv_set_many(entries.as_ptr(), entries.len() as i32) };
    if rc != n.max(0) {
        return if rc < 0 { rc } else { -100 };
    }
    let mut query = Vec::new();
    for k in keys.iter().map(Vec::as_slice).chain([&b"batch/absent"[..]]) {
        query.extend_from_slice(&(k.len() as u32).to_le_bytes());
        query.extend_from_slice(k);
    }
    // First with no room, to learn the size, as a guest with an unknown answer would.
    // SAFETY: a zero-capacity buffer is never written.
    let need = unsafe { kv_get_many(query.as_ptr(), query.len() as i32, core::ptr::null_mut(), 0) };
    if need < 0 {
        return need;
    }
    let mut buf = vec![0u8; need as usize];
    // SAFETY: the buffer is valid for `need` bytes.
    let got = unsafe { kv_get_many(query.as_ptr(), query.len() as i32, buf.as_mut_ptr(), need) };
    if got != need {
        return -100;
    }
    let mut at = 0;
    for k in &keys {
        let len = i32::from_le_bytes(buf[at..at + 4].try_into().unwrap());
        at += 4;
        if len != 2 * k.len() as i32 || buf[at..at + len as usize] != [k.as_slice(), k.as_slice()].concat()[..] {
            return -100;
        }
        at += len as usize;
    }
    if i32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) != -1 {
        return -100;
    }
    need
}
