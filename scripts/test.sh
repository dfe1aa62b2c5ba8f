#!/usr/bin/env bash
# The test command of the README (and of CI): installs the local model, makes sure PostgreSQL
# runs, then checks formatting, lints and runs every test of the workspace. The integration
# tests run each scenario on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A full debug build of the workspace takes about 10 GB; a linker that runs out of disk dies
# with a bus error rather than saying so, so say how much room there is up front.
echo "test: $(df -h --output=avail . | tail -1 | tr -d ' ') free on the build disk"
# Incremental artefacts only help repeated local builds and roughly double the target size.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

scripts/setup-models.sh
scripts/ensure-postgres.sh
scripts/ensure-redis.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

# --- Embed widget in a real browser (issue 10; owned by the widget engineer) ---------------
# Installs Debian's Chromium and playwright-core when missing, builds the server binary the
# tests start, then drives the widget on pages of other loopback origins. Screenshots land in
# artifacts/widget/.
scripts/setup-browser.sh
cargo build -p api --bin blaigent
(cd tests/browser && node --test --test-concurrency=1 widget.test.mjs)
# Dashboard (issue 11): sign-in, knowledge, agent, inbox -> widget, API keys, roles; screenshots
# of every page land in docs/screenshots/dashboard-*.png.
(cd tests/browser && node --test --test-concurrency=1 dashboard.test.mjs)
