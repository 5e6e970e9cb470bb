#!/usr/bin/env python3
"""Train Krait's two demo LoRA adapters (PEFT format) on top of the committed demo models.

1. models/mamba-demo-lora-licenses: a LoRA adapter for models/mamba-demo (HF MambaForCausalLM, trained on the Python
   documentation) that moves its style to software licence texts. Corpus: the licence texts in
   /usr/share/common-licenses (Debian package `base-files`, present on every Debian system), only those whose text
   grants or requires verbatim redistribution of the licence itself (see LICENCE_FILES). Apache-2.0 is held out.
   LoRA r=8, alpha 16 on every linear layer of the mixers: in_proj, x_proj, dt_proj, out_proj (not conv1d: see the
   note on transformers below).
2. models/mambavision-digits-lora-parity: a LoRA adapter for models/mambavision-digits (tools/mambavision_ref.py)
   that turns the digit classifier into an even/odd classifier: a NEW 2-class head saved whole (modules_to_save
   ["head"]) plus LoRA r=4, alpha 8 in the mixers (in_proj, x_proj, dt_proj, out_proj) and the ConvBlock convs
   (conv1, conv2: Conv2d LoRA). Same data, split and preprocessing as tools/train_demo_vision.py, labels digit % 2.
   The folder also gets a config.json: the base config with the labels replaced by even/odd (Krait reads the label
   set of an adapter that replaces the head from there).

    tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/train_demo_lora.py                 # both adapters (about 3-4 min, one thread)
    .venv/bin/python tools/train_demo_lora.py --part mamba    # only one of them (mamba | vision)

CPU only, torch.set_num_threads(1), fixed seeds. Needs torch, transformers, peft, tokenizers, safetensors,
scikit-learn, pillow, and the Debian package python3.11-doc (the base model's own corpus, for the held-out loss of
the base model with and without the adapter).

peft 0.21 and out_proj: peft refuses LoRA on `out_proj` (and `conv1d`) of Mamba models
(tuners_utils._check_lora_target_modules_mamba) because the fused CUDA kernel mamba_inner_fn reads out_proj.weight
directly. On CPU transformers calls the module, and Krait applies it, so `allow_mamba_out_proj()` lifts that one
refusal (conv1d stays refused) while the adapter is created and reloaded. The saved files are plain peft files; to
load this adapter with peft elsewhere, do the same.

transformers 5.24 and dt_proj: MambaMixer.forward computes `time_step = self.dt_proj.weight @ time_step` and adds
the bias inside the scan, i.e. it reads dt_proj's weight directly and never calls the module. A PEFT LoRA on dt_proj
therefore has NO effect in plain transformers 5.24 + peft (measured: logits identical), unlike transformers 4.x,
whose slow path called `self.dt_proj(...)`. LoRA's definition (and Krait's) is y = W x + b + s * B (A x) for every
targeted Linear, so `dt_proj_lora()` below patches exactly that one line to add the LoRA term of dt_proj, and
`check_mixer_lora()` verifies it (with in_proj, x_proj, out_proj) against a model whose weights have the LoRA products
merged in (full forward and cached greedy decoding), and that without an adapter it changes nothing. Training,
evaluation and the card's samples all use the patch; the card also records what plain transformers + peft generate.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import inspect
import json
import pathlib
import sys
import textwrap
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import mambavision_ref as ref  # noqa: E402  the project's MambaVision reference
import train_demo_mamba as tdm  # noqa: E402  fast selective scan, corpus split, windows, losses, lr schedule
import train_demo_vision as tdv  # noqa: E402  digits split, preprocessing, training loop, evaluation

MAMBA_BASE = "models/mamba-demo"                        # repo-relative: recorded as base_model_name_or_path
VISION_BASE = "models/mambavision-digits"
MAMBA_OUT = "models/mamba-demo-lora-licenses"
VISION_OUT = "models/mambavision-digits-lora-parity"

LICENCE_DIR = pathlib.Path("/usr/share/common-licenses")
LICENCE_PACKAGE = "base-files"
# Regular files only (GPL, LGPL, GFDL are symlinks to these). Why each may be used (and quoted in short excerpts):
LICENCE_FILES = {
    "GPL-1": "FSF: 'Everyone is permitted to copy and distribute verbatim copies of this license document'",
    "GPL-2": "FSF: 'Everyone is permitted to copy and distribute verbatim copies of this license document'",
    "GPL-3": "FSF: 'Everyone is permitted to copy and distribute verbatim copies of this license document'",
    "LGPL-2": "FSF: 'Everyone is permitted to copy and distribute verbatim copies of this license document'",
    "LGPL-2.1": "FSF: 'Everyone is permitted to copy and distribute verbatim copies of this license document'",
    "LGPL-3": "FSF: 'Everyone is permitted to copy and distribute verbatim copies of this license document'",
    "GFDL-1.2": "FSF: 'Everyone is permitted to copy and distribute verbatim copies of this license document'",
    "GFDL-1.3": "FSF: 'Everyone is permitted to copy and distribute verbatim copies of this license document'",
    "BSD": "the licence's own clauses 1-2 require redistributing 'this list of conditions' verbatim",
    "CC0-1.0": "Creative Commons dedicates its legal code to the public domain under CC0",
    "Apache-2.0": "section 4(a) requires giving every recipient 'a copy of this License' (verbatim text)",
}
# Left out because the file itself states no permission to copy the licence text: Artistic, MPL-1.1, MPL-2.0.
LICENCE_EXCLUDED = ("Artistic", "MPL-1.1", "MPL-2.0")
LICENCE_HELDOUT = "Apache-2.0"

MAMBA_TARGETS = ["in_proj", "x_proj", "dt_proj", "out_proj"]
VISION_TARGETS = ["in_proj", "x_proj", "dt_proj", "out_proj", "conv1", "conv2"]


# ----------------------------------------------------------------------------------------------------------------
# LoRA on dt_proj for transformers 5.x MambaMixer (see the module docstring)
# ----------------------------------------------------------------------------------------------------------------
DT_LINE = "time_step = self.dt_proj.weight @ time_step.transpose(1, 2)"
_DT_HELPER = "_train_demo_lora_dt_proj_delta"


def dt_proj_lora_delta(layer, x: torch.Tensor):
    """The LoRA term that peft's lora.Linear.forward adds for `layer` (same loop, same order), as [B, E, L].

    x: [B, L, R], the dt part of x_proj's output. 0 when `layer` carries no (enabled, unmerged) LoRA."""
    from peft.tuners.lora import LoraLayer
    if not isinstance(layer, LoraLayer) or layer.disable_adapters or layer.merged:
        return 0  # merged: the product is already inside layer.weight, which the unpatched line reads
    delta = 0
    for name in layer.active_adapters:
        if name not in layer.lora_A:
            continue
        if name in layer.lora_variant:
            raise SystemExit("dt_proj_lora: LoRA variants (DoRA, ...) are not handled")
        delta = delta + layer.lora_B[name](layer.lora_A[name](layer.lora_dropout[name](x))) * layer.scaling[name]
    return delta if isinstance(delta, int) else delta.transpose(1, 2)


