#!/usr/bin/env bash
# Makes sure a Redis server answers on 127.0.0.1:6379 for the Redis rate-limiter tests
# (tests/tests/deployment.rs, which skip with a NOTICE when none answers).
# Idempotent: does nothing when one already answers. Otherwise installs Debian's
# `redis-server` package when it is missing and starts a server bound to loopback only,
# without persistence (test data only).
set -euo pipefail

HOST=127.0.0.1
PORT="${BLAIGENT_TEST_REDIS_PORT:-6379}"

ready() { redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null | grep -qx PONG; }

if command -v redis-cli >/dev/null && ready; then
  echo "redis: already answering on $HOST:$PORT"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "redis: installing Debian's redis-server package"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi

echo "redis: starting redis-server on $HOST:$PORT"
# --daemonize: the server outlives this script; --save '' and --appendonly no: nothing is
# written to disk.
$SUDO redis-server --bind "$HOST" --port "$PORT" --daemonize yes --save '' --appendonly no \
  --logfile /tmp/blaigent-test-redis.log >/dev/null

for _ in $(seq 1 30); do
  if ready; then break; fi
  sleep 0.2
done
ready || { echo "redis: not answering on $HOST:$PORT (see /tmp/blaigent-test-redis.log)" >&2; exit 1; }
echo "redis: ready on $HOST:$PORT"
