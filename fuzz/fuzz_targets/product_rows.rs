//! Fuzz target `product_rows`: see `blaigent_fuzz::product_rows`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| blaigent_fuzz::product_rows(data));