@contextlib.contextmanager
def dt_proj_lora(enabled: bool = True):
    """While active, transformers' MambaMixer adds dt_proj's LoRA term: time_step = W x + s B (A x).

    The mixer's forward is recompiled from transformers' own source with only DT_LINE extended, in transformers'
    module namespace (so tdm.fast_scan, which swaps the module's mamba_selective_scan, still applies)."""
    import transformers.models.mamba.modeling_mamba as mm
    if not enabled:
        yield
        return
    original = mm.MambaMixer.forward
    src = textwrap.dedent(inspect.getsource(original))          # decorators included, re-applied by exec
    if src.count(DT_LINE) != 1:
        raise SystemExit(f"transformers' MambaMixer.forward no longer contains {DT_LINE!r} exactly once; "
                         "update dt_proj_lora()")
    src = src.replace(DT_LINE, DT_LINE + f" + {_DT_HELPER}(self.dt_proj, time_step)")
    namespace: dict = {}
    mm.__dict__[_DT_HELPER] = dt_proj_lora_delta
    exec(compile(src, f"<dt_proj_lora patch of {mm.__file__}>", "exec"), mm.__dict__, namespace)
    mm.MambaMixer.forward = namespace["forward"]
    try:
        yield
    finally:
        mm.MambaMixer.forward = original
        del mm.__dict__[_DT_HELPER]


@contextlib.contextmanager
def allow_mamba_out_proj():
    """peft 0.21 refuses LoRA on Mamba's out_proj (see the module docstring); allow it, keep refusing conv1d."""
    import peft.tuners.tuners_utils as tu
    original = tu._check_lora_target_modules_mamba

    def check(peft_config, model, target_name):
        if target_name != "out_proj":
            original(peft_config, model, target_name)
    tu._check_lora_target_modules_mamba = check
    try:
        yield
    finally:
        tu._check_lora_target_modules_mamba = original


