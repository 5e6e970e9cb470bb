#!/usr/bin/env python3
"""Mamba-130m-shape benchmark: Krait next to PyTorch + transformers, on this CPU.

    tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/bench_mamba.py [--build build] [--threads 1 2] [--prefill 1024] [--decode 64]

Builds (once, cached in the temp directory, --model-dir) a random-weight MambaForCausalLM of the real
state-spaces/mamba-130m-hf shape (D 768, 24 layers, N 16, vocab 50280, fp32),
then for each thread count measures, one engine after the other in this run:
  * prefill tokens/s: one forward pass over a --prefill-token prompt (last-token logits);
  * decode tokens/s at batch 1: greedy, from the first generated token to the last;
  * Krait's decode bound: fp32 weight bytes per token over the read bandwidth the
    Krait driver measured in the same run with the same thread count.
Needs torch + transformers (a tool environment; Krait itself never does) and
the krait-bench-mamba driver from the CMake build (KRAIT_BENCH=ON).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def make_model(path):
    import torch
    from transformers import MambaConfig, MambaForCausalLM

    if os.path.exists(os.path.join(path, "model.safetensors")):
        return
    torch.manual_seed(0)
    config = MambaConfig(vocab_size=50280, hidden_size=768, state_size=16, num_hidden_layers=24, expand=2,
                         conv_kernel=4, time_step_rank="auto", tie_word_embeddings=True, eos_token_id=0)
    model = MambaForCausalLM(config).float().eval()
    model.save_pretrained(path, safe_serialization=True)


def bench_transformers(path, threads, prefill, decode, repeats):
    import torch
    from transformers import MambaForCausalLM

    torch.set_num_threads(threads)
    model = MambaForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    prompt = torch.tensor([[(i * 7919) % vocab for i in range(prefill)]])
    best_prefill = 0.0
    with torch.inference_mode():
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(prompt, logits_to_keep=1)
            best_prefill = max(best_prefill, prefill / (time.perf_counter() - t0))
        # Decode: time generate() over `decode` tokens minus the prefill of its 8-token prompt.
        short = prompt[:, :8]
        best_decode = 0.0
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(short, logits_to_keep=1)
            t_prompt = time.perf_counter() - t0
            t0 = time.perf_counter()
            model.generate(short, max_new_tokens=decode, min_new_tokens=decode, do_sample=False, pad_token_id=0)
            t_gen = time.perf_counter() - t0
            best_decode = max(best_decode, (decode - 1) / max(t_gen - t_prompt, 1e-9))
    return {"engine": "transformers", "threads": threads, "prefill_tok_s": best_prefill, "decode_tok_s": best_decode,
            "torch": torch.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--model-dir", default=os.path.join(tempfile.gettempdir(), "krait-bench", "mamba-130m-random"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--prefill", type=int, default=1024)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()

    driver = os.path.join(args.build, "bench", "krait-bench-mamba")
    if not os.path.exists(driver):
        sys.exit(f"{driver} not found: build with tools/build.sh first")
    make_model(args.model_dir)
    import transformers

    rows = []
    for t in args.threads:
        out = subprocess.run([driver, "-m", args.model_dir, "--threads", str(t), "--prefill", str(args.prefill),
                              "--decode", str(args.decode), "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True).stdout
        krait = json.loads(out)
        ref = bench_transformers(args.model_dir, t, args.prefill, args.decode, args.repeats)
        rows.append((krait, ref))

    print(f"Mamba-130m shape (random fp32 weights), prefill {args.prefill} tokens, decode batch 1; "
          f"transformers {transformers.__version__}, torch {rows[0][1]['torch']}; {os.cpu_count()} CPUs")
    print()
    print("| threads | Krait prefill tok/s | transformers prefill tok/s | ratio | Krait decode tok/s | "
          "transformers decode tok/s | ratio | read GB/s | decode bound tok/s | Krait % of bound | "
          "Krait prefill GFLOP/s | peak FMA GFLOP/s | % of peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for krait, ref in rows:
        print(f"| {krait['threads']} | {krait['prefill_tok_s']:.1f} | {ref['prefill_tok_s']:.1f} | "
              f"{krait['prefill_tok_s'] / ref['prefill_tok_s']:.2f}x | {krait['decode_tok_s']:.1f} | "
              f"{ref['decode_tok_s']:.1f} | {krait['decode_tok_s'] / ref['decode_tok_s']:.2f}x | "
              f"{krait['read_bandwidth_gb_s']:.1f} | {krait['decode_bound_tok_s']:.1f} | "
              f"{100 * krait['decode_fraction_of_bound']:.0f}% | {krait['prefill_gflop_s']:.0f} | "
              f"{krait['peak_gflop_s']:.0f} | {100 * krait['prefill_fraction_of_peak']:.0f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"krait": k, "transformers": r} for k, r in rows], f, indent=2)


if __name__ == "__main__":
    main()
