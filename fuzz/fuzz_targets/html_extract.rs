//! Fuzz target `html_extract`: see `blaigent_fuzz::html_extract`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| blaigent_fuzz::html_extract(data));
