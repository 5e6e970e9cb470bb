#!/usr/bin/env python3
"""Language-model benchmark on this CPU: Krait next to PyTorch + transformers and llama.cpp, in one run.

    tools/setup_tools_env.sh        # once: creates .venv/ from tools/requirements-tools.txt
    tools/build_python.sh           # installs the krait package into python3 (--krait-python)
    .venv/bin/python tools/bench_llama.py [--threads 1 2] [--dtypes f32 bf16] [--repeats 2] [--json out.json]

Models (random weights, made once with transformers and cached under --cache, default
<tempdir>/krait-bench):
  * tinyllama: the TinyLlama-1.1B shape (hidden 2048, 22 layers, 32 heads, 4 KV heads, intermediate 5632,
    vocab 32000, untied head), LlamaForCausalLM;
  * mamba: the state-spaces/mamba-130m-hf shape (D 768, 24 layers, N 16, expand 2, vocab 50280, tied head);
  * mamba2: the state-spaces/mamba2-130m shape, Mamba2ForCausalLM (D 768, 24 layers, N 128, 24 heads of 64,
    expand 2, 1 group, conv 4, chunk 256, vocab 50288 (50277 padded to 16, as published), tied head);
each saved as safetensors in F32 and in BF16 (the same weights rounded).

llama.cpp is built once into the cache from the llama-cpp-python source distribution on PyPI (its vendored
llama.cpp; CPU only, -DGGML_NATIVE=ON, only the llama-bench target), and the safetensors directories are
converted with the vendored convert_hf_to_gguf.py to GGUF F32 / BF16. The random models have no tokenizer:
the Llama conversion is given the converter's built-in llama-spm vocabulary (a wrapper that overrides
set_vocab); Mamba directories without tokenizer files fall back to its built-in GPT-NeoX vocabulary.

Measured, for each model, dtype and thread count, at batch 1:
  * prefill tokens/s: one pass over a --prefill-token prompt (transformers: forward with logits_to_keep=1;
    Krait: generate(prompt, max_new_tokens=1), i.e. the prompt pass, the last-token head and one argmax;
    llama.cpp: llama-bench pp<prefill>);
  * decode tokens/s: --decode single-token steps from an empty context (Krait and transformers: greedy
    generate() from a 1-token prompt for --decode new tokens, which is --decode forward passes; llama.cpp:
    llama-bench tg<decode>);
  * the DRAM-bandwidth bound of decode: weight bytes read per token (every weight except the input
    embedding table, of which one row is read; a tied head reads the table) at the file's dtype, over the
    read bandwidth measured in this run with the same thread count (threads summing a 1 GiB buffer, as
    bench/mamba_bench.cpp does; torch.sum here) -- the best of the run's probes. Copy bandwidth is reported too.
    KV-cache reads (a few MB at these lengths) are left out.
The engines take turns: each repeat runs every (model, dtype) through every engine, one process per
engine and (model, dtype), with all thread counts inside it; the table gives medians over --repeats.
Each engine runs in its own process (Krait in --krait-python, transformers in this interpreter), so
one engine's memory never sits beside another's.

Krait keeps BF16 weights as stored (its default, KRAIT_WEIGHTS_STORED). For BF16 models it also
measures prefill with matmul="bf16" (KRAIT_MATMUL_BF16: activations rounded to BF16, AMX or
AVX512-BF16 dot products where the CPU has them): the "Krait prefill bf16-dot" column.
"""
import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA_CPP_PYTHON_VERSION = "0.3.36"  # vendors llama.cpp 0c1e570 (ggml 0.25.3)
DTYPES = ("f32", "bf16")
TOKEN_STRIDE = 7919  # prompt token i is (i * 7919) % vocab


# ---------------------------------------------------------------------------------------------- models

def model_dir(cache, name, dtype, layers=None):
    suffix = f"-l{layers}" if layers else ""
    return os.path.join(cache, "models", f"{name}{suffix}-random-{dtype}")


