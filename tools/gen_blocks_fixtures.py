#!/usr/bin/env python3
"""Reference outputs of PyTorch for Krait's shared building blocks (sdk/models/blocks.h).

Writes tests/fixtures/blocks/expected.safetensors, read by tests/unit/blocks_test.cpp, which runs the same
inputs through Krait and compares. The point is to check the *semantics* of the blocks against PyTorch itself
(the unit tests also compare each optimised kernel with its own plain reference):

  ln_<case>_{x,weight,bias,y}      torch.nn.functional.layer_norm (eps in ln_<case>_eps)
  act_x, act_<kind>                 F.gelu (erf and tanh), quick_gelu (x * sigmoid(1.702 x)), F.silu, F.relu
  attn_<case>_*                     q/k/v (or fused qkv) projections, F.scaled_dot_product_attention over
                                    [S, heads, T, head_dim] (is_causal for the causal case), out projection
  conv_<case>_*                     F.conv2d; params = [stride, padding, groups]
  convbn_*                          F.conv2d then F.batch_norm(training=False): checks fold_batch_norm

Usage: tools/setup_tools_env.sh    # once: creates .venv/ from tools/requirements-tools.txt
       .venv/bin/python tools/gen_blocks_fixtures.py    (a second, seconds on one core)
Fixed seeds and a stable byte layout: a rerun with the same library versions reproduces every byte.
"""
import json
import struct
from pathlib import Path

import torch
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "blocks"


def st_encode(header: dict, buf: bytes) -> bytes:
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + buf


def write_safetensors(path: Path, tensors: dict, metadata: dict) -> None:
    """Tensors in name order, metadata sorted (safetensors' save_file orders __metadata__ by hash)."""
    st_name = {torch.float32: "F32", torch.int32: "I32"}
    header = {"__metadata__": dict(sorted(metadata.items()))}
    buf = bytearray()
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": st_name[t.dtype], "shape": list(t.shape), "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    path.write_bytes(st_encode(header, bytes(buf)))


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    t = {}

    # ---- LayerNorm: odd width, ViT width with ViT's eps -----------------------------------------
    for name, rows, dim, eps in [("odd", 6, 77, 1e-6), ("vit", 3, 768, 1e-12)]:
        x = torch.randn(rows, dim) * 2 + 0.5
        w = torch.randn(dim) * 0.5 + 1
        b = torch.randn(dim) * 0.1
        t[f"ln_{name}_x"], t[f"ln_{name}_weight"], t[f"ln_{name}_bias"] = x, w, b
        t[f"ln_{name}_eps"] = torch.tensor([eps], dtype=torch.float32)
        t[f"ln_{name}_y"] = F.layer_norm(x, (dim,), w, b, eps)

    # ---- Activations: a dense sweep plus random values ----------------------------------------
    x = torch.cat([torch.linspace(-12, 12, 2401), torch.randn(999) * 3])
    t["act_x"] = x
    t["act_gelu_erf"] = F.gelu(x)
    t["act_gelu_tanh"] = F.gelu(x, approximate="tanh")
    t["act_quick_gelu"] = x * torch.sigmoid(1.702 * x)
    t["act_silu"] = F.silu(x)
    t["act_relu"] = F.relu(x)

    # ---- Self-attention -------------------------------------------------------------------------
    def attention(x, S, T, H, hd, q, k, v, o, causal):
        def heads(z):  # [S*T, H*hd] -> [S, H, T, hd]
            return z.view(S, T, H, hd).transpose(1, 2)
        a = F.scaled_dot_product_attention(heads(q(x)), heads(k(x)), heads(v(x)), is_causal=causal)
        return o(a.transpose(1, 2).reshape(S * T, H * hd))

    for name, S, T, H, hd, fused, bias, causal in [
        ("sep", 3, 37, 4, 12, False, True, False),     # HF ViT style: separate projections with biases
        ("fused", 5, 50, 2, 16, True, True, False),    # timm/MambaVision style: one qkv linear
        ("causal", 2, 20, 3, 8, False, False, True),   # Llama style: causal, no biases
    ]:
        dim = H * hd
        x = torch.randn(S * T, dim)
        t[f"attn_{name}_x"] = x
        t[f"attn_{name}_shape"] = torch.tensor([S, T, H, hd, int(causal)], dtype=torch.int32)
        lin = {}
        for p, out in ([("qkv", 3 * dim)] if fused else [("q", dim), ("k", dim), ("v", dim)]) + [("o", dim)]:
            w = torch.randn(out, dim) / dim ** 0.5
            t[f"attn_{name}_{p}_weight"] = w
            if bias:
                b = torch.randn(out) * 0.1
                t[f"attn_{name}_{p}_bias"] = b
            lin[p] = (lambda z, w=w, b=(b if bias else None): F.linear(z, w, b))
        if fused:
            q = lambda z: lin["qkv"](z)[:, :dim]
            k = lambda z: lin["qkv"](z)[:, dim:2 * dim]
            v = lambda z: lin["qkv"](z)[:, 2 * dim:]
        else:
            q, k, v = lin["q"], lin["k"], lin["v"]
        with torch.no_grad():
            t[f"attn_{name}_y"] = attention(x, S, T, H, hd, q, k, v, lin["o"], causal)

    # ---- Conv2d ---------------------------------------------------------------------------------
    for name, B, cin, cout, H, W, kh, kw, stride, pad, groups, bias in [
        ("grouped", 2, 6, 4, 11, 9, 3, 3, 2, 1, 2, True),
        ("depthwise", 2, 5, 5, 8, 7, 3, 3, 1, 1, 5, True),
        ("patch", 2, 3, 8, 32, 48, 16, 16, 16, 0, 1, True),
        ("pointwise", 1, 7, 9, 5, 6, 1, 1, 1, 0, 1, False),
        ("stem", 1, 3, 8, 23, 20, 3, 3, 2, 1, 1, True),
    ]:
        x = torch.randn(B, cin, H, W)
        w = torch.randn(cout, cin // groups, kh, kw) * 0.3
        b = torch.randn(cout) * 0.1 if bias else None
        t[f"conv_{name}_x"], t[f"conv_{name}_weight"] = x, w
        if bias:
            t[f"conv_{name}_bias"] = b
        t[f"conv_{name}_params"] = torch.tensor([stride, pad, groups], dtype=torch.int32)
        t[f"conv_{name}_y"] = F.conv2d(x, w, b, stride=stride, padding=pad, groups=groups)

    # ---- Conv2d (no bias) followed by an eval-mode BatchNorm ------------------------------------
    x = torch.randn(2, 4, 9, 10)
    w = torch.randn(6, 4, 3, 3) * 0.3
    gamma, beta = torch.randn(6) * 0.5 + 1, torch.randn(6) * 0.2
    mean, var = torch.randn(6) * 0.3, torch.rand(6) * 2 + 0.1
    t.update(convbn_x=x, convbn_weight=w, convbn_gamma=gamma, convbn_beta=beta, convbn_mean=mean, convbn_var=var)
    t["convbn_y"] = F.batch_norm(F.conv2d(x, w, None, stride=1, padding=1), mean, var, gamma, beta, training=False,
                                 eps=1e-5)

    OUT.mkdir(parents=True, exist_ok=True)
    write_safetensors(OUT / "expected.safetensors", t, {"torch": torch.__version__})
    print(f"wrote {OUT / 'expected.safetensors'}: {len(t)} tensors")


if __name__ == "__main__":
    main()
