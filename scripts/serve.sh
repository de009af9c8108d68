#!/usr/bin/env bash
# Installs what is missing, builds both wasm engines and serves the playground at
# http://127.0.0.1:8080/ (cross-origin isolated, so the threaded build runs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
exec trunk serve --release --offline --skip-version-check "$@"