def tinyllama_config(layers):
    from transformers import LlamaConfig
    return LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=layers,
                       num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048,
                       rms_norm_eps=1e-5, rope_theta=10000.0, hidden_act="silu", tie_word_embeddings=False,
                       bos_token_id=1, eos_token_id=2)


def mamba_config():
    from transformers import MambaConfig
    return MambaConfig(vocab_size=50280, hidden_size=768, state_size=16, num_hidden_layers=24, expand=2,
                       conv_kernel=4, time_step_rank="auto", tie_word_embeddings=True, eos_token_id=0)


def mamba2_config():
    from transformers import Mamba2Config
    return Mamba2Config(vocab_size=50288, hidden_size=768, state_size=128, num_hidden_layers=24, expand=2,
                        head_dim=64, num_heads=24, n_groups=1, conv_kernel=4, chunk_size=256, use_bias=False,
                        use_conv_bias=True, rms_norm=True, residual_in_fp32=True, tie_word_embeddings=True,
                        bos_token_id=0, eos_token_id=0, pad_token_id=0)


MODEL_CONFIGS = {"mamba": mamba_config, "mamba2": mamba2_config}


def make_models(cache, name, layers):
    """Writes the F32 and BF16 safetensors directories of one shape (once)."""
    dirs = {d: model_dir(cache, name, d, layers if name == "tinyllama" else None) for d in DTYPES}
    if all(os.path.exists(os.path.join(p, "config.json")) for p in dirs.values()):
        return dirs
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = tinyllama_config(layers or 22) if name == "tinyllama" else MODEL_CONFIGS[name]()
    print(f"[bench] making the random {name} model in {dirs['f32']} ...", flush=True)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    for dtype, torch_dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        tmp = dirs[dtype] + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.to(torch_dtype).save_pretrained(tmp, safe_serialization=True)
        shutil.rmtree(dirs[dtype], ignore_errors=True)
        os.rename(tmp, dirs[dtype])
    del model
    return dirs


def count_params(path):
    """(total parameters, parameters of the input embedding table, tied head?) from the safetensors headers."""
    total = embed = 0
    for f in sorted(glob.glob(os.path.join(path, "*.safetensors"))):
        with open(f, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
        for key, info in header.items():
            if key == "__metadata__":
                continue
            count = 1
            for s in info["shape"]:
                count *= s
            total += count
            if key.endswith("embed_tokens.weight") or key.endswith("embeddings.weight"):
                embed += count
    with open(os.path.join(path, "config.json")) as fh:
        tied = bool(json.load(fh).get("tie_word_embeddings", False))
    return total, embed, tied


def weight_bytes_per_token(path, dtype):
    total, embed, tied = count_params(path)
    read = total if tied else total - embed  # an untied model reads one embedding row, a tied head the table
    return read * (4 if dtype == "f32" else 2), total


# ------------------------------------------------------------------------------------------- llama.cpp

def run(cmd, log=None, **kw):
    if log:
        with open(log, "w") as fh:
            subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT, **kw)
    else:
        subprocess.run(cmd, check=True, **kw)


def build_llama_cpp(cache, version):
    """llama-bench from the llama-cpp-python sdist (its vendored llama.cpp), built once. Returns (binary, src)."""
    root = os.path.join(cache, "llama-cpp")
    src = os.path.join(root, f"llama_cpp_python-{version}", "vendor", "llama.cpp")
    build = os.path.join(root, "build")
    binary = os.path.join(build, "bin", "llama-bench")
    if os.path.exists(binary):
        return binary, src
    os.makedirs(root, exist_ok=True)
    sdist = os.path.join(root, f"llama_cpp_python-{version}.tar.gz")
    if not os.path.exists(sdist):
        print(f"[bench] downloading the llama-cpp-python {version} sdist ...", flush=True)
        run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-d", root,
             f"llama-cpp-python=={version}"])
    if not os.path.exists(src):
        with tarfile.open(sdist) as tf:
            tf.extractall(root)
    print(f"[bench] building llama-bench (CPU only) in {build}: ~10-20 min on 2 cores; log in {root}", flush=True)
    run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF",
         "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF",
         "-DLLAMA_BUILD_EXAMPLES=OFF"], log=os.path.join(root, "cmake.log"))
    run(["cmake", "--build", build, "--target", "llama-bench", "-j", str(os.cpu_count() or 2)],
        log=os.path.join(root, "build.log"))
    return binary, src


