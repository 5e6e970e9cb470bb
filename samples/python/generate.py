#!/usr/bin/env python3
"""generate.py: streaming text generation with a language model.

    python3 samples/python/generate.py [MODEL_DIR] [--prompt TEXT] [-n MAX_NEW_TOKENS] [--temperature T]

Defaults: models/mamba-demo (a tiny Mamba model that writes Python-documentation-style text) and its
models/mamba-demo/demo_prompt.txt. Paths are taken relative to the current directory; the defaults
are found from this file, so the sample runs from any directory.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import krait

ROOT = Path(__file__).resolve().parents[2]  # the repository: samples/python/generate.py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", type=Path, default=ROOT / "models" / "mamba-demo")
    parser.add_argument("--prompt", help="default: the model's demo_prompt.txt")
    parser.add_argument("-n", "--max-new-tokens", type=int, default=60)
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    parser.add_argument("--seed", type=int, default=1, help="sampling is reproducible for a given seed")
    args = parser.parse_args()

    # A model directory as Hugging Face saves it: config.json, model.safetensors, tokenizer.json.
    model = krait.SequenceModel(args.model)
    prompt = args.prompt
    if prompt is None:
        prompt = (args.model / "demo_prompt.txt").read_text(encoding="utf-8").rstrip("\n")
    print(f"{args.model.name}: {model.info['architecture']}, {model.info['num_parameters']:,} parameters, "
          f"{krait.cpu_kernels()} kernels")

    # stream=True gives a generator of text pieces, produced while the model runs on a worker thread
    # (the GIL is released). Its return value, which a for loop drops, is the GenerationResult:
    # drive it by hand to keep it.
    pieces = model.generate(prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                            seed=args.seed, stream=True)
    print(prompt, end="", flush=True)
    start = time.perf_counter()
    while True:
        try:
            print(next(pieces), end="", flush=True)
        except StopIteration as done:
            result: krait.GenerationResult = done.value
            break
    seconds = time.perf_counter() - start
    print(f"\n-- {len(result.ids)} tokens in {seconds:.2f} s ({len(result.ids) / seconds:.0f} tokens/s)")

    # The same call without stream=True returns the GenerationResult at once: equal text for equal seeds.
    again = model.generate(prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed)
    assert again.text == result.text and again.ids == result.ids
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except krait.KraitError as error:  # a missing model, a bad argument, ...: the library's message
        sys.exit(f"generate.py: {error}")
