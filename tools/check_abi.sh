#!/usr/bin/env bash
# Checks that libkrait.so keeps the 1.x ABI: compares the exported symbols and every public type and
# function signature (from the library's debug info, public header only) with the committed baseline
# abi/krait.abi, the ABI of release 1.2, using Debian's abigail-tools (abidw, abidiff).
#
#   tools/check_abi.sh [BUILD_DIR]          # default build/ (built by tools/build.sh; not rebuilt here)
#   tools/check_abi.sh --write-baseline LIB # regenerate abi/krait.abi from LIB (only for a new major)
#
# Passes on additions: new functions, new enumerators, and fields added after the end of the structs
# that carry a struct_size (GROWABLE below). Fails on anything else abidiff reports: a removed or
# renamed function, a changed signature, a struct whose fields moved, changed type or were removed, a
# field put in a struct's old tail padding, a frozen struct (krait_sampling_params,
# krait_classification) that grew, a changed enumerator value, a changed soname. The rules themselves
# are in krait.h ("ABI RULES").
#
# The library carries DWARF for its C entry points only (CMakeLists.txt: -g on the krait target), so
# this needs no separate debug build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASELINE="$ROOT/abi/krait.abi"
# The structs that carry a struct_size and may grow at the end (krait.h, ABI RULES). Not here, so
# frozen: krait_sampling_params (nested by value) and krait_classification (array element).
GROWABLE="krait_model_params krait_model_info krait_session_params krait_generate_params krait_image
          krait_adapter_params krait_adapter_info krait_adapter_target krait_conversation_stats"
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
abidiff --leaf-changes-only "$BASELINE" "$CURRENT" > "$REPORT" 2>&1
status=$?
set -e

# abidiff's exit status is a bit field: 1 error, 2 usage error, 4 ABI change, 8 incompatible change
# (a removed symbol). A changed type or signature only sets 4, as additions do, so the leaf report is
# read: every change it lists must be an addition the rules allow, else the check fails.
if (( status & 3 )); then
  echo "check_abi: abidiff failed to run (exit status $status):" >&2
  cat "$REPORT" >&2
  exit 2
fi
verdict=0
if (( status & 4 )); then
  python3 - "$REPORT" "$GROWABLE" <<'PY' || verdict=$?
import re, sys
lines = open(sys.argv[1]).read().splitlines()
growable = set(sys.argv[2].split())
problems = []
blocks = []  # top-level line and its indented lines
for line in lines:
    if not line.strip():
        continue
    if line[0] != " ":
        blocks.append([line])
    elif blocks:
        blocks[-1].append(line)
    else:
        problems.append("unexpected line: " + line)
for head, *body in blocks:
    if head.startswith(("Leaf changes summary:", "Changed leaf types summary:")):
        continue
    m = re.match(r"Removed/Changed/Added (functions|variables) summary: (\d+) Removed.*?, (\d+) Changed", head)
    if m:
        if int(m.group(2)) or int(m.group(3)):
            problems.append(head)
        continue
    if re.match(r"\d+ Added (function|variable)s?:$", head):
        continue  # new functions: the one kind of addition that needs no further look
    m = re.match(r"'struct (\w+)' changed:$", head)
    if m and m.group(1) in growable:
        # Allowed: the size grows and fields are inserted at or after the old end (not in its tail
        # padding, which an older caller's struct_size covers without initialising it).
        old_size, ok = None, True
        for b in body:
            g = re.match(r"  type size changed from (\d+) to (\d+) \(in bits\)$", b)
            if g and int(g.group(2)) > int(g.group(1)):
                old_size = int(g.group(1))
                continue
            if re.match(r"  \d+ data member insertions?:$", b):
                continue
            g = re.match(r"    '.*', at offset (\d+) \(in bits\)$", b)
            if g and old_size is not None and int(g.group(1)) >= old_size:
                continue
            ok = False
        if ok and old_size is not None:
            continue
    problems.append("\n".join([head] + body))
if problems:
    print("check_abi: not an allowed addition:\n" + "\n".join(problems), file=sys.stderr)
    sys.exit(1)
PY
fi
if (( status & 8 )); then verdict=1; fi

if (( verdict )); then
  echo "check_abi: FAIL: $LIB breaks the 1.x ABI (baseline abi/krait.abi); abidiff says:" >&2
  cat "$REPORT" >&2
  exit 1
fi
if (( status & 4 )); then
  echo "check_abi: OK, compatible additions to the 1.x ABI:"
  sed 's/^/  /' "$REPORT"
else
  echo "check_abi: OK, same ABI as the baseline"
fi