def check_mixer_lora() -> float:
    """Patched peft model (random LoRA on in_proj, x_proj, dt_proj, out_proj) vs the same model with the LoRA
    products merged into the base weights and run by plain transformers: full-sequence logits and cached greedy
    decoding logits. Also: with the adapter disabled the patched model equals the base model exactly, and unpatched
    transformers still ignores dt_proj's LoRA (otherwise the patch is obsolete)."""
    from peft import LoraConfig, get_peft_model
    from transformers import MambaConfig, MambaForCausalLM
    torch.manual_seed(4321)
    cfg = MambaConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, state_size=8, expand=2, conv_kernel=4,
                      time_step_rank=4, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    base = MambaForCausalLM(cfg).eval()
    merged = copy.deepcopy(base)
    with allow_mamba_out_proj():
        peft_model = get_peft_model(copy.deepcopy(base), LoraConfig(
            r=4, lora_alpha=8, target_modules=MAMBA_TARGETS, init_lora_weights=False)).eval()
    with torch.no_grad():
        for name, module in peft_model.base_model.model.named_modules():
            if hasattr(module, "lora_A") and "default" in module.lora_A:
                delta = module.lora_B["default"].weight @ module.lora_A["default"].weight * module.scaling["default"]
                merged.get_submodule(name).weight.add_(delta)
    ids = torch.randint(1, 97, (2, 12), generator=torch.Generator().manual_seed(5))
    gen_kw = dict(max_new_tokens=8, do_sample=False, return_dict_in_generate=True, output_logits=True)
    with torch.no_grad():
        want = merged(input_ids=ids).logits
        want_gen = merged.generate(ids, **gen_kw)
        with dt_proj_lora():
            got = peft_model(input_ids=ids).logits
            got_gen = peft_model.generate(input_ids=ids, **gen_kw)
            with peft_model.disable_adapter():
                off = peft_model(input_ids=ids).logits
        plain = peft_model(input_ids=ids).logits          # unpatched: dt_proj's LoRA is silently ignored
    worst = ((got - want).abs().max() / want.abs().max()).item()
    for a, b in zip(got_gen.logits, want_gen.logits):
        worst = max(worst, ((a - b).abs().max() / b.abs().max()).item())
    if worst > 1e-5 or not torch.equal(got_gen.sequences, want_gen.sequences):
        raise SystemExit(f"LoRA on the mixers disagrees with the merged reference (max relative error {worst:.2e})")
    if not torch.equal(off, base(input_ids=ids).logits):
        raise SystemExit("dt_proj LoRA patch changes the model without an active adapter")
    if (plain - want).abs().max().item() < 1e-3:
        raise SystemExit("unpatched transformers now applies dt_proj's LoRA: the patch is obsolete, remove it")
    return worst


# ----------------------------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------------------------
def save_adapter(peft_model, out: pathlib.Path, base_path: str) -> None:
    """PeftModel.save_pretrained (adapter_config.json + adapter_model.safetensors), with the base recorded by its
    repo-relative path and target_modules sorted (peft writes a set, whose order changes from run to run)."""
    out.mkdir(parents=True, exist_ok=True)
    peft_model.peft_config["default"].base_model_name_or_path = base_path
    peft_model.save_pretrained(out, safe_serialization=True)
    cfg_path = out / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["target_modules"] = sorted(cfg["target_modules"])
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    for f in out.iterdir():
        f.chmod(0o644)  # save_pretrained creates the safetensors file with mode 0600


def adapter_keys(out: pathlib.Path) -> list[tuple[str, list[int], str]]:
    from safetensors import safe_open
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        return [(k, list(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in sorted(f.keys())]


def versions() -> dict:
    import peft
    import tokenizers
    import transformers
    return {"peft": peft.__version__, "transformers": transformers.__version__,
            "software": f"{tdv.software()}, peft {peft.__version__}, tokenizers {tokenizers.__version__}"}


# ----------------------------------------------------------------------------------------------------------------
# 1. Mamba language model: licence-text style
# ----------------------------------------------------------------------------------------------------------------
def load_licences():
    missing = [n for n in LICENCE_FILES if not (LICENCE_DIR / n).is_file()]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)} under {LICENCE_DIR} (Debian package {LICENCE_PACKAGE})")
    train = [(n, (LICENCE_DIR / n).read_text(encoding="utf-8")) for n in LICENCE_FILES if n != LICENCE_HELDOUT]
    held = [(LICENCE_HELDOUT, (LICENCE_DIR / LICENCE_HELDOUT).read_text(encoding="utf-8"))]
    return train, held


