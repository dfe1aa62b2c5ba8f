#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the integration tests.
# Idempotent: does nothing when one already answers. Otherwise installs Debian's `postgresql`
# package when it is missing, allows password-less (trust) connections from 127.0.0.1 for
# local testing, and starts the cluster.
set -euo pipefail

HOST=127.0.0.1
PORT="${BLAIGENT_TEST_POSTGRES_PORT:-5432}"

ready() { pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; }

if command -v pg_isready >/dev/null && ready; then
  echo "postgres: already accepting connections on $HOST:$PORT"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! command -v pg_ctlcluster >/dev/null || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "postgres: installing Debian's postgresql package"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql postgresql-client >/dev/null
fi

VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$VERSION main"; then
  $SUDO pg_createcluster "$VERSION" main >/dev/null
fi

# Local testing only: trust connections from the loopback address so tests need no password.
HBA="/etc/postgresql/$VERSION/main/pg_hba.conf"
if [ -f "$HBA" ] && ! $SUDO grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$HBA"; then
  echo "postgres: allowing trust authentication from 127.0.0.1 in $HBA"
  $SUDO sed -i '1i host all all 127.0.0.1/32 trust' "$HBA"
fi

echo "postgres: starting cluster $VERSION/main"
$SUDO pg_ctlcluster --skip-systemctl-redirect "$VERSION" main start || \
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$VERSION" main reload || true

for _ in $(seq 1 30); do
  if ready; then break; fi
  sleep 1
done
ready || { echo "postgres: not accepting connections on $HOST:$PORT" >&2; exit 1; }
psql -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null
echo "postgres: ready on $HOST:$PORT"
