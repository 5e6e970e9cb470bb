#!/usr/bin/env python3
"""Vision-language assistant benchmark on this CPU: Krait next to PyTorch + transformers and llama.cpp, in one run.

    tools/setup_tools_env.sh        # once: creates .venv/ from tools/requirements-tools.txt
    tools/build.sh build            # or: cmake --build build --target krait-bench-assistant
    .venv/bin/python tools/bench_llava.py [--threads 2] [--dtypes f32 bf16] [--repeats 2] [--json out.json]
        [--engines krait krait-bf16dot transformers llamacpp]

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
(KRAIT_MATMUL_BF16: BF16 dot products on AMX / AVX512-BF16 for calls of 16+ rows, activations rounded to BF16). The
engines take turns: for each dtype, Krait then transformers, then llama.cpp, each in its own process (so two F32
copies of the model never sit in memory together), with all thread counts inside it. Goals (the vision-language
issue): Krait >= 2x transformers on each of the four figures, and the second question's TTFT <= 10% of the first's.
The machine's load average at the start and the end is printed.

Engine llamacpp: llama.cpp's multimodal CLI, llama-mtmd-cli, built once into the cache the way tools/bench_llama.py
builds llama-bench (the llama-cpp-python sdist's vendored llama.cpp, CPU only, -DGGML_NATIVE=ON, the same build
dir), on GGUFs converted once with its convert_hf_to_gguf.py next to the model directories at the model's dtype
(--outtype f32 / bf16): <model dir>.gguf (the language model, llama.cpp's built-in llama-spm vocabulary padded to
32064) and <model dir>-mmproj.gguf (--mmproj: CLIP tower + gelu projector). This converter version refuses a
LLaVA-1.5 CLIP tower for --mmproj (only Pixtral / Mistral towers); a wrapper (LLAVA_CONVERT_WRAPPER) writes it as
the legacy LLaVA-1.5 script does (projector type "mlp") at the requested dtype. Runs: --threads N (-t and -tb),
--temp 0 (greedy) --ignore-eos, the vicuna chat template ("USER: <image>... ASSISTANT:", the same 5 + 576 + text
tokens), the image a seeded random 336x336 PNG (its decoding is not timed; llama.cpp's CLIP preprocessing is, in
TTFT). Figures from the CLI's timestamped log (--log-jsonl --log-timestamps): image encode = its mtmd batch encode
of the image; TTFT = from the start of the turn to the first token printed (template + tokenize + prefill + encode +
prefill + sampling); decode tok/s = llama_perf's eval runs / eval time; second-question TTFT: a second
llama-mtmd-cli process in chat mode (stdin: "/image IMG", question 1, question 2; the CLI keeps the image and the
first turn in its KV cache between turns, so the image is not re-encoded), from the start of the second turn to its
first token; "USER: " + the question + "\\nASSISTANT:" is second-tokens + 1 tokens as for the other engines (the CLI
has evaluated the reply's last token at the end of the first turn). Both processes load the model; best of --repeats
processes. The llama.cpp table puts it next to Krait. If llama-mtmd-cli cannot be built or run, or a conversion
fails, the engine reports "not available: <reason>" and the other engines run as usual.
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


# ------------------------------------------------------------------------------------------- llama.cpp
# Same cache layout as tools/bench_llama.py: <cache>/llama-cpp/llama_cpp_python-<version>/vendor/llama.cpp (the source
# tree of the llama-cpp-python sdist), <cache>/llama-cpp/build (CPU only, -DGGML_NATIVE=ON); the GGUFs sit next to the
# safetensors directories: <model dir>.gguf (the language model) and <model dir>-mmproj.gguf (tower + projector).

# convert_hf_to_gguf.py for the LLaVA-1.5 checkpoint, which this converter version does not take as it is:
#  * the text model (LlamaModel, registered for LlavaForConditionalGeneration) gets the built-in llama-spm vocabulary
#    (the random model has no tokenizer), padded with [PAD<i>] pieces to the checkpoint's 32064 rows, as
#    _set_vocab_sentencepiece pads;
#  * --mmproj: LlavaVisionModel only takes Pixtral / Mistral-format towers ("Unsupported model type:
#    clip_vision_model"); for a CLIP tower it writes what tools/mtmd/legacy-models/convert_image_encoder_to_gguf.py
#    writes for LLaVA-1.5 (projector type "mlp", quick_gelu, no post-layernorm, projector as mm.0 / mm.2), through
#    MmprojModel so that --outtype f32 / bf16 apply (the legacy script writes F16 projectors only). clip.cpp's LLaVA
#    graph then runs block_count - 1 = 23 blocks (vision_feature_layer -2) and drops the CLS row ("default").
LLAVA_CONVERT_WRAPPER = r"""
import json, os, sys, runpy
src = sys.argv.pop(1)
sys.path.insert(0, src)           # _set_vocab_builtin reads sys.path[0]/models/ggml-vocab-*.gguf
import gguf
import conversion.llama as L
import conversion.llava as V
from conversion.base import MmprojModel

