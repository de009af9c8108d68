#!/usr/bin/env bash
# Runs every test of resnet-playground on this machine, after installing what it lacks:
#   1. Rust unit and integration tests (native)
#   2. the wasm engine in headless Chromium (wasm-bindgen-test), SIMD-only and threaded builds,
#      against numbers the native CLI writes
#   3. the built site (trunk build --release) end to end in headless Chromium
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
NIGHTLY=nightly-2026-05-20

echo "== native tests"
cargo test --release --workspace

echo "== wasm engine in headless Chromium"
fixture="$PWD/target/wasm-test-fixture"
mkdir -p "$fixture"
cargo build --release -q -p resnet-playground
./target/release/resnet-playground batch --from 8000 --count 4 --out "$fixture/batch.safetensors"
./target/release/resnet-playground grads --weights models/resnet8-mnist.safetensors \
  --batch "$fixture/batch.safetensors" --out "$fixture/native.safetensors"
./target/release/resnet-playground train --arch resnet14-a-nobn --epochs 0 --seed 3 --out "$fixture/member.safetensors" >/dev/null
./target/release/resnet-playground grads --weights "$fixture/member.safetensors" \
  --batch "$fixture/batch.safetensors" --out "$fixture/member-native.safetensors"
export RP_FIXTURE_DIR="$fixture"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export CHROMEDRIVER=/usr/bin/chromedriver
export WASM_BINDGEN_TEST_TIMEOUT=300
echo "-- SIMD-only build"
cargo test --release --target wasm32-unknown-unknown -p resnet-wasm --target-dir target/wasm-simd
echo "-- threaded build"
cargo "+$NIGHTLY" test --release --target wasm32-unknown-unknown -p resnet-wasm --features threads \
  --config .cargo/threads.toml --target-dir target/wasm-threads

echo "== site: trunk build --release, the mdBook example, then end-to-end tests in headless Chromium"
trunk build --release --offline --skip-version-check
bash scripts/build-book.sh
node --test --test-concurrency=1 tests/
