#!/usr/bin/env bash
# The soak run of issue 12: the real server on loopback, chat at a fixed rate with a mix of new
# and continuing conversations and knowledge questions, for SOAK_SECS seconds (10 minutes by
# default), printing throughput, p50/p95/p99 latency, errors and the process's memory every
# SOAK_SAMPLE_SECS seconds, then the totals (the line starting with TOTAL).
#
#   scripts/soak.sh                          # 600 s at 10 requests/s on SQLite
#   SOAK_SECS=120 SOAK_RATE=5 scripts/soak.sh
#   SOAK_BACKEND=postgres scripts/soak.sh    # needs scripts/ensure-postgres.sh
#
# A release build (SOAK_PROFILE=dev for a quicker, slower-running debug build). What to look
# at: errors=0, latency flat from one sample to the next, rss_mib flat after the first
# samples (the model and caches warm up first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-models.sh >/dev/null
PROFILE_FLAG=--release
[ "${SOAK_PROFILE:-release}" = "dev" ] && PROFILE_FLAG=
exec cargo run $PROFILE_FLAG --quiet -p tests --bin loadgen_soak -- \
    --backend "${SOAK_BACKEND:-sqlite}" \
    --rate "${SOAK_RATE:-10}" \
    --duration "${SOAK_SECS:-600}" \
    --sample-every "${SOAK_SAMPLE_SECS:-10}" \
    "$@"