def _builtin_vocab(self):
    n, w = self.hparams["vocab_size"], self.gguf_writer
    pads = {"add_token_list": lambda i: ("[PAD%d]" % i).encode(), "add_token_scores": lambda i: -1000.0,
            "add_token_types": lambda i: gguf.TokenType.UNUSED}
    for k, fill in pads.items():
        orig = getattr(w, k)
        setattr(w, k, lambda xs, orig=orig, fill=fill: orig(list(xs) + [fill(i) for i in range(len(xs), n)]))
    try:
        self._set_vocab_builtin("llama-spm", n)
    finally:
        for k in pads:
            delattr(w, k)
L.LlamaModel.set_vocab = _builtin_vocab

def _is_clip(dir_model):
    with open(os.path.join(dir_model, "config.json")) as fh:
        return json.load(fh).get("vision_config", {}).get("model_type") == "clip_vision_model"

_init = V.LlavaVisionModel.__init__
_params = V.LlavaVisionModel.set_gguf_parameters
_tensors = V.LlavaVisionModel.modify_tensors

def _llava15_init(self, dir_model, *args, **kwargs):
    if not _is_clip(dir_model):
        return _init(self, dir_model, *args, **kwargs)
    MmprojModel.__init__(self, dir_model, *args, **kwargs)
    self.llava15 = True
    g = self.global_config
    if g.get("vision_feature_layer", -2) != -2 or g.get("vision_feature_select_strategy", "default") != "default":
        raise ValueError("clip.cpp's LLaVA graph takes vision_feature_layer -2 with strategy default only")

def _llava15_params(self):
    if not getattr(self, "llava15", False):
        return _params(self)
    MmprojModel.set_gguf_parameters(self)
    self.gguf_writer.add_clip_projector_type("mlp")
    self.gguf_writer.add_vision_attention_layernorm_eps(self.hparams.get("layer_norm_eps", 1e-5))
    act = self.hparams.get("hidden_act", "quick_gelu")
    if act == "gelu":
        self.gguf_writer.add_vision_use_gelu(True)
    elif act != "quick_gelu":  # clip.cpp's default is quick_gelu
        raise ValueError("unsupported vision hidden_act " + act)

def _llava15_tensors(self, data_torch, name, bid):
    if not getattr(self, "llava15", False):
        yield from _tensors(self, data_torch, name, bid)
        return
    if name.startswith("multi_modal_projector.linear_"):  # linear_1 / linear_2 -> mm.0 / mm.2 (nn.Sequential indices)
        i = {"1": 0, "2": 2}[name.split(".")[1].split("_")[1]]
        yield "mm.%d.%s" % (i, name.rsplit(".", 1)[1]), data_torch
        return
    if not name.startswith("vision_tower."):
        return
    if not name.startswith("vision_tower.vision_model."):  # transformers 5 saves the tower without vision_model.
        name = "vision_tower.vision_model." + name[len("vision_tower."):]
    if ".post_layernorm." in name:  # LLaVA takes hidden_states[-2], not the post-layernormed output
        return
    yield from MmprojModel.modify_tensors(self, data_torch, name, bid)

V.LlavaVisionModel.__init__ = _llava15_init
V.LlavaVisionModel.set_gguf_parameters = _llava15_params
V.LlavaVisionModel.modify_tensors = _llava15_tensors
sys.argv[0] = src + "/convert_hf_to_gguf.py"
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def import_bench_llama():
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import bench_llama
    return bench_llama