def train_mamba(args, log) -> dict:
    import transformers
    from peft import LoraConfig, PeftModel, get_peft_model
    from tokenizers import Tokenizer
    from transformers import MambaForCausalLM
    transformers.logging.set_verbosity_error()

    err = tdm.check_fast_scan()
    log(f"fast selective scan matches transformers (max relative error {err:.1e})")
    err = check_mixer_lora()
    log(f"LoRA on the mixers (dt_proj patch included) matches merged weights (max relative error {err:.1e}); "
        f"unpatched transformers ignores dt_proj's LoRA")

    base_dir = ROOT / MAMBA_BASE
    tok = Tokenizer.from_file(str(base_dir / "tokenizer.json"))
    lic_train, lic_held = load_licences()
    lic_train_ids = tdm.encode_docs(tok, [t for _, t in lic_train])
    lic_held_ids = tdm.encode_docs(tok, [t for _, t in lic_held])
    lic_info = {"package": tdm.package_info(LICENCE_PACKAGE),
                "train_files": [n for n, _ in lic_train], "heldout_files": [n for n, _ in lic_held],
                "train_bytes": sum(len(t.encode()) for _, t in lic_train),
                "heldout_bytes": sum(len(t.encode()) for _, t in lic_held),
                "train_tokens": int(lic_train_ids.numel()), "heldout_tokens": int(lic_held_ids.numel())}
    log(f"licence corpus: {len(lic_train)} training files {lic_info['train_bytes']} B {lic_info['train_tokens']} "
        f"tokens; held out {LICENCE_HELDOUT} {lic_info['heldout_bytes']} B {lic_info['heldout_tokens']} tokens")

    # The base model's own held-out documents (same split as tools/train_demo_mamba.py), first N windows.
    _, py_held = tdm.load_corpus(pathlib.Path(tdm.DEFAULT_CORPUS), 20)
    py_held_wins = tdm.windows(tdm.encode_docs(tok, [t for _, t in py_held]), args.seq_len, args.py_eval_windows)
    lic_held_wins = tdm.windows(lic_held_ids, args.seq_len)
    lic_train_wins = tdm.windows(lic_train_ids, args.seq_len)
    log(f"evaluation windows of {args.seq_len} tokens: licence held-out {lic_held_wins.shape[0]}, licence train "
        f"{lic_train_wins.shape[0]}, Python-docs held-out {py_held_wins.shape[0]}")

    torch.manual_seed(args.seed)
    base = MambaForCausalLM.from_pretrained(base_dir).eval()
    lcfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=MAMBA_TARGETS, bias="none",
                      task_type="CAUSAL_LM")
    with allow_mamba_out_proj():
        model = get_peft_model(base, lcfg)
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_base = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    log(f"LoRA parameters: {n_lora} ({100 * n_lora / n_base:.2f}% of the base's {n_base})")

    def losses(tag):
        with dt_proj_lora():
            r = {"licence_heldout": tdm.mean_loss(model, lic_held_wins, args.batch),
                 "licence_train": tdm.mean_loss(model, lic_train_wins, args.batch),
                 "python_heldout": tdm.mean_loss(model, py_held_wins, args.batch)}
        log(f"{tag}: " + ", ".join(f"{k} {v:.4f}" for k, v in r.items()))
        return r

    with model.disable_adapter():
        base_losses = losses("base model")

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    sched = argparse.Namespace(lr=args.lr, warmup=args.warmup, steps=args.steps, min_lr_ratio=0.1)
    gen = torch.Generator().manual_seed(args.seed)
    max_start = lic_train_ids.numel() - args.seq_len - 1
    history, recent = [], []
    model.train()
    t0 = time.time()
    with tdm.fast_scan(True), dt_proj_lora():
        for step in range(args.steps):
            for g in opt.param_groups:
                g["lr"] = tdm.lr_at(step, sched)
            starts = torch.randint(0, max_start + 1, (args.batch,), generator=gen)
            batch = lic_train_ids[starts[:, None] + torch.arange(args.seq_len + 1)[None, :]]
            logits = model(input_ids=batch[:, :-1], use_cache=False).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            recent.append(loss.item())
            if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
                avg = sum(recent[-args.log_every:]) / len(recent[-args.log_every:])
                ql = tdm.mean_loss(model, lic_held_wins, args.batch)
                history.append({"step": step + 1, "train_loss": round(avg, 4), "heldout_loss": round(ql, 4)})
                log(f"step {step + 1}/{args.steps} train loss {avg:.4f} licence held-out {ql:.4f} "
                    f"lr {tdm.lr_at(step, sched):.2e} {(time.time() - t0) / (step + 1):.2f}s/step")
    train_seconds = time.time() - t0
    model.eval()

    out = ROOT / MAMBA_OUT
    save_adapter(model, out, MAMBA_BASE)

    # Everything below is measured on the adapter reloaded from disk onto a fresh base model.
    with allow_mamba_out_proj():
        re = PeftModel.from_pretrained(MambaForCausalLM.from_pretrained(base_dir).eval(), out).eval()
    model.requires_grad_(False)
    with torch.no_grad(), dt_proj_lora():
        a = model(input_ids=lic_held_wins[:2, :-1]).logits
        b = re(input_ids=lic_held_wins[:2, :-1]).logits
    if not torch.equal(a, b):
        raise SystemExit("reloaded adapter gives different logits")
    model = re
    adapter_losses = losses("with adapter")
    # The bulk evaluation uses the fast scan; confirm on a few windows that transformers' own scan agrees.
    with dt_proj_lora():
        fast, slow = (tdm.mean_loss(model, lic_held_wins[:4], 4, fast=f) for f in (True, False))
    if abs(fast - slow) > 1e-4:
        raise SystemExit(f"fast vs transformers held-out loss mismatch: {fast} vs {slow}")

    from transformers import AutoTokenizer
    hf_tok = AutoTokenizer.from_pretrained(base_dir)
    prompt = (base_dir / "demo_prompt.txt").read_text(encoding="utf-8")
    prompt_ids = hf_tok(prompt, return_tensors="pt").input_ids
    kw = dict(max_new_tokens=args.gen_tokens, do_sample=False)
    with torch.no_grad():
        with dt_proj_lora():
            with model.disable_adapter():
                g_base = model.generate(input_ids=prompt_ids, **kw)[0]
            g_adapter = model.generate(input_ids=prompt_ids, **kw)[0]
        g_plain = model.generate(input_ids=prompt_ids, **kw)[0]   # plain transformers 5.24 + peft (no dt_proj LoRA)
    samples = {"prompt": prompt, "prompt_ids": prompt_ids[0].tolist()}
    for name, ids in (("base", g_base), ("adapter", g_adapter), ("plain_peft", g_plain)):
        samples[name] = hf_tok.decode(ids, skip_special_tokens=False)
        samples[name + "_ids"] = ids.tolist()
        log(f"greedy {name}: {samples[name]!r}")
    if samples["base"] == samples["adapter"]:
        raise SystemExit("the adapter does not change the greedy continuation of the demo prompt")

    res = {"licence": lic_info, "lora_params": n_lora, "base_params": n_base, "history": history,
           "train_seconds": train_seconds, "base": base_losses, "adapter": adapter_losses, "samples": samples,
           "py_windows": int(py_held_wins.shape[0]), "lic_held_windows": int(lic_held_wins.shape[0]),
           "lic_train_windows": int(lic_train_wins.shape[0]), "keys": adapter_keys(out),
           "tokens_seen": args.steps * args.batch * args.seq_len}
    write_mamba_card(out, args, res)
    res["files"] = {f.name: f.stat().st_size for f in sorted(out.iterdir())}
    return res


