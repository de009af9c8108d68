#!/usr/bin/env bash
# Builds the course-notes example: the mdBook in examples/course-notes/ with the playground's
# dist/ copied in as book/playground/ (the chapter loads playground/js/widget.js).
#   scripts/build-book.sh        (needs dist/: trunk build --release; and mdbook, see setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/js/widget.js ] || { echo "build-book: dist/ is missing: run trunk build --release first" >&2; exit 1; }
mdbook build examples/course-notes
rm -rf examples/course-notes/book/playground
cp -r dist examples/course-notes/book/playground
echo "build-book: examples/course-notes/book/index.html"
