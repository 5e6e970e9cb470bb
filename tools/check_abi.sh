#!/usr/bin/env bash
# Checks that libkrait.so keeps the 1.x ABI: compares the exported symbols and every public type and
# function signature (from the library's debug info, public header only) with the committed baseline
# abi/krait.abi, the ABI of release 1.2, using Debian's abigail-tools (abidw, abidiff).
#
#   tools/check_abi.sh [BUILD_DIR]          # default build/ (built by tools/build.sh; not rebuilt here)
#   tools/check_abi.sh --write-baseline LIB # regenerate abi/krait.abi from LIB (only for a new major)
#
# Passes on additions: new functions, new enumerators, and fields added at the end of the structs that
# carry a struct_size (listed in abi/krait.abignore). Fails on anything else abidiff reports: a removed
# or renamed function, a changed signature, a struct whose fields moved, changed type or were removed,
# a frozen struct (krait_sampling_params, krait_classification) that grew, a changed enumerator value,
# a changed soname. The rules themselves are in krait.h ("ABI RULES").
#
# The library carries DWARF for its C entry points only (CMakeLists.txt: -g on the krait target), so
# this needs no separate debug build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASELINE="$ROOT/abi/krait.abi"
SUPPRESSIONS="$ROOT/abi/krait.abignore"
HEADERS="$ROOT/abi/include/krait"

for tool in abidw abidiff; do
  command -v "$tool" >/dev/null || { echo "check_abi: $tool not found (Debian package abigail-tools; tools/setup.sh installs it)" >&2; exit 2; }
done

# The ABI of one library as abixml: public header types only, exported interfaces only, and nothing
# that depends on the build machine (paths, DT_NEEDED versions).
describe() {
  abidw --headers-dir "$HEADERS" --drop-private-types --exported-interfaces-only --drop-undefined-syms \
        --no-elf-needed --no-show-locs --no-corpus-path --no-comp-dir-path --type-id-style hash "$1" |
    sed -E "s#(<abi-instr [^>]*path=')[^']*/(abi/src/[^']*')#\1\2#"
}

if [ "${1:-}" = "--write-baseline" ]; then
  lib="${2:?usage: tools/check_abi.sh --write-baseline path/to/libkrait.so}"
  describe "$lib" > "$BASELINE"
  echo "check_abi: wrote $BASELINE from $lib"
  exit 0
fi

BUILD="${1:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
LIB="$BUILD/libkrait.so"
[ -e "$LIB" ] || { echo "check_abi: $LIB not found: build first (tools/build.sh $BUILD)" >&2; exit 2; }
if ! readelf -S "$LIB" | grep -q '\.debug_info'; then
  echo "check_abi: $LIB has no debug info (the krait target is built with -g, see CMakeLists.txt)" >&2
  exit 2
fi

mkdir -p "$BUILD/abi"
CURRENT="$BUILD/abi/krait-current.abi"
REPORT="$BUILD/abi/abidiff.txt"
describe "$LIB" > "$CURRENT"

set +e
abidiff --suppressions "$SUPPRESSIONS" "$BASELINE" "$CURRENT" > "$REPORT" 2>&1
status=$?
set -e

# abidiff's exit status is a bit field: 1 error, 2 usage error, 4 ABI change, 8 incompatible change
# (removed symbols). A change of a type or signature only sets 4, and so do additions, so 4 is told
# apart by the summary: anything removed or changed fails, additions alone pass.
fail=0
if (( status & 3 )); then
  echo "check_abi: abidiff failed to run (exit status $status):" >&2
  cat "$REPORT" >&2
  exit 2
fi
if (( status & 8 )); then
  fail=1
elif (( status & 4 )); then
  if grep -Eq '([1-9][0-9]* Removed|[1-9][0-9]* Changed)' "$REPORT" ||
     grep -Eq 'SONAME changed|architecture changed' "$REPORT"; then
    fail=1
  fi
fi

if (( fail )); then
  echo "check_abi: FAIL: $LIB breaks the 1.x ABI (baseline abi/krait.abi):" >&2
  cat "$REPORT" >&2
  exit 1
fi
if (( status & 4 )); then
  echo "check_abi: OK, compatible additions to the 1.x ABI:"
  grep -E 'summary|Added|added' "$REPORT" | sed 's/^/  /' || true
else
  echo "check_abi: OK, same ABI as the baseline"
fi
