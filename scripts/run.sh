#!/usr/bin/env bash
# The run command of the README: installs the local model (once), then builds and starts the
# server on 127.0.0.1:8080 with its SQLite database under ./data (created and migrated on first
# start). Any arguments are passed to `blaigent serve`. Settings: BLAIGENT_* variables (see
# docs/foundation.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-models.sh
exec cargo run --release -p api --bin blaigent -- serve "$@"
