#!/usr/bin/env python3
"""Krait conformance fixtures for the Llama family (llama, mistral, qwen2): tiny random models saved
by transformers, with transformers' outputs on them.

Run:  tools/setup_tools_env.sh && .venv/bin/python tools/gen_llama_fixtures.py
Writes (deleting what it wrote before, so every run regenerates everything; README.md is kept):
  tests/fixtures/llama/<case>/   config.json + model.safetensors as save_pretrained writes them (a few cases
                                 rewrite config.json in the older rope_theta / rope_scaling style, as older
                                 checkpoints on the hub have it), and expected.safetensors:
      input_ids      I32 [2, L]      two random rows (batch 2)
      logits         F32 [2, L, V]   the full forward of both rows
      prompt         I32 [P]         a prompt ...
      greedy         I32 [G]         ... and its greedy continuation (model.generate, do_sample=False)
  tests/fixtures/llama/manifest.json   every case: what it covers, config, dtype, sizes, tolerances
  tests/fixtures/llama/lora/     adapters made with peft on case llama_gqa: adapters/a (r=4 on every linear,
                                 embed_tokens and lm_head), adapters/b (r=2, rslora, alpha_pattern, q/v/down only),
                                 expected.safetensors: input_ids and logits_a / logits_b (peft's forward)

Reference = transformers 5.24 on CPU, float32 compute, eager attention. F16/BF16 cases store rounded weights;
their reference runs on the stored weights upcast to float32 (what Krait computes with weights upcast or
widened in registers). Self-checks before anything is written:
  * the logits of a model reloaded from the written files equal the in-memory ones;
  * step-by-step decoding through transformers' KV cache equals the full forward at every position (except for
    dynamic NTK RoPE, whose frequencies change with the length of each call);
  * every greedy step has a top-1 / top-2 gap >= MIN_GREEDY_MARGIN, so a differently ordered float32 sum cannot
    legitimately pick another token (the prompt is redrawn otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, Qwen2Config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "llama"
MIN_GREEDY_MARGIN = 2e-3
STEP_TOL = 1e-4

BASE = dict(vocab_size=101, hidden_size=64, intermediate_size=88, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5, tie_word_embeddings=False,
            bos_token_id=1, eos_token_id=2, pad_token_id=None)


def llama(**kw):
    return LlamaConfig(**{**BASE, **kw})


# name -> (what it covers, config, stored dtype, sequence length L, old-style config.json)
CASES = {
    "llama_gqa": ("GQA (4 heads, 2 KV heads), untied, default RoPE", llama(), torch.float32, 37, False),
    "llama_mqa_tied": ("MQA (1 KV head), tied embeddings", llama(num_key_value_heads=1, tie_word_embeddings=True),
                       torch.float32, 29, False),
    "llama_head_dim": ("head_dim 20 != hidden/heads (48/3), MHA, rope_theta 500000, biases on attention and MLP",
                       llama(hidden_size=48, num_attention_heads=3, num_key_value_heads=3, head_dim=20,
                             attention_bias=True, mlp_bias=True, rope_parameters={"rope_type": "default",
                                                                                  "rope_theta": 500000.0}),
                       torch.float32, 23, False),
    "llama_rope_linear": ("RoPE linear scaling (factor 2), old-style config (rope_theta + rope_scaling)",
                          llama(rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}),
                          torch.float32, 31, True),
    "llama_rope_dynamic": ("RoPE dynamic NTK (factor 2, max_position_embeddings 24 < L = 40: the scaling is active)",
                           llama(max_position_embeddings=24,
                                 rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}),
                           torch.float32, 40, False),
    "llama_rope_llama3": ("RoPE llama3 (factor 8, low 1, high 4, original 16 positions), old-style config",
                          llama(rope_parameters={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 16,
                                                 "rope_theta": 10000.0}),
                          torch.float32, 33, True),
    "llama_rope_yarn": ("RoPE yarn (factor 4, original 32 positions, default betas; attention factor from factor)",
                        llama(rope_parameters={"rope_type": "yarn", "factor": 4.0,
                                               "original_max_position_embeddings": 32, "rope_theta": 10000.0}),
                        torch.float32, 35, False),
    "llama_long": ("300 tokens: longer than the attention tile and the prefill chunk", llama(), torch.float32, 300,
                   False),
    "llama_f16": ("llama_gqa's shape stored in F16", llama(), torch.float16, 37, False),
    "llama_bf16": ("llama_gqa's shape stored in BF16", llama(), torch.bfloat16, 37, False),
    "mistral_window": ("mistral with sliding_window 8 < L = 30", MistralConfig(**{**BASE, "sliding_window": 8}),
                       torch.float32, 30, False),
    "qwen2_bias": ("qwen2: q/k/v biases, tied embeddings, rope_theta 1e6",
                   Qwen2Config(**{**BASE, "tie_word_embeddings": True,
                                  "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}}),
                   torch.float32, 27, False),
}


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Weights in a realistic range (std ~1/sqrt(fan_in) x gain) so attention is not uniform and greedy output
    varies; norms around 1; biases small."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "lm_head" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (1.5 / p.shape[-1] ** 0.5))


def old_style_config(path: Path) -> None:
    """Rewrites config.json the way checkpoints saved by transformers 4 have it: rope_theta at the top level and
    the scaling in rope_scaling ({"type" or "rope_type": ..., "factor": ...})."""
    cfg = json.loads(path.read_text())
    rope = dict(cfg.pop("rope_parameters"))
    cfg["rope_theta"] = rope.pop("rope_theta")
    kind = rope.pop("rope_type")
    cfg["rope_scaling"] = None if kind == "default" else {"type" if kind == "linear" else "rope_type": kind, **rope}
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def greedy_with_margin(model, vocab: int, seed: int):
    """A prompt whose greedy continuation has a clear winner at every step, and that continuation."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(50):
        prompt = torch.randint(3, vocab, (1, 7), generator=g)
        ids = prompt
        margins = []
        with torch.no_grad():
            for _ in range(8):
                logits = model(ids).logits[0, -1]
                top = torch.topk(logits, 2).values
                margins.append(float(top[0] - top[1]))
                ids = torch.cat([ids, logits.argmax().view(1, 1)], dim=1)
            generated = model.generate(prompt, max_new_tokens=8, do_sample=False, eos_token_id=None,
                                       pad_token_id=0, min_new_tokens=8)
        assert torch.equal(generated[0, 7:], ids[0, 7:]), "generate() disagrees with the argmax loop"
        if min(margins) >= MIN_GREEDY_MARGIN:
            return prompt[0], ids[0, 7:]
    raise RuntimeError("no prompt with a clear greedy continuation")


