#!/usr/bin/env bash
# Benchmark of the chat endpoint's plumbing (authentication, rate limit, validation,
# persistence; the agent is a no-op) measured by wrk from a separate process over loopback.
#
#   scripts/bench-chat.sh [sqlite|postgres] [connections] [seconds] [sessions]
#
# Installs wrk from Debian's packages when it is missing, builds the load generator in the
# release profile, starts it in `serve` mode (the real server on port 0 with a fresh database)
# and runs wrk against it. Defaults: sqlite, 8 connections, 10 seconds, 64 conversations.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BACKEND="${1:-sqlite}"
CONNECTIONS="${2:-8}"
SECONDS_RUN="${3:-10}"
SESSIONS="${4:-64}"

if ! command -v wrk >/dev/null; then
  echo "bench-chat: installing wrk"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y wrk >/dev/null
fi
[ "$BACKEND" = postgres ] && scripts/ensure-postgres.sh >/dev/null
scripts/setup-models.sh >/dev/null

cargo build --quiet --release -p tests --bin loadgen
SCRIPT="$(mktemp --suffix .lua)"
OUT="$(mktemp)"
target/release/loadgen serve "$BACKEND" "$SESSIONS" "$SCRIPT" >"$OUT" 2>&1 &
SERVER=$!
trap 'kill -INT "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -f "$SCRIPT" "$OUT"' EXIT

for _ in $(seq 1 600); do
  grep -q '^base_url=' "$OUT" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$OUT" >&2; exit 1; }
  sleep 0.1
done
BASE="$(sed -n 's/^base_url=//p' "$OUT")"
[ -n "$BASE" ] || { echo "bench-chat: the server did not start" >&2; cat "$OUT" >&2; exit 1; }

echo "bench-chat: backend=$BACKEND connections=$CONNECTIONS seconds=$SECONDS_RUN sessions=$SESSIONS"
# One second of warm-up (connections, statement caches), then the measured run.
wrk -t1 -c"$CONNECTIONS" -d1s -s "$SCRIPT" "$BASE" >/dev/null
wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s "$SCRIPT" "$BASE"