# convert_hf_to_gguf.py with the built-in llama-spm vocabulary for tokenizer-less Llama directories.
CONVERT_WRAPPER = r'''
import sys, runpy
src = sys.argv.pop(1)
sys.path.insert(0, src)           # _set_vocab_builtin reads sys.path[0]/models/ggml-vocab-*.gguf
import conversion.llama as L
def _builtin_vocab(self):
    self._set_vocab_builtin("llama-spm", self.hparams["vocab_size"])
L.LlamaModel.set_vocab = _builtin_vocab
sys.argv[0] = src + "/convert_hf_to_gguf.py"
runpy.run_path(sys.argv[0], run_name="__main__")
'''


def convert_gguf(src, hf_dir, dtype):
    out = hf_dir + ".gguf"
    if os.path.exists(out):
        return out
    wrapper = os.path.join(os.path.dirname(hf_dir), "convert_builtin_vocab.py")
    with open(wrapper, "w") as fh:
        fh.write(CONVERT_WRAPPER)
    env = dict(os.environ, PYTHONPATH=os.path.join(src, "gguf-py"))
    print(f"[bench] converting {hf_dir} to GGUF {dtype} ...", flush=True)
    run([sys.executable, wrapper, src, hf_dir, "--outtype", dtype, "--outfile", out + ".tmp"],
        log=out + ".log", env=env)
    os.rename(out + ".tmp", out)
    return out


def bench_llama_cpp(binary, gguf, threads, prefill, decode):
    out = subprocess.run([binary, "-m", gguf, "-p", str(prefill), "-n", str(decode), "-t",
                          ",".join(map(str, threads)), "-r", "1", "-o", "json"],
                         check=True, capture_output=True, text=True).stdout
    res = {}
    for row in json.loads(out):
        t = row["n_threads"]
        key = "prefill_tok_s" if row["n_prompt"] > 0 else "decode_tok_s"
        res.setdefault(str(t), {})[key] = row["avg_ts"]
        res[str(t)]["build"] = row.get("build_commit")
    return res


# ------------------------------------------------------------------------------------ workers (subprocess)

def prompt_ids(n, vocab):
    return [(i * TOKEN_STRIDE) % vocab for i in range(n)]


def worker_krait(path, dtype, threads, prefill, decode):
    import krait

    model = krait.SequenceModel(path, threads=threads[0], context_length=prefill + decode + 16)
    vocab = model.vocab_size
    prompt = prompt_ids(prefill, vocab)
    model.generate(prompt[:8], max_new_tokens=2, stop_at_eos=False)  # warm-up
    res = {"krait": krait.__version__, "source_dtype": model.info.get("source_dtype"),
           "weight_bytes": model.info.get("weight_bytes")}
    for t in threads:
        model.threads = t
        t0 = time.perf_counter()
        model.generate(prompt, max_new_tokens=1, stop_at_eos=False)
        p = prefill / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = model.generate(prompt[1:2], max_new_tokens=decode, stop_at_eos=False)
        d = decode / (time.perf_counter() - t0)
        assert len(out.ids) == decode, len(out.ids)
        res[str(t)] = {"prefill_tok_s": p, "decode_tok_s": d}
    if dtype == "bf16":
        del model
        model = krait.SequenceModel(path, threads=threads[0], context_length=prefill + decode + 16, matmul="bf16")
        model.generate(prompt[:32], max_new_tokens=1, stop_at_eos=False)  # warm-up, through the dot products
        for t in threads:
            model.threads = t
            t0 = time.perf_counter()
            model.generate(prompt, max_new_tokens=1, stop_at_eos=False)
            res[str(t)]["prefill_bf16dot_tok_s"] = prefill / (time.perf_counter() - t0)
    return res