def llama_cpp_paths(cache, version):
    root = os.path.join(cache, "llama-cpp")
    return root, os.path.join(root, f"llama_cpp_python-{version}", "vendor", "llama.cpp"), os.path.join(root, "build")


def build_mtmd_cli(cache, version, jobs):
    """llama-mtmd-cli from the llama-cpp-python sdist, in the build dir tools/bench_llama.py uses (built once).
    Returns (binary, src). Configures (with bench_llama.py's flags) only where that build dir does not exist yet."""
    bench_llama = import_bench_llama()

    root, src, build = llama_cpp_paths(cache, version)
    binary = os.path.join(build, "bin", "llama-mtmd-cli")
    if os.path.exists(binary):
        return binary, src
    os.makedirs(root, exist_ok=True)
    sdist = os.path.join(root, f"llama_cpp_python-{version}.tar.gz")
    if not os.path.exists(src):
        if not os.path.exists(sdist):
            print(f"[bench] downloading the llama-cpp-python {version} sdist ...", flush=True)
            bench_llama.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-d", root,
                             f"llama-cpp-python=={version}"])
        import tarfile
        with tarfile.open(sdist) as tf:
            tf.extractall(root)
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        bench_llama.run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON",
                         "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                         "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF"], log=os.path.join(root, "cmake.log"))
    print(f"[bench] building llama-mtmd-cli (CPU only) in {build} with -j{jobs}: ~10-20 min on 2 cores; log in "
          f"{root}/build-mtmd.log", flush=True)
    bench_llama.run(["cmake", "--build", build, "--target", "llama-mtmd-cli", "-j", str(jobs)],
                    log=os.path.join(root, "build-mtmd.log"))
    return binary, src


def convert_llava_gguf(src, hf_dir, dtype):
    """(language model GGUF, mmproj GGUF) of one LLaVA directory at --outtype dtype, converted once."""
    outs = {}
    wrapper = os.path.join(os.path.dirname(hf_dir), "convert_llava15.py")
    with open(wrapper, "w") as fh:
        fh.write(LLAVA_CONVERT_WRAPPER)
    env = dict(os.environ, PYTHONPATH=os.path.join(src, "gguf-py"))
    for kind, out, extra in (("lm", hf_dir + ".gguf", []), ("mmproj", hf_dir + "-mmproj.gguf", ["--mmproj"])):
        if not os.path.exists(out):
            print(f"[bench] converting {hf_dir} to GGUF {dtype} ({'language model' if kind == 'lm' else 'mmproj'}) ...",
                  flush=True)
            try:
                subprocess.run([sys.executable, wrapper, src, hf_dir, "--outtype", dtype, "--outfile", out + ".tmp"]
                               + extra, check=True, stdout=open(out + ".log", "w"), stderr=subprocess.STDOUT, env=env)
            except subprocess.CalledProcessError:
                with open(out + ".log") as fh:
                    last = [l.strip() for l in fh if l.strip()][-1:]
                raise RuntimeError(f"convert_hf_to_gguf.py{' --mmproj' if extra else ''} failed on {hf_dir}: "
                                   f"{last[0] if last else '?'} (log {out}.log)")
            os.rename(out + ".tmp", out)
        outs[kind] = out
    return outs["lm"], outs["mmproj"]


