//! The fuzz corpus as a regression suite: every input under `fuzz/corpus/<target>/` (the seeds
//! and what the fuzzer kept) and `fuzz/regressions/<target>/` (inputs that once crashed a
//! parser) goes through the same entry points the fuzz targets call (`fuzz/src/lib.rs`, included
//! below), which call the server's own parsers and check the outcome a client would see.
//!
//! Each input runs on a thread with the stack the server gives that work (tokio's 2 MiB for
//! `spawn_blocking` and worker threads), so an input that would overflow the server's stack
//! fails here instead of passing on the test thread's larger one.
//!
//! `scripts/fuzz.sh` is the fuzzer itself; this suite is what `cargo test` keeps.

#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::path::{Path, PathBuf};

/// The stack of tokio's blocking and worker threads, where the server parses these inputs.
const SERVER_STACK_BYTES: usize = 2 * 1024 * 1024;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when the folder does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` on `data` on a server-sized stack; `Err` carries the panic message.
fn run(target: harness::Target, data: Vec<u8>) -> Result<(), String> {
    let worker = std::thread::Builder::new()
        .name("fuzz-replay".into())
        .stack_size(SERVER_STACK_BYTES)
        .spawn(move || target(&data))
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    worker.join().map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

#[test]
fn every_corpus_and_regression_input_is_handled_cleanly() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (name, target) in harness::TARGETS {
        for kind in ["corpus", "regressions"] {
            for path in inputs(kind, name) {
                let data = match std::fs::read(&path) {
                    Ok(data) => data,
                    Err(e) => {
                        failures.push(format!("{}: unreadable ({e})", path.display()));
                        continue;
                    }
                };
                replayed += 1;
                if let Err(message) = run(*target, data) {
                    failures.push(format!("{name}: {}: {message}", path.display()));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(replayed >= harness::TARGETS.len(), "only {replayed} inputs");
}

#[test]
fn every_target_has_seeds_and_every_folder_names_a_target() {
    for (name, _) in harness::TARGETS {
        assert!(
            !inputs("corpus", name).is_empty(),
            "fuzz/corpus/{name}/ has no seed input"
        );
    }
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let folder = entry.file_name().to_string_lossy().into_owned();
            assert!(
                harness::TARGETS.iter().any(|(name, _)| *name == folder),
                "fuzz/{kind}/{folder}/ belongs to no target of fuzz/src/lib.rs"
            );
        }
    }
}
