#!/usr/bin/env bash
# Sets up a fresh machine, builds Krait, generates text with the embedded demo
# Mamba model (models/mamba-demo) and classifies the sample digit pictures with
# the demo ViT and MambaVision classifiers, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
echo "building Krait (log: build/build.log) ..."
mkdir -p build
if ! tools/build.sh build >build/build.log 2>&1; then
  tail -n 40 build/build.log
  exit 1
fi
PROMPT=${1:-$(cat models/mamba-demo/demo_prompt.txt 2>/dev/null || echo "The")}
build/cli/krait info -m models/mamba-demo
echo
printf '%s' "$PROMPT"   # the CLI streams only the continuation
build/cli/krait generate -m models/mamba-demo -p "$PROMPT" -n 80 --temperature 0.7 --seed 1
echo

for model in models/vit-digits models/mambavision-digits; do
  echo
  echo "== $model"
  build/cli/krait classify -m "$model" models/samples/*.png --top-k 2
done
