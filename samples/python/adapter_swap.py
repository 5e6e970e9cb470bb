#!/usr/bin/env python3
"""adapter_swap.py: one prompt before, with and after a LoRA adapter; adapters are chosen per call.

    python3 samples/python/adapter_swap.py [MODEL_DIR [ADAPTER_DIR]] [--prompt TEXT] [-n MAX_NEW_TOKENS]

Defaults: models/mamba-demo (writes Python-documentation-style text) and models/mamba-demo-lora-licenses
(a PEFT LoRA adapter that makes it write software licences instead).

An adapter is loaded once; every call then says which adapters it uses, with a scale each
(adapters={adapter_or_name: scale}; none = the base model). Nothing is switched on the model, so
calls from several threads may use different adapters at the same time.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import krait

ROOT = Path(__file__).resolve().parents[2]  # the repository: samples/python/adapter_swap.py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", type=Path, default=ROOT / "models" / "mamba-demo")
    parser.add_argument("adapter", nargs="?", type=Path, default=ROOT / "models" / "mamba-demo-lora-licenses")
    parser.add_argument("--prompt", default="This module provides")
    parser.add_argument("-n", "--max-new-tokens", type=int, default=40)
    args = parser.parse_args()

    model = krait.SequenceModel(args.model)
    start = time.perf_counter()
    licences = model.load_adapter(args.adapter, name="licences")
    milliseconds = (time.perf_counter() - start) * 1000
    print(f"loaded adapter {licences.name!r} in {milliseconds:.1f} ms: rank {licences.max_rank}, "
          f"{len(licences.targets)} modules, {licences.num_parameters:,} parameters")

    def generate(adapters: krait.AdaptersLike) -> str:
        return model.generate(args.prompt, max_new_tokens=args.max_new_tokens, adapters=adapters).text  # greedy

    before = generate(None)
    with_adapter = generate({licences: 1.0})       # by object ...
    half = generate({"licences": 0.5})             # ... or by name, with any scale
    after = generate(None)
    for title, text in (("base model", before), ("with the adapter", with_adapter), ("adapter at half scale", half),
                        ("base model again", after)):
        print(f"-- {title}\n{args.prompt}{text}")
    assert after == before, "an adapter applies to its own call only"

    # Two threads, two adapter sets, one model: each call gets its own (calls on one model take turns).
    with ThreadPoolExecutor(max_workers=2) as pool:
        base_job = pool.submit(generate, None)
        lora_job = pool.submit(generate, {licences: 1.0})
        assert base_job.result() == before and lora_job.result() == with_adapter
    print("-- concurrent calls with and without the adapter gave the same texts")

    model.unload_adapter(licences)  # calls can no longer use it; licences.loaded is now False
    print(f"unloaded: loaded={licences.loaded}, model.adapters={model.adapters}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except krait.KraitError as error:
        sys.exit(f"adapter_swap.py: {error}")