def worker_transformers(path, dtype, threads, prefill, decode):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.float32 if dtype == "f32" else torch.bfloat16).eval()
    vocab = model.config.vocab_size
    prompt = torch.tensor([prompt_ids(prefill, vocab)])
    res = {"torch": torch.__version__, "transformers": transformers.__version__}
    with torch.inference_mode():
        model(prompt[:, :8], logits_to_keep=1)  # warm-up
        for t in threads:
            torch.set_num_threads(t)
            t0 = time.perf_counter()
            model(prompt, logits_to_keep=1)
            p = prefill / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = model.generate(prompt[:, 1:2], max_new_tokens=decode, min_new_tokens=decode, do_sample=False,
                                 pad_token_id=0)
            d = decode / (time.perf_counter() - t0)
            assert out.shape[1] == 1 + decode, out.shape
            res[str(t)] = {"prefill_tok_s": p, "decode_tok_s": d}
    return res


def worker_bandwidth(threads):
    """Read bandwidth (threads summing a 1 GiB fp32 buffer, best of 5) and copy bandwidth
    (read + write bytes of a 512 MiB copy, best of 5), GB/s, per thread count."""
    import torch

    x = torch.ones(1 << 28, dtype=torch.float32)
    y = torch.empty(1 << 27, dtype=torch.float32)
    res = {}
    for t in threads:
        torch.set_num_threads(t)
        best_read = best_copy = 0.0
        for _ in range(5):
            t0 = time.perf_counter()
            x.sum()
            best_read = max(best_read, x.numel() * 4 / (time.perf_counter() - t0) / 1e9)
            t0 = time.perf_counter()
            y.copy_(x[: y.numel()])
            best_copy = max(best_copy, 2 * y.numel() * 4 / (time.perf_counter() - t0) / 1e9)
        res[str(t)] = {"read_gb_s": best_read, "copy_gb_s": best_copy}
    return res


