#!/usr/bin/env bash
# Builds the wasm variants of the engine into target/wasm-pkg/{threads,simd,compat}/
# (wasm-bindgen --target web), for Trunk to copy into dist/pkg/:
#   threads  SIMD + relaxed SIMD + rayon on shared memory (pinned nightly, build-std)
#   simd     SIMD + relaxed SIMD, one thread (stable)
#   compat   SIMD only, one thread (stable), for browsers without relaxed SIMD
# Trunk runs this as its pre_build hook: Trunk builds one crate with one toolchain, and the
# threaded build needs the pinned nightly with build-std while the others use stable.
#
#   scripts/build-wasm.sh [release|debug]     (default: $TRUNK_PROFILE, else release)
#
# The engine is always compiled with optimisations (an unoptimised engine trains ~50× slower);
# `release` additionally runs wasm-opt -O3 --low-memory-unused (binaryen 132 from node_modules, as Trunk.toml pins).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE="${1:-${TRUNK_PROFILE:-release}}"
NIGHTLY=nightly-2026-05-20
WASM_BINDGEN=0.2.130
OUT=target/wasm-pkg
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN\$"; then
  echo "build-wasm: wasm-bindgen $WASM_BINDGEN is required (scripts/setup.sh installs it)" >&2
  exit 1
fi

build() { # variant, cargo args...
  local variant=$1; shift
  echo "build-wasm: $variant"
  "$@"
}

build simd cargo build --release --target wasm32-unknown-unknown -p resnet-wasm --target-dir target/wasm-simd
RUSTFLAGS="-C target-feature=+simd128" build compat cargo build --release --target wasm32-unknown-unknown -p resnet-wasm --target-dir target/wasm-compat
build threads cargo "+$NIGHTLY" build --release --target wasm32-unknown-unknown -p resnet-wasm --features threads \
  --config .cargo/threads.toml --target-dir target/wasm-threads

# A stale snippet directory would be shipped too (docs/toolchain.md, pitfall 6): start clean.
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
for variant in simd compat threads; do
  wasm-bindgen --target web --no-typescript --out-dir "$OUT.tmp/$variant" \
    "target/wasm-$variant/wasm32-unknown-unknown/release/resnet_wasm.wasm"
  if [ "$PROFILE" = release ]; then
    # --low-memory-unused: a constant added to an address becomes the load's offset, as
    # `v128.load offset=16`. It differs from wasm's wrapping add only for an address past
    # 2^32 − 1 KiB, i.e. one into the first KiB, which is the bottom of Rust's main stack
    # (data starts at 1 MiB): reached only by a stack already overflowing. README, Speed.
    wasm-opt -O3 --low-memory-unused "$OUT.tmp/$variant/resnet_wasm_bg.wasm" -o "$OUT.tmp/$variant/resnet_wasm_bg.wasm"
  fi
done
# wasm-bindgen-rayon starts its workers from blob: URLs (so that a glue hosted on a CDN still
# works); a page under a strict Content-Security-Policy (worker-src falling back to
# script-src 'self') may not. Our glue is always same-origin: start them from the file itself.
helper=$(ls "$OUT.tmp"/threads/snippets/wasm-bindgen-rayon-*/src/workerHelpers.no-bundler.js)
perl -0pi -e 's/let scriptBlob = await fetch\(import\.meta\.url\)\.then\(r => r\.blob\(\)\);\s*let url = URL\.createObjectURL\(scriptBlob\);/let url = import.meta.url; \/\/ same-origin, no blob: URL (patched by scripts\/build-wasm.sh for CSP)/' "$helper"
# ...and initialise the glue with the object form wasm-bindgen 0.2.130 asks for (no warning)
perl -0pi -e 's/await pkg\.default\(data\.module, data\.memory\);/await pkg.default({ module_or_path: data.module, memory: data.memory });/' "$helper"
if grep -q createObjectURL "$helper" || ! grep -q module_or_path "$helper"; then echo "build-wasm: could not patch $helper (wasm-bindgen-rayon changed?)" >&2; exit 1; fi
# The threaded module must import a shared memory, or wasm-bindgen quietly emitted
# single-threaded glue (docs/toolchain.md, pitfall 1).
node --experimental-wasm-relaxed-simd -e '
  const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
  const mem = WebAssembly.Module.imports(m).find(i => i.kind === "memory");
  if (!mem) { console.error("build-wasm: the threaded build imports no memory: it is not shared"); process.exit(1); }
' "$OUT.tmp/threads/resnet_wasm_bg.wasm"
grep -Eq "shared: ?true" "$OUT.tmp/threads/resnet_wasm.js" || { echo "build-wasm: threaded glue has no shared memory" >&2; exit 1; }
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
ls -l "$OUT"/*/resnet_wasm_bg.wasm
