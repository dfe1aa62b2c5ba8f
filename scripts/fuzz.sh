#!/usr/bin/env bash
# The parser fuzz run of issue 12: every cargo-fuzz target of fuzz/ (PDF, HTML, Word,
# CSV/JSON product rows, Twilio, Meta and Mailgun payloads with their signature headers, the
# multipart upload) runs under libFuzzer for a fixed time budget.
#
#   scripts/fuzz.sh                   # 60 seconds per target
#   scripts/fuzz.sh 120               # 120 seconds per target
#   scripts/fuzz.sh 30 docx pdf_extract   # only these targets
#   FUZZ_MERGE=1 scripts/fuzz.sh 120  # then add the inputs that reached new code to fuzz/corpus/
#
# What it does: installs cargo-fuzz (pinned) under .blaigent/tools once; builds the targets
# (the toolchain is stable: RUSTC_BOOTSTRAP=1 lets it take the -Z flags libFuzzer's
# instrumentation needs); runs each target with the committed seeds in fuzz/corpus/<target>/
# read-only and a working corpus in .blaigent/fuzz/corpus/<target>/ (kept between runs, so
# later runs start where earlier ones stopped); prints executions, coverage and any crash per
# target; exits 1 when a target crashed. A crashing input is saved under
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ once the parser is fixed,
# and `cargo test -p tests --test fuzz_corpus` replays it from then on.
#
# Sanitizer: none. The fuzzed code is safe Rust (the workspace forbids `unsafe`), so what the
# fuzzer can find is panics, overflows (debug assertions are on), hangs (-timeout) and memory
# blow-ups (-rss_limit_mb); AddressSanitizer would slow every execution for little more.
# FUZZ_SANITIZER=address to use it anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET="${1:-60}"
shift || true
TOOLS=.blaigent/tools
WORK=.blaigent/fuzz
SANITIZER="${FUZZ_SANITIZER:-none}"
# One input may take at most this long (a hang is a finding) and the process this much memory.
TIMEOUT_SECS="${FUZZ_TIMEOUT_SECS:-10}"
RSS_LIMIT_MB="${FUZZ_RSS_LIMIT_MB:-2048}"
# Largest input tried: enough for a small PDF or Word file, small enough to stay fast.
MAX_LEN="${FUZZ_MAX_LEN:-65536}"

# 1. cargo-fuzz, pinned, installed once into the project (git-ignored).
if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$TOOLS"
fi
export PATH="$PWD/$TOOLS/bin:$PATH"
export RUSTC_BOOTSTRAP=1

if [ "$#" -gt 0 ]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo fuzz list)
fi

# 2. The targets: release build with debug assertions (overflow checks), 16 codegen units
# (the default of 1 makes the first build of the whole server's dependency tree far longer).
echo "building ${#TARGETS[@]} fuzz targets (sanitizer: $SANITIZER)"
for target in "${TARGETS[@]}"; do
    cargo fuzz build --sanitizer "$SANITIZER" --codegen-units 16 "$target"
done

# 3. The runs.
mkdir -p "$WORK"
SUMMARY="$WORK/summary.txt"
: >"$SUMMARY"
failed=0
for target in "${TARGETS[@]}"; do
    corpus="$WORK/corpus/$target"
    log="$WORK/$target.log"
    mkdir -p "$corpus" "fuzz/corpus/$target" "fuzz/artifacts/$target"
    echo "== $target: ${SECONDS_PER_TARGET}s"
    status=0
    # The first corpus folder receives new inputs; the committed seeds are only read.
    cargo fuzz run --sanitizer "$SANITIZER" --codegen-units 16 "$target" \
        "$corpus" "fuzz/corpus/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT_SECS" \
        -rss_limit_mb="$RSS_LIMIT_MB" -max_len="$MAX_LEN" -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    units=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    if [ "$status" -eq 0 ]; then
        line="$target: ok, ${execs:-?} executions in ${SECONDS_PER_TARGET}s (${rate:-?}/s), coverage ${cov:-?} edges, ${units:-?} corpus inputs"
    else
        failed=1
        crash=$(grep -o 'Test unit written to .*' "$log" | tail -1 || true)
        line="$target: CRASH after ${execs:-?} executions (${crash:-see $log})"
        grep -m1 -E '^(thread .* panicked|==[0-9]+== ?ERROR|ERROR: libFuzzer)' "$log" || true
    fi
    echo "$line" | tee -a "$SUMMARY"
    if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$status" -eq 0 ]; then
        # Only the inputs that reach code the committed corpus does not.
        cargo fuzz run --sanitizer "$SANITIZER" --codegen-units 16 "$target" \
            "fuzz/corpus/$target" "$corpus" -- -merge=1 -max_len="$MAX_LEN" \
            >"$WORK/$target.merge.log" 2>&1
        echo "   merged: $(ls "fuzz/corpus/$target" | wc -l) inputs in fuzz/corpus/$target"
    fi
done

echo
echo "summary (also in $SUMMARY):"
cat "$SUMMARY"
if [ "$failed" -ne 0 ]; then
    echo "a target crashed: reproduce with cargo fuzz run <target> fuzz/artifacts/<target>/<file>," \
        "or copy the input to fuzz/regressions/<target>/ and run cargo test -p tests --test fuzz_corpus" >&2
    exit 1
fi
