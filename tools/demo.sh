#!/usr/bin/env bash
# Sets up a fresh machine, builds Krait, generates text with the embedded demo
# Mamba model (models/mamba-demo), answers the same prompt before and after a
# LoRA adapter swap (models/mamba-demo-lora-licenses), and classifies the sample
# digit pictures with the demo ViT and MambaVision classifiers, then with the
# MambaVision parity adapter (models/mambavision-digits-lora-parity), and holds
# a two-turn conversation with the demo chat model (models/chat-demo), offline.
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

echo
echo "== models/chat-demo: a two-turn conversation (greedy; the prompt is the model's ChatML-style template)"
# The model's chat template (tokenizer_config.json) written out by hand: <|endoftext|>, then
# <|im_start|>role\ncontent<|im_end|>\n per message, then <|im_start|>assistant\n for the reply.
# The second prompt holds the first question and the model's own first reply.
chat() {  # chat PROMPT: the reply (the CLI prints only the continuation; <|im_end|> ends it)
  build/cli/krait generate -m models/chat-demo -p "$1" -n 32 --temperature 0 --no-special 2>build/chat.log ||
    { cat build/chat.log >&2; return 1; }
}
Q1="How much is the red teapot?"
Q2="And how many are in stock?"
printf -v P1 '<|endoftext|><|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n' "$Q1"
R1=$(chat "$P1")
printf -v P2 '%s%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n' "$P1" "$R1" "$Q2"
R2=$(chat "$P2")
printf 'user:      %s\nassistant: %s\nuser:      %s\nassistant: %s\n' "$Q1" "$R1" "$Q2" "$R2"
