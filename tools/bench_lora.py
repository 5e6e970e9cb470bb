#!/usr/bin/env python3
"""LoRA hot-swap benchmark on the Mamba-130m shape: Krait next to transformers + peft.

    tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/bench_lora.py [--build build] [--threads 1 2] [--rank 8]

Makes (once, cached in the temp directory's krait-bench/) the random-weight mamba-130m model of
tools/bench_mamba.py and two PEFT LoRA adapters of rank --rank on every linear
layer of every mixer (in_proj, x_proj, dt_proj, out_proj: 96 modules), saved by
peft as users have them, with random (non-zero) B. Then, per thread count, in
this one run:
  * Krait (bench/lora_bench.cpp): adapter load time; set_adapters latency over
    2000 swaps; decode ms/token at batch 1 with no adapter vs adapter A active
    (the per-token overhead); prefill tokens/s with and without;
  * transformers + peft, the peer: decode ms/token of the same model with the
    adapter disabled vs enabled (unmerged), and peft's set_adapter() latency.
Needs torch, transformers and peft (a tool environment; Krait never does).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mamba import make_model  # noqa: E402

TARGETS = ["in_proj", "x_proj", "dt_proj", "out_proj"]


def allow_out_proj():
    """peft 0.21 refuses LoRA on Mamba's out_proj because the fused CUDA kernels
    (mamba_ssm) read out_proj.weight directly and would skip the adapter.
    transformers' CPU path calls the module, so the adapter applies there, and
    Krait applies it everywhere: lift the check for this CPU benchmark."""
    import peft.tuners.tuners_utils as tu

    tu._check_lora_target_modules_mamba = lambda *args, **kwargs: None


def make_adapter(model_dir, out_dir, rank, seed):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import MambaForCausalLM

    if os.path.exists(os.path.join(out_dir, "adapter_model.safetensors")):
        return
    allow_out_proj()
    torch.manual_seed(seed)
    model = MambaForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.02)  # peft starts B at zero; a trained adapter is not
    peft_model.save_pretrained(out_dir)


def bench_peft(model_dir, adapters, threads, decode, repeats):
    import torch
    from peft import PeftModel
    from transformers import MambaForCausalLM

    allow_out_proj()
    torch.set_num_threads(threads)
    base = MambaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    model = PeftModel.from_pretrained(base, adapters[0], adapter_name="a").eval()
    model.load_adapter(adapters[1], adapter_name="b")
    vocab = base.config.vocab_size
    prompt = torch.tensor([[(i * 7919) % vocab for i in range(8)]])

    def decode_seconds():
        t0 = time.perf_counter()
        model(input_ids=prompt, logits_to_keep=1)
        t_prompt = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.generate(input_ids=prompt, max_new_tokens=decode, min_new_tokens=decode, do_sample=False, pad_token_id=0)
        return time.perf_counter() - t0 - t_prompt

    best_base = best_lora = float("inf")
    with torch.inference_mode():
        model.set_adapter("a")
        decode_seconds()  # warm-up
        for _ in range(repeats):
            with model.disable_adapter():
                best_base = min(best_base, decode_seconds())
            best_lora = min(best_lora, decode_seconds())
    swaps = []
    for i in range(200):
        t0 = time.perf_counter()
        model.set_adapter("a" if i % 2 else "b")
        swaps.append((time.perf_counter() - t0) * 1e6)
    swaps.sort()
    base_ms, lora_ms = best_base / (decode - 1) * 1e3, best_lora / (decode - 1) * 1e3
    return {"engine": "transformers+peft", "threads": threads,
            "decode_ms_per_token": {"base": base_ms, "lora": lora_ms, "overhead_pct": (lora_ms / base_ms - 1) * 100},
            "swap_us": {"median": swaps[len(swaps) // 2]}, "torch": torch.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--model-dir", default=os.path.join(tempfile.gettempdir(), "krait-bench", "mamba-130m-random"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-peer", action="store_true", help="Krait only")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()

    make_model(args.model_dir)
    root = os.path.dirname(args.model_dir)
    adapters = [os.path.join(root, f"lora-r{args.rank}-{n}") for n in ("a", "b")]
    for seed, path in enumerate(adapters):
        make_adapter(args.model_dir, path, args.rank, seed)

    driver = os.path.join(args.build, "bench", "krait-bench-lora")
    results = []
    for threads in args.threads:
        out = subprocess.run([driver, "-m", args.model_dir, "--adapter", adapters[0], "--adapter", adapters[1],
                              "--threads", str(threads), "--decode", str(args.decode), "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out))
        if not args.skip_peer:
            results.append(bench_peft(args.model_dir, adapters, threads, args.decode, args.repeats))

    print(f"\nLoRA rank {args.rank} on in_proj/x_proj/dt_proj/out_proj of all 24 layers (mamba-130m shape, fp32)\n")
    print("| engine | threads | decode ms/token base | with adapter | overhead | swap (median) | load |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        d = r["decode_ms_per_token"]
        load = f"{r['load_ms'][0]:.1f} ms" if "load_ms" in r else "-"
        print(f"| {r['engine']} | {r['threads']} | {d['base']:.2f} | {d['lora']:.2f} | {d['overhead_pct']:+.1f}% "
              f"| {r['swap_us']['median']:.1f} us | {load} |")
    for r in results:
        if "prefill_tok_s" in r:
            p = r["prefill_tok_s"]
            print(f"krait prefill ({r['threads']} threads, 512 tokens): {p['base']:.0f} tok/s base, "
                  f"{p['lora']:.0f} tok/s with adapter ({p['overhead_pct']:+.1f}% time); swap p99 "
                  f"{r['swap_us']['p99']:.1f} us, max {r['swap_us']['max']:.1f} us")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
