//! Fuzz target `pdf_extract`: see `blaigent_fuzz::pdf_extract`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        // pdf-extract panics on many malformed files; the extractor catches those panics
        // (`catch_unwind`) and refuses the file with a reason, which is the behaviour under
        // test. libFuzzer's panic hook would abort on the caught ones too, so it is replaced by
        // a silent hook: a panic that escapes the extractor still aborts the run, because
        // libfuzzer-sys wraps every input in its own `catch_unwind` and aborts on an unwind.
        // Replay a crash with `cargo test -p tests --test fuzz_corpus` to see its message.
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| blaigent_fuzz::pdf_extract(data)
);
