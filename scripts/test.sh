#!/usr/bin/env bash
# The test command of the README (and of CI): installs the local model, makes sure PostgreSQL
# runs, then checks formatting, lints and runs every test of the workspace. The integration
# tests run each scenario on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-models.sh
scripts/ensure-postgres.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