def check_cached_decode(model, ids: torch.Tensor, logits: torch.Tensor) -> None:
    """Prefill half, then one token at a time through the KV cache: equal to the full forward."""
    half = ids.shape[1] // 2
    with torch.no_grad():
        out = model(ids[:, :half], use_cache=True)
        cache = out.past_key_values
        rows = [out.logits]
        for t in range(half, ids.shape[1]):
            out = model(ids[:, t:t + 1], past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            rows.append(out.logits)
    stepped = torch.cat(rows, dim=1)
    diff = float((stepped - logits).abs().max())
    assert diff <= STEP_TOL, f"cached decode differs from the full forward by {diff}"


def make_case(name: str, what: str, config, dtype: torch.dtype, length: int, old_style: bool, seed: int) -> dict:
    d = OUT / name
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    randomize(model, seed)
    model.to(dtype).save_pretrained(d, safe_serialization=True)
    for extra in ("generation_config.json",):
        (d / extra).unlink(missing_ok=True)
    if old_style:
        old_style_config(d / "config.json")
    # The reference: the written files, reloaded, computed in float32.
    ref = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, config.vocab_size, (2, length), generator=g)
    with torch.no_grad():
        logits = ref(ids).logits.float()
    # Dynamic NTK recomputes the frequencies from the longest position of each call, so keys cached while the
    # sequence was short keep the old rotation: cached decoding legitimately differs from one full forward there.
    if config.rope_parameters.get("rope_type") != "dynamic":
        check_cached_decode(ref, ids, logits)
    prompt, greedy = greedy_with_margin(ref, config.vocab_size, seed + 2)
    save_file({"input_ids": ids.to(torch.int32).contiguous(), "logits": logits.contiguous(),
               "prompt": prompt.to(torch.int32).contiguous(), "greedy": greedy.to(torch.int32).contiguous()},
              str(d / "expected.safetensors"))
    return {"what": what, "weights_dtype": {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[dtype],
            "old_style_config": old_style, "length": length, "batch": 2,
            "config": json.loads((d / "config.json").read_text()),
            "files": {f.name: f.stat().st_size for f in sorted(d.iterdir())}}


def make_lora(base: Path, seed: int) -> dict:
    """Two PEFT LoRA adapters on `base` and peft's logits with each (factors random, lora_B nonzero)."""
    import warnings

    from peft import LoraConfig, get_peft_model

    d = OUT / "lora"
    configs = {
        "a": LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                           "up_proj", "down_proj", "embed_tokens", "lm_head"]),
        "b": LoraConfig(r=2, lora_alpha=3, use_rslora=True, target_modules=["q_proj", "v_proj", "down_proj"],
                        alpha_pattern={"down_proj": 5}),
    }
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 101, (2, 19), generator=g)
    out = {"input_ids": ids.to(torch.int32)}
    for name, lc in configs.items():
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="eager").eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = get_peft_model(model, lc)
        with torch.no_grad():
            for pname, p in pm.named_parameters():
                if "lora_" not in pname:
                    continue
                fan_in = p[0].numel()
                if "lora_embedding_A" in pname:
                    p.copy_(torch.randn(p.shape, generator=g))
                elif "lora_embedding_B" in pname:
                    p.copy_(torch.randn(p.shape, generator=g) * (0.2 / fan_in ** 0.5))
                else:
                    p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            out[f"logits_{name}"] = pm(ids).logits.float()
        pm.peft_config["default"].base_model_name_or_path = "../llama_gqa"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm.save_pretrained(str(d / "adapters" / name))
        for f in (d / "adapters" / name).iterdir():
            if f.name not in ("adapter_config.json", "adapter_model.safetensors"):
                f.unlink()
    with torch.no_grad():
        base_model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="eager")
        base_logits = base_model.eval()(ids).logits.float()
    for name in configs:
        change = float((out[f"logits_{name}"] - base_logits).abs().max())
        assert change > 1e-2, f"adapter {name} barely changes the logits ({change})"
    save_file({k: v.contiguous() for k, v in out.items()}, str(d / "expected.safetensors"))
    return {"what": "peft LoRA adapters on llama_gqa: a = r4 on every linear + embed_tokens + lm_head, "
                    "b = r2 rslora with alpha_pattern on q/v/down", "peft": __import__("peft").__version__}


def main() -> int:
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():  # everything this script writes; README.md is written by hand
        if old.is_dir():
            shutil.rmtree(old)
        elif old.name != "README.md":
            old.unlink()
    manifest = {"generator": "tools/gen_llama_fixtures.py", "transformers": transformers.__version__,
                "torch": torch.__version__, "attention": "eager, float32",
                "tolerance": "logits: max abs diff <= 1e-5 x max(1, max |logit|) for F32 and for F16/BF16 stored "
                             "weights upcast; greedy tokens exact",
                "cases": {}}
    for i, (name, (what, config, dtype, length, old_style)) in enumerate(CASES.items()):
        manifest["cases"][name] = make_case(name, what, config, dtype, length, old_style, seed=1000 + 17 * i)
        print(f"{name}: {what}")
    manifest["lora"] = make_lora(OUT / "llama_gqa", seed=4242)
    print("lora: adapters a and b on llama_gqa")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
