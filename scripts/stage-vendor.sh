#!/usr/bin/env bash
# Stages the page's third-party browser files from node_modules into target/vendor/, for
# Trunk to copy into dist/vendor/ (the page loads nothing from a CDN):
#   katex/katex.mjs, katex/katex.min.css, katex/fonts/*.woff2   (KaTeX, MIT)
# Only the woff2 fonts are copied: every browser that runs wasm SIMD reads woff2, and the
# CSS lists woff2 first, so the woff/ttf fallbacks are never requested.
# Trunk runs this as a pre_build hook; `npm ci` (scripts/setup.sh) installs the package.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=node_modules/katex/dist
OUT=target/vendor
[ -f "$SRC/katex.mjs" ] || { echo "stage-vendor: $SRC is missing: run npm ci" >&2; exit 1; }
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp/katex/fonts"
cp "$SRC/katex.mjs" "$SRC/katex.min.css" "$OUT.tmp/katex/"
cp "$SRC"/fonts/*.woff2 "$OUT.tmp/katex/fonts/"
cp node_modules/katex/LICENSE "$OUT.tmp/katex/LICENSE"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
