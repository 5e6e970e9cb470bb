#!/usr/bin/env bash
# Builds and tests the C# binding with Mono: compiles bindings/csharp (Krait.dll), the NUnit tests
# of tests/csharp and the samples of samples/csharp into BUILD_DIR/csharp/, runs the tests with
# nunit-console (any failure fails the script), then runs each sample on the demo models.
#
# Usage: tools/test_csharp.sh [BUILD_DIR]      (default: build; libkrait.so must be built there,
#                                               e.g. by tools/build.sh)
# Needs (Debian): mono-mcs mono-runtime nunit-console libnunit-cil-dev pkg-config (tools/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${1:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "test_csharp: no build directory '${1:-build}' (run tools/build.sh first)" >&2; exit 1; }
OUT="$BUILD/csharp"
START=$(date +%s)

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "test_csharp: '$1' not found: apt-get install $2 (tools/setup.sh does)" >&2; exit 1; }
}
need mcs mono-mcs
need mono mono-runtime
need nunit-console nunit-console
need pkg-config pkg-config
pkg-config --exists nunit || { echo "test_csharp: pkg-config knows no 'nunit': apt-get install libnunit-cil-dev" >&2; exit 1; }

# The native library: libkrait.so.1 (the soname) where the build made one, else libkrait.so.
LIB="$BUILD/libkrait.so.1"
[ -e "$LIB" ] || LIB="$BUILD/libkrait.so"
[ -e "$LIB" ] || { echo "test_csharp: no libkrait.so in $BUILD (run tools/build.sh $BUILD first)" >&2; exit 1; }

mkdir -p "$OUT"
# C# 6 (what the binding promises to compile with), every warning on and an error.
MCS=(mcs -langversion:6 -warn:4 -warnaserror+ -debug -nologo)

echo "test_csharp: compiling Krait.dll, Krait.Tests.dll and the samples into $OUT"
"${MCS[@]}" -target:library -out:"$OUT/Krait.dll" -doc:"$OUT/Krait.xml" bindings/csharp/src/*.cs
# Mono maps DllImport("krait") through Krait.dll.config: here to this build's library, by absolute path.
cat >"$OUT/Krait.dll.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <dllmap dll="krait" target="$LIB" os="linux" />
</configuration>
EOF
"${MCS[@]}" -target:library -pkg:nunit -r:"$OUT/Krait.dll" -r:System.Core -out:"$OUT/Krait.Tests.dll" tests/csharp/*.cs
SAMPLES=(Generate Chat Classify Assistant AdapterSwap)
for s in "${SAMPLES[@]}"; do
  "${MCS[@]}" -target:exe -r:"$OUT/Krait.dll" -r:System.Core -out:"$OUT/$s.exe" "samples/csharp/$s.cs"
done

# Also found without the dllmap (dotnet, or a Krait.dll copied elsewhere).
export LD_LIBRARY_PATH="$BUILD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export KRAIT_ROOT="$ROOT" KRAIT_BUILD_DIR="$BUILD"

echo "test_csharp: running the tests (nunit-console)"
status=0
nunit-console -nologo -noshadow -labels -result="$OUT/TestResult.xml" "$OUT/Krait.Tests.dll" >"$OUT/nunit.log" 2>&1 || status=$?
# The summary and every failure, without the per-test labels.
grep -v -e '^\*\*\*\*\* ' -e '^ *at ' "$OUT/nunit.log" | sed -n '/^Tests run:/,$p'
if [ "$status" -ne 0 ] || ! grep -q '^Tests run: .*Errors: 0, Failures: 0' "$OUT/nunit.log"; then
  echo "test_csharp: FAILED (nunit-console exit status $status; full log: $OUT/nunit.log)" >&2
  exit 1
fi

echo "test_csharp: running the samples"
run_sample() {
  local name=$1; shift
  echo "--- samples/csharp/$name.cs $*"
  if ! mono "$OUT/$name.exe" "$@" >"$OUT/$name.out" 2>&1; then
    cat "$OUT/$name.out"
    echo "test_csharp: FAILED: sample $name exited with an error" >&2
    exit 1
  fi
  head -n 12 "$OUT/$name.out"
}
expect() {  # expect SAMPLE TEXT: the sample's output must contain TEXT
  grep -qF -- "$2" "$OUT/$1.out" || { echo "test_csharp: FAILED: $1's output lacks '$2'" >&2; exit 1; }
}
run_sample Generate
expect Generate "[40 tokens]"
run_sample Chat
expect Chat "assistant: The red teapot costs 17 euros."
expect Chat "assistant: We have 14 red teapots in stock."
run_sample Classify
expect Classify "from memory: models/samples/digit_0.png -> 0"
if [ -f models/shapes-mamba-assistant/config.json ] && [ -f models/samples/shapes_1.png ]; then
  run_sample Assistant
  expect Assistant "assistant: "
else
  echo "--- samples/csharp/Assistant.cs: SKIP: models/shapes-mamba-assistant (or models/samples/shapes_1.png) is not there yet"
fi
run_sample AdapterSwap
expect AdapterSwap "--- with ---"

echo "test_csharp: OK in $(( $(date +%s) - START )) s ($OUT)"