def write_mamba_card(out: pathlib.Path, args, r) -> None:
    L, b, a, s, v = r["licence"], r["base"], r["adapter"], r["samples"], versions()
    hist = "\n".join(f"| {h['step']} | {h['train_loss']:.3f} | {h['heldout_loss']:.3f} |" for h in r["history"])
    best = min(r["history"], key=lambda h: h["heldout_loss"])
    why = "\n".join(f"  - `{n}`: {LICENCE_FILES[n]}" for n in L["train_files"] + L["heldout_files"])
    wbytes = (out / "adapter_model.safetensors").stat().st_size
    text = f"""# mamba-demo-lora-licenses: a LoRA adapter that makes mamba-demo write licence texts

A PEFT LoRA adapter for [`models/mamba-demo`](../mamba-demo/README.md) (which writes Python-documentation-style
reStructuredText). With the adapter active the same model writes in the style of software licences (GNU-style
"work based on the Library" prose, see the samples below). It exists to demonstrate Krait's hot-swapped adapters;
it is useless for anything else.

```sh
krait generate -m {MAMBA_BASE} --adapter {MAMBA_OUT} -p "$(cat {MAMBA_BASE}/demo_prompt.txt)" -n {args.gen_tokens} --temperature 0
```

## Files
- `adapter_config.json`, `adapter_model.safetensors`: exactly as written by `PeftModel.save_pretrained` (peft
  {v['peft']}), float32, {len(r['keys'])} tensors, {wbytes:,} bytes. Two fields were then normalised:
  `base_model_name_or_path` is the repo-relative `{MAMBA_BASE}` and `target_modules` is sorted (peft writes a set).
- LoRA **r = 8, lora_alpha = 16** (scaling 2), no dropout, no bias, no rslora, on `in_proj`, `x_proj`, `dt_proj` and
  `out_proj` of all 4 mixers (every linear layer of the mixers; not `conv1d`): **{r['lora_params']:,} parameters**
  ({100 * r['lora_params'] / r['base_params']:.1f}% of the base's {r['base_params']:,}).
- Keys `base_model.model.backbone.layers.N.mixer.<proj>.lora_A.weight` [8, in] and `.lora_B.weight` [out, 8].

**dt_proj and transformers 5.x.** transformers 5.24's `MambaMixer` reads `dt_proj.weight` directly
(`time_step = self.dt_proj.weight @ time_step`) instead of calling the module, so plain transformers + peft silently
ignores the `dt_proj` part of this adapter (transformers 4.x called the module and applied it). This card's figures
and samples use LoRA's definition for every targeted layer, `y = W x + b + 2 * B (A x)`, which is what Krait
computes: `tools/train_demo_lora.py` patches that one line and checks the patch against merged weights.

**out_proj and peft 0.21.** peft refuses LoRA on `out_proj` (and `conv1d`) of Mamba models, because the fused CUDA
kernel reads `out_proj.weight` directly; on CPU transformers calls the module. The files are ordinary peft files, but
to load them with peft (`PeftModel.from_pretrained`) lift that check as `allow_mamba_out_proj()` in the script does.

## Corpus
- The licence texts in `{LICENCE_DIR}/` from the Debian package **`{L['package']['package']}`**
  {L['package']['version']} (installed on every Debian system). Training files: {', '.join(L['train_files'])}
  ({L['train_bytes']:,} bytes, {L['train_tokens']:,} tokens with the base model's tokenizer; each file ends with
  `<|endoftext|>`). Held out: **{', '.join(L['heldout_files'])}** ({L['heldout_bytes']:,} bytes,
  {L['heldout_tokens']:,} tokens), a licence with no near-duplicate among the training files.
- Licences of the texts themselves. Only files whose text permits or requires verbatim redistribution of the licence
  were used:
{why}
  Left out because the file states no such permission: {', '.join(LICENCE_EXCLUDED)}. The texts are not stored
  here, only adapter weights trained on them and the short generated samples below (which may repeat licence
  phrases verbatim).

## Training
`tools/train_demo_lora.py`: base weights frozen, AdamW (betas 0.9/0.95, no weight decay) on the LoRA weights only,
peak learning rate {args.lr} with {args.warmup} warm-up steps and cosine decay to 0.1x, gradient clipping 1.0, batch
{args.batch} x {args.seq_len} tokens of random windows of the training files, **{args.steps} steps**
({r['tokens_seen']:,} tokens seen, about {r['tokens_seen'] / L['train_tokens']:.1f} epochs), seed {args.seed}. CPU
only, `torch.set_num_threads(1)` on a shared 2-core machine; training took {r['train_seconds'] / 60:.1f} min.
Software: {v['software']}.

| step | train loss (mean of last {args.log_every} steps) | held-out ({LICENCE_HELDOUT}) loss |
|---|---|---|
{hist}

The held-out loss is lowest at step {best['step']} ({best['heldout_loss']:.3f}); the later steps fit the training
licences (mostly GNU texts) more closely, which makes the greedy text more licence-like at the cost of a slightly
higher loss on the held-out Apache licence. For a style demo that is the better trade.

## Results (adapter reloaded from this folder onto a fresh base model)
Mean cross-entropy in nats/token over non-overlapping {args.seq_len}-token windows:

| text | windows | base model | base + adapter |
|---|---|---|---|
| licences, held out ({LICENCE_HELDOUT}) | {r['lic_held_windows']} | {b['licence_heldout']:.4f} | **{a['licence_heldout']:.4f}** |
| licences, training files | {r['lic_train_windows']} | {b['licence_train']:.4f} | {a['licence_train']:.4f} |
| Python docs, held out (base model's own split, first {r['py_windows']} windows) | {r['py_windows']} | **{b['python_heldout']:.4f}** | {a['python_heldout']:.4f} |

The adapter lowers the held-out licence loss by {b['licence_heldout'] - a['licence_heldout']:.2f} nats/token and
raises the loss on the base model's own held-out text by {a['python_heldout'] - b['python_heldout']:.2f}: the usual
trade-off, and the reason to switch adapters per request rather than merge one.

## Samples: demo prompt, greedy, {args.gen_tokens} new tokens
Prompt `{MAMBA_BASE}/demo_prompt.txt`: **`{s['prompt']}`** (token ids {s['prompt_ids']}).

Base model (adapter disabled):
```text
{s['base']}
```
Base + adapter:
```text
{s['adapter']}
```
Token ids (prompt + continuation), as exact references:
- base: `{s['base_ids']}`
- adapter: `{s['adapter_ids']}`

For comparison, plain transformers {v['transformers']} + peft, which drops the `dt_proj` LoRA term:
`{s['plain_peft_ids']}`

## Reproduce
```sh
apt-get install --no-install-recommends python3.11-doc   # only for the Python-docs held-out loss
tools/setup_tools_env.sh        # once: the pinned Python tools env in .venv/
.venv/bin/python tools/train_demo_lora.py --part mamba
```
Seeded; rerunning with the software versions above gives the same files. Other CPUs or versions may differ
slightly.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------------------------------------------
# 2. MambaVision classifier: even / odd
# ----------------------------------------------------------------------------------------------------------------
class FrozenBatchNorm(nn.Module):
    """Wraps the peft model for tdv.train: train() leaves every BatchNorm in eval mode, so training uses (and never
    updates) the base model's running statistics — they are not part of the adapter, and Krait uses the base's.
    The reference has no dropout, so nothing else depends on the mode."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self


