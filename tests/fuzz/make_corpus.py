#!/usr/bin/env python3
"""Writes the committed seed corpora of tests/fuzz (corpus/<target>/) from the repository's own
fixtures. Deterministic; run from the repository root:

    python3 tests/fuzz/make_corpus.py

The session_state and conversation seeds are written by the SDK itself (tools/fuzz.sh BUILD
--make-seeds runs build/fuzz/krait_fuzz_make_seeds). Seeds are kept small (libFuzzer mutates
faster and its -max_len follows the largest seed): files over MAX_SEED bytes are skipped. Inputs
of past findings are kept as corpus/<target>/regression-<what>, which this script leaves alone."""
import glob
import hashlib
import json
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUZZ = os.path.join(ROOT, "tests", "fuzz")
CORPUS = os.path.join(FUZZ, "corpus")
MAX_SEED = 16 * 1024


def rel(path):
    return os.path.relpath(path, ROOT)


def small(paths, limit=MAX_SEED):
    return sorted(p for p in paths if os.path.getsize(p) <= limit)


class Corpus:
    def __init__(self, target):
        self.dir = os.path.join(CORPUS, target)
        os.makedirs(self.dir, exist_ok=True)
        # Inputs of past findings (regression-*) stay; the rest is rewritten.
        for f in os.listdir(self.dir):
            if not f.startswith("regression-"):
                os.remove(os.path.join(self.dir, f))
        self.seen = set()

    def add(self, name, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        digest = hashlib.sha1(data).hexdigest()
        if digest in self.seen:
            return
        self.seen.add(digest)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:80] or "seed"
        with open(os.path.join(self.dir, f"{name}-{digest[:8]}"), "wb") as f:
            f.write(data)

    def add_file(self, path):
        with open(path, "rb") as f:
            self.add(rel(path).replace("tests/fixtures/", ""), f.read())


def fixtures(pattern):
    return glob.glob(os.path.join(ROOT, pattern), recursive=True)


