//! Fuzz target `docx`: see `blaigent_fuzz::docx`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| blaigent_fuzz::docx(data));
