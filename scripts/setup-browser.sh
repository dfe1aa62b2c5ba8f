#!/usr/bin/env bash
# Installs what the widget's browser tests need, idempotently:
# - Debian's Chromium at /usr/bin/chromium (never a browser build from anywhere else);
# - the Node packages of tests/browser (only playwright-core, which downloads nothing).
# Run from anywhere; safe to run again (it skips what is already there).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "setup-browser: installing Debian's chromium"
  sudo_cmd=""
  if [ "$(id -u)" != "0" ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo_cmd apt-get install -y --no-install-recommends chromium fonts-dejavu-core; then
    # The package lists may be missing or stale; refresh them once and retry.
    $sudo_cmd apt-get update
    $sudo_cmd apt-get install -y --no-install-recommends chromium fonts-dejavu-core
  fi
fi
# (The Debian wrapper prints a harmless shell warning about its memory check; hide it.)
/usr/bin/chromium --version 2>/dev/null

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup-browser: node and npm are required (apt-get install nodejs npm)" >&2
  exit 1
fi

cd "$root/tests/browser"
# playwright-core never downloads a browser; the variable makes that explicit for any
# package that might try.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ -f package-lock.json ]; then
  if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
else
  npm install --no-audit --no-fund
fi
echo "setup-browser: ready"
