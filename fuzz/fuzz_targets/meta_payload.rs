//! Fuzz target `meta_payload`: see `blaigent_fuzz::meta_payload`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| blaigent_fuzz::meta_payload(data));
