//! Fuzz target `multipart_upload`: see `blaigent_fuzz::multipart_upload`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| blaigent_fuzz::multipart_upload(data));
