#!/usr/bin/env python3
"""Krait LoRA conformance fixtures: PEFT adapters on tiny Mamba, ViT and MambaVision models, peft's reference
outputs for them, and a set of broken adapters.

Run:  tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
      .venv/bin/python tools/gen_lora_fixtures.py          # ~10 s on one CPU core
Writes (after deleting it first, so every run rebuilds everything from scratch):
  tests/fixtures/lora/mamba/         MambaForCausalLM base model dir, adapters/{a,b,a_f16}/, expected.safetensors
  tests/fixtures/lora/vit/           ViTForImageClassification base dir, adapters/{new_names,old_names}/, expected
  tests/fixtures/lora/mambavision/   MambaVision base dir (hub layout), adapters/{convs,mixer_only}/, expected
  tests/fixtures/lora/bad/<case>/    broken adapters for the Mamba base; bad/README.md says what Krait must answer
  tests/fixtures/lora/README.md      every case, file and tensor (generated, so it matches the bytes)
  tests/fixtures/lora/manifest.json  versions, seeds, per case the files, adapter keys, check results

Reference = peft 0.21 on transformers 5.24 (Mamba, ViT) or on tools/mambavision_ref.py (MambaVision), CPU,
float32, one thread. Adapters are made with get_peft_model, their LoRA factors and modules_to_save filled with
random values (peft initialises lora_B to zero, which would make every adapter a no-op), and written with
PeftModel.save_pretrained. Every reference number comes from a PeftModel built from the files on disk
(PeftModel.from_pretrained(base reloaded from disk, adapter dir) and load_adapter for the others), so the results
belong to the bytes written. Self-checks (assertions) before anything is accepted:
  * adapters disabled: the PeftModel's logits equal the plain base model's, bit for bit;
  * each adapter moves the logits clearly (10-60% of their spread), and every targeted module kind contributes
    (zeroing its lora_B moves the logits): an engine that skips one kind cannot pass;
  * peft's logits equal those of a plain model whose weights were merged W + s*alpha/r*B@A by this script from the
    adapter files alone (its own reading of r / lora_alpha / use_rslora / rank_pattern / alpha_pattern): the recipe
    an engine must follow, checked against peft;
  * Mamba: the adapter-a logits equal transformers' cached step-by-step decode, and generate()'s greedy tokens equal
    a plain argmax loop, with a safe top-1/top-2 margin at every step;
  * ViT old_names: the renamed file holds exactly the tensors of the adapter the logits were computed from.

Deviations from a plain peft run (each forced by the libraries; README.md explains them):
  * peft 0.21 refuses LoRA on Mamba's out_proj (and conv1d) because mamba_ssm's fused training kernel reads
    out_proj.weight directly. transformers' CPU forward calls out_proj as a module, so the adapter is well defined:
    the check is switched off here (_check_lora_target_modules_mamba).
  * transformers 5.24's MambaMixer computes `dt_proj.weight @ time_step` instead of calling dt_proj, so peft's LoRA
    on dt_proj has no effect there. The reference applies it anyway, by merging the active adapters' dt_proj deltas
    into dt_proj.weight (peft's own LoraLayer.merge) around each forward, restored bit-exactly afterwards.
  * tools/mambavision_ref.py (like upstream MambaVision) runs conv1d_x / conv1d_z through F.conv1d on their .weight,
    which would bypass peft's Conv1d LoRA the same way. The mixer forward used here is the reference's with the two
    convolutions called as modules (padding "same"); it equals the reference's bit for bit on the base model.
  * peft writes target_modules from a Python set, in hash order; the script re-executes itself with
    PYTHONHASHSEED=0 so that adapter_config.json is the same on every run.
"""

from __future__ import annotations

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":  # see the docstring: stable set order in adapter_config.json
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import contextlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import safetensors  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
import transformers  # noqa: E402
from transformers import MambaConfig, MambaForCausalLM, ViTConfig, ViTForImageClassification  # noqa: E402
import peft  # noqa: E402
import peft.tuners.tuners_utils as peft_tuners_utils  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from peft.tuners.lora import LoraLayer  # noqa: E402
from peft.utils.other import ModulesToSaveWrapper  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_mamba_fixtures as gm  # noqa: E402
import gen_mambavision_fixtures as gmv  # noqa: E402
import gen_vit_fixtures as gv  # noqa: E402
import mambavision_ref as ref  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "lora"
REL = "tests/fixtures/lora"  # base_model_name_or_path written into adapter_config.json (relative to the repo root)
MAX_TOTAL_BYTES = 3_000_000

MERGE_TOL = 1e-4  # peft unmerged vs this script's merged weights, max abs relative to max(1, max |logit|)
STEP_TOL = 1e-4  # full-sequence vs cached step-by-step logits (Mamba, adapter a)
MIN_GREEDY_MARGIN = 2e-3
EFFECT_MIN, EFFECT_MAX = 0.10, 0.60  # std(adapter logits - base logits) / std(base logits)
KIND_EFFECT_MIN = 1e-3  # zeroing one module kind's lora_B must move some logit by this much (relative)

SEEDS = {
    "mamba_base": 4101, "mamba_a": 4102, "mamba_b": 4103, "mamba_inputs": 4104,
    "vit_base": 4201, "vit_new_names": 4202, "vit_old_names": 4203, "vit_inputs": 4204,
    "mambavision_base": 4301, "mambavision_convs": 4302, "mambavision_mixer_only": 4303, "mambavision_inputs": 4304,
    "bad": 4401,
}

# Random LoRA factors (see fill_adapter): B gains chosen so each adapter moves the logits by 10-60% of their spread.
GAIN = {"mamba_a": 0.1, "mamba_b": 0.1, "vit_new_names": 0.04, "vit_old_names": 0.2,
        "mambavision_convs": 0.1, "mambavision_mixer_only": 0.05}

MAMBA_CFG = dict(vocab_size=67, hidden_size=20, state_size=5, conv_kernel=4, expand=2, time_step_rank=3,
                 num_hidden_layers=2)  # intermediate 40, tied embeddings (the default)
MAMBA_B, MAMBA_L, MAMBA_P, MAMBA_G = 2, 300, 9, 12

VIT_CFG = dict(image_size=20, patch_size=4, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
               intermediate_size=36, qkv_bias=True, num_labels=5)
VIT_NEW_LABELS = {0: "cat", 1: "dog", 2: "bird"}
# ViT layer modules: transformers 5 name (under vit.layers.N.) -> checkpoint / transformers 4 name (under
# vit.encoder.layer.N.)
VIT_OLD_NAMES = {
    "attention.q_proj": "attention.attention.query",
    "attention.k_proj": "attention.attention.key",
    "attention.v_proj": "attention.attention.value",
    "attention.o_proj": "attention.output.dense",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
}
# old_names' target_modules: a regex (peft full-matches a string against module names). A list such as
# ["query", "value", "output.dense"] would be ambiguous: "output.dense" also matches attention.output.dense.
VIT_OLD_TARGETS = r".*\.layer\.\d+\.(attention\.attention\.(query|value)|output\.dense)"

MV_CFG = dict(depths=[1, 1, 3, 2], num_heads=[1, 2, 2, 4], window_size=[4, 4, 3, 2], dim=8, in_dim=8, mlp_ratio=2,
              layer_scale=0.5, layer_scale_conv=0.5, resolution=56,
              id2label={"0": "circle", "1": "square", "2": "triangle", "3": "star"})
MV_NEW_LABELS = {0: "even", 1: "odd"}
MV_INPUT = (2, 3, 56, 40)  # maps 14x10 -> 7x5 -> 4x3 (level 2, window 3: padded to 6x3) -> 2x2 (level 3, window 2)


def log(msg: str) -> None:
    print(msg, flush=True)


# Needed for Mamba out_proj (see the module docstring); peft still validates everything else.
peft_tuners_utils._check_lora_target_modules_mamba = lambda *args, **kwargs: None


# --------------------------------------------------------------------------------------------------
# Generic adapter helpers
# --------------------------------------------------------------------------------------------------
def adapter_params(model: nn.Module, adapter: str):
    """(name, parameter) of one adapter's trainable tensors, in named_parameters order (fixed)."""
    for name, p in model.named_parameters():
        parts = name.split(".")
        if adapter in parts and any(s in name for s in ("lora_", "modules_to_save")):
            yield name, p


@torch.no_grad()
def fill_adapter(model: nn.Module, adapter: str, gen: torch.Generator, gain: float) -> None:
    """Random values for every LoRA factor and modules_to_save tensor of `adapter`.

    lora_A ~ N(0, 1/fan_in) (fan_in = in * kernel), lora_B ~ N(0, (gain/sqrt(r/groups))^2): the low-rank path then
    has about `gain` times the input's magnitude before scaling. Embedding: A ~ N(0, 1), B ~ N(0, (0.2 gain)^2/r)
    (0.2 = the base embedding's std). modules_to_save: weight N(0, 1/fan_in), bias N(0, 0.1^2)."""
    n = 0
    for name, p in adapter_params(model, adapter):
        shape = tuple(p.shape)
        fan_in = p[0].numel()
        if "lora_embedding_A" in name:
            v = torch.randn(shape, generator=gen)
        elif "lora_embedding_B" in name:
            v = torch.randn(shape, generator=gen) * (0.2 * gain / math.sqrt(fan_in))
        elif ".lora_A." in name:
            v = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        elif ".lora_B." in name:
            v = torch.randn(shape, generator=gen) * (gain / math.sqrt(fan_in))
        elif "lora_magnitude_vector" in name:  # DoRA (bad/dora only): peft's init (the weight norm) perturbed
            v = p * (1.0 + 0.1 * torch.randn(shape, generator=gen))
        elif ".modules_to_save." in name and name.endswith(".weight"):
            v = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        elif ".modules_to_save." in name and name.endswith(".bias"):
            v = torch.randn(shape, generator=gen) * 0.1
        else:
            raise AssertionError(f"fill_adapter: no rule for {name}")
        p.copy_(v)
        n += 1
    assert n > 0, adapter


def save_adapter(pm: PeftModel, dest: Path, base_rel: str) -> None:
    """PeftModel.save_pretrained of adapter "default", keeping only adapter_config.json + adapter_model.safetensors
    (peft also writes a model-card README.md)."""
    pm.peft_config["default"].base_model_name_or_path = base_rel  # not the absolute path of this machine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm.save_pretrained(str(dest))
    for f in dest.iterdir():
        if f.name not in ("adapter_config.json", "adapter_model.safetensors"):
            f.unlink()


def lora_layers(model: nn.Module):
    for name, mod in model.named_modules():
        if isinstance(mod, LoraLayer):
            yield name, mod


def expected_scaling(mod: LoraLayer, adapter: str, scale: float) -> float:
    r, alpha = mod.r[adapter], mod.lora_alpha[adapter]
    return scale * alpha / (math.sqrt(r) if mod.use_rslora[adapter] else r)