def write_png(path, size, seed=1):
    """A size x size RGB PNG of seeded random pixels (what llama-mtmd-cli reads; no imaging library needed)."""
    import random
    import struct
    import zlib

    if os.path.exists(path):
        return path
    rng = random.Random(seed)
    raw = b"".join(b"\0" + bytes(rng.getrandbits(8) for _ in range(3 * size)) for _ in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    with open(path + ".tmp", "wb") as fh:
        fh.write(png)
    os.rename(path + ".tmp", path)
    return path


# Words that are one piece each in llama.cpp's built-in llama-spm vocabulary ("\u2581word"), for prompts of a known
# length: the first question has --text-tokens pieces after the image in all (words + the vicuna template's
# "\nASSISTANT:"), the second --second-tokens + 1 in all (as Krait's and transformers' second pass).
WORDS = ("what is shown in this picture please describe the image and tell me about its colors shapes objects people "
         "animals light background left right top bottom side any text written on it how many are there where was "
         "taken which time of day does look like could you give short answer one sentence also list main items see "
         "near far").split()
TURN_MARKER = "<<krait-bench-turn>>"


def words(n, start=0):
    return " ".join(WORDS[(start + i) % len(WORDS)] for i in range(max(n, 1)))


def run_mtmd(cli, lm, mmproj, threads, decode, ctx, image, turns, timeout=1800):
    """One llama-mtmd-cli process. turns=[q]: single-turn (--image IMG -p q); turns=[q1, q2]: chat mode on stdin
    ("/image IMG", q1, q2): the image and the first turn stay in the KV cache for the second question.
    Runs with --log-jsonl --log-timestamps: every log line (and every printed token piece) comes back with its time
    in microseconds; MTMD_TEST_RESPONSE_MARKER (the CLI's test hook) logs a marker where each turn's evaluation
    starts. Returns (entries [(t_us, level, msg)], the command line)."""
    import threading

    cmd = [cli, "-m", lm, "--mmproj", mmproj, "-t", str(threads), "-tb", str(threads), "-n", str(decode),
           "-c", str(ctx), "--temp", "0", "--ignore-eos", "--chat-template", "vicuna", "--seed", "1",
           "--log-jsonl", "--log-timestamps", "-lv", "4"]
    if len(turns) == 1:
        cmd += ["--image", image, "-p", turns[0]]
    env = dict(os.environ, MTMD_TEST_RESPONSE_MARKER=TURN_MARKER)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if len(turns) > 1 else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    entries, other, cond = [], [], threading.Condition()

    def reader():
        for line in proc.stdout:  # the console echoes chat input to stdout without a JSON wrapper: skip it
            line = line.decode("utf-8", "replace")
            i = line.find('{"type"')
            try:
                obj = json.loads(line[i:]) if i >= 0 else None
            except ValueError:
                obj = None
            with cond:
                if obj is None:
                    other.append(line)
                else:
                    entries.append((obj.get("time", 0), obj.get("level"), obj.get("msg", "")))
                cond.notify_all()
        with cond:
            entries.append((None, "eof", ""))
            cond.notify_all()

    err = []
    threads_ = [threading.Thread(target=reader, daemon=True),
                threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)]
    for th in threads_:
        th.start()
    deadline = time.time() + timeout

    def wait_prompt(n):  # the chat prompt "\n> " printed for the n-th time
        with cond:
            while sum(1 for e in entries if e[1] == "none" and e[2] == "\n> ") < n:
                if entries and entries[-1][1] == "eof" or not cond.wait(timeout=max(deadline - time.time(), 0.01)):
                    if time.time() >= deadline or (entries and entries[-1][1] == "eof"):
                        raise RuntimeError("llama-mtmd-cli chat mode: no prompt (timed out or exited)")

    try:
        if len(turns) > 1:
            wait_prompt(1)
            for n, line in enumerate([f"/image {image}"] + list(turns)):
                proc.stdin.write((line + "\n").encode())
                proc.stdin.flush()
                wait_prompt(n + 2)
            proc.stdin.close()  # EOF: the CLI leaves the chat loop and prints its timings
        proc.wait(timeout=max(deadline - time.time(), 1))
        failure = None if proc.returncode == 0 else f"exited with {proc.returncode}"
    except Exception as e:
        proc.kill()
        proc.wait()
        failure = str(e)
    finally:
        for th in threads_:
            th.join(timeout=10)
    if failure:
        tail = (b"".join(err).decode("utf-8", "replace") if err else "")[-1000:]
        msgs = "".join(e[2] for e in entries if e[1] == "error")[-1000:]
        raise RuntimeError(f"{failure}: {msgs}{tail} ({' '.join(cmd)})")
    return entries, cmd


