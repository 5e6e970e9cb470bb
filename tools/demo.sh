#!/usr/bin/env bash
# Sets up a fresh machine, builds Krait, generates text with the embedded demo
# Mamba model (models/mamba-demo), answers the same prompt before and after a
# LoRA adapter swap (models/mamba-demo-lora-licenses), and classifies the sample
# digit pictures with the demo ViT and MambaVision classifiers and with the ViT
# exported to ONNX (models/vit-digits-onnx, Krait's ONNX importer), then with the
# MambaVision parity adapter (models/mambavision-digits-lora-parity), and holds
# a two-turn conversation with the demo chat model (models/chat-demo), then asks
# the demo vision-language assistants (models/shapes-mamba-assistant,
# models/shapes-llava) two questions about a sample picture, offline.
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
  build/cli/krait classify -m "$model" models/samples/digit_*.png --top-k 2
done
echo
echo "== models/vit-digits-onnx/model.onnx: the same ViT exported by torch.onnx, run by Krait's ONNX importer"
build/cli/krait classify -m models/vit-digits-onnx/model.onnx models/samples/digit_*.png --top-k 2
echo
echo "== models/mambavision-digits with the even/odd adapter (a new head and labels, LoRA in mixers and convs)"
build/cli/krait classify -m models/mambavision-digits --adapter models/mambavision-digits-lora-parity \
  models/samples/digit_*.png --top-k 2

echo
echo "== models/chat-demo: a two-turn conversation with krait chat (greedy, the model's own chat template)"
# Two lines on stdin are two user turns of one conversation: each reply is formatted by the model's
# chat template (tokenizer_config.json) and the second turn reuses the session's state from the first
# (krait chat prints each reply's cost on stderr: prompt tokens, and how many were reused).
Q1="How much is the red teapot?"
Q2="And how many are in stock?"
printf '%s\n%s\n' "$Q1" "$Q2" |
  build/cli/krait chat -m models/chat-demo --temperature 0 -n 32 >build/chat.out 2>build/chat.log ||
  { cat build/chat.log >&2; exit 1; }
{ IFS= read -r R1; IFS= read -r R2; } <build/chat.out
printf 'user:      %s\nassistant: %s\nuser:      %s\nassistant: %s\n' "$Q1" "$R1" "$Q2" "$R2"
{ grep -o 'prompt [0-9]* tokens, [0-9]* reused' build/chat.log || true; } | sed 's/^/  turn cost: /'

# The demo vision-language assistants (tools/train_demo_assistant.py): two questions about one picture, the
# second referring to the first. The picture goes with the first message (--image); the second turn reuses the
# conversation's state, so the picture is not encoded or read again.
PICTURE=models/samples/shapes_1.png
Q1="What colour is the circle?"
Q2="And where is it?"
for model in models/shapes-mamba-assistant models/shapes-llava; do
  echo
  case "$model" in
    *mamba*) echo "== $model: a MambaVision encoder feeding a Mamba LM (image rows first, as Cobra places them)" ;;
    *)       echo "== $model: the same task in the LLaVA layout (CLIP tower + Llama, rows at the <image> marker)" ;;
  esac
  echo "picture: $PICTURE (a red circle at the top left, a yellow triangle at the top right, a blue square at the bottom right)"
  printf '%s\n%s\n' "$Q1" "$Q2" |
    build/cli/krait chat -m "$model" --image "$PICTURE" --temperature 0 -n 24 >build/assistant.out 2>build/assistant.log ||
    { cat build/assistant.log >&2; exit 1; }
  { IFS= read -r R1; IFS= read -r R2; } <build/assistant.out
  printf 'user:      [picture] %s\nassistant: %s\nuser:      %s\nassistant: %s\n' "$Q1" "$R1" "$Q2" "$R2"
done
