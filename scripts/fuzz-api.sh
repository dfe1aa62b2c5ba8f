#!/usr/bin/env bash
# The OpenAPI-driven fuzz run of issue 12: schemathesis generates requests for every operation
# of GET /api/v1/openapi.json and checks that none gets a 5xx and every response matches the
# published schema (status codes, content types, bodies, headers).
#
#   scripts/fuzz-api.sh                 # 25 examples per operation (FUZZ_EXAMPLES to change)
#   FUZZ_EXAMPLES=200 scripts/fuzz-api.sh
#
# What it does: installs a pinned schemathesis into a virtualenv under .blaigent/ (once),
# builds the server, creates a scratch SQLite database with one organization (its key is
# passed to schemathesis), starts the server on a free loopback port, runs the fuzzer with a
# fixed seed (the same inputs every run), and stops the server. The server's log ends up in
# .blaigent/fuzz/server.log, schemathesis' report in .blaigent/fuzz/report/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES="${FUZZ_EXAMPLES:-25}"
SEED="${FUZZ_SEED:-1212}"
VENV=.blaigent/fuzz-venv
WORK=.blaigent/fuzz

# 1. The fuzzer, pinned, installed once.
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

# 2. The server and a scratch organization.
scripts/setup-models.sh >/dev/null
cargo build --quiet -p api --bin blaigent
BIN=target/debug/blaigent
rm -rf "$WORK"
mkdir -p "$WORK/data"
export BLAIGENT_DATA_DIR="$WORK/data"
export BLAIGENT_DATABASE_URL="sqlite://$WORK/data/blaigent.db"
export BLAIGENT_LOG="${BLAIGENT_LOG:-warn}"
KEY=$("$BIN" org create --name "Fuzz" --plan enterprise --rate-limit-per-min 100000000 --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BLAIGENT_BIND="127.0.0.1:$PORT" "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null

# 3. The fuzz run. Checks: no 5xx, and responses conform to the schema (status code, content
# type, headers, body).
set +e
"$VENV/bin/st" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
    --url "http://127.0.0.1:$PORT" \
    --header "Authorization: Bearer $KEY" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 2 \
    --report junit --report-dir "$WORK/report" \
    "$@"
STATUS=$?
set -e
if grep -q "panicked" "$WORK/server.log"; then
    echo "the server panicked during the run: see $WORK/server.log" >&2
    STATUS=1
fi
exit $STATUS