def spawn_worker(python, args):
    cmd = [python, os.path.abspath(__file__), "--worker"] + [str(a) for a in args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def worker_main(argv):
    kind, path, dtype, prefill, decode, *threads = argv
    threads = [int(t) for t in threads]
    if kind == "krait":
        res = worker_krait(path, dtype, threads, int(prefill), int(decode))
    elif kind == "transformers":
        res = worker_transformers(path, dtype, threads, int(prefill), int(decode))
    elif kind == "bandwidth":
        res = worker_bandwidth(threads)
    else:
        raise SystemExit(f"unknown worker {kind}")
    print(json.dumps(res))


# ------------------------------------------------------------------------------------------------ main

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec=".1f"):
    return "—" if v is None else format(v, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "krait-bench"))
    ap.add_argument("--krait-python", default="python3", help="interpreter with the krait package installed")
    ap.add_argument("--models", nargs="+", default=["tinyllama", "mamba", "mamba2"],
                    choices=["tinyllama", "mamba", "mamba2"])
    ap.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=DTYPES)
    ap.add_argument("--engines", nargs="+", default=["krait", "transformers", "llama.cpp"],
                    choices=["krait", "transformers", "llama.cpp"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--layers", type=int, default=None,
                    help="TinyLlama layers (default 22, the real shape; fewer for a quick reduced run)")
    ap.add_argument("--llama-cpp-python-version", default=LLAMA_CPP_PYTHON_VERSION)
    ap.add_argument("--json", help="write the raw and summarised results here")
    args = ap.parse_args()

    started = time.time()
    load_before = os.getloadavg()
    dirs = {m: make_models(args.cache, m, args.layers) for m in args.models}
    ggufs = {}
    llama_bench = None
    if "llama.cpp" in args.engines:
        llama_bench, src = build_llama_cpp(args.cache, args.llama_cpp_python_version)
        for m in args.models:
            for d in args.dtypes:
                try:
                    ggufs[(m, d)] = convert_gguf(src, dirs[m][d], d)
                except subprocess.CalledProcessError as e:
                    print(f"[bench] GGUF conversion of {m} {d} failed ({e}); llama.cpp skipped for it", flush=True)

    raw = []  # one record per (repeat, model, dtype, engine)
    bandwidth = []
    for rep in range(args.repeats):
        bw = spawn_worker(sys.executable, ["bandwidth", "-", "-", 0, 0] + args.threads)
        bandwidth.append(bw)
        print(f"[bench] repeat {rep + 1}/{args.repeats}: bandwidth {json.dumps(bw)}", flush=True)
        for m in args.models:
            for d in args.dtypes:
                for engine in args.engines:
                    t0 = time.perf_counter()
                    try:
                        if engine == "krait":
                            res = spawn_worker(args.krait_python, ["krait", dirs[m][d], d, args.prefill,
                                                                    args.decode] + args.threads)
                        elif engine == "transformers":
                            res = spawn_worker(sys.executable, ["transformers", dirs[m][d], d, args.prefill,
                                                                 args.decode] + args.threads)
                        else:
                            if (m, d) not in ggufs:
                                continue
                            res = bench_llama_cpp(llama_bench, ggufs[(m, d)], args.threads, args.prefill,
                                                  args.decode)
                    except Exception as e:  # keep the run going; the table shows a dash
                        print(f"[bench] {engine} {m} {d} failed: {e}", flush=True)
                        continue
                    raw.append({"repeat": rep, "model": m, "dtype": d, "engine": engine, "result": res,
                                "seconds": time.perf_counter() - t0})
                    brief = {t: {k: round(v, 2) for k, v in res[str(t)].items() if isinstance(v, float)}
                             for t in args.threads}
                    print(f"[bench]   {m} {d} {engine}: {brief} ({time.perf_counter() - t0:.0f} s)", flush=True)

    # Summary: medians over repeats.
    def get(m, d, engine, t, key):
        return med([r["result"].get(str(t), {}).get(key) for r in raw
                    if r["model"] == m and r["dtype"] == d and r["engine"] == engine])

    bw_read = {t: max(b[str(t)]["read_gb_s"] for b in bandwidth) for t in args.threads}
    bw_copy = {t: max(b[str(t)]["copy_gb_s"] for b in bandwidth) for t in args.threads}
    rows = []
    for m in args.models:
        for d in args.dtypes:
            bytes_tok, params = weight_bytes_per_token(dirs[m][d], d)
            for t in args.threads:
                row = {"model": m, "dtype": d, "threads": t, "params": params, "bytes_per_token": bytes_tok,
                       "read_gb_s": bw_read[t], "copy_gb_s": bw_copy[t],
                       "bound_tok_s": bw_read[t] * 1e9 / bytes_tok}
                for e in args.engines:
                    row[e] = {"prefill_tok_s": get(m, d, e, t, "prefill_tok_s"),
                              "decode_tok_s": get(m, d, e, t, "decode_tok_s")}
                if "krait" in args.engines:
                    row["krait"]["prefill_bf16dot_tok_s"] = get(m, d, "krait", t, "prefill_bf16dot_tok_s")
                rows.append(row)

    def val(row, e, key):
        return row.get(e, {}).get(key)

    elapsed = time.time() - started
    try:
        cpu = [l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True)
               .stdout.splitlines() if l.startswith("Model name")][0]
    except Exception:
        cpu = platform.processor()
    print()
    print(f"Prefill {args.prefill} tokens, decode {args.decode} tokens, batch 1, random weights; median of "
          f"{args.repeats} interleaved repeats; {os.cpu_count()} CPUs ({cpu}); run {elapsed / 60:.1f} min, "
          f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
          + (f"; TinyLlama reduced to {args.layers} layers" if args.layers else ""))
    print()
    print("| model | dtype | threads | Krait prefill | transformers prefill | llama.cpp prefill | K/tf | K/llama | "
          "Krait decode | transformers decode | llama.cpp decode | K/tf | K/llama | bound tok/s | "
          "Krait % bound | tf % bound | llama % bound |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        kp, tp, lp = (val(r, e, "prefill_tok_s") for e in ("krait", "transformers", "llama.cpp"))
        kd, td, ld = (val(r, e, "decode_tok_s") for e in ("krait", "transformers", "llama.cpp"))
        pct = lambda v: fmt(None if v is None else 100 * v / r["bound_tok_s"], ".0f") + ("%" if v else "")
        print(f"| {r['model']} | {r['dtype'].upper()} | {r['threads']} | {fmt(kp)} | {fmt(tp)} | {fmt(lp)} | "
              f"{fmt(ratio(kp, tp), '.2f')}x | {fmt(ratio(kp, lp), '.2f')}x | {fmt(kd, '.2f')} | {fmt(td, '.2f')} | "
              f"{fmt(ld, '.2f')} | {fmt(ratio(kd, td), '.2f')}x | {fmt(ratio(kd, ld), '.2f')}x | "
              f"{r['bound_tok_s']:.2f} | {pct(kd)} | {pct(td)} | {pct(ld)} |")
    print()
    print("| model | dtype | threads | weight bytes read / token | read GB/s | copy GB/s (read+write) | "
          "decode bound tok/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['dtype'].upper()} | {r['threads']} | {r['bytes_per_token'] / 1e6:.1f} MB | "
              f"{r['read_gb_s']:.1f} | {r['copy_gb_s']:.1f} | {r['bound_tok_s']:.2f} |")
    # Krait's BF16 prefill with matmul="bf16" (BF16 dot products).
    dot_rows = [r for r in rows if val(r, "krait", "prefill_bf16dot_tok_s") is not None]
    if dot_rows:
        print()
        print("| model | dtype | threads | Krait prefill exact | Krait prefill bf16-dot | dot/exact | dot/tf | dot/llama |")
        print("|---|---|---|---|---|---|---|---|")
        for r in dot_rows:
            ke, kb = val(r, "krait", "prefill_tok_s"), val(r, "krait", "prefill_bf16dot_tok_s")
            tp, lp = val(r, "transformers", "prefill_tok_s"), val(r, "llama.cpp", "prefill_tok_s")
            print(f"| {r['model']} | {r['dtype'].upper()} | {r['threads']} | {fmt(ke)} | {fmt(kb)} | "
                  f"{fmt(ratio(kb, ke), '.2f')}x | {fmt(ratio(kb, tp), '.2f')}x | {fmt(ratio(kb, lp), '.2f')}x |")
    # BF16 decode over F32 decode, per engine.
    if "f32" in args.dtypes and "bf16" in args.dtypes:
        print()
        print("| model | threads | " + " | ".join(f"{e} BF16/F32 decode" for e in args.engines) + " |")
        print("|---|---|" + "---|" * len(args.engines))
        for m in args.models:
            for t in args.threads:
                f = next(r for r in rows if r["model"] == m and r["dtype"] == "f32" and r["threads"] == t)
                b = next(r for r in rows if r["model"] == m and r["dtype"] == "bf16" and r["threads"] == t)
                cells = [fmt(ratio(val(b, e, "decode_tok_s"), val(f, e, "decode_tok_s")), ".2f") + "x"
                         for e in args.engines]
                print(f"| {m} | {t} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "cpu": cpu, "cpus": os.cpu_count(), "seconds": elapsed,
                       "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                       "bandwidth": bandwidth, "rows": rows, "raw": raw}, fh, indent=2)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
