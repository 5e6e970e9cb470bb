#!/usr/bin/env python3
"""Vision-language assistant benchmark on this CPU: Krait next to PyTorch + transformers, in one run.

    tools/setup_tools_env.sh        # once: creates .venv/ from tools/requirements-tools.txt
    tools/build.sh build            # or: cmake --build build --target krait-bench-assistant
    .venv/bin/python tools/bench_llava.py [--threads 2] [--dtypes f32 bf16] [--repeats 2] [--json out.json]

Model (random weights, made once with transformers and cached under --cache, default <tempdir>/krait-bench):
a LLaVA-1.5-shaped LlavaForConditionalGeneration with
  * the vision tower of CLIP ViT-L/14-336 (hidden 1024, 24 layers, 16 heads, intermediate 4096, image 336,
    patch 14, quick_gelu), vision_feature_layer -2, strategy "default" (CLS dropped): 576 rows per image;
  * the gelu projector (1024 -> 2048 -> 2048);
  * the language model in the TinyLlama-1.1B shape (hidden 2048, 22 layers, 32 heads, 4 KV heads,
    intermediate 5632, untied head), vocabulary 32064 with image_token_index 32000;
saved with save_pretrained as safetensors in F32 (~5.6 GB) and in BF16 (the same weights rounded), each with a
preprocessor_config.json from CLIPImageProcessor (shortest edge 336, crop 336) so that Krait loads it.

Prompt: 5 random text tokens, the image (576 copies of the image token), --text-tokens random text tokens
(the layout LlavaProcessor gives "USER: <image>\\n... ASSISTANT:"); random model-ready pixels [1, 3, 336, 336].
Measured at batch 1, best of --repeats inside each engine's process:
  * image encode ms: Krait krait_session_encode_images of one image; transformers
    model.model.get_image_features (vision tower + layer -2 + projector);
  * TTFT ms (time to first token of the prompt with the image: encode + prefill + argmax): Krait
    krait_session_reset + krait_session_append_images with logits + argmax; transformers
    model(input_ids, pixel_values, use_cache=True, logits_to_keep=1) + argmax;
  * decode tokens/s: --decode greedy tokens after that prompt; the first comes from the prompt's logits, each
    later one is one single-token forward pass, so the rate is (decode - 1) / time. Krait:
    krait_session_generate (temperature 0, stop_at_eos 0, empty prompt: it continues the context);
    transformers: the same greedy loop step by step with past_key_values (what generate() does, without its
    overhead of logits processors; min_new_tokens forces no EOS here either);
  * second-question TTFT ms: after that reply, --second-tokens new text tokens appended to the context that holds
    the image and the first turn (Krait krait_session_append with logits; transformers one forward with the
    first turn's past_key_values), + argmax. Both also feed the reply's last token in that pass (Krait's
    generate leaves it pending), so the pass is second-tokens + 1 tokens.
transformers runs on the CPU with torch.set_num_threads(threads), attn_implementation="eager",
torch.inference_mode(), and for BF16 the model in torch.bfloat16 (pixels too); Krait uses the weights as
stored (--weights stored: BF16 in place); engine krait-bf16dot is Krait on the BF16 model with --matmul bf16
(KRAIT_MATMUL_BF16: BF16 dot products on AMX / AVX512-BF16 for calls of 16+ rows, activations rounded to BF16). The engines take turns: for each dtype, Krait then transformers,
each in its own process (so two F32 copies of the model never sit in memory together), with all thread counts
inside it. Goals (the vision-language issue): Krait >= 2x transformers on each of the four figures, and the
second question's TTFT <= 10% of the first's. The machine's load average at the start and the end is printed.

Not measured in this version: llama.cpp's multimodal CLI (llama-mtmd-cli with an mmproj GGUF) -- out of scope.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DTYPES = ("f32", "bf16")
IMAGE_TOKEN = 32000
PREFIX_TOKENS = 5


# ---------------------------------------------------------------------------------------------- model

def model_dir(cache, dtype):
    return os.path.join(cache, "models", f"llava15-tinyllama-random-{dtype}")


def llava_config():
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                              image_size=336, patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                              projection_dim=768)
    text = LlamaConfig(vocab_size=32064, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                       num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048,
                       rms_norm_eps=1e-5, rope_theta=10000.0, hidden_act="silu", tie_word_embeddings=False,
                       bos_token_id=1, eos_token_id=2, pad_token_id=None)
    return LlavaConfig(vision_config=vision, text_config=text, image_token_index=IMAGE_TOKEN, vision_feature_layer=-2,
                       vision_feature_select_strategy="default", projector_hidden_act="gelu",
                       multimodal_projector_bias=True, image_seq_length=576)


def make_models(cache):
    """Writes the F32 and BF16 directories (once)."""
    dirs = {d: model_dir(cache, d) for d in DTYPES}
    if all(os.path.exists(os.path.join(p, "preprocessor_config.json")) for p in dirs.values()):
        return dirs
    import torch
    from transformers import CLIPImageProcessor, LlavaForConditionalGeneration

    torch.manual_seed(0)
    print(f"[bench] making the random LLaVA-1.5-shaped model in {dirs['f32']} (a few minutes) ...", flush=True)
    model = LlavaForConditionalGeneration(llava_config()).eval()
    processor = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    for dtype, torch_dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        tmp = dirs[dtype] + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.to(torch_dtype).save_pretrained(tmp, safe_serialization=True)
        processor.save_pretrained(tmp)
        shutil.rmtree(dirs[dtype], ignore_errors=True)
        os.rename(tmp, dirs[dtype])
    del model
    return dirs


# ------------------------------------------------------------------------------------ workers (subprocess)

def bench_krait(binary, path, threads, text_tokens, decode, second_tokens, repeats, matmul="exact"):
    res = {}
    for t in threads:
        cmd = [binary, "-m", path, "--threads", str(t), "--weights", "stored", "--matmul", matmul,
               "--text-tokens", str(text_tokens),
               "--decode", str(decode), "--second-tokens", str(second_tokens), "--repeats", str(repeats)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        line = next(l for l in proc.stdout.splitlines() if l.startswith('{"bench": "assistant"'))
        res[str(t)] = json.loads(line)
    return res


def worker_transformers(path, dtype, threads, text_tokens, decode, second_tokens, repeats):
    import torch
    import transformers
    from transformers import LlavaForConditionalGeneration

    torch_dtype = torch.float32 if dtype == "f32" else torch.bfloat16
    t0 = time.perf_counter()
    model = LlavaForConditionalGeneration.from_pretrained(path, dtype=torch_dtype, attn_implementation="eager").eval()
    load_ms = (time.perf_counter() - t0) * 1e3
    cfg = model.config
    vc = cfg.vision_config
    rows = (vc.image_size // vc.patch_size) ** 2  # strategy "default": CLS dropped
    vocab = cfg.text_config.vocab_size
    gen = torch.Generator().manual_seed(1)

    def text(k):
        ids = torch.randint(3, vocab, (k,), generator=gen)
        return torch.where(ids == cfg.image_token_index, ids - 1, ids)

    prompt = torch.cat([text(PREFIX_TOKENS), torch.full((rows,), cfg.image_token_index), text(text_tokens)])[None]
    second = text(second_tokens)[None]
    pixels = torch.randn(1, 3, vc.image_size, vc.image_size, generator=gen).to(torch_dtype)
    res = {"torch": torch.__version__, "transformers": transformers.__version__, "load_ms": load_ms,
           "prompt_tokens": int(prompt.shape[1]), "image_rows": rows}
    with torch.inference_mode():
        for t in threads:
            torch.set_num_threads(t)
            best = {"encode_ms": float("inf"), "ttft_ms": float("inf"), "decode_tok_s": 0.0,
                    "second_ttft_ms": float("inf")}
            runs = {k: [] for k in best}
            for _ in range(repeats):
                t0 = time.perf_counter()
                model.model.get_image_features(pixel_values=pixels, vision_feature_layer=cfg.vision_feature_layer,
                                               vision_feature_select_strategy=cfg.vision_feature_select_strategy)
                runs["encode_ms"].append((time.perf_counter() - t0) * 1e3)

                t0 = time.perf_counter()
                out = model(input_ids=prompt, pixel_values=pixels, use_cache=True, logits_to_keep=1)
                token = out.logits[:, -1].argmax(-1)
                runs["ttft_ms"].append((time.perf_counter() - t0) * 1e3)
                first = int(token)

                past = out.past_key_values
                t0 = time.perf_counter()
                for _ in range(decode - 1):  # token 1 came from the prompt's logits
                    out = model(input_ids=token[:, None], past_key_values=past, use_cache=True, logits_to_keep=1)
                    past = out.past_key_values
                    token = out.logits[:, -1].argmax(-1)
                runs["decode_tok_s"].append((decode - 1) / (time.perf_counter() - t0))

                t0 = time.perf_counter()  # the reply's last token, then the new question
                out = model(input_ids=torch.cat([token[:, None], second], dim=1), past_key_values=past,
                            use_cache=True, logits_to_keep=1)
                out.logits[:, -1].argmax(-1)
                runs["second_ttft_ms"].append((time.perf_counter() - t0) * 1e3)
                del out, past
            for k in best:
                best[k] = max(runs[k]) if k == "decode_tok_s" else min(runs[k])
            res[str(t)] = dict(best, first_token=first, **{f"all_{k}": v for k, v in runs.items()})
    return res


def spawn_worker(args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker"] + [str(a) for a in args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def worker_main(argv):
    kind, path, dtype, text_tokens, decode, second_tokens, repeats, *threads = argv
    if kind != "transformers":
        raise SystemExit(f"unknown worker {kind}")
    res = worker_transformers(path, dtype, [int(t) for t in threads], int(text_tokens), int(decode),
                              int(second_tokens), int(repeats))
    print(json.dumps(res))


# ------------------------------------------------------------------------------------------------ main

def fmt(v, spec=".1f"):
    return "—" if v is None else format(v, spec)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "krait-bench"))
    ap.add_argument("--krait-bench", default=os.path.join(ROOT, "build", "bench", "krait-bench-assistant"))
    ap.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=DTYPES)
    ap.add_argument("--engines", nargs="+", default=["krait", "krait-bf16dot", "transformers"],
                    choices=["krait", "krait-bf16dot", "transformers"],
                    help="krait-bf16dot: Krait with --matmul bf16 (BF16 dot products, AMX / AVX512-BF16), BF16 only")
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--text-tokens", type=int, default=30)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--second-tokens", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--make-only", action="store_true", help="only make the cached models")
    ap.add_argument("--json", help="write the raw and summarised results here")
    args = ap.parse_args()

    started = time.time()
    load_before = os.getloadavg()
    dirs = make_models(args.cache)
    if args.make_only:
        return
    load_start = os.getloadavg()  # after the models exist: the load the measurements start under

    results = {}  # (dtype, engine) -> {threads: record}
    for d in args.dtypes:
        for engine in args.engines:
            t0 = time.perf_counter()
            try:
                if engine == "krait":
                    res = bench_krait(args.krait_bench, dirs[d], args.threads, args.text_tokens, args.decode,
                                      args.second_tokens, args.repeats)
                elif engine == "krait-bf16dot":
                    if d != "bf16":
                        continue
                    res = bench_krait(args.krait_bench, dirs[d], args.threads, args.text_tokens, args.decode,
                                      args.second_tokens, args.repeats, matmul="bf16")
                else:
                    res = spawn_worker(["transformers", dirs[d], d, args.text_tokens, args.decode,
                                        args.second_tokens, args.repeats] + args.threads)
            except Exception as e:  # keep the run going; the table shows a dash
                print(f"[bench] {engine} {d} failed: {e}", flush=True)
                continue
            results[(d, engine)] = res
            brief = {t: {k: round(res[str(t)][k], 2) for k in ("encode_ms", "ttft_ms", "decode_tok_s",
                                                                 "second_ttft_ms")} for t in args.threads}
            print(f"[bench]   {d} {engine}: {brief} ({time.perf_counter() - t0:.0f} s, load average "
                  f"{os.getloadavg()[0]:.1f})", flush=True)

    def get(d, e, t, k):
        return results.get((d, e), {}).get(str(t), {}).get(k)

    elapsed = time.time() - started
    load_end = os.getloadavg()
    try:
        cpu = [l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True)
               .stdout.splitlines() if l.startswith("Model name")][0]
    except Exception:
        cpu = platform.processor()
    any_k = next((r for (d, e), r in results.items() if e == "krait"), None)
    prompt_tokens = next(iter(any_k.values()))["prompt_tokens"] if any_k else None
    print()
    print(f"LLaVA-1.5 shape (CLIP ViT-L/14-336 + TinyLlama-1.1B LM), random weights, batch 1, one 336x336 image; "
          f"prompt {PREFIX_TOKENS} + 576 image + {args.text_tokens} text = {prompt_tokens} tokens, decode "
          f"{args.decode}, second question {args.second_tokens} tokens; best of {args.repeats}; "
          f"{os.cpu_count()} CPUs ({cpu}); run {elapsed / 60:.1f} min; load average (1/5/15 min) "
          f"{'/'.join(f'{x:.1f}' for x in load_start)} at the start, {'/'.join(f'{x:.1f}' for x in load_end)} "
          f"at the end")
    print()
    figures = [("encode_ms", "image encode (ms)", False), ("ttft_ms", "TTFT (ms)", False),
               ("decode_tok_s", "decode (tok/s)", True), ("second_ttft_ms", "2nd-question TTFT (ms)", False)]
    print("| dtype | threads | figure | Krait | transformers | Krait speed-up | goal >= 2x |")
    print("|---|---:|---|---:|---:|---:|---|")
    rows = []
    for d in args.dtypes:
        for t in args.threads:
            for key, label, higher in figures:
                k, f = get(d, "krait", t, key), get(d, "transformers", t, key)
                speed = None if k is None or f is None else (k / f if higher else f / k)
                met = "—" if speed is None else ("met" if speed >= 2.0 else "not met")
                rows.append({"dtype": d, "threads": t, "figure": key, "krait": k, "transformers": f,
                             "speedup": speed})
                spec = ".2f" if higher else ".1f"
                print(f"| {d.upper()} | {t} | {label} | {fmt(k, spec)} | {fmt(f, spec)} | {fmt(speed, '.2f')}x | "
                      f"{met} |")
    if any(e == "krait-bf16dot" for (_, e) in results):
        print()
        print("Krait BF16 with matmul=\"bf16\" (BF16 dot products: AMX / AVX512-BF16, activations rounded to BF16):")
        print()
        print("| threads | figure | Krait exact | Krait bf16-dot | transformers | bf16-dot speed-up vs transformers |")
        print("|---:|---|---:|---:|---:|---:|")
        for t in args.threads:
            for key, label, higher in figures:
                k, b, f = get("bf16", "krait", t, key), get("bf16", "krait-bf16dot", t, key), get("bf16", "transformers", t, key)
                speed = None if b is None or f is None else (b / f if higher else f / b)
                spec = ".2f" if higher else ".1f"
                rows.append({"dtype": "bf16", "threads": t, "figure": key + " (bf16-dot)", "krait": b,
                             "transformers": f, "speedup": speed})
                print(f"| {t} | {label} | {fmt(k, spec)} | {fmt(b, spec)} | {fmt(f, spec)} | {fmt(speed, '.2f')}x |")
    print()
    print("| dtype | threads | Krait 2nd / 1st TTFT | transformers 2nd / 1st TTFT | goal <= 10% (Krait) |")
    print("|---|---:|---:|---:|---|")
    for d in args.dtypes:
        for t in args.threads:
            pct = {}
            for e in ("krait", "transformers"):
                a, b = get(d, e, t, "second_ttft_ms"), get(d, e, t, "ttft_ms")
                pct[e] = None if a is None or b is None else 100 * a / b
            met = "—" if pct["krait"] is None else ("met" if pct["krait"] <= 10 else "not met")
            print(f"| {d.upper()} | {t} | {fmt(pct['krait'])}% | {fmt(pct['transformers'])}% | {met} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "cpu": cpu, "cpus": os.cpu_count(), "seconds": elapsed,
                       "loadavg_before": load_before, "loadavg_start": load_start, "loadavg_end": load_end,
                       "rows": rows, "raw": {f"{d} {e}": r for (d, e), r in results.items()}}, fh, indent=2)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
