#!/usr/bin/env bash
# Runs every C and C++ sample (samples/c, samples/cpp) on the demo models and fails if one fails
# or prints something other than the demo models' known answers:
#   generate      models/mamba-demo, streaming                     (exit status)
#   chat          models/chat-demo, two turns                      (the two replies of the model card)
#   classify      models/vit-digits on models/samples/digit_*.png  (each picture's top class is its digit)
#   assistant     models/shapes-mamba-assistant on models/samples/shapes_1.png, two questions
#                 (exit status; a SKIP line instead while that model is not there)
#   adapter_swap  models/mamba-demo + models/mamba-demo-lora-licenses
#                 (the base model's text before and after the adapter is the same, and differs with it)
#
# usage: tools/run_samples.sh [BUILD_DIR]     (default: build; the samples must be built there)
# Env: ASSISTANT_MODEL, ASSISTANT_PICTURE: another assistant and picture for the assistant samples
#      (e.g. tests/fixtures/composite/mamba_chat and tests/fixtures/images/samples/rgb_37x53.png).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build="${1:-build}"
samples="$build/samples"
assistant_model="${ASSISTANT_MODEL:-models/shapes-mamba-assistant}"
assistant_picture="${ASSISTANT_PICTURE:-models/samples/shapes_1.png}"
prompt="$(cat models/mamba-demo/demo_prompt.txt 2>/dev/null || echo "This module provides")"
out="$(mktemp "${TMPDIR:-/tmp}/krait_samples.XXXXXX")"
trap 'rm -f "$out"' EXIT

failed=()
passed=0
skipped=0

# run NAME CHECK ARGS...: runs $samples/NAME ARGS, shows its output, then CHECK (a function reading $out).
run() {
    local name="$1" check="$2"
    shift 2
    local exe="$samples/$name"
    echo "== $name $*"
    if [[ ! -x "$exe" ]]; then
        echo "FAIL: $exe is not built (cmake --build $build --target $name)"
        failed+=("$name")
        return
    fi
    local t0 t1 rc
    t0=$(date +%s.%N)
    "$exe" "$@" >"$out" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    cat "$out"
    if [[ $rc -ne 0 ]]; then
        echo "FAIL: $name exited with status $rc"
        failed+=("$name")
    elif ! "$check"; then
        echo "FAIL: $name: unexpected output ($check)"
        failed+=("$name")
    else
        awk -v a="$t0" -v b="$t1" 'BEGIN {printf "-- ok (%.2f s)\n", b - a}'
        passed=$((passed + 1))
    fi
}

exit_status_only() { true; }
chat_replies() {
    grep -qx 'assistant: The red teapot costs 17 euros.' "$out" &&
        grep -qx 'assistant: We have 14 red teapots in stock.' "$out"
}
demo_assistant_replies() {
    grep -q '^assistant: The circle is red\.' "$out" &&
        grep -q '^assistant: The circle is at the top left\.' "$out"
}
top_class_is_digit() {
    local line picture digit top
    while IFS= read -r line; do
        [[ "$line" == *digit_*.png:* ]] || continue
        picture="${line%%:*}"
        digit="${picture##*digit_}"
        digit="${digit%.png}"
        top="$(echo "${line#*:}" | awk '{print $1}')"
        [[ "$top" == "$digit" ]] || { echo "  $picture: top class $top, expected $digit"; return 1; }
    done <"$out"
    local pictures=(models/samples/digit_*.png)
    [[ "$(grep -c 'digit_.*\.png:' "$out")" -eq "${#pictures[@]}" ]]
}
# The text after each "-- " header; the first and the last are the base model's.
base_same_adapter_differs() {
    awk '/^-- /{n++; next} {text[n] = text[n] $0 "\n"} END {exit !(n >= 3 && text[1] == text[n] && text[1] != text[2])}' "$out"
}

for lang in "" cpp_; do
    run "krait_sample_${lang}generate" exit_status_only models/mamba-demo "$prompt" 32
    run "krait_sample_${lang}chat" chat_replies models/chat-demo
    run "krait_sample_${lang}classify" top_class_is_digit models/vit-digits models/samples/digit_*.png
    # The demo assistant's replies are known (its model card); another assistant is only run.
    if [[ -z "${ASSISTANT_MODEL:-}${ASSISTANT_PICTURE:-}" ]]; then
        run "krait_sample_${lang}assistant" demo_assistant_replies "$assistant_model" "$assistant_picture"
    else
        run "krait_sample_${lang}assistant" exit_status_only "$assistant_model" "$assistant_picture"
    fi
    run "krait_sample_${lang}adapter_swap" base_same_adapter_differs models/mamba-demo models/mamba-demo-lora-licenses \
        "$prompt" 32
done

echo
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAIL: ${#failed[@]} sample(s) failed: ${failed[*]} ($passed passed, $skipped skipped)"
    exit 1
fi
echo "PASS: $passed samples ran as expected ($skipped skipped)"
