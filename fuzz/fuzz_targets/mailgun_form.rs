//! Fuzz target `mailgun_form`: see `blaigent_fuzz::mailgun_form`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| blaigent_fuzz::mailgun_form(data));
