#!/usr/bin/env bash
# Sets up a fresh machine, builds Krait, generates text with the embedded demo
# Mamba model (models/mamba-demo), answers the same prompt before and after a
# LoRA adapter swap (models/mamba-demo-lora-licenses), and classifies the sample
# digit pictures with the demo ViT and MambaVision classifiers, then with the
# MambaVision parity adapter (models/mambavision-digits-lora-parity), offline.
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

echo
echo "== LoRA hot swap: one model load, the same prompt before, with and after the adapter"
build/samples/krait_sample_adapter_swap models/mamba-demo models/mamba-demo-lora-licenses "$PROMPT" 40

for model in models/vit-digits models/mambavision-digits; do
  echo
  echo "== $model"
  build/cli/krait classify -m "$model" models/samples/*.png --top-k 2
done
echo
echo "== models/mambavision-digits with the even/odd adapter (a new head and labels, LoRA in mixers and convs)"
build/cli/krait classify -m models/mambavision-digits --adapter models/mambavision-digits-lora-parity \
  models/samples/*.png --top-k 2
