//! Fuzz target `twilio_form`: see `blaigent_fuzz::twilio_form`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| blaigent_fuzz::twilio_form(data));