def safetensors_bytes(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def make_safetensors():
    c = Corpus("safetensors")
    for p in small(fixtures("tests/fixtures/**/*.safetensors"), 8 * 1024):
        c.add_file(p)
    sizes = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
             "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}
    for dtype, n in sizes.items():
        c.add(f"synthetic_{dtype}", safetensors_bytes({"w": (dtype, [2, 3], bytes(range(6 * n)))}, {"format": "pt"}))
    c.add("synthetic_scalar_and_empty", safetensors_bytes({"s": ("F32", [], b"\0\0\x80\x3f"), "e": ("F32", [0, 4], b"")}))
    c.add("synthetic_many", safetensors_bytes({f"layers.{i}.weight": ("F16", [i + 1], b"\0\x3c" * (i + 1))
                                              for i in range(6)}, {"format": "pt", "note": "x"}))


def make_model_config():
    c = Corpus("model_config")
    for p in small(fixtures("tests/fixtures/**/config.json") + fixtures("models/**/config.json")
                   + fixtures("tests/fixtures/**/preprocessor_config.json")
                   + fixtures("models/**/preprocessor_config.json"), 8 * 1024):
        if os.path.basename(os.path.dirname(p)) == "adapters":
            continue
        c.add_file(p)


def small_tokenizer(path, keep=300):
    """The unit test's cut: the fixture's parts with its model cut to the first `keep` tokens."""
    full = json.load(open(path, encoding="utf-8"))
    model = full["model"]
    vocab = {k: v for k, v in model["vocab"].items() if v < keep}
    merges = []
    for m in model.get("merges", []):
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    model = dict(model, vocab=vocab, merges=merges)
    out = {k: full[k] for k in full if k != "model"}
    out["added_tokens"] = [t for t in full.get("added_tokens", []) if t["id"] < keep + 2000000]
    out["model"] = model
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def make_tokenizers():
    c = Corpus("tokenizer_json")
    for p in small(fixtures("tests/fixtures/**/*tokenizer.json") + fixtures("models/**/tokenizer.json"), 8 * 1024):
        c.add_file(p)
    for p in sorted(fixtures("tests/fixtures/tokenizer/*.tokenizer.json")):
        if os.path.getsize(p) > 8 * 1024:
            c.add("small_" + os.path.basename(p), small_tokenizer(p, 200))

    c = Corpus("tokenizer_config")
    for p in small(fixtures("tests/fixtures/**/tokenizer_config.json") + fixtures("models/**/tokenizer_config.json")):
        c.add_file(p)

    # Byte 0: the tokenizer (low 7 bits, tokenizer_encode_fuzz.cpp's list of 8) and add_special_tokens (bit 7).
    c = Corpus("tokenizer_encode")
    strings = json.load(open(os.path.join(ROOT, "tests/fixtures/tokenizer/hard_strings.json"), encoding="utf-8"))
    for i, s in enumerate(strings):
        c.add(f"hard_{i}", bytes([i % 8 | (0x80 if i % 3 == 0 else 0)]) + s.encode("utf-8"))
    for t in range(8):
        c.add(f"tok{t}_special", bytes([t | 0x80]) + "<|endoftext|><|im_start|>user\n\u00e9\U0001F600 <s></s>".encode())
        c.add(f"tok{t}_bytes", bytes([t]) + bytes(range(256)))


def make_chat_templates():
    c = Corpus("chat_template")
    d = json.load(open(os.path.join(ROOT, "tests/fixtures/chat/chat_templates.json"), encoding="utf-8"))
    for name, t in d["templates"].items():
        if len(t["source"].encode()) <= MAX_SEED:
            c.add(f"template_{t['family']}", t["source"])
    for i, f in enumerate(d["features"]):
        c.add(f"feature_{i}", f["template"])
    for key in ("statements", "expressions", "filter_calls"):
        for i, f in enumerate(d[key][:60]):
            c.add(f"{key}_{i}", f["template"])
    for p in fixtures("tests/fixtures/**/tokenizer_config.json") + fixtures("models/**/tokenizer_config.json"):
        t = json.load(open(p, encoding="utf-8")).get("chat_template")
        if isinstance(t, str):
            c.add("config_" + rel(p), t)


def make_lora():
    c = Corpus("lora_config")
    configs = sorted(fixtures("tests/fixtures/**/adapter_config.json"))
    for p in configs:
        c.add_file(p)
    # lora_adapter: 2-byte little-endian length n, n bytes of adapter_config.json, adapter_model.safetensors.
    c = Corpus("lora_adapter")
    for p in configs:
        d = os.path.dirname(p)
        if not any(x in d for x in ("lora/mamba/", "lora/vit/", "lora/bad/")):
            continue
        config = open(p, "rb").read()
        w = os.path.join(d, "adapter_model.safetensors")
        weights = open(w, "rb").read() if os.path.exists(w) else b""
        if len(config) < 65536 and len(weights) <= 24 * 1024:
            c.add(rel(d), struct.pack("<H", len(config)) + config + weights)


def make_images():
    c = Corpus("image")
    for p in small(fixtures("tests/fixtures/images/samples/*") + fixtures("tests/fixtures/images/bad/*"), 8 * 1024):
        if not p.endswith(".md"):
            c.add_file(p)
    for p in small(fixtures("models/samples/*.png"), 4 * 1024)[:6]:
        c.add_file(p)


def make_onnx():
    c = Corpus("onnx")
    nodes = small(fixtures("tests/fixtures/onnx/node/*/model.onnx"), 2 * 1024)
    for p in nodes:
        c.add(os.path.basename(os.path.dirname(p)), open(p, "rb").read())
    for p in small(fixtures("tests/fixtures/onnx/bad/*.onnx"), 8 * 1024):
        c.add_file(p)
    # (Not the small whole models of tests/fixtures/onnx/models: their probe runs take seconds under
    # ASan, which only slows the fuzzer down; the node graphs reach the same loader code.)


def make_composite():
    c = Corpus("composite_assistant")
    for p in sorted(fixtures("tests/fixtures/composite/*/config.json")):
        fixture = os.path.basename(os.path.dirname(p))
        d = json.load(open(p, encoding="utf-8"))
        c.add(fixture + "_plain_names", json.dumps(d, indent=2))
        d["image_encoder"]["path"] = f"{fixture}/{d['image_encoder']['path']}"
        d["projector"]["weights"] = f"{fixture}/{d['projector']['weights']}"
        d["language_model"]["path"] = f"{fixture}/{d['language_model']['path']}"
        c.add(fixture, json.dumps(d, indent=2))


if __name__ == "__main__":
    make_safetensors()
    make_model_config()
    make_tokenizers()
    make_chat_templates()
    make_lora()
    make_images()
    make_onnx()
    make_composite()
    for target in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, target))
        size = sum(os.path.getsize(os.path.join(CORPUS, target, f)) for f in files)
        print(f"{target:22s} {len(files):4d} seeds {size / 1024:8.1f} KiB")
