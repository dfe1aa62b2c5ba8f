#!/usr/bin/env bash
# Opt-in smoke test of the production example (not part of scripts/test.sh): nginx with
# deploy/nginx.conf in front of two `blaigent` replicas started from deploy/blaigent.toml on
# one fresh PostgreSQL database, all on loopback.
#
# Checks, as a client sees them through the proxy: `nginx -t` of the example, GET /readyz, a
# streamed chat (server-sent events, unbuffered), the X-Request-Id passed through, a body over
# the limit refused with 413, and that both replicas served requests.
#
# Needs PostgreSQL (scripts/ensure-postgres.sh) and installs Debian's nginx-light when nginx is
# missing. Everything it starts it stops on exit; the test database is dropped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PG_ADMIN="${BLAIGENT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PORT_A="${SMOKE_PORT_A:-18181}"
PORT_B="${SMOKE_PORT_B:-18182}"
PORT_LB="${SMOKE_PORT_LB:-18443}"
WORK="$(mktemp -d /tmp/blaigent-deploy-smoke.XXXXXX)"
DB="blaigent_smoke_$(date +%s)_$$"
PIDS=()

say() { echo "deploy-smoke: $*"; }
fail() { echo "deploy-smoke: FAILED: $*" >&2; exit 1; }

cleanup() {
  set +e
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  psql "$PG_ADMIN" -qtAc "drop database if exists $DB with (force)" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v nginx >/dev/null; then
  say "installing Debian's nginx-light"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
scripts/ensure-postgres.sh >/dev/null
scripts/setup-models.sh >/dev/null
cargo build -q -p api --bin blaigent
BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/blaigent"

# --- the example nginx configuration, pointed at loopback ---------------------------------
# nginx's workers run as an unprivileged user: they must reach the temporary folders.
chmod 0755 "$WORK"
mkdir -p "$WORK/body" "$WORK/proxy"
chmod 0777 "$WORK/body" "$WORK/proxy"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
sed -e "s#server 10.0.0.11:8080#server 127.0.0.1:$PORT_A#" \
    -e "s#server 10.0.0.12:8080#server 127.0.0.1:$PORT_B#" \
    -e "s#listen 443 ssl http2;#listen 127.0.0.1:$PORT_LB ssl http2;#" \
    -e "s#listen 80;#listen 127.0.0.1:$((PORT_LB + 1));#" \
    -e "s#/etc/ssl/blaigent/fullchain.pem#$WORK/cert.pem#" \
    -e "s#/etc/ssl/blaigent/privkey.pem#$WORK/key.pem#" \
    -e "s#allow 10.0.0.0/8;#allow 127.0.0.1;#" \
    deploy/nginx.conf > "$WORK/site.conf"
grep -q "127.0.0.1:$PORT_A" "$WORK/site.conf" || fail "the upstream lines of deploy/nginx.conf changed"
cat > "$WORK/nginx.conf" <<EOF
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events {}
http {
    log_format upstream '\$request_uri \$upstream_addr \$status';
    access_log $WORK/access.log upstream;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    include $WORK/site.conf;
}
EOF
nginx -t -q -c "$WORK/nginx.conf" -p "$WORK" || fail "nginx -t refused deploy/nginx.conf"
say "nginx -t: the example configuration is valid"

# --- two replicas from the example configuration -------------------------------------------
psql "$PG_ADMIN" -qtAc "create database $DB" >/dev/null
DB_URL="${PG_ADMIN%/*}/$DB"
export BLAIGENT_CHANNEL_SECRET_KEY="smoke-test-key-of-more-than-thirty-two-chars"
start_replica() {
  mkdir -p "$WORK/data-$1"
  "$BIN" --config deploy/blaigent.toml --database-url "$DB_URL" --bind "127.0.0.1:$2" \
    --data-dir "$WORK/data-$1" serve >"$WORK/replica-$1.log" 2>&1 &
  PIDS+=($!)
}
start_replica a "$PORT_A"
# The second replica starts once the first has migrated (they would serialise anyway).
for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$PORT_A/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
start_replica b "$PORT_B"
for port in "$PORT_A" "$PORT_B"; do
  for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || fail "replica on $port not ready (see $WORK/replica-*.log)"
done
say "two replicas ready on $PORT_A and $PORT_B"

nginx -c "$WORK/nginx.conf" -p "$WORK"
LB="https://127.0.0.1:$PORT_LB"
for _ in $(seq 1 20); do curl -ksf "$LB/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -ksf "$LB/readyz" >/dev/null || fail "GET /readyz through nginx"
say "GET /readyz through nginx: 200"

ORG_JSON="$("$BIN" --config deploy/blaigent.toml --database-url "$DB_URL" --data-dir "$WORK/data-a" \
  org create --name "Smoke" --plan scale --json)"
ORG="$(echo "$ORG_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["organization_id"])')"
KEY="$(echo "$ORG_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')"

# --- a streamed chat through the proxy ------------------------------------------------------
curl -ksN -D "$WORK/stream.headers" -o "$WORK/stream.body" \
  -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
  -H "Accept: text/event-stream" -H "X-Request-Id: smoke-stream-1" \
  -d "{\"message\": \"Hello, what can you do?\", \"customer_id\": \"smoke\", \"organization_id\": \"$ORG\"}" \
  "$LB/api/v1/agents/customer-service/chat"
grep -qi '^content-type: text/event-stream' "$WORK/stream.headers" || fail "not an event stream: $(cat "$WORK/stream.headers")"
grep -qi '^x-request-id: smoke-stream-1' "$WORK/stream.headers" || fail "X-Request-Id not passed through"
grep -q '^event: final' "$WORK/stream.body" || fail "no final event: $(cat "$WORK/stream.body")"
say "streamed chat through nginx: $(grep -c '^event:' "$WORK/stream.body") events, final event received, X-Request-Id kept"

# --- the body limit ---------------------------------------------------------------------------
head -c $((11 * 1024 * 1024)) /dev/zero | tr '\0' 'a' > "$WORK/big.txt"
STATUS="$(curl -ks -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" \
  -H "Content-Type: application/json" --data-binary @"$WORK/big.txt" \
  "$LB/api/v1/agents/customer-service/chat")"
[ "$STATUS" = 413 ] || fail "an 11 MiB body got $STATUS, not 413"
say "an 11 MiB body through nginx: 413"

# --- both replicas serve ---------------------------------------------------------------------
for i in $(seq 1 10); do
  curl -ksf -H "Authorization: Bearer $KEY" "$LB/api/v1/platform/conversations" >/dev/null \
    || fail "GET conversations through nginx ($i)"
done
for port in "$PORT_A" "$PORT_B"; do
  grep -q "conversations 127.0.0.1:$port 200" "$WORK/access.log" || fail "replica $port got no request"
done
say "both replicas served requests through nginx"
say "all checks passed"