def activate(pm: PeftModel, scales: dict[str, float]) -> None:
    """Make exactly the adapters in `scales` active, each LoRA layer with scaling s * alpha / r (or / sqrt(r))."""
    pm.base_model.set_adapter(list(scales), inference_mode=True)
    for _, mod in lora_layers(pm):
        for a, s in scales.items():
            if a in mod.scaling:
                mod.set_scale(a, s)
                assert mod.scaling[a] == expected_scaling(mod, a, s), (a, mod.scaling[a])


def check_modules_to_save(pm: PeftModel, adapter: str, adapter_dir: Path) -> None:
    """The replacement module holds exactly the file's tensors (nothing of the module it replaced survives)."""
    st = load_file(str(adapter_dir / "adapter_model.safetensors"))
    for name, mod in pm.named_modules():
        if isinstance(mod, ModulesToSaveWrapper) and adapter in mod.modules_to_save:
            key = name.removeprefix("base_model.model.")
            for pname, p in mod.modules_to_save[adapter].named_parameters():
                assert torch.equal(p, st[f"base_model.model.{key}.{pname}"].float()), (adapter, key, pname)


def std_ratio(x: torch.Tensor, base: torch.Tensor) -> float:
    return float((x - base).std() / base.std())


def rel_max(x: torch.Tensor, ref_: torch.Tensor) -> float:
    return float((x - ref_).abs().max()) / max(1.0, float(ref_.abs().max()))


def module_kind(key: str) -> str:
    """backbone.layers.1.mixer.in_proj -> mixer.in_proj; model.levels.2.blocks.0.mixer.conv1d_x -> mixer.conv1d_x."""
    return re.sub(r"^.*\.\d+\.", "", key)


def kind_effects(pm: PeftModel, adapter: str, run) -> dict[str, float]:
    """For each targeted module kind: zero that kind's lora_B of `adapter`, rerun, report max |logit change|."""
    full = run()
    kinds: dict[str, list] = {}
    for name, mod in lora_layers(pm):
        if adapter in mod.lora_A or adapter in mod.lora_embedding_A:
            kinds.setdefault(module_kind(name.removeprefix("base_model.model.")), []).append(mod)
    out = {}
    for kind, mods in sorted(kinds.items()):
        saved = []
        with torch.no_grad():
            for mod in mods:
                b = mod.lora_B[adapter].weight if adapter in mod.lora_B else mod.lora_embedding_B[adapter]
                saved.append((b, b.detach().clone()))
                b.zero_()
            without = run()
            for b, v in saved:
                b.copy_(v)
        out[kind] = rel_max(without, full)
        assert out[kind] > KIND_EFFECT_MIN, f"{adapter}: LoRA on {kind} changes nothing ({out[kind]})"
    assert torch.equal(run(), full)
    return out


# --------------------------------------------------------------------------------------------------
# Independent merge: what an engine must compute, read from the adapter files only
# --------------------------------------------------------------------------------------------------
def pattern_value(patterns: dict, module: str, default):
    """peft.utils.other.get_pattern_key: the first key k with re.match(rf"(.*\\.)?({k})$", module) wins."""
    for k, v in patterns.items():
        if re.match(rf"(.*\.)?({k})$", module):
            return v
    return default


def read_adapter(adapter_dir: Path, rename=None) -> dict:
    """{module path (without base_model.model.): {kind, A, B, scaling, ...}} plus modules_to_save tensors."""
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    st = {k: v.float() for k, v in load_file(str(adapter_dir / "adapter_model.safetensors")).items()}
    mods: dict[str, dict] = {}
    saved: dict[str, torch.Tensor] = {}
    for key, t in st.items():
        assert key.startswith("base_model.model."), key
        key = key[len("base_model.model."):]
        m = re.fullmatch(r"(.*)\.(lora_A|lora_B)\.weight|(.*)\.(lora_embedding_A|lora_embedding_B)", key)
        if m is None:
            saved[key] = t  # a modules_to_save tensor: <module>.weight / .bias
            continue
        module = m.group(1) or m.group(3)
        part = (m.group(2) or m.group(4)).replace("lora_embedding_", "emb_").replace("lora_", "")
        mods.setdefault(rename(module) if rename else module, {})[part] = t
    for module, d in mods.items():
        r = pattern_value(cfg.get("rank_pattern") or {}, module, cfg["r"])
        alpha = pattern_value(cfg.get("alpha_pattern") or {}, module, cfg["lora_alpha"])
        a = d.get("A", d.get("emb_A"))
        assert a.shape[0] == r, (module, a.shape, r)  # the config's rank is the tensors' rank
        d["scaling"] = alpha / (math.sqrt(r) if cfg.get("use_rslora") else r)
    return {"mods": mods, "saved": saved}


def lora_delta(d: dict) -> torch.Tensor:
    """The weight-shaped delta B@A (Linear, Embedding [V, D] as stored by nn.Embedding, Conv with groups 1)."""
    if "emb_A" in d:  # A [r, V], B [D, r]: rows of the embedding table move by (B @ A)^T
        return (d["emb_B"] @ d["emb_A"]).T
    A, B = d["A"], d["B"]
    if A.dim() == 2:
        return B @ A
    assert B.shape[2:] == (1,) * (B.dim() - 2), (A.shape, B.shape)  # groups 1: B is [out, r, 1...]
    return torch.einsum("or,r...->o...", B.flatten(1), A)


@torch.no_grad()
def merge_into(model: nn.Module, adapters: list[tuple[dict, float]], prefix: str = "") -> None:
    """W += s * scaling * delta for every LoRA module of every (adapter, s); modules_to_save copied over."""
    modules = dict(model.named_modules())
    for ad, s in adapters:
        for module, d in ad["mods"].items():
            mod = modules[prefix + module]
            mod.weight += s * d["scaling"] * lora_delta(d)
        for key, t in ad["saved"].items():
            mname, pname = key.rsplit(".", 1)
            getattr(modules[prefix + mname], pname).copy_(t)


# --------------------------------------------------------------------------------------------------
# Mamba
# --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def dt_proj_merged(model: nn.Module):
    """transformers 5.24's MambaMixer reads dt_proj.weight directly (time_step = dt_proj.weight @ x), bypassing
    peft's LoRA wrapper. Merge the active adapters' dt_proj deltas into the weight for the duration (peft's merge,
    with the current scalings), then restore the exact original weight. A hook makes sure dt_proj is really never
    called as a module (if it were, the merged delta would count twice)."""
    touched, hooks = [], []

    def never(mod, args):
        raise AssertionError("transformers called dt_proj as a module: dt_proj_merged() would double-count LoRA")

    for name, mod in lora_layers(model):
        if name.endswith("mixer.dt_proj"):
            active = [a for a in mod.active_adapters if a in mod.lora_A]
            hooks.append(mod.register_forward_pre_hook(never))
            if active and not mod.disable_adapters:
                w0 = mod.get_base_layer().weight.detach().clone()
                mod.merge(adapter_names=active)
                touched.append((mod, w0))
    try:
        yield
    finally:
        with torch.no_grad():
            for mod, w0 in touched:
                mod.get_base_layer().weight.copy_(w0)
                mod.merged_adapters.clear()
        for h in hooks:
            h.remove()


def mamba_logits(pm: PeftModel, ids: torch.Tensor) -> torch.Tensor:
    with dt_proj_merged(pm):
        return gm.full_logits(pm, ids)


def greedy_generate(pm: PeftModel, prompt: torch.Tensor, G: int) -> torch.Tensor:
    """gen_mamba_fixtures.greedy_generate (generate() with EOS disabled, exactly G argmax steps) with the model's own
    generation_config cleared too: transformers 5.24 fills the passed GenerationConfig's None fields
    (eos_token_id=None) from the model's generation_config.json (eos 0), and min_new_tokens then suppresses token 0,
    so without this the result is not a plain argmax whenever the argmax is id 0."""
    gc = pm.get_base_model().generation_config
    saved = (gc.eos_token_id, gc.pad_token_id, gc.bos_token_id)
    gc.eos_token_id = gc.pad_token_id = gc.bos_token_id = None
    try:
        return gm.greedy_generate(pm, prompt, G)
    finally:
        gc.eos_token_id, gc.pad_token_id, gc.bos_token_id = saved


def mamba_merged_logits(base_dir: Path, adapters: list[tuple[Path, float]], ids: torch.Tensor) -> torch.Tensor:
    """A plain MambaForCausalLM with the adapters merged by this script. The embedding LoRA changes the input
    embedding only: the tied lm_head keeps the base table (peft's Embedding wrapper leaves lm_head alone)."""
    m = gm.load_ref(base_dir)
    assert m.lm_head.weight is m.backbone.embeddings.weight
    m.lm_head.weight = nn.Parameter(m.backbone.embeddings.weight.detach().clone())
    merge_into(m, [(read_adapter(d), s) for d, s in adapters])
    return gm.full_logits(m, ids)