def parity_base(features_seed: int):
    """The base classifier with its head replaced by a fresh nn.Linear(features, 2) (seeded)."""
    model = ref.load_safetensors_dir(ROOT / VISION_BASE).float().eval()
    torch.manual_seed(features_seed)
    model.head = nn.Linear(model.head.in_features, 2)
    return model


def train_vision(args, log) -> dict:
    from peft import LoraConfig, PeftModel, get_peft_model

    pics_tr, digit_tr, pics_te, digit_te = tdv.split_data()
    x_tr, x_te = tdv.pixel_values(pics_tr, tdv.MV_MEAN, tdv.MV_STD), tdv.pixel_values(pics_te, tdv.MV_MEAN, tdv.MV_STD)
    y_tr, y_te = torch.from_numpy(digit_tr % 2), torch.from_numpy(digit_te % 2)
    base_digits = ref.load_safetensors_dir(ROOT / VISION_BASE).float().eval()
    digit_acc, _ = tdv.evaluate(base_digits, x_te, torch.from_numpy(digit_te))
    base_state = {k: v.clone() for k, v in base_digits.state_dict().items() if not k.startswith("head.")}
    log(f"base digit classifier: held-out digit accuracy {digit_acc * 100:.2f}%")

    lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=VISION_TARGETS, modules_to_save=["head"],
                      bias="none")
    model = parity_base(args.seed)
    torch.manual_seed(args.seed)
    model = get_peft_model(model, lcfg)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_head = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "head" in n)
    log(f"trainable: {n_train} ({n_train - n_head} LoRA + {n_head} head)")
    acc0, _ = tdv.evaluate(model, x_te, y_te)

    targs = argparse.Namespace(seed=args.seed, weight_decay=0.0, lr=args.vision_lr, batch=64, epochs=args.epochs,
                               augment=True, eval_every=5, time_limit_min=0.0)
    res = tdv.train(FrozenBatchNorm(model), model, x_tr, y_tr, x_te, y_te, targs, log)
    model.eval()
    for k, v in model.base_model.model.state_dict().items():   # base weights and BatchNorm statistics untouched
        k = k.replace(".base_layer.", ".")
        if k in base_state and not torch.equal(v, base_state[k]):
            raise SystemExit(f"training changed base tensor {k}")

    out = ROOT / VISION_OUT
    save_adapter(model, out, VISION_BASE)
    cfg = json.loads((ROOT / VISION_BASE / "config.json").read_text())
    cfg["id2label"] = {"0": "even", "1": "odd"}
    cfg["label2id"] = {"even": 0, "odd": 1}
    cfg["num_classes"] = 2
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")

    # Reload onto a fresh base whose head is a placeholder nn.Linear(features, 2) with different values: the saved
    # head must replace it completely.
    re = PeftModel.from_pretrained(parity_base(args.seed + 1), out).eval()
    model.requires_grad_(False)  # (requires_grad can change PyTorch's conv kernel choice, and with it the rounding)
    with torch.no_grad():
        if not torch.equal(re(x_te[:16]), model(x_te[:16])):
            raise SystemExit("reloaded adapter gives different logits")
    res["train_acc"], res["train_loss"] = tdv.evaluate(re, x_tr, y_tr)
    res["heldout_acc"], res["heldout_loss"] = tdv.evaluate(re, x_te, y_te)
    with torch.inference_mode():
        pred = torch.cat([re(x_te[i:i + 256]).argmax(-1) for i in range(0, len(y_te), 256)])
    wrong = (pred != y_te).nonzero().flatten().tolist()
    # The sample pictures of the README demo, as Krait would read them (32x32 RGB PNG -> same preprocessing).
    from PIL import Image
    samples = []
    for path in sorted((ROOT / "models" / "samples").glob("digit_*.png")):
        pic = np.array(Image.open(path).convert("RGB"))[None]  # a writable copy for torch.from_numpy
        x = tdv.pixel_values(pic, tdv.MV_MEAN, tdv.MV_STD)
        with torch.inference_mode():
            prob = re(x).softmax(-1)[0].tolist()
            digit = int(base_digits(x).argmax(-1))
        samples.append((path.name, digit, prob))
    res.update(heldout_correct=len(y_te) - len(wrong), train_n=len(y_tr), heldout_n=len(y_te),
               errors=[(int(i), int(digit_te[i])) for i in wrong], digit_acc=digit_acc, samples=samples, acc_before=acc0,
               n_train=n_train, n_head=n_head, keys=adapter_keys(out), config=cfg)
    log(f"parity adapter reloaded: held-out accuracy {res['heldout_acc'] * 100:.2f}% "
        f"({res['heldout_correct']}/{len(y_te)}), train {res['train_acc'] * 100:.2f}%")
    if res["heldout_acc"] < 0.95:
        raise SystemExit("held-out parity accuracy below 95%")
    write_vision_card(out, args, targs, res)
    res["files"] = {f.name: f.stat().st_size for f in sorted(out.iterdir())}
    return res


