#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ledgervm_fuzz::frames::frames(data));
