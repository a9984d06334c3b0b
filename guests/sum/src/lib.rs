//! The immudb demo's guest: `Sum(a, b)` on unsigned 32-bit integers (wrapping, so every
//! input has a defined result).

/// Returns `a + b`, wrapping on overflow.
#[unsafe(no_mangle)]
#[allow(non_snake_case)]
pub extern "C" fn Sum(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}