def write_vision_card(out: pathlib.Path, args, targs, r) -> None:
    wbytes = (out / "adapter_model.safetensors").stat().st_size
    v = versions()
    errors = ", ".join(f"#{i} (digit {d})" for i, d in r["errors"]) or "none"
    sample_rows = "\n".join(f"| `{name}` | {digit} | {p[0]:.4f} | {p[1]:.4f} |" for name, digit, p in r["samples"])
    text = f"""# mambavision-digits-lora-parity: a LoRA adapter that makes the digit classifier say even or odd

A PEFT LoRA adapter for [`models/mambavision-digits`](../mambavision-digits/README.md) that replaces its 10-class
head by a new **2-class head (even / odd)** and adapts the network with LoRA in the mixers and the ConvBlock convs.
It exists to demonstrate Krait's hot-swapped adapters with a new label set; it is useless for anything else.

```sh
krait classify -m {VISION_BASE} --adapter {VISION_OUT} models/samples/digit_3.png
```

## Files
- `adapter_config.json`, `adapter_model.safetensors`: exactly as written by `PeftModel.save_pretrained` (peft
  {v['peft']}), float32, {len(r['keys'])} tensors, {wbytes:,} bytes. Two fields were then normalised:
  `base_model_name_or_path` is the repo-relative `{VISION_BASE}` and `target_modules` is sorted (peft writes a set).
- `config.json`: the base model's `config.json` with `num_classes` 2, `id2label` {{"0": "even", "1": "odd"}} and
  `label2id` {{"even": 0, "odd": 1}}; every other field unchanged. The label set of this adapter's head.
- LoRA **r = 4, lora_alpha = 8** (scaling 2), no dropout, no bias, no rslora, on `in_proj`, `x_proj`, `dt_proj`,
  `out_proj` of the two mixers (levels 2 and 3; keys `...levels.L.blocks.0.mixer.<proj>.lora_A.weight` [4, in] /
  `.lora_B.weight` [out, 4]) and on `conv1`, `conv2` of the two ConvBlocks (Conv2d LoRA: `lora_A` [4, C, 3, 3] with
  the base conv's stride 1 and padding 1, `lora_B` [C, 4, 1, 1]); the mixers' depthwise `conv1d_x` / `conv1d_z` are
  not adapted. Plus `modules_to_save` **["head"]**: the whole new head, `base_model.model.head.weight` [2, 192] and
  `.bias` [2]. **{r['n_train']:,} trainable parameters** ({r['n_train'] - r['n_head']:,} LoRA + {r['n_head']} head).
- To run it in PyTorch: load the base with `tools/mambavision_ref.py`, replace `model.head` by
  `nn.Linear(192, 2)`, then `PeftModel.from_pretrained(model, "{VISION_OUT}")`.

## Data
Exactly as `tools/train_demo_vision.py` (reusing its functions): scikit-learn's bundled digits (BSD 3-Clause),
32x32 RGB pictures, the stratified 80/20 split with `random_state=0` ({r['train_n']} training, {r['heldout_n']}
held-out images), ImageNet mean/std normalisation, the same augmentation; labels **digit % 2** (0 = even, 1 = odd).

## Training
`tools/train_demo_lora.py --part vision`, with `tools/train_demo_vision.py`'s training loop: base weights frozen and
BatchNorm kept in eval mode (the running statistics are the base model's and are not part of the adapter), AdamW
(betas 0.9/0.999, no weight decay) on the LoRA weights and the new head, peak learning rate {targs.lr} with
{r['warmup']} warm-up steps and cosine decay to 0.02x, batch {targs.batch}, label smoothing 0.05, gradient clipping
1.0, **{r['epochs']} epochs ({r['steps']} steps)**, seed {args.seed}. CPU only, `torch.set_num_threads(1)`; training
took {r['train_seconds'] / 60:.1f} min. Software: {v['software']}.

## Accuracy (adapter reloaded from this folder onto a fresh base model)
| split | images | even/odd accuracy | cross-entropy |
|---|---|---|---|
| training (no augmentation) | {r['train_n']} | {r['train_acc'] * 100:.2f}% | {r['train_loss']:.4f} |
| **held-out** | {r['heldout_n']} | **{r['heldout_acc'] * 100:.2f}%** ({r['heldout_correct']}/{r['heldout_n']}) | {r['heldout_loss']:.4f} |

Held-out images misclassified (index in the held-out split): {errors}.
Before training (fresh head, zero LoRA) the held-out even/odd accuracy was {r['acc_before'] * 100:.1f}%.
The base model without the adapter classifies {r['digit_acc'] * 100:.2f}% of the held-out digits correctly.

Sample pictures (`models/samples/`, held-out digits), PyTorch reference:

| picture | base model (top-1) | with adapter: P(even) | P(odd) |
|---|---|---|---|
{sample_rows}

## Reproduce
```sh
tools/setup_tools_env.sh        # once: the pinned Python tools env in .venv/
.venv/bin/python tools/train_demo_lora.py --part vision
```
Seeded; rerunning with the software versions above gives the same files.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["mamba", "vision", "all"], default="all")
    ap.add_argument("--steps", type=int, default=500, help="Mamba adapter: optimizer steps")
    ap.add_argument("--lr", type=float, default=6e-3, help="Mamba adapter: peak learning rate")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--py-eval-windows", type=int, default=256,
                    help="Python-docs held-out windows for the trade-off figure (all: 1044)")
    ap.add_argument("--gen-tokens", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=30, help="parity adapter: epochs")
    ap.add_argument("--vision-lr", type=float, default=5e-3, help="parity adapter: peak learning rate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)

    def log(msg):
        print(f"[{time.time() - t_start:6.1f}s] {msg}", flush=True)

    results = {}
    if args.part in ("mamba", "all"):
        results["mamba"] = train_mamba(args, log)
    if args.part in ("vision", "all"):
        results["vision"] = train_vision(args, log)
    for name, r in results.items():
        log(f"{name}: files " + ", ".join(f"{f} {n:,} B" for f, n in r["files"].items()))
        log(f"{name}: first keys " + ", ".join(f"{k} {shape}" for k, shape, _ in r["keys"][:4]))
    log(f"done in {(time.time() - t_start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
