#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tritium_fuzz::query(data));
