#!/usr/bin/env bash
# Builds the HTML API reference from the public headers (docs/Doxyfile: krait.h and krait.hpp through
# docs/api/doxygen_filter.py) and fails on any Doxygen warning (WARN_AS_ERROR=YES): a malformed doc
# comment, an unknown command, a broken reference.
#
# usage: tools/check_docs.sh [OUT_DIR]      (default: build/docs; the HTML goes to OUT_DIR/html)
# Needs doxygen (Debian package doxygen; 1.9.4 on Debian 12) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/docs}"
command -v doxygen >/dev/null || { echo "FAIL: doxygen is not installed (apt-get install doxygen)"; exit 1; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"
log="$out/doxygen.log"
version="$(sed -n 's/^project(krait VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
start=$SECONDS

# The filter must keep every line where it was (Doxygen's warnings and source pages cite header lines).
for h in abi/include/krait/krait.h abi/include/krait/krait.hpp; do
    [[ "$(python3 docs/api/doxygen_filter.py "$h" | wc -l)" -ge "$(wc -l <"$h")" ]] ||
        { echo "FAIL: docs/api/doxygen_filter.py lost lines of $h"; exit 1; }
done

echo "== doxygen $(doxygen --version): docs/Doxyfile -> $out/html"
if ! { cat docs/Doxyfile; echo "OUTPUT_DIRECTORY = $out"; } | KRAIT_VERSION="$version" doxygen - >"$log" 2>&1; then
    cat "$log"
    echo "FAIL: doxygen reported a warning (WARN_AS_ERROR=YES; the first one stops it)"
    exit 1
fi
if grep -qi "warning\|error" "$log"; then
    cat "$log"
    echo "FAIL: doxygen printed warnings"
    exit 1
fi
[[ -f "$out/html/krait_8h.html" && -f "$out/html/classkrait_1_1Session.html" ]] ||
    { echo "FAIL: the reference pages of krait.h / krait.hpp are missing"; exit 1; }
echo "PASS: API reference without warnings in $((SECONDS - start)) s: $out/html/index.html"