def parse_mtmd(entries, decode):
    """Per-turn figures from the timestamped log of one llama-mtmd-cli run, and its llama_perf_context_print."""
    import re

    turns, cur = [], None
    for t, level, msg in entries:
        if level == "none" and msg.startswith(TURN_MARKER):
            cur = {"t0": t, "tokens": [], "state": "eval"}
            turns.append(cur)
        elif cur is None:
            continue
        elif cur["state"] == "eval":
            if level == "info" and msg.startswith("encoding mtmd batch"):
                cur["t_enc0"] = t
            elif level == "info" and msg.startswith("mtmd batch encoding done"):
                cur["t_enc1"] = t
            elif level == "info" and re.match(r"(image|audio) decoded \(batch", msg):
                cur["image_prefill_ms"] = cur.get("image_prefill_ms", 0) + float(re.search(r"in (\d+) ms", msg)[1])
            elif level == "none" and msg == "\n":  # eval_message's last line: the prompt is evaluated
                cur["t_prompt"] = t
                cur["state"] = "gen"
        elif cur["state"] == "gen" and level == "none":
            if msg in ("\n> ", "\n\n"):  # the chat prompt or the final newlines: the reply is over
                cur["state"] = "done"
            else:  # one token piece per line (--ignore-eos: --decode of them)
                cur["tokens"].append(t)
                if len(cur["tokens"]) == decode:
                    cur["state"] = "done"
    out = {"turns": []}
    for tr in turns:
        tok = tr["tokens"]
        r = {"generated": len(tok)}
        if "t_enc0" in tr and "t_enc1" in tr:
            r["encode_ms"] = (tr["t_enc1"] - tr["t_enc0"]) / 1e3
        if "image_prefill_ms" in tr:
            r["image_prefill_ms"] = tr["image_prefill_ms"]
        if "t_prompt" in tr:
            r["eval_ms"] = (tr["t_prompt"] - tr["t0"]) / 1e3  # template + tokenize + encode + prefill
        if tok:
            r["ttft_ms"] = (tok[0] - tr["t0"]) / 1e3  # ... + the first token's sampling
        if len(tok) > 1:
            r["decode_tok_s"] = (len(tok) - 1) / ((tok[-1] - tok[0]) / 1e6)
        out["turns"].append(r)
    text = "".join(e[2] for e in entries if e[1] in ("info", "none"))
    m = re.search(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", text)
    if m:
        out["perf_prompt_eval_ms"], out["perf_prompt_tokens"] = float(m[1]), int(m[2])
    m = re.search(r"llama_perf_context_print:\s+eval time =\s*([\d.]+) ms /\s*(\d+) runs", text)
    if m:
        out["perf_eval_ms"], out["perf_eval_runs"] = float(m[1]), int(m[2])
    m = re.search(r"n_tokens_batch = (\d+)", text)
    if m:
        out["image_tokens"] = int(m[1])
    return out


def bench_llamacpp(cli, lm, mmproj, image, threads, text_tokens, decode, second_tokens, repeats):
    """Two llama-mtmd-cli processes per repeat and thread count (best of --repeats), timed by the CLI's own log
    timestamps (microseconds, taken where each line is logged):
      * single turn (--image -p): image encode ms (its "encoding mtmd batch" .. "mtmd batch encoding done" lines);
        TTFT: from the turn's start (marker) to the first token piece printed: template, tokenize, prefill of the
        5 prefix tokens, encode, prefill of the 576 image rows and the text, sampling. (llama_perf's "prompt eval
        time" is not used for it: the first text chunk's llama_decode is only synchronised after the image encode,
        so that figure holds the encode too.) Decode tok/s: llama_perf's eval runs / eval time (single-token
        llama_decode calls, each synchronised by the next sampling; --decode - 1 of them). Prompt token count:
        llama_perf's prompt tokens;
      * chat mode (stdin: /image, question 1, question 2): the second question's TTFT, from its turn's start to its
        first token (template, tokenize, prefill of the new tokens, sampling); the image and the first turn stay in
        the KV cache (no re-encode; the reply's last token was already evaluated at the end of the first turn)."""
    # vicuna template: [BOS]"USER: " (5 pieces, the 5 prefix tokens), the image (576), q1 + "\nASSISTANT:" (5 pieces):
    # the same 5 + 576 + text_tokens as the other engines. The second turn adds "USER: " + q2 + "\nASSISTANT:"
    # (9 pieces + q2): second_tokens + 1, the length of the other engines' second pass.
    q1 = words(text_tokens - 5)
    q2 = words(second_tokens - 8, start=17)
    ctx = max(2048, PREFIX_TOKENS + 576 + text_tokens + second_tokens + 2 * decode + 64)
    res = {}
    for t in threads:
        runs = {k: [] for k in ("encode_ms", "ttft_ms", "decode_tok_s", "second_ttft_ms")}
        extra = {}
        for _ in range(repeats):
            entries, cmd = run_mtmd(cli, lm, mmproj, t, decode, ctx, image, [q1])
            one = parse_mtmd(entries, decode)
            tr = one["turns"][0] if one["turns"] else {}
            if "encode_ms" not in tr or "ttft_ms" not in tr or "perf_eval_ms" not in one:
                raise RuntimeError(f"could not parse llama-mtmd-cli's output ({' '.join(cmd)}): {one}")
            runs["encode_ms"].append(tr["encode_ms"])
            runs["ttft_ms"].append(tr["ttft_ms"])
            runs["decode_tok_s"].append(one["perf_eval_runs"] / (one["perf_eval_ms"] / 1e3))
            extra = {"prompt_tokens": one["perf_prompt_tokens"], "image_rows": one.get("image_tokens"),
                     "generated": tr.get("generated"), "single_turn": one, "command": cmd}
            try:
                entries2, cmd2 = run_mtmd(cli, lm, mmproj, t, decode, ctx, image, [q1, q2])
                two = parse_mtmd(entries2, decode)
                if len(two["turns"]) != 2 or "ttft_ms" not in two["turns"][1]:
                    raise RuntimeError(f"could not parse the chat run: {two}")
                runs["second_ttft_ms"].append(two["turns"][1]["ttft_ms"])
                # llama_perf counts the reply's last token (evaluated unsynchronised at the end of the first
                # turn) with the second prompt: the second pass itself is the rest
                extra.update(chat=two, chat_command=cmd2,
                             second_tokens=two.get("perf_prompt_tokens", 0) - one["perf_prompt_tokens"] - 1)
            except Exception as e:  # keep the first-turn figures
                extra["second_error"] = str(e)[-1000:]
        best = {k: (max(v) if k == "decode_tok_s" else min(v)) if v else None for k, v in runs.items()}
        res[str(t)] = dict(best, **extra, **{f"all_{k}": v for k, v in runs.items()})
    return res


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
    ap.add_argument("--engines", nargs="+", default=["krait", "krait-bf16dot", "transformers", "llamacpp"],
                    choices=["krait", "krait-bf16dot", "transformers", "llamacpp"],
                    help="krait-bf16dot: Krait with --matmul bf16 (BF16 dot products, AMX / AVX512-BF16), BF16 only; "
                         "llamacpp: llama.cpp's llama-mtmd-cli (built and converted into --cache on first use)")
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--text-tokens", type=int, default=30)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--second-tokens", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--llama-cpp-python-version", default=None,
                    help="the llama-cpp-python sdist whose vendored llama.cpp is built (default: bench_llama.py's)")
    ap.add_argument("--llama-cpp-jobs", type=int, default=os.cpu_count() or 2,
                    help="parallel jobs when llama-mtmd-cli has to be built")
    ap.add_argument("--make-only", action="store_true",
                    help="only make the cached models (and, with engine llamacpp, llama-mtmd-cli and the GGUFs)")
    ap.add_argument("--json", help="write the raw and summarised results here")
    args = ap.parse_args()

    started = time.time()
    load_before = os.getloadavg()
    dirs = make_models(args.cache)
    llama = {}  # dtype -> (cli, LM GGUF, mmproj GGUF, image), or the reason it is not available (a str)
    if "llamacpp" in args.engines:
        try:
            version = args.llama_cpp_python_version or import_bench_llama().LLAMA_CPP_PYTHON_VERSION
            cli, src = build_mtmd_cli(args.cache, version, args.llama_cpp_jobs)
            image = write_png(os.path.join(args.cache, "models", "llava-bench-336.png"), 336)
        except Exception as e:
            llama = {d: f"llama-mtmd-cli could not be built: {str(e).strip().splitlines()[-1]}" for d in args.dtypes}
        for d in args.dtypes:
            if d in llama:
                continue
            try:
                llama[d] = (cli, *convert_llava_gguf(src, dirs[d], d), image)
            except Exception as e:
                llama[d] = str(e)
        for d, v in llama.items():
            if isinstance(v, str):
                print(f"[bench] llamacpp {d}: not available: {v}", flush=True)
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
                elif engine == "llamacpp":
                    if isinstance(llama[d], str):
                        continue
                    res = bench_llamacpp(*llama[d], args.threads, args.text_tokens, args.decode, args.second_tokens,
                                         args.repeats)
                    for t in args.threads:
                        if res[str(t)].get("second_error"):
                            print(f"[bench]   {d} llamacpp: second question not measured: "
                                  f"{res[str(t)]['second_error']}", flush=True)
                else:
                    res = spawn_worker(["transformers", dirs[d], d, args.text_tokens, args.decode,
                                        args.second_tokens, args.repeats] + args.threads)
            except Exception as e:  # keep the run going; the table shows a dash
                print(f"[bench] {engine} {d} failed: {e}", flush=True)
                if engine == "llamacpp":
                    llama[d] = f"llama-mtmd-cli failed: {str(e).strip().splitlines()[0][:300]}"
                continue
            results[(d, engine)] = res
            brief = {t: {k: None if res[str(t)][k] is None else round(res[str(t)][k], 2)
                         for k in ("encode_ms", "ttft_ms", "decode_tok_s", "second_ttft_ms")} for t in args.threads}
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
    any_k = next((r for (d, e), r in results.items() if e == "krait"), None) or \
        next((r for (d, e), r in results.items() if e == "llamacpp"), None)
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
    unavailable = {d: v for d, v in llama.items() if isinstance(v, str)}
    if "llamacpp" in args.engines:
        print()
        print("llama.cpp (llama-mtmd-cli of the llama-cpp-python sdist's llama.cpp, GGUF at the model's dtype, "
              "--temp 0 --ignore-eos, vicuna template; timed by its log timestamps). Image encode: its mtmd batch "
              "encode; TTFT: from the turn's start to the first token printed (prefill, encode, prefill, sampling); "
              "decode: llama_perf eval runs / eval time; 2nd question: a chat-mode process (stdin), the image and the "
              "first turn kept in the KV cache (no re-encode), from the second turn's start to its first token:")
        print()
        print("| dtype | threads | figure | Krait | llama.cpp | Krait speed-up vs llama.cpp |")
        print("|---|---:|---|---:|---:|---:|")
        for d in args.dtypes:
            if d in unavailable:
                print(f"| {d.upper()} | — | — | — | not available: {unavailable[d]} | — |")
                continue
            for t in args.threads:
                for key, label, higher in figures:
                    k, l = get(d, "krait", t, key), get(d, "llamacpp", t, key)
                    speed = None if k is None or l is None else (k / l if higher else l / k)
                    rows.append({"dtype": d, "threads": t, "figure": key + " (vs llama.cpp)", "krait": k,
                                 "llamacpp": l, "speedup": speed})
                    spec = ".2f" if higher else ".1f"
                    print(f"| {d.upper()} | {t} | {label} | {fmt(k, spec)} | {fmt(l, spec)} | {fmt(speed, '.2f')}x |")
                a, b = get(d, "llamacpp", t, "second_ttft_ms"), get(d, "llamacpp", t, "ttft_ms")
                pct = None if a is None or b is None else 100 * a / b
                print(f"| {d.upper()} | {t} | 2nd / 1st TTFT | — | {fmt(pct)}% | — |")
        counts = [(d, t, r) for (d, e), res in results.items() if e == "llamacpp" for t, r in res.items()]
        for d, t, r in counts:
            err = f"; 2nd question not measured: {r['second_error'][:200]}" if r.get("second_error") else ""
            print(f"llama.cpp {d.upper()} {t} threads: prompt {r.get('prompt_tokens')} tokens ({r.get('image_rows')} "
                  f"image), 2nd question {r.get('second_tokens')} tokens, {r.get('generated')} generated{err}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "cpu": cpu, "cpus": os.cpu_count(), "seconds": elapsed,
                       "loadavg_before": load_before, "loadavg_start": load_start, "loadavg_end": load_end,
                       "rows": rows, "raw": {f"{d} {e}": r for (d, e), r in results.items()},
                       "llamacpp_not_available": unavailable}, fh, indent=2)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