def gen_mamba(tmp: Path) -> dict:
    d = OUT / "mamba"
    cfg = MambaConfig(**MAMBA_CFG)
    base = MambaForCausalLM(cfg).eval()
    gm.randomize(base, cfg, torch.Generator().manual_seed(SEEDS["mamba_base"]))
    base.save_pretrained(d)
    base_rel = f"{REL}/mamba"

    configs = {
        "a": LoraConfig(r=4, lora_alpha=8, target_modules=["in_proj", "x_proj", "dt_proj", "out_proj", "embeddings"],
                        task_type="CAUSAL_LM"),
        "b": LoraConfig(r=6, lora_alpha=3, use_rslora=True, target_modules=["in_proj", "x_proj", "dt_proj", "out_proj"],
                        rank_pattern={"out_proj": 2, "layers.1.mixer.x_proj": 3}, alpha_pattern={"dt_proj": 5},
                        task_type="CAUSAL_LM"),
    }
    for name, lc in configs.items():
        pm = get_peft_model(gm.load_ref(d), lc)
        fill_adapter(pm, "default", torch.Generator().manual_seed(SEEDS[f"mamba_{name}"]), GAIN[f"mamba_{name}"])
        save_adapter(pm, d / "adapters" / name, base_rel)

    # a_f16: adapter a's tensors rounded to F16 (same config): a valid adapter Krait must upcast at load.
    f16 = d / "adapters" / "a_f16"
    f16.mkdir()
    shutil.copyfile(d / "adapters" / "a" / "adapter_config.json", f16 / "adapter_config.json")
    st = load_file(str(d / "adapters" / "a" / "adapter_model.safetensors"))
    save_file({k: v.half() for k, v in st.items()}, str(f16 / "adapter_model.safetensors"), metadata={"format": "pt"})

    gen = torch.Generator().manual_seed(SEEDS["mamba_inputs"])
    V = cfg.vocab_size
    ids = torch.randint(0, V, (MAMBA_B, MAMBA_L), generator=gen)

    logits_base = gm.full_logits(gm.load_ref(d), ids)
    pm = PeftModel.from_pretrained(gm.load_ref(d), str(d / "adapters" / "a"), adapter_name="a")
    pm.load_adapter(str(d / "adapters" / "b"), adapter_name="b")
    pm.eval()
    res = {}
    for key, scales in (("a", {"a": 1.0}), ("b", {"b": 1.0}), ("ab", {"a": 0.5, "b": 1.5})):
        activate(pm, scales)
        res[key] = mamba_logits(pm, ids)
    with pm.disable_adapter():
        assert torch.equal(gm.full_logits(pm, ids), logits_base), "adapters disabled != base model"

    pm16 = PeftModel.from_pretrained(gm.load_ref(d), str(f16), adapter_name="a_f16").eval()
    # the float32 factors peft holds are exactly the file's F16 values (parameter name minus ".a_f16" = file key)
    f16_vals = load_file(str(f16 / "adapter_model.safetensors"))
    got = {n.replace(".a_f16", ""): p for n, p in adapter_params(pm16, "a_f16")}
    assert got.keys() == f16_vals.keys()
    assert all(got[k].dtype == torch.float32 and torch.equal(got[k], v.float()) for k, v in f16_vals.items())
    res["a_f16"] = mamba_logits(pm16, ids)
    f16_vs_f32 = rel_max(res["a_f16"], res["a"])

    checks = {}
    # independent merged weights, read from the files
    for key, ads in (("a", [("a", 1.0)]), ("b", [("b", 1.0)]), ("ab", [("a", 0.5), ("b", 1.5)]),
                     ("a_f16", [("a_f16", 1.0)])):
        merged = mamba_merged_logits(d, [(d / "adapters" / n, s) for n, s in ads], ids)
        checks[f"merged_vs_peft_{key}"] = rel_max(merged, res[key])
        assert checks[f"merged_vs_peft_{key}"] < MERGE_TOL, (key, checks[f"merged_vs_peft_{key}"])
    # what transformers 5.24 + peft give without the dt_proj merge (dt_proj LoRA silently ignored)
    activate(pm, {"a": 1.0})
    checks["a_without_dt_proj_lora_max_diff"] = rel_max(gm.full_logits(pm, ids), res["a"])
    # per-kind effects
    effects = {}
    for a in ("a", "b"):
        activate(pm, {a: 1.0})
        effects[a] = kind_effects(pm, a, lambda: mamba_logits(pm, ids))
    ratios = {k: std_ratio(res[k], logits_base) for k in ("a", "b", "ab")}
    assert all(EFFECT_MIN < v < EFFECT_MAX for v in ratios.values()), f"mamba effect ratios {ratios}"
    # cached step-by-step decode with adapter a equals the full-sequence logits
    activate(pm, {"a": 1.0})
    with dt_proj_merged(pm):
        stepped = gm.stepped_logits(pm, ids, prefill=MAMBA_L // 2)
    checks["stepped_vs_full_a"] = float((stepped - res["a"]).abs().max())
    assert checks["stepped_vs_full_a"] < STEP_TOL, checks["stepped_vs_full_a"]

    # greedy continuation with adapter a through generate() (recurrent cache). The prompt is redrawn until every
    # step has a safe margin, the continuation differs from the base model's (a decode path that drops the
    # adapter fails), it holds no EOS id (an engine that stops at EOS still runs all G steps) and >= 4 distinct ids.
    for attempt in range(50):
        prompt = torch.randint(0, V, (MAMBA_P,), generator=gen)
        with dt_proj_merged(pm):
            greedy = greedy_generate(pm, prompt, MAMBA_G)
            loop, margins = gm.argmax_loop(pm, prompt, MAMBA_G)
        with pm.disable_adapter(), dt_proj_merged(pm):  # nothing merged while disabled
            base_greedy = greedy_generate(pm, prompt, MAMBA_G)
        assert torch.equal(greedy, loop), (greedy, loop)
        if (float(margins.min()) >= MIN_GREEDY_MARGIN and not torch.equal(greedy, base_greedy)
                and cfg.eos_token_id not in greedy.tolist() and len(set(greedy.tolist())) >= 4):
            break
    else:
        raise AssertionError("no prompt with a safe margin, an adapter-dependent continuation without EOS")

    tensors = {
        "input_ids": ids.to(torch.int32), "logits_base": logits_base, "logits_a": res["a"], "logits_b": res["b"],
        "logits_ab": res["ab"], "logits_a_f16": res["a_f16"], "prompt_ids": prompt.to(torch.int32),
        "greedy_a": greedy.to(torch.int32),
    }
    write_expected_tensors(d / "expected.safetensors", tensors)
    merged_max = max(v for k, v in checks.items() if k.startswith("merged"))
    log(f"mamba: effect ratios {fmt(ratios)}; merged-vs-peft max {merged_max:.1e};"
        f" without dt_proj LoRA {checks['a_without_dt_proj_lora_max_diff']:.3f}; greedy_a {greedy.tolist()}"
        f" (base {base_greedy.tolist()}), margin {float(margins.min()):.3f}")
    return {
        "base": {"config": MAMBA_CFG, "tied_embeddings": True, "intermediate_size": cfg.intermediate_size},
        "inputs": {"input_ids": list(ids.shape), "prompt_len": MAMBA_P, "greedy_len": MAMBA_G,
                   "greedy_prompt_attempts": attempt + 1},
        "greedy_a": greedy.tolist(), "greedy_base_same_prompt": base_greedy.tolist(),
        "greedy_min_margin": round(float(margins.min()), 5),
        "effect_ratio": {k: round(v, 4) for k, v in ratios.items()},
        "a_f16_vs_a_max_rel_diff": round(f16_vs_f32, 7),
        "kind_effects": {a: {k: round(v, 4) for k, v in e.items()} for a, e in effects.items()},
        "checks": {k: float(f"{v:.3g}") for k, v in checks.items()},
        "logits_std": round(float(logits_base.std()), 4), "logits_max_abs": round(float(logits_base.abs().max()), 4),
    }


# --------------------------------------------------------------------------------------------------
# ViT
# --------------------------------------------------------------------------------------------------
def vit_old_name(module: str) -> str:
    m = re.fullmatch(r"vit\.layers\.(\d+)\.(.+)", module)
    return f"vit.encoder.layer.{m.group(1)}.{VIT_OLD_NAMES.get(m.group(2), m.group(2))}" if m else module


def vit_new_name(module: str) -> str:
    m = re.fullmatch(r"vit\.encoder\.layer\.(\d+)\.(.+)", module)
    new = {old: new for new, old in VIT_OLD_NAMES.items()}
    return f"vit.layers.{m.group(1)}.{new.get(m.group(2), m.group(2))}" if m else module


def rename_key(key: str, fn) -> str:
    m = re.fullmatch(r"base_model\.model\.(.*)\.(lora_A\.weight|lora_B\.weight)", key)
    assert m, key
    return f"base_model.model.{fn(m.group(1))}.{m.group(2)}"


def vit_logits(model, x) -> torch.Tensor:
    with torch.no_grad():
        return model(pixel_values=x).logits.float()


def vit_base_for(adapter_dir: Path, base_dir: Path) -> ViTForImageClassification:
    """The base model as an adapter with its own head needs it: base weights, the adapter's config.json (labels);
    the classifier's initial values do not matter, modules_to_save replaces it whole (checked)."""
    cfg = ViTConfig.from_pretrained(adapter_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ViTForImageClassification.from_pretrained(base_dir, config=cfg, ignore_mismatched_sizes=True,
                                                      dtype=torch.float32, attn_implementation="eager")
    return m.eval()


def gen_vit(tmp: Path) -> dict:
    d = OUT / "vit"
    cfg = gv.make_config(dict(cfg=VIT_CFG))
    base = ViTForImageClassification(cfg).eval()
    gv.randomize(base, torch.Generator().manual_seed(SEEDS["vit_base"]))
    base.save_pretrained(d)
    for extra in d.iterdir():
        if extra.name not in ("config.json", "model.safetensors"):
            extra.unlink()
    base_rel = f"{REL}/vit"

    # new_names: transformers 5 module names, patch-embedding conv, a new 3-label head
    nd = d / "adapters" / "new_names"
    m = gv.load_ref(d)
    m.classifier = nn.Linear(cfg.hidden_size, len(VIT_NEW_LABELS))
    pm = get_peft_model(m, LoraConfig(r=4, lora_alpha=8, modules_to_save=["classifier"],
                                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2",
                                                      "projection"]))
    fill_adapter(pm, "default", torch.Generator().manual_seed(SEEDS["vit_new_names"]), GAIN["vit_new_names"])
    save_adapter(pm, nd, base_rel)
    ncfg = ViTConfig.from_pretrained(d)
    ncfg.num_labels = len(VIT_NEW_LABELS)
    ncfg.id2label = dict(VIT_NEW_LABELS)
    ncfg.label2id = {v: k for k, v in VIT_NEW_LABELS.items()}
    ncfg.save_pretrained(nd)

    # old_names: made under transformers 5 names (in tmp), then keys and target_modules renamed
    od_src = tmp / "vit_old_names_as_made"
    pm = get_peft_model(gv.load_ref(d), LoraConfig(r=2, lora_alpha=6, target_modules=["q_proj", "v_proj", "fc2"]))
    fill_adapter(pm, "default", torch.Generator().manual_seed(SEEDS["vit_old_names"]), GAIN["vit_old_names"])
    save_adapter(pm, od_src, base_rel)
    od = d / "adapters" / "old_names"
    od.mkdir(parents=True)
    src = load_file(str(od_src / "adapter_model.safetensors"))
    renamed = {rename_key(k, vit_old_name): v for k, v in src.items()}
    assert len(renamed) == len(src) and all("vit.layers" not in k for k in renamed)
    save_file(renamed, str(od / "adapter_model.safetensors"), metadata={"format": "pt"})
    ocfg = json.loads((od_src / "adapter_config.json").read_text())
    ocfg["target_modules"] = VIT_OLD_TARGETS
    (od / "adapter_config.json").write_text(json.dumps(ocfg, indent=2, sort_keys=True))
    # the renamed file holds exactly the tensors the logits are computed from, and the regex targets exactly them
    back = {rename_key(k, vit_new_name): v for k, v in load_file(str(od / "adapter_model.safetensors")).items()}
    assert back.keys() == src.keys() and all(torch.equal(back[k], src[k]) for k in src)
    old_modules = sorted({k[len("base_model.model."):].rsplit(".", 2)[0] for k in renamed})
    all_old = [vit_old_name(n) for n, _ in gv.load_ref(d).named_modules()]
    assert sorted(n for n in all_old if re.fullmatch(VIT_OLD_TARGETS, n)) == old_modules

    gen = torch.Generator().manual_seed(SEEDS["vit_inputs"])
    x = torch.randn((2, 3, cfg.image_size, cfg.image_size), generator=gen)
    logits_base = vit_logits(gv.load_ref(d), x)

    pm_old = PeftModel.from_pretrained(gv.load_ref(d), str(od_src), adapter_name="old_names").eval()
    logits_old = vit_logits(pm_old, x)
    with pm_old.disable_adapter():
        assert torch.equal(vit_logits(pm_old, x), logits_base), "adapters disabled != base model"

    pm = PeftModel.from_pretrained(vit_base_for(nd, d), str(nd), adapter_name="new_names").eval()
    pm.load_adapter(str(od_src), adapter_name="old_names")
    check_modules_to_save(pm, "new_names", nd)
    activate(pm, {"new_names": 1.0})
    logits_new = vit_logits(pm, x)
    activate(pm, {"new_names": 0.5, "old_names": 1.5})
    logits_both = vit_logits(pm, x)

    checks, effects = {}, {}
    # independent merges from the committed files (old_names read through its old names, mapped back)
    def merged(ads, n_labels_dir=None):
        mm = vit_base_for(n_labels_dir, d) if n_labels_dir else gv.load_ref(d)
        merge_into(mm, ads)
        return vit_logits(mm, x)

    a_new, a_old = read_adapter(nd), read_adapter(od, rename=vit_new_name)
    for key, got, want in (("new_names", merged([(a_new, 1.0)], nd), logits_new),
                           ("old_names", merged([(a_old, 1.0)]), logits_old),
                           ("both", merged([(a_new, 0.5), (a_old, 1.5)], nd), logits_both)):
        checks[f"merged_vs_peft_{key}"] = rel_max(got, want)
        assert checks[f"merged_vs_peft_{key}"] < MERGE_TOL, (key, checks[f"merged_vs_peft_{key}"])
    ratio_old = std_ratio(logits_old, logits_base)
    # new_names has its own head, so compare it with the same head and no LoRA
    activate(pm, {"new_names": 1.0})
    effects["new_names"] = kind_effects(pm, "new_names", lambda: vit_logits(pm, x))
    with_head_only = lora_scaled(pm, "new_names", 0.0, lambda: vit_logits(pm, x))
    ratio_new = std_ratio(logits_new, with_head_only)
    assert EFFECT_MIN < ratio_old < EFFECT_MAX and EFFECT_MIN < ratio_new < EFFECT_MAX, (ratio_old, ratio_new)
    effects["old_names"] = kind_effects(pm_old, "old_names", lambda: vit_logits(pm_old, x))

    # Cross-check of the renaming with transformers' own checkpoint-name conversion: transformers' load_adapter maps
    # old adapter keys to today's modules, but only with target_modules in today's names (it does not rename the
    # config's targets). With those, it must reproduce logits_old_names from the committed tensors.
    conv_dir = tmp / "vit_old_names_new_targets"
    shutil.copytree(od, conv_dir)
    ccfg = json.loads((conv_dir / "adapter_config.json").read_text())
    ccfg["target_modules"] = ["q_proj", "v_proj", "fc2"]
    (conv_dir / "adapter_config.json").write_text(json.dumps(ccfg, indent=2, sort_keys=True))
    mt = gv.load_ref(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mt.load_adapter(str(conv_dir), adapter_name="old_names")
    checks["transformers_load_adapter_vs_old_names"] = rel_max(vit_logits(mt, x), logits_old)
    assert checks["transformers_load_adapter_vs_old_names"] < 1e-6, checks["transformers_load_adapter_vs_old_names"]
    # Informational: neither peft nor transformers loads the committed old_names folder as it is.
    for who, load in (("peft_from_pretrained", lambda: PeftModel.from_pretrained(gv.load_ref(d), str(od))),
                      ("transformers_load_adapter", lambda: gv.load_ref(d).load_adapter(str(od)))):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load()
            checks[f"{who}_loads_old_names_as_committed"] = "yes"
        except Exception as e:  # noqa: BLE001
            checks[f"{who}_loads_old_names_as_committed"] = f"no: {type(e).__name__}"

    write_expected_tensors(d / "expected.safetensors", {
        "pixel_values": x, "logits_base": logits_base, "logits_new_names": logits_new,
        "logits_old_names": logits_old, "logits_both": logits_both})
    log(f"vit: effect ratios old {ratio_old:.3f} new {ratio_new:.3f}; merged-vs-peft max "
        f"{max(v for k, v in checks.items() if k.startswith('merged')):.1e}; transformers' load_adapter on the "
        f"renamed keys {checks['transformers_load_adapter_vs_old_names']:.1e}")
    return {
        "base": {"config": VIT_CFG, "labels": [cfg.id2label[i] for i in range(cfg.num_labels)]},
        "new_names_labels": [VIT_NEW_LABELS[i] for i in range(len(VIT_NEW_LABELS))],
        "old_names_target_modules": VIT_OLD_TARGETS,
        "old_names_renaming": VIT_OLD_NAMES,
        "inputs": {"pixel_values": list(x.shape)},
        "effect_ratio": {"old_names": round(ratio_old, 4), "new_names_lora_vs_its_head_alone": round(ratio_new, 4)},
        "kind_effects": {a: {k: round(v, 4) for k, v in e.items()} for a, e in effects.items()},
        "checks": {k: (float(f"{v:.3g}") if isinstance(v, float) else v) for k, v in checks.items()},
    }


def lora_scaled(pm: PeftModel, adapter: str, scale: float, run):
    """run() with `adapter`'s LoRA scalings multiplied by `scale` (modules_to_save unaffected), then restored."""
    activate(pm, {adapter: scale})
    try:
        return run()
    finally:
        activate(pm, {adapter: 1.0})


# --------------------------------------------------------------------------------------------------
# MambaVision
# --------------------------------------------------------------------------------------------------
def mixer_forward_via_modules(self, hidden):  # [b, L, dim]
    """tools/mambavision_ref.py's MambaVisionMixer.forward with conv1d_x / conv1d_z called as modules (so that
    peft's Conv1d LoRA wrappers run). Their padding is set to "same" by use_module_convs(); every other line is
    the reference's."""
    xz = self.in_proj(hidden).transpose(1, 2)  # b dim L
    x, z = xz.chunk(2, dim=1)
    x = F.silu(self.conv1d_x(x))
    z = F.silu(self.conv1d_z(z))
    x_dbl = self.x_proj(x.transpose(1, 2))  # b L (R + 2N)
    dt, Bm, Cm = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
    dt = self.dt_proj(dt).transpose(1, 2)  # bias included here and added again in the scan (upstream quirk)
    A = -torch.exp(self.A_log.float())
    y = ref.selective_scan(x, dt, A, Bm.transpose(1, 2), Cm.transpose(1, 2), self.D.float(), self.dt_proj.bias.float())
    return self.out_proj(torch.cat([y, z], dim=1).transpose(1, 2))


class HubModel(nn.Module):
    """The HF hub's MambaVisionModelForImageClassification keeps the network in `.model` (hence the checkpoints'
    `model.` keys); wrapping ref.MambaVision the same way gives adapter keys base_model.model.model.<...> as an
    adapter trained on the hub model has."""

    def __init__(self, mv: ref.MambaVision):
        super().__init__()
        self.model = mv

    def forward(self, pixel_values):
        return self.model(pixel_values)


def use_module_convs(mv: ref.MambaVision) -> ref.MambaVision:
    for m in mv.modules():
        if isinstance(m, ref.MambaVisionMixer):
            m.forward = mixer_forward_via_modules.__get__(m)
            for c in (m.conv1d_x, m.conv1d_z):
                assert c.kernel_size[0] % 2 == 1 and c.groups == m.half
                c.padding = "same"
    return mv


def mv_load(base_dir: Path, adapter_dir: Path | None = None) -> HubModel:
    """Base model from disk; with adapter_dir, the head resized to the adapter's config.json class count
    (values irrelevant: modules_to_save replaces it whole, checked)."""
    mv = ref.load_safetensors_dir(base_dir)
    if adapter_dir is not None:
        n = ref.num_classes_of(json.loads((adapter_dir / "config.json").read_text()))
        mv.head = nn.Linear(mv.head.in_features, n)
    return HubModel(use_module_convs(mv)).eval()


def mv_logits(model, x) -> torch.Tensor:
    with torch.no_grad():
        return model(x).float()


class ConvPlusDelta(nn.Module):
    """Depthwise conv + a full (groups 1) conv delta: what a LoRA on a grouped Conv1d adds (lora_A is a full conv
    in -> r, lora_B a grouped 1x1 conv r -> out, so the product is not depthwise and cannot be merged into it)."""

    def __init__(self, conv: nn.Conv1d, delta: torch.Tensor):
        super().__init__()
        self.conv, self.delta = conv, delta

    def forward(self, x):
        return self.conv(x) + F.conv1d(x, self.delta, None, padding="same")


@torch.no_grad()
def mv_merged_logits(base_dir: Path, adapters: list[tuple[Path, float]], x, head_from: Path | None) -> torch.Tensor:
    m = mv_load(base_dir, head_from)
    modules = dict(m.named_modules())
    plain = []
    for adir, s in adapters:
        ad = read_adapter(adir)
        for module, dd in list(ad["mods"].items()):
            conv = modules[module]
            if isinstance(conv, nn.Conv1d) and conv.groups > 1:
                A, B = dd["A"], dd["B"]  # A [r, in, k] (groups 1), B [out, r/groups, 1] (groups = conv.groups)
                rg = B.shape[1]
                # output channel o of group g reads r-channels g*rg .. g*rg+rg-1; out/groups = 1 here
                assert conv.out_channels == conv.groups and A.shape[0] == rg * conv.groups
                delta = torch.einsum("oj,ojik->oik", B[:, :, 0], A.reshape(conv.groups, rg, *A.shape[1:]))
                parent, leaf = module.rsplit(".", 1)
                setattr(modules[parent], leaf, ConvPlusDelta(conv, s * dd["scaling"] * delta))
                del ad["mods"][module]
        plain.append((ad, s))
    merge_into(m, plain)
    return mv_logits(m, x)


def gen_mambavision(tmp: Path) -> dict:
    d = OUT / "mambavision"
    torch.manual_seed(SEEDS["mambavision_base"])  # MambaVisionMixer draws its dt init from the global generator
    mv = ref.MambaVision(dict(MV_CFG, num_classes=len(MV_CFG["id2label"])))
    gmv.perturb(mv, torch.Generator().manual_seed(SEEDS["mambavision_base"]))
    mv.eval()
    ref.save_hub_layout(mv, d)
    base_rel = f"{REL}/mambavision"

    gen = torch.Generator().manual_seed(SEEDS["mambavision_inputs"])
    x = torch.randn(MV_INPUT, generator=gen)
    # the module-call mixer equals the reference's own forward on the base model
    plain = ref.load_safetensors_dir(d)
    logits_ref_forward = mv_logits(plain, x)
    logits_base = mv_logits(mv_load(d), x)
    assert torch.equal(logits_base, logits_ref_forward), "mixer_forward_via_modules differs from the reference"

    levels = [(i, MV_CFG["dim"] * 2 ** i) for i in range(4) if i >= 2]
    rank_pattern = {rf"levels\.{i}\.blocks\.\d+\.mixer\.conv1d_[xz]": w // 2 for i, w in levels}
    cd = d / "adapters" / "convs"
    m = mv_load(d)
    m.model.head = nn.Linear(m.model.head.in_features, len(MV_NEW_LABELS))
    pm = get_peft_model(m, LoraConfig(
        r=4, lora_alpha=4, modules_to_save=["head"], rank_pattern=rank_pattern, alpha_pattern={"dt_proj": 16},
        target_modules=["in_proj", "x_proj", "dt_proj", "out_proj", "conv1", "conv2", "qkv", "proj", "fc1", "fc2",
                        "conv1d_x", "conv1d_z"]))
    fill_adapter(pm, "default", torch.Generator().manual_seed(SEEDS["mambavision_convs"]), GAIN["mambavision_convs"])
    save_adapter(pm, cd, base_rel)
    acfg = json.loads((d / "config.json").read_text())
    acfg["num_classes"] = len(MV_NEW_LABELS)
    acfg["id2label"] = {str(k): v for k, v in MV_NEW_LABELS.items()}
    acfg["label2id"] = {v: k for k, v in MV_NEW_LABELS.items()}
    (cd / "config.json").write_text(json.dumps(acfg, indent=2, sort_keys=True) + "\n")  # save_hub_layout's style

    md = d / "adapters" / "mixer_only"
    pm = get_peft_model(mv_load(d), LoraConfig(r=3, lora_alpha=6, use_rslora=True,
                                               target_modules=["in_proj", "out_proj"]))
    fill_adapter(pm, "default", torch.Generator().manual_seed(SEEDS["mambavision_mixer_only"]),
                 GAIN["mambavision_mixer_only"])
    save_adapter(pm, md, base_rel)

    pm_mix = PeftModel.from_pretrained(mv_load(d), str(md), adapter_name="mixer_only").eval()
    logits_mix = mv_logits(pm_mix, x)
    with pm_mix.disable_adapter():
        assert torch.equal(mv_logits(pm_mix, x), logits_base), "adapters disabled != base model"

    pm = PeftModel.from_pretrained(mv_load(d, cd), str(cd), adapter_name="convs").eval()
    pm.load_adapter(str(md), adapter_name="mixer_only")
    check_modules_to_save(pm, "convs", cd)
    activate(pm, {"convs": 1.0})
    logits_convs = mv_logits(pm, x)
    activate(pm, {"convs": 0.5, "mixer_only": 1.5})
    logits_both = mv_logits(pm, x)

    # BatchNorm after the adapted convs really is in eval mode with non-trivial running statistics
    bns = [mod for n, mod in pm.named_modules() if isinstance(mod, nn.BatchNorm2d) and re.search(r"\.norm[12]$", n)]
    assert bns and all(not b.training and float(b.running_var.sub(1).abs().max()) > 0.05 for b in bns)

    checks, effects = {}, {}
    for key, got, want in (
            ("convs", mv_merged_logits(d, [(cd, 1.0)], x, cd), logits_convs),
            ("mixer_only", mv_merged_logits(d, [(md, 1.0)], x, None), logits_mix),
            ("both", mv_merged_logits(d, [(cd, 0.5), (md, 1.5)], x, cd), logits_both)):
        checks[f"merged_vs_peft_{key}"] = rel_max(got, want)
        assert checks[f"merged_vs_peft_{key}"] < MERGE_TOL, (key, checks[f"merged_vs_peft_{key}"])
    ratio_mix = std_ratio(logits_mix, logits_base)
    activate(pm, {"convs": 1.0})
    effects["convs"] = kind_effects(pm, "convs", lambda: mv_logits(pm, x))
    head_only = lora_scaled(pm, "convs", 0.0, lambda: mv_logits(pm, x))
    ratio_convs = std_ratio(logits_convs, head_only)
    assert EFFECT_MIN < ratio_mix < EFFECT_MAX and EFFECT_MIN < ratio_convs < EFFECT_MAX, (ratio_mix, ratio_convs)
    effects["mixer_only"] = kind_effects(pm_mix, "mixer_only", lambda: mv_logits(pm_mix, x))

    write_expected_tensors(d / "expected.safetensors", {
        "pixel_values": x, "logits_base": logits_base, "logits_convs": logits_convs,
        "logits_mixer_only": logits_mix, "logits_both": logits_both})
    log(f"mambavision: effect ratios mixer_only {ratio_mix:.3f} convs {ratio_convs:.3f}; merged-vs-peft max "
        f"{max(checks.values()):.1e}")
    return {
        "base": {"config": MV_CFG, "num_classes": len(MV_CFG["id2label"]), "layout": "hub (model.*)"},
        "convs_labels": [MV_NEW_LABELS[i] for i in range(len(MV_NEW_LABELS))],
        "convs_rank_pattern": rank_pattern,
        "inputs": {"pixel_values": list(x.shape)},
        "effect_ratio": {"mixer_only": round(ratio_mix, 4), "convs_lora_vs_its_head_alone": round(ratio_convs, 4)},
        "kind_effects": {a: {k: round(v, 4) for k, v in e.items()} for a, e in effects.items()},
        "checks": {k: float(f"{v:.3g}") for k, v in checks.items()},
        "logits_max_abs": round(float(logits_base.abs().max()), 4),
    }


# --------------------------------------------------------------------------------------------------
# Broken adapters (for the Mamba base)
# --------------------------------------------------------------------------------------------------
def gen_bad(tmp: Path) -> list[dict]:
    bad = OUT / "bad"
    md = OUT / "mamba"
    a_dir = md / "adapters" / "a"
    a_cfg = json.loads((a_dir / "adapter_config.json").read_text())
    a_st = load_file(str(a_dir / "adapter_model.safetensors"))
    rows = []

    def add(name, what, status, names, cfg=a_cfg, tensors=a_st, raw_cfg=None, raw_st=None):
        dd = bad / name
        dd.mkdir(parents=True)
        if raw_cfg is not None:
            (dd / "adapter_config.json").write_bytes(raw_cfg)
        elif cfg is not None:
            (dd / "adapter_config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))
        if raw_st is not None:
            (dd / "adapter_model.safetensors").write_bytes(raw_st)
        elif tensors is not None:
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(dd / "adapter_model.safetensors"),
                      metadata={"format": "pt"})
        rows.append(dict(name=name, what=what, status=status, names=names))
        return dd

    def peft_made(lc: LoraConfig, seed: int, base_cfg: dict | None = None) -> tuple[dict, dict]:
        """An adapter made by peft (config dict, tensors) on the lora/mamba base or another Mamba config."""
        if base_cfg is None:
            base = gm.load_ref(md)
        else:
            c = MambaConfig(**base_cfg)
            base = MambaForCausalLM(c).eval()
            gm.randomize(base, c, torch.Generator().manual_seed(seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = get_peft_model(base, lc)
        fill_adapter(pm, "default", torch.Generator().manual_seed(seed + 1), 0.25)
        out = tmp / f"bad_{seed}"
        save_adapter(pm, out, f"{REL}/mamba")
        return (json.loads((out / "adapter_config.json").read_text()),
                load_file(str(out / "adapter_model.safetensors")))

    a_lc = dict(r=4, lora_alpha=8, target_modules=["in_proj", "x_proj", "dt_proj", "out_proj", "embeddings"],
                task_type="CAUSAL_LM")
    k_in0 = "base_model.model.backbone.layers.0.mixer.in_proj.lora_A.weight"

    other = dict(MAMBA_CFG, hidden_size=24)
    c, t = peft_made(LoraConfig(**a_lc), SEEDS["bad"] + 10, other)
    add("other_size", f"adapter a's config and targets made by peft on a Mamba with hidden_size 24 (intermediate 48) "
        f"instead of 20: same keys, other shapes, e.g. `{k_in0}` {list(t[k_in0].shape)} where the base needs [4, 20]",
        "KRAIT_ERR_FORMAT", "a tensor whose shape does not fit, with both shapes (which one is found first "
        "is up to Krait; the embedding's `lora_embedding_B` [24, 4] vs [20, 4] or a layer's lora_A/lora_B)",
        cfg=c, tensors=t)

    vd = OUT / "vit" / "adapters" / "new_names"
    add("other_arch", "the ViT adapter vit/adapters/new_names (adapter_config.json + adapter_model.safetensors, "
        "copied unchanged) given to the Mamba base: keys `base_model.model.vit.layers.N.attention.q_proj...`, "
        "`...projection` (Conv2d) and modules_to_save `classifier`",
        "KRAIT_ERR_FORMAT", "a key that matches no module of the Mamba model, e.g. "
        "`base_model.model.vit.embeddings.patch_embeddings.projection` or `classifier`",
        raw_cfg=(vd / "adapter_config.json").read_bytes(), raw_st=(vd / "adapter_model.safetensors").read_bytes())

    k_b = "base_model.model.backbone.layers.0.mixer.in_proj.lora_B.weight"
    t = dict(a_st)
    t[k_b] = a_st[k_b][:, :3].clone()
    add("rank_mismatch", f"adapter a with `{k_b}` cut to its first 3 columns ([80, 3]) while its lora_A has r = 4 rows "
        "([4, 20])", "KRAIT_ERR_FORMAT", f"`{k_b}` (or its lora_A) and the two ranks 4 and 3", tensors=t)

    add("config_rank_mismatch", "adapter a's tensors (r = 4 everywhere) with adapter_config.json saying r = 2 and no "
        "rank_pattern", "KRAIT_ERR_FORMAT", "the config field `r` (2) and a tensor whose rank is 4",
        cfg=dict(a_cfg, r=2))

    t = dict(a_st)
    g = torch.Generator().manual_seed(SEEDS["bad"])
    t["base_model.model.backbone.layers.0.mixer.nonexistent.lora_A.weight"] = torch.randn(4, 20, generator=g) * 0.2
    t["base_model.model.backbone.layers.0.mixer.nonexistent.lora_B.weight"] = torch.randn(40, 4, generator=g) * 0.2
    add("unknown_target", "adapter a plus a LoRA pair for a module that does not exist: "
        "`base_model.model.backbone.layers.0.mixer.nonexistent.lora_A.weight` [4, 20] / `.lora_B.weight` [40, 4]",
        "KRAIT_ERR_FORMAT", "`backbone.layers.0.mixer.nonexistent` (the key, with or without the "
        "`base_model.model.` prefix)", tensors=t)

    k_mb = "base_model.model.backbone.layers.1.mixer.x_proj.lora_B.weight"
    t = {k: v for k, v in a_st.items() if k != k_mb}
    add("missing_B", f"adapter a without `{k_mb}` (its lora_A is there)", "KRAIT_ERR_FORMAT",
        "`backbone.layers.1.mixer.x_proj` and that lora_B is missing", tensors=t)

    add("missing_weights", "adapter a's adapter_config.json only; no adapter_model.safetensors", "KRAIT_ERR_IO",
        "`adapter_model.safetensors`", tensors=None)
    add("missing_config", "adapter a's adapter_model.safetensors only; no adapter_config.json", "KRAIT_ERR_IO",
        "`adapter_config.json`", cfg=None)

    text = json.dumps(a_cfg, indent=2, sort_keys=True).encode()
    cut = text.index(b'"lora_alpha"') + len(b'"lora_alpha": ')
    add("bad_json",
        f"adapter a's adapter_config.json cut after `\"lora_alpha\": ` ({cut} of {len(text)} bytes): not JSON",
        "KRAIT_ERR_FORMAT", "`adapter_config.json` and that it is not valid JSON", raw_cfg=text[:cut])

    add("not_lora", "adapter a with `\"peft_type\": \"IA3\"` in adapter_config.json (tensors unchanged)",
        "KRAIT_ERR_UNSUPPORTED", "`peft_type` and `IA3`", cfg=dict(a_cfg, peft_type="IA3"))

    c, t = peft_made(LoraConfig(r=4, lora_alpha=8, target_modules=["in_proj", "x_proj"], use_dora=True,
                                task_type="CAUSAL_LM"), SEEDS["bad"] + 20)
    mags = sorted(k for k in t if "magnitude" in k)
    assert c["use_dora"] is True and mags
    add("dora", f"a DoRA adapter made by peft (use_dora true, in_proj and x_proj, r 4): besides lora_A/lora_B it holds "
        f"{len(mags)} magnitude vectors such as `{mags[0]}` {list(t[mags[0]].shape)}", "KRAIT_ERR_UNSUPPORTED",
        "`use_dora`", cfg=c, tensors=t)

    c, t = peft_made(LoraConfig(r=4, lora_alpha=8, target_modules=["in_proj", "out_proj"], lora_bias=True,
                                task_type="CAUSAL_LM"), SEEDS["bad"] + 30)
    biases = sorted(k for k in t if k.endswith("lora_B.bias"))
    assert c["lora_bias"] is True and biases
    with torch.no_grad():  # peft leaves the lora_B bias at zero; make it matter
        for k in biases:
            t[k] = torch.randn(t[k].shape, generator=g) * 0.1
    add("lora_bias", f"an adapter made by peft with lora_bias true (in_proj, out_proj, r 4): {len(biases)} "
        f"`lora_B.bias` tensors such as `{biases[0]}` {list(t[biases[0]].shape)}, filled with non-zero values",
        "KRAIT_ERR_UNSUPPORTED", "`lora_bias`", cfg=c, tensors=t)

    inter = MAMBA_CFG["hidden_size"] * MAMBA_CFG["expand"]
    c, t = peft_made(LoraConfig(r=4, lora_alpha=8, target_modules=["in_proj", "conv1d"],
                                rank_pattern={"conv1d": inter}, task_type="CAUSAL_LM"), SEEDS["bad"] + 40)
    kc = "base_model.model.backbone.layers.0.mixer.conv1d.lora_A.weight"
    kcb = kc.replace("lora_A", "lora_B")
    add("conv1d_target", f"an adapter made by peft on in_proj and mixer.conv1d (depthwise, groups {inter}, so peft "
        f"needs r = {inter} there via rank_pattern): `{kc}` {list(t[kc].shape)}, `{kcb}` {list(t[kcb].shape)}. "
        "transformers' decode path reads conv1d.weight directly, so Krait refuses LoRA on conv1d",
        "KRAIT_ERR_UNSUPPORTED", "`backbone.layers.0.mixer.conv1d` (or layer 1's) and that LoRA on it is not supported",
        cfg=c, tensors=t)

    k_nan = "base_model.model.backbone.layers.0.mixer.out_proj.lora_B.weight"
    t = dict(a_st)
    t[k_nan] = a_st[k_nan].clone()
    t[k_nan][3, 1] = float("nan")
    add("nan_weights", f"adapter a with element [3, 1] of `{k_nan}` set to NaN", "KRAIT_ERR_FORMAT",
        f"`{k_nan}` and that it holds a non-finite value", tensors=t)

    raw = (a_dir / "adapter_model.safetensors").read_bytes()
    (hlen,) = struct.unpack("<Q", raw[:8])
    add("truncated", f"adapter a's adapter_model.safetensors cut to its first {len(raw) // 2} of {len(raw)} bytes "
        f"(header of {hlen} bytes intact, data buffer cut)", "KRAIT_ERR_FORMAT",
        "`adapter_model.safetensors` and a tensor whose data_offsets go beyond the data buffer (file truncated)",
        raw_st=raw[:len(raw) // 2])

    for r in rows:  # informational: what peft itself does with each folder on the mamba base
        r["peft"] = peft_behaviour(md, bad / r["name"])

    lines = [
        "# Broken LoRA adapters (generated by tools/gen_lora_fixtures.py; do not edit)", "",
        "Each folder is an adapter to load on the base model `tests/fixtures/lora/mamba` (Mamba, hidden 20,",
        "intermediate 40, 2 layers, vocab 67). Unless the row says otherwise it holds adapter_config.json and",
        "adapter_model.safetensors made from `mamba/adapters/a` (r 4, lora_alpha 8; in_proj, x_proj, dt_proj,",
        "out_proj, embeddings) with one defect; JSON is written with indent 2 and sorted keys like peft's.",
        "Loading must fail with the status below and a message that names what is listed; the model and its",
        "other adapters stay usable. Status choice: a file missing -> IO; files malformed, inconsistent in",
        "themselves, or describing another model than the one they are loaded for -> FORMAT (as for a model",
        "whose weights do not fit its config); a valid adapter using a feature Krait does not implement ->",
        "UNSUPPORTED.", "",
        "The valid F16 variant of adapter a is not here: it is `mamba/adapters/a_f16` (reference logits",
        "`logits_a_f16` in mamba/expected.safetensors).", "",
        "The last column is informational: what `PeftModel.from_pretrained(mamba base, folder)` does with peft",
        f"{peft.__version__} (with its Mamba out_proj/conv1d check switched off, as for the valid adapters). peft",
        "accepts several of these silently, which is why Krait must check them itself.", "",
        "| folder | what is wrong | status | message names | peft itself |", "|---|---|---|---|---|"]
    lines += [f"| `{r['name']}/` | {r['what']} | {r['status']} | {r['names']} | {r['peft']} |" for r in rows]
    (bad / "README.md").write_text("\n".join(lines) + "\n")
    return rows


def peft_behaviour(base_dir: Path, adapter_dir: Path) -> str:
    """One line: the exception peft raises loading adapter_dir on the base, or what it warns, or 'loads'."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pm = PeftModel.from_pretrained(gm.load_ref(base_dir), str(adapter_dir), adapter_name="x")
            with torch.no_grad():
                out = pm(torch.arange(8)[None]).logits
            finite = bool(torch.isfinite(out).all())
        except Exception as e:  # noqa: BLE001
            msg = re.sub(r"\s+", " ", str(e)).strip()
            msg = msg.replace(str(adapter_dir), "<dir>").replace(str(ROOT) + "/", "")
            return f"raises {type(e).__name__}: {msg[:140].replace('|', '/')}"
    notes = sorted({re.sub(r"\s+", " ", str(w.message))[:140].replace("|", "/") for w in caught
                    if "missing" in str(w.message).lower() or "unexpected" in str(w.message).lower()})
    return ("loads" + ("; warns: " + " / ".join(notes) if notes else " without a warning")
            + ("" if finite else "; its logits are NaN"))


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------
def write_expected_tensors(path: Path, tensors: dict) -> None:
    meta = {"generator": "tools/gen_lora_fixtures.py", "peft": peft.__version__,
            "transformers": transformers.__version__, "torch": torch.__version__}
    gm.write_expected(path, {k: v.detach().contiguous() for k, v in tensors.items()}, meta)


def fmt(d: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in d.items())


def files_of(d: Path) -> dict:
    return {str(p.relative_to(d)): p.stat().st_size for p in sorted(d.rglob("*")) if p.is_file()}


def adapter_summary(adir: Path) -> dict:
    cfg = json.loads((adir / "adapter_config.json").read_text())
    keys = gm.st_summary(adir / "adapter_model.safetensors")
    return {
        "config": {k: cfg[k] for k in ("r", "lora_alpha", "use_rslora", "rank_pattern", "alpha_pattern",
                                       "target_modules", "modules_to_save", "fan_in_fan_out", "task_type")},
        "tensors": keys,
    }


def expected_summary(path: Path) -> dict:
    return gm.st_summary(path)


def main() -> int:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="LoRA adapter added to ConvNd layer with groups > 1")
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    tmp = Path(tempfile.mkdtemp(prefix="krait_lora_"))
    try:
        cases = {"mamba": gen_mamba(tmp), "vit": gen_vit(tmp), "mambavision": gen_mambavision(tmp)}
        bad = gen_bad(tmp)
    finally:
        shutil.rmtree(tmp)
    manifest = {
        "generator": "tools/gen_lora_fixtures.py",
        "versions": {"peft": peft.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
                     "safetensors": safetensors.__version__, "python": sys.version.split()[0]},
        "seeds": SEEDS, "gains": GAIN,
        "tolerances": {"merged_vs_peft": MERGE_TOL, "stepped_vs_full": STEP_TOL,
                       "min_greedy_margin": MIN_GREEDY_MARGIN},
        "cases": {},
        "bad": bad,
    }
    for name, info in cases.items():
        d = OUT / name
        info["files"] = files_of(d)
        info["adapters"] = {a.name: adapter_summary(a) for a in sorted((d / "adapters").iterdir())}
        info["expected"] = expected_summary(d / "expected.safetensors")
        manifest["cases"][name] = info
    manifest["bad_files"] = files_of(OUT / "bad")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    write_readme(manifest)
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    log(f"total {total} bytes in {OUT}")
    assert total < MAX_TOTAL_BYTES, f"fixtures too large: {total} bytes"
    return 0


def write_readme(manifest: dict) -> None:
    v = manifest["versions"]
    cases = manifest["cases"]
    mam, vit, mv = cases["mamba"], cases["vit"], cases["mambavision"]

    def dtype_shape(e):
        return f"{e['dtype']} [{', '.join(map(str, e['shape']))}]"

    def adapter_table(case: dict) -> list[str]:
        rows = ["| adapter | r | lora_alpha | rslora | rank_pattern | alpha_pattern | target_modules | modules_to_save "
                "| tensors |", "|---|---|---|---|---|---|---|---|---|"]
        for name, ad in case["adapters"].items():
            c = ad["config"]
            tm = c["target_modules"]
            tm = f"`{tm}` (regex)" if isinstance(tm, str) else ", ".join(f"`{t}`" for t in tm)
            rows.append(f"| `{name}` | {c['r']} | {c['lora_alpha']} | {c['use_rslora']} | "
                        f"{json.dumps(c['rank_pattern']) if c['rank_pattern'] else '-'} | "
                        f"{json.dumps(c['alpha_pattern']) if c['alpha_pattern'] else '-'} | {tm} | "
                        f"{c['modules_to_save'] or '-'} | {len(ad['tensors'])} |")
        return rows

    def key_list(case: dict, name: str, n: int = 4, pick=None) -> list[str]:
        t = case["adapters"][name]["tensors"]
        keys = [k for k in t if pick is None or pick(k)][:n]
        return [f"  - `{k}` {dtype_shape(t[k])}" for k in keys]

    def expected_table(case: dict, meaning: dict) -> list[str]:
        rows = ["| tensor | dtype, shape | meaning |", "|---|---|---|"]
        for k, e in case["expected"].items():
            rows.append(f"| `{k}` | {dtype_shape(e)} | {meaning[k]} |")
        return rows

    def size(case: str) -> int:
        return sum(cases[case]["files"].values())

    L = []
    L += [
        "# LoRA adapter fixtures (generated by tools/gen_lora_fixtures.py; do not edit)", "",
        "```",
        "tools/setup_tools_env.sh        # once: the pinned Python tools env in .venv/",
        ".venv/bin/python tools/gen_lora_fixtures.py     # ~10 s on one CPU core",
        "```", "",
        f"PEFT LoRA adapters on three tiny base models and peft's reference outputs for them: peft {v['peft']}, "
        f"transformers {v['transformers']}, torch {v['torch']}, CPU, float32, one thread. The script deletes "
        "`tests/fixtures/lora/` and rebuilds it with fixed seeds; a rerun reproduces every byte (it re-executes itself "
        "with PYTHONHASHSEED=0 because peft writes `target_modules` in Python set order). Versions, seeds, every "
        "file's size, every adapter tensor's dtype/shape and all check results are in `manifest.json`.", "",
        "Adapters are made with `get_peft_model`, their LoRA factors and modules_to_save filled with random values "
        "(peft initialises lora_B to zero, which would make them no-ops), and written with "
        "`PeftModel.save_pretrained` (its model-card README.md is dropped). Every reference number comes from a "
        "PeftModel built from the files on disk: `PeftModel.from_pretrained(base reloaded from disk, adapter dir)` "
        "and `load_adapter` for a second adapter.", "",
        "## Layout", "",
        "```",
        "mamba/                      MambaForCausalLM.save_pretrained: config.json, generation_config.json,",
        "                            model.safetensors",
        "mamba/adapters/a/           adapter_config.json + adapter_model.safetensors",
        "mamba/adapters/b/",
        "mamba/adapters/a_f16/       adapter a with every tensor stored as F16 (valid: Krait must upcast it)",
        "mamba/expected.safetensors",
        "vit/                        ViTForImageClassification.save_pretrained: config.json, model.safetensors",
        "vit/adapters/new_names/     adapter files + config.json (the adapter's label set, 3 labels)",
        "vit/adapters/old_names/     adapter files with checkpoint / transformers-4 module names",
        "vit/expected.safetensors",
        "mambavision/                config.json + model.safetensors, hub layout (keys `model.*`)",
        "mambavision/adapters/convs/ adapter files + config.json (the adapter's label set, 2 labels)",
        "mambavision/adapters/mixer_only/",
        "mambavision/expected.safetensors",
        "bad/<case>/                 broken adapters for the mamba base: see bad/README.md",
        "```", "",
        "`expected.safetensors` files are written by the script itself (tensors in name order, little-endian, header "
        "padded to 8, `__metadata__` with the generator and versions) so that they are byte-stable.", "",
        "## What an adapter means (checked against peft, see Self-checks)", "",
        "- Keys are `base_model.model.<module path>.<part>`. Linear: `lora_A.weight` [r, in], `lora_B.weight` "
        "[out, r]. Conv2d: `lora_A.weight` [r, in, kh, kw] with the base conv's kernel, stride and padding, "
        "`lora_B.weight` [out, r, 1, 1]. Conv1d with groups g: `lora_A.weight` [r, in, k] is a full (groups 1) "
        "conv with the base's kernel and padding, `lora_B.weight` [out, r/g, 1] a 1x1 conv with groups g (peft "
        "requires r % g == 0). Embedding: `lora_embedding_A` [r, V], `lora_embedding_B` [D, r] (no `.weight`). "
        "modules_to_save: `<module>.weight` / `<module>.bias`, the whole replacement module (no "
        "`modules_to_save.default` in the file).",
        "- Per module: r = rank_pattern's value for the first key k (in the JSON's order) with "
        "`re.match(rf\"(.*\\.)?({k})$\", module)`, else `r`; lora_alpha likewise from alpha_pattern. "
        "scaling = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora. The tensors' rank always equals the "
        "resolved r (checked).",
        "- Active adapters i with user scales s_i: y = base(x) + sum_i s_i * scaling_i * B_i(A_i(x)) at every "
        "adapted module (peft's `set_scale(adapter, s)` sets scaling to s * alpha / r, or s * alpha / sqrt(r) with "
        "rslora). Embedding: e = E[id] + sum_i s_i * scaling_i * B_i @ A_i[:, id]. A module that is in no active "
        "adapter's modules_to_save is the base module; the `logits_both` cases take the head of the one active "
        "adapter that replaces it (peft allows only one active modules_to_save per module). The user scale does "
        "not apply to modules_to_save.",
        "- A replaced head comes with the adapter folder's `config.json`: the base config with the new label count "
        "and `id2label` / `label2id` (ViT: a transformers ViTConfig, the label count given by id2label; MambaVision: "
        "`num_classes` plus `id2label` / `label2id`, as the base config names its labels). The base model's own "
        "head and labels are used otherwise.",
        "", "## Surprises in today's libraries (why the script deviates from a plain peft run)", "",
        "- **Mamba `out_proj`: peft refuses it.** peft 0.21's `_check_lora_target_modules_mamba` raises for "
        "`out_proj` and `conv1d` on model_type mamba (mamba_ssm's fused training kernel reads `out_proj.weight` "
        "directly). transformers' CPU forward calls `out_proj` as a module, so the LoRA is well defined; the script "
        "switches the check off. peft 0.21 cannot load adapters a and b unpatched.",
        "- **Mamba `dt_proj`: transformers ignores its LoRA.** transformers 5.24's MambaMixer computes "
        "`dt_proj.weight @ time_step` (then adds dt_proj.bias inside the scan) instead of calling the module, in "
        "prefill and decode, so peft's dt_proj LoRA changes nothing (transformers 4.x's CPU path called the module). "
        "The reference applies it: around each forward the active adapters' dt_proj deltas are merged into "
        "dt_proj.weight with peft's own `LoraLayer.merge` and the exact weight restored afterwards (a hook asserts "
        "dt_proj is never called as a module, which would double-count). Without this, adapter a's logits would "
        f"differ by {mam['checks']['a_without_dt_proj_lora_max_diff']} (max abs, relative): an engine that skips "
        "dt_proj fails.",
        "- **MambaVision `conv1d_x` / `conv1d_z`.** The reference (like upstream MambaVision) runs them as "
        "`F.conv1d(x, self.conv1d_x.weight, padding=\"same\", groups=C/2)`, which would bypass peft's Conv1d LoRA "
        "the same way. The script's mixer forward is the reference's with the two convolutions called as modules "
        "(their padding set to \"same\"); on the base model it equals the reference's forward bit for bit. peft "
        "then builds lora_A as a full Conv1d(C/2 -> r, k=3, padding \"same\") and lora_B as Conv1d(r -> C/2, 1, "
        "groups=C/2): with r = C/2 (rank_pattern) each output channel j gets B[j,0,0] * (A[j] * x), a full "
        "3-tap conv over all C/2 input channels, not a depthwise one (peft cannot merge it for that reason).",
        "- **Mamba tied embeddings.** LoRA on `backbone.embeddings` changes the input embedding only; the tied "
        "lm_head keeps using the base table (peft's Embedding wrapper leaves lm_head alone).",
        "- **Mamba greedy.** transformers 5.24 fills a passed GenerationConfig's None fields from the model's "
        "generation_config.json, so `eos_token_id=None` does not disable EOS and `min_new_tokens` then bans token 0. "
        "The script also clears the model's generation_config during generate() (the greedy result is checked "
        "against a plain argmax loop).",
        "- **ViT old names.** Neither `PeftModel.from_pretrained` nor transformers' `load_adapter` loads "
        "`vit/adapters/old_names` as committed (NoMatchingPeftModuleError: its target_modules name checkpoint "
        "modules). transformers' `load_adapter` does convert the old *keys* when target_modules uses today's names, "
        "and then reproduces `logits_old_names` exactly (checked).",
        "- **fan_in_fan_out** is false in every adapter here: peft sets it to false (with a warning) for "
        "`nn.Linear`; it only stays true for GPT-2-style `Conv1D` modules, which none of these models has.",
        "",
    ]

    # ---- Mamba
    cfgm = mam["base"]["config"]
    L += [f"## mamba/ ({size('mamba')} bytes)", "",
          f"Base: MambaForCausalLM, vocab {cfgm['vocab_size']}, hidden {cfgm['hidden_size']}, intermediate "
          f"{mam['base']['intermediate_size']} (expand {cfgm['expand']}), state {cfgm['state_size']}, conv "
          f"{cfgm['conv_kernel']}, dt rank {cfgm['time_step_rank']}, {cfgm['num_hidden_layers']} layers, tied "
          "embeddings, F32, weights drawn as in tools/gen_mamba_fixtures.py (randomize).", ""]
    L += adapter_table(mam) + [""]
    L += ["`a_f16` has `a`'s adapter_config.json and `a`'s tensors rounded to F16 (same keys). peft loads it "
          "into float32 factors holding exactly the F16 values (checked); `logits_a_f16` is computed from those. "
          f"It differs from `logits_a` by {mam['a_f16_vs_a_max_rel_diff']} (max abs, relative): the rounding alone.",
          "", "Adapter keys (first few of each; all in manifest.json):", "", "- `a`:"]
    L += key_list(mam, "a", 6)
    L += ["- `b` (rank 2 on out_proj, 3 on layer 1's x_proj, 6 elsewhere; alpha 5 on dt_proj, 3 elsewhere; rslora):"]
    L += key_list(mam, "b", 16, lambda k: "layers.1" in k and ("x_proj" in k or "out_proj" in k or "dt_proj" in k))
    L += ["", "Resolved per-module scalings for `b` (rslora: alpha / sqrt(r)): in_proj 3/sqrt(6), x_proj of layer 0 "
          "3/sqrt(6), x_proj of layer 1 3/sqrt(3), dt_proj 5/sqrt(6), out_proj 3/sqrt(2).", ""]
    L += expected_table(mam, {
        "input_ids": "token ids, uniform over the vocabulary; L = 300 is longer than Krait's 256-token scan chunk",
        "logits_base": "base model, no adapter",
        "logits_a": "adapter a at scale 1",
        "logits_b": "adapter b at scale 1",
        "logits_ab": "a at scale 0.5 and b at scale 1.5, both active",
        "logits_a_f16": "adapters/a_f16 at scale 1 (F16 factors upcast to float32)",
        "prompt_ids": "one prompt",
        "greedy_a": f"the {len(mam['greedy_a'])} new tokens of greedy `generate()` with adapter a (scale 1) "
                    "through transformers' recurrent cache: exactly G argmax steps over the whole vocabulary, EOS "
                    "disabled, all-ones attention mask (as tools/gen_mamba_fixtures.py). The prompt is not included",
    })
    L += ["", f"greedy_a = {' '.join(map(str, mam['greedy_a']))}; the base model continues the same prompt with "
          f"{' '.join(map(str, mam['greedy_base_same_prompt']))}. The prompt was redrawn until every step's top-1 "
          f"minus top-2 logit was >= {manifest['tolerances']['min_greedy_margin']} (smallest: "
          f"{mam['greedy_min_margin']}), the continuation differed from the base model's, held no EOS id (0) and at "
          "least 4 distinct ids.", ""]

    # ---- ViT
    cv = vit["base"]["config"]
    L += [f"## vit/ ({size('vit')} bytes)", "",
          f"Base: ViTForImageClassification, image {cv['image_size']}, patch {cv['patch_size']}, hidden "
          f"{cv['hidden_size']}, {cv['num_attention_heads']} heads, {cv['num_hidden_layers']} layers, intermediate "
          f"{cv['intermediate_size']}, qkv bias, {cv['num_labels']} labels "
          f"({', '.join(vit['base']['labels'])}), F32, weights as tools/gen_vit_fixtures.py (randomize). "
          "save_pretrained writes checkpoint names (`vit.encoder.layer.N.attention.attention.query`...) while "
          "transformers 5.24 names the modules `vit.layers.N.attention.q_proj`...", ""]
    L += adapter_table(vit) + [""]
    L += ["- `new_names` was made on transformers 5.24's module names. Its classifier was replaced by "
          f"nn.Linear({cv['hidden_size']}, 3) before get_peft_model, so modules_to_save stores the new head "
          f"(labels {', '.join(vit['new_names_labels'])} in its config.json). The patch embedding conv "
          "`projection` (kernel 4, stride 4) gets a Conv2d LoRA. Keys:"]
    L += key_list(vit, "new_names", 4)
    L += key_list(vit, "new_names", 4, lambda k: "layers.1" in k and "mlp" in k)
    L += ["- `old_names` was made as a normal adapter on today's names (targets q_proj, v_proj, fc2), saved, and "
          "then rewritten by the script: every key's module path mapped with", ""]
    L += [f"  - `vit.layers.N.{p}` -> `vit.encoder.layer.N.{r}`" for p, r in vit["old_names_renaming"].items()]
    L += ["", f"  and target_modules replaced by the regex `{vit['old_names_target_modules']}` (peft full-matches a "
          "string against module names; the list `[\"query\", \"value\", \"output.dense\"]` would be "
          "ambiguous because `output.dense` also suffix-matches `attention.output.dense`). The tensors are "
          "unchanged (checked: mapping the keys back gives the original file's tensors bit for bit); its logits "
          "come from the adapter before renaming. Keys:"]
    L += key_list(vit, "old_names", 6)
    L += [""]
    L += expected_table(vit, {
        "pixel_values": "the input (N(0,1) values, no preprocessing)",
        "logits_base": "base model, no adapter",
        "logits_new_names": "new_names at scale 1: its LoRA plus its 3-label head",
        "logits_old_names": "old_names at scale 1 on the base head (5 labels)",
        "logits_both": "new_names at 0.5 plus old_names at 1.5; the head is new_names' (3 labels)",
    })
    L += [""]

    # ---- MambaVision
    cm = mv["base"]["config"]
    L += [f"## mambavision/ ({size('mambavision')} bytes)", "",
          f"Base: tools/mambavision_ref.py's MambaVision, dim {cm['dim']}, in_dim {cm['in_dim']}, depths "
          f"{cm['depths']} (levels 2 and 3 hold mixers and then attention blocks), heads {cm['num_heads']}, windows "
          f"{cm['window_size']}, mlp_ratio {cm['mlp_ratio']}, layer_scale {cm['layer_scale']} and layer_scale_conv "
          f"{cm['layer_scale_conv']} (gammas present), {mv['base']['num_classes']} classes "
          f"({', '.join(cm['id2label'].values())}), weights perturbed as tools/gen_mambavision_fixtures.py (BatchNorm "
          "running stats and affine, LayerNorm, A_log, D, dt bias, gammas), hub layout (config.json with model_type "
          "mambavision, keys `model.*`). The network sits in `.model` as in the hub's "
          "MambaVisionModelForImageClassification, so adapter keys read `base_model.model.model.<...>`.",
          f"Input {mv['inputs']['pixel_values']}: maps 14x10 -> 7x5 -> 4x3 (level 2, window 3, padded to 6x3) -> "
          "2x2 (level 3, window 2).", ""]
    L += adapter_table(mv) + [""]
    L += ["- `convs`: Linear LoRA on the mixers' in_proj, x_proj, dt_proj, out_proj, the attention blocks' qkv and "
          "proj (their module is also called `mixer`), mlp fc1 / fc2; Conv2d LoRA on the ConvBlocks' conv1 and conv2 "
          "(3x3, padding 1, each followed by a BatchNorm in eval mode with non-trivial running stats: the LoRA "
          "output goes through the BatchNorm like the conv's); Conv1d LoRA on the mixers' depthwise conv1d_x / "
          "conv1d_z with r = groups = C/2 (16 at level 2, 32 at level 3) via rank_pattern, so their scaling is "
          "4/16 and 4/32; alpha 16 on dt_proj via alpha_pattern (scaling 4). modules_to_save `head`: a new "
          f"{len(mv['convs_labels'])}-class head ({', '.join(mv['convs_labels'])} in its config.json). Keys:"]
    L += key_list(mv, "convs", 4)
    L += key_list(mv, "convs", 4, lambda k: "levels.3.blocks.0.mixer.conv1d" in k)
    L += ["- `mixer_only`: rslora (scaling 6/sqrt(3)) on the mixers' in_proj and out_proj only. Keys:"]
    L += key_list(mv, "mixer_only", 4)
    L += [""]
    L += expected_table(mv, {
        "pixel_values": "the input (N(0,1) values, no preprocessing)",
        "logits_base": "base model, no adapter (equal to tools/mambavision_ref.py's own forward, bit for bit)",
        "logits_convs": "convs at scale 1: its LoRA plus its 2-class head",
        "logits_mixer_only": "mixer_only at scale 1 on the base head (4 classes)",
        "logits_both": "convs at 0.5 plus mixer_only at 1.5; the head is convs' (2 classes)",
    })
    L += [""]

    # ---- checks
    allc = {f"{c}: {k}": val for c in ("mamba", "vit", "mambavision") for k, val in cases[c]["checks"].items()}
    merged = {k: val for k, val in allc.items() if "merged_vs_peft" in k}
    L += ["## Self-checks (asserted before anything is written)", "",
          "| check | bound | measured |", "|---|---|---|",
          f"| adapters disabled (`disable_adapter()`) vs the plain base model | exact | equal |",
          f"| peft's logits vs a plain model with W += s * scaling * B@A merged by the script from the adapter files "
          f"alone (its own reading of r, alpha, rslora, patterns; grouped Conv1d as a full-conv delta; modules_to_save "
          f"copied), every expected logits tensor | {manifest['tolerances']['merged_vs_peft']} (max abs / max(1, "
          f"max abs logit)) | <= {max(merged.values()):.1e} |",
          f"| each adapter's effect: std(adapter - base) / std(base) (for adapters with their own head: vs the same "
          f"head without LoRA) | {EFFECT_MIN} .. {EFFECT_MAX} | mamba {mam['effect_ratio']}, vit "
          f"{vit['effect_ratio']}, mambavision {mv['effect_ratio']} |",
          f"| every module kind matters: zeroing its lora_B moves some logit by (relative) | > {KIND_EFFECT_MIN} | "
          f"smallest: mamba {min(min(e.values()) for e in mam['kind_effects'].values()):.4f}, vit "
          f"{min(min(e.values()) for e in vit['kind_effects'].values()):.4f}, mambavision "
          f"{min(min(e.values()) for e in mv['kind_effects'].values()):.4f} (all in manifest.json) |",
          f"| Mamba logits_a vs transformers' cache, prefill 150 then one token per step | "
          f"{manifest['tolerances']['stepped_vs_full']} | {mam['checks']['stepped_vs_full_a']:.1e} |",
          "| Mamba greedy_a (generate) vs an argmax loop without cache | exact | equal |",
          "| ViT old_names renamed file vs the file the logits came from (keys mapped back) | exact | equal |",
          f"| ViT: transformers' `load_adapter` (old keys, target_modules in today's names) vs logits_old_names | "
          f"1e-6 | {vit['checks']['transformers_load_adapter_vs_old_names']} |",
          "| modules_to_save heads hold exactly the file's tensors | exact | equal |",
          "| Mamba a_f16: peft's float32 factors equal the file's F16 values | exact | equal |",
          "", "## Suggested tolerances for Krait's tests", "",
          "Logits (float32 compute, unmerged LoRA): max abs error <= 1e-4 * max(1, max |reference|) for every "
          "logits tensor, a_f16 included (Krait upcasts the F16 factors exactly; the reference computes from the "
          "same rounded values). greedy_a: exact. The merged-weight reimplementation agrees with peft to "
          f"{max(merged.values()):.1e}, so 1e-4 leaves room for a different summation order while every module "
          "kind's contribution (smallest above) is far larger.", "",
          "## bad/", "",
          f"{len(manifest['bad'])} broken adapters for the mamba base, each with the status and the name Krait's "
          "message must give: see `bad/README.md`.", ""]
    (OUT / "README.md").write_text("\n".join(L))


if __name__ == "__main__":
    sys.exit(main())
