#!/usr/bin/env python3
"""Train Krait's two demo vision-language assistants on generated pictures of coloured shapes, on the CPU.

Both answer questions about the same kind of picture, through the two ways Krait places image rows:
  models/shapes-mamba-assistant/  a composite assistant (docs/COMPOSITE_ASSISTANTS.md, model_type
                                  "krait_assistant"): a tiny MambaVision image encoder (tools/mambavision_ref.py,
                                  its output: the last level's 2x2 map = 4 rows of 256), a projector (Linear, GELU,
                                  Linear) and a tiny Mamba language model (transformers' MambaForCausalLM); the
                                  image rows come first, then the whole rendered conversation (Cobra's placement,
                                  "prefix");
  models/shapes-llava/            the same data through the LLaVA layout: transformers' LlavaForConditionalGeneration
                                  with a tiny CLIP vision tower and a tiny Llama; the chat template writes <image>,
                                  expanded to one token per image row as LlavaProcessor does ("marker").

Data (generated here; nothing is downloaded, no licence is needed): 64x64 RGB pictures of 1-3 shapes (circle,
square, triangle: at most one of each) in four colours (red, green, blue, yellow), each in its own cell of a 2x2 grid
(top left, top right, bottom left, bottom right), on a white or light background; size, place inside the cell and
colour shade vary a little. Conversations of 1-3 user turns; the picture is attached to the first user message.
Questions about
  - colour:    "What colour is the circle?"            -> "The circle is red."  /  "There is no circle."
  - shape:     "What is at the top left?"              -> "There is a red circle at the top left." / "There is
                                                          nothing at the top left."
  - count:     "How many shapes are there?"            -> "There are two shapes."
               "How many red shapes are there?"        -> "There is one red shape." / "There are no red shapes."
  - position:  "Where is the square?"                  -> "The square is at the bottom right."
               "Where is the blue square?"             -> "The blue square is at the bottom right." / "There is no
                                                          blue square." (also when the square has another colour)
and follow-ups that refer to the previous turn: "And where is it?", "And what colour is it?" (the shape of the
previous turn), "What about the triangle?" (the previous question about another shape), "What about the bottom
left?", "What about the green square?", "And how many are red?", "What about the blue ones?". Every reply is a
deterministic sentence of the picture and the conversation, so a reply is right or wrong (exact match).

Chat template (stored as `chat_template` in tokenizer_config.json; <|endoftext|> <|user|> <|assistant|> <|end|>
<|system|> <image> are added special tokens, <|end|> ends a turn and is the EOS):
  <|endoftext|><|user|>What colour is the circle?<|end|><|assistant|>The circle is red.<|end|><|user|>...
A message's content is a string or a list of parts ({"type": "image"}, {"type": "text", "text": ...}); only the LLaVA
template writes <image> for an image part, the composite assistant's writes nothing for it (its rows come first).

Forward passes trained (the reference semantics):
  mamba:  rows = projector(encoder_features(pixels)) [4, 128]; logits = MambaForCausalLM(inputs_embeds =
          cat[rows, embed(ids of the rendered conversation)]).  encoder_features: MambaVision's stem, all four
          levels and the final BatchNorm, token-major (row-major positions): the encoder's output (no
          "feature_level"; --mv-feature-level 0-2 takes an earlier level's map instead).
  llava:  LlavaForConditionalGeneration(input_ids with <image> repeated 64 times, pixel_values).
Pixels are exactly what Krait's preprocessing makes of a 64x64 picture: no resize (the picture is already the input
size), rescale 1/255, normalise with the config's mean/std (ImageNet's for MambaVision, CLIP's for the LLaVA).
Loss on the assistant replies and their <|end|> only.

Split: training pictures and conversations come from an endless stream (seed --seed, each step its own draw), the
validation set (watched during training) from seed + 2000 and the held-out set from seed + 1000; the training
stream rejects any picture identical to a held-out, validation or sample picture. Held-out accuracy: exact match of
each assistant reply under greedy decoding given the reference history, on --heldout-conversations conversations,
measured on the saved files reloaded (the Mamba assistant with transformers' own sequential scan; training uses an
equivalent, faster scan, checked against it at start). The first --saved-conversations held-out conversations are
written next to each model as heldout.jsonl (one line per reply: the picture file under heldout/, the messages so
far, the expected reply), replayed through Krait by tests/python/test_assistant_demo.py. Two more held-out pictures
are written as models/samples/shapes_1.png and shapes_2.png for the README demo. The script fails (exit status 1)
if a held-out accuracy is below 90% or a model directory exceeds 25 MB.

Steps: data and tokenizer; then per model: train (AdamW, warm-up, cosine decay), save, reload, greedy held-out
evaluation, held-out files and model card; then the sample pictures.

    tools/setup_tools_env.sh                          # once: creates .venv/ from tools/requirements-tools.txt
    .venv/bin/python tools/train_demo_assistant.py    # both models + samples; defaults reproduce models/
    .venv/bin/python tools/train_demo_assistant.py --model llava    # only one of them

Runs on CPU with torch.set_num_threads(1) (the development machine is a shared 2-core VM): about 16 minutes for
the Mamba assistant (1200 steps) and 23 for the LLaVA one (2400 steps), evaluation included.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import pathlib
import platform
import random
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

SIZE = 64
SHAPES = ["circle", "square", "triangle"]
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30)}
COLOUR_NAMES = list(COLOURS)
CELLS = ["top left", "top right", "bottom left", "bottom right"]
NUMBERS = ["no", "one", "two", "three"]
MAX_BYTES = 25 * 1024 * 1024
MIN_ACCURACY = 0.90

BOS, USER, ASSISTANT, END, SYSTEM, IMAGE = "<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>", "<|system|>", "<image>"
SPECIALS = [BOS, USER, ASSISTANT, END, SYSTEM, IMAGE]


def chat_template(image_marker: str) -> str:
    """The template of both models; image parts render as `image_marker` ('' for prefix placement)."""
    image = "{{ '" + image_marker + "' }}" if image_marker else ""
    return (
        "{{ bos_token }}"
        "{% for message in messages %}"
        "{{ '<|' + message['role'] + '|>' }}"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}" + image + "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
        "{% endfor %}{% endif %}"
        "{{ '<|end|>' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
    )


PREFIX_TEMPLATE = chat_template("")
MARKER_TEMPLATE = chat_template(IMAGE)

# The README demo: two held-out pictures drawn from fixed scenes, and two questions about the first.
SAMPLE_SCENES = {
    "shapes_1.png": [("circle", "red", 0), ("square", "blue", 3), ("triangle", "yellow", 1)],
    "shapes_2.png": [("triangle", "green", 2), ("square", "red", 1)],
}
DEMO_QUESTIONS = [("What colour is the circle?", "The circle is red."),
                  ("And where is it?", "The circle is at the top left.")]
DEMO_QUESTIONS_2 = [("How many shapes are there?", "There are two shapes."),
                    ("What is at the bottom left?", "There is a green triangle at the bottom left.")]


# ----------------------------------------------------------------------------------------------------------------
# Pictures
# ----------------------------------------------------------------------------------------------------------------
def make_scene(rng: random.Random) -> list[dict]:
    """1-3 objects, distinct shapes in distinct cells: [{"shape", "colour", "cell"}]."""
    n = rng.choice([1, 2, 2, 3, 3, 3])
    cells = rng.sample(range(4), n)
    shapes = rng.sample(SHAPES, n)
    return [{"shape": s, "colour": rng.choice(COLOUR_NAMES), "cell": c} for s, c in zip(shapes, cells)]


def draw(rng: random.Random, scene: list[dict]) -> np.ndarray:
    """The scene as a uint8 RGB picture [SIZE, SIZE, 3]: drawn at 4x and reduced with Lanczos (smooth edges)."""
    from PIL import Image, ImageDraw

    light = rng.random() < 0.5
    bg = tuple(rng.randint(225, 255) for _ in range(3)) if light else (255, 255, 255)
    k = 4
    im = Image.new("RGB", (SIZE * k, SIZE * k), bg)
    d = ImageDraw.Draw(im)
    half = SIZE // 2
    for o in scene:
        row, col = divmod(o["cell"], 2)
        s = rng.randint(14, 24)
        x0 = col * half + rng.randint(2, half - 2 - s)
        y0 = row * half + rng.randint(2, half - 2 - s)
        fill = tuple(max(0, min(255, v + rng.randint(-25, 25))) for v in COLOURS[o["colour"]])
        box = [k * x0, k * y0, k * (x0 + s), k * (y0 + s)]
        if o["shape"] == "circle":
            d.ellipse(box, fill=fill)
        elif o["shape"] == "square":
            d.rectangle(box, fill=fill)
        else:
            d.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) / 2, box[1])], fill=fill)
    return np.asarray(im.resize((SIZE, SIZE), Image.LANCZOS), dtype=np.uint8).copy()


def picture_key(pic: np.ndarray) -> str:
    return hashlib.sha1(pic.tobytes()).hexdigest()


def save_png(pic: np.ndarray, path: pathlib.Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pic, mode="RGB").save(path, optimize=True)
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), pic)


def pixel_values(pics: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 [N,H,W,3] -> float32 [N,3,H,W]: rescale 1/255 then (x - mean) / std (the HF / timm order)."""
    x = torch.from_numpy(pics).permute(0, 3, 1, 2).float() * (1.0 / 255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


# ----------------------------------------------------------------------------------------------------------------
# Questions and answers
# ----------------------------------------------------------------------------------------------------------------
def find(scene, shape):
    return next((o for o in scene if o["shape"] == shape), None)


def answer(scene: list[dict], q: tuple) -> str:
    """The one right reply to question q = (kind, argument...)."""
    kind = q[0]
    if kind == "colour":
        o = find(scene, q[1])
        return f"The {q[1]} is {o['colour']}." if o else f"There is no {q[1]}."
    if kind == "where":
        o = find(scene, q[1])
        return f"The {q[1]} is at the {CELLS[o['cell']]}." if o else f"There is no {q[1]}."
    if kind == "where_col":
        _, colour, shape = q
        o = find(scene, shape)
        if o and o["colour"] == colour:
            return f"The {colour} {shape} is at the {CELLS[o['cell']]}."
        return f"There is no {colour} {shape}."
    if kind == "what_at":
        o = next((o for o in scene if o["cell"] == q[1]), None)
        if o is None:
            return f"There is nothing at the {CELLS[q[1]]}."
        return f"There is a {o['colour']} {o['shape']} at the {CELLS[q[1]]}."
    if kind == "count":
        n = len(scene)
        return "There is one shape." if n == 1 else f"There are {NUMBERS[n]} shapes."
    if kind == "count_col":
        n = sum(o["colour"] == q[1] for o in scene)
        return f"There is one {q[1]} shape." if n == 1 else f"There are {NUMBERS[n]} {q[1]} shapes."
    raise ValueError(q)


FRESH = {
    "colour": ["What colour is the {s}?", "Which colour is the {s}?"],
    "where": ["Where is the {s}?"],
    "where_col": ["Where is the {c} {s}?"],
    "what_at": ["What is at the {p}?", "What shape is at the {p}?"],
    "count": ["How many shapes are there?", "How many shapes can you see?"],
    "count_col": ["How many {c} shapes are there?"],
}
FRESH_KINDS = ["colour", "colour", "where", "where", "where_col", "what_at", "what_at", "count", "count_col",
               "count_col"]


def pick_shape(rng, scene, avoid=None):
    """Mostly a shape of the picture, sometimes one it lacks."""
    present = [o["shape"] for o in scene if o["shape"] != avoid]
    others = [s for s in SHAPES if s != avoid]
    return rng.choice(present) if present and rng.random() < 0.75 else rng.choice(others)


def pick_colour(rng, scene, avoid=None):
    present = sorted({o["colour"] for o in scene} - {avoid}, key=COLOUR_NAMES.index)
    others = [c for c in COLOUR_NAMES if c != avoid]
    return rng.choice(present) if present and rng.random() < 0.6 else rng.choice(others)


def fresh_question(rng, scene) -> tuple[tuple, str]:
    kind = rng.choice(FRESH_KINDS)
    if kind in ("colour", "where"):
        s = pick_shape(rng, scene)
        return (kind, s), rng.choice(FRESH[kind]).format(s=s)
    if kind == "where_col":
        if rng.random() < 0.6:
            o = rng.choice(scene)
            c, s = o["colour"], o["shape"]
        else:
            c, s = rng.choice(COLOUR_NAMES), rng.choice(SHAPES)
        return (kind, c, s), rng.choice(FRESH[kind]).format(c=c, s=s)
    if kind == "what_at":
        p = rng.randrange(4)
        return (kind, p), rng.choice(FRESH[kind]).format(p=CELLS[p])
    if kind == "count":
        return (kind,), rng.choice(FRESH[kind])
    c = pick_colour(rng, scene)
    return (kind, c), rng.choice(FRESH[kind]).format(c=c)


def follow_up(rng, scene, prev: tuple) -> tuple[tuple, str] | None:
    """A question that refers to the previous one (None: no follow-up fits)."""
    kind = prev[0]
    options = []
    if kind in ("colour", "where"):
        if find(scene, prev[1]):
            other = "where" if kind == "colour" else "colour"
            text = "And where is it?" if other == "where" else "And what colour is it?"
            options.append(((other, prev[1]), text))
        s = pick_shape(rng, scene, avoid=prev[1])
        options.append(((kind, s), rng.choice(["What about the {s}?", "And the {s}?"]).format(s=s)))
    elif kind == "where_col":
        if rng.random() < 0.5:
            o = rng.choice(scene)
            c, s = o["colour"], o["shape"]
        else:
            c, s = rng.choice(COLOUR_NAMES), rng.choice(SHAPES)
        if (c, s) != prev[1:]:
            options.append((("where_col", c, s), f"What about the {c} {s}?"))
    elif kind == "what_at":
        o = next((o for o in scene if o["cell"] == prev[1]), None)
        if o:
            options.append((("colour", o["shape"]), "And what colour is it?"))
        p = rng.choice([p for p in range(4) if p != prev[1]])
        options.append((("what_at", p), rng.choice(["What about the {p}?", "And the {p}?"]).format(p=CELLS[p])))
    elif kind == "count":
        c = pick_colour(rng, scene)
        options.append((("count_col", c), f"And how many are {c}?"))
    elif kind == "count_col":
        c = pick_colour(rng, scene, avoid=prev[1])
        options.append((("count_col", c), rng.choice(["What about the {c} ones?", "And the {c} ones?"]).format(c=c)))
    return rng.choice(options) if options else None


def make_conversation(rng: random.Random, scene: list[dict], turns: int) -> list[dict]:
    """Messages in transformers' chat format; the picture is an image part of the first user message."""
    msgs, prev = [], None
    for t in range(turns):
        q = follow_up(rng, scene, prev) if prev is not None and rng.random() < 0.75 else None
        if q is None:
            q = fresh_question(rng, scene)
        spec, text = q
        content = [{"type": "image"}, {"type": "text", "text": text}] if t == 0 else text
        msgs.append({"role": "user", "content": content})
        msgs.append({"role": "assistant", "content": answer(scene, spec)})
        prev = spec
    return msgs


TURN_WEIGHTS = [1, 2, 2]  # conversations of 1, 2, 3 user turns


def draw_example(rng: random.Random, turns: int | None = None) -> tuple[list[dict], np.ndarray, list[dict]]:
    scene = make_scene(rng)
    pic = draw(rng, scene)
    if turns is None:
        turns = rng.choices([1, 2, 3], weights=TURN_WEIGHTS)[0]
    return scene, pic, make_conversation(rng, scene, turns)


def example_set(seed: int, n: int, exclude: set[str]) -> list[tuple]:
    rng, out = random.Random(seed), []
    while len(out) < n:
        ex = draw_example(rng)
        if picture_key(ex[1]) not in exclude:
            out.append(ex)
    return out


def sample_pictures(seed: int) -> dict[str, np.ndarray]:
    rng = random.Random(seed)
    return {name: draw(rng, [{"shape": s, "colour": c, "cell": p} for s, c, p in objs])
            for name, objs in SAMPLE_SCENES.items()}


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------------------------------------------
def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE (GPT-2 regex, no prefix space); the specials are ids 0..5 and added tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    assert [tok.token_to_id(t) for t in SPECIALS] == list(range(len(SPECIALS)))
    # No post-processor: encoding adds nothing, the chat template writes every special token itself. The Python
    # ByteLevel decoder constructor serializes add_prefix_space=true; write the fields explicitly.
    spec = json.loads(tok.to_str())
    spec["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return Tokenizer.from_str(json.dumps(spec))


def make_hf_tokenizer(tok, template: str):
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=END, pad_token=BOS,
                                   unk_token=None, model_max_length=512, chat_template=template,
                                   extra_special_tokens={"image_token": IMAGE})


def save_tokenizer(hf_tok, out: pathlib.Path, template: str) -> None:
    hf_tok.save_pretrained(out)
    tc_path = out / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text())
    # transformers 5 writes its internal class name "TokenizersBackend"; the public name also loads in 4.x.
    tc["tokenizer_class"] = "PreTrainedTokenizerFast"
    tc["chat_template"] = template  # kept in tokenizer_config.json (transformers 5 may write a .jinja file)
    tc_path.write_text(json.dumps(tc, indent=2) + "\n")
    (out / "chat_template.jinja").unlink(missing_ok=True)


def encode(hf_tok, msgs: list[dict], image_rows: int = 0) -> tuple[list[int], list[int]]:
    """Ids of the rendered conversation and labels: the assistant replies and their <|end|>, -100 elsewhere.
    With image_rows, each <image> token is repeated that many times (as LlavaProcessor expands it)."""
    text = hf_tok.apply_chat_template(msgs, tokenize=False)
    ids = hf_tok(text, add_special_tokens=False).input_ids
    if image_rows:
        image_id = SPECIALS.index(IMAGE)
        ids = [j for i in ids for j in ([i] * image_rows if i == image_id else [i])]
    assistant, end = SPECIALS.index(ASSISTANT), SPECIALS.index(END)
    labels, inside = [], False
    for i in ids:
        labels.append(i if inside else -100)
        if i == assistant:
            inside = True
        elif i == end:
            inside = False
    return ids, labels


def prompt_messages(msgs: list[dict]) -> list[tuple[int, list[dict], str]]:
    """(turn, messages up to the user question, expected reply) for each assistant reply."""
    return [(t // 2 + 1, msgs[:t + 1], msgs[t + 1]["content"]) for t in range(0, len(msgs), 2)]


# ----------------------------------------------------------------------------------------------------------------
# Training, shared
# ----------------------------------------------------------------------------------------------------------------
def collate(items, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded [B, L] ids and labels (padding after every real token: causal models need no mask)."""
    n = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), n), pad_id, dtype=torch.long)
    labels = torch.full((len(items), n), -100, dtype=torch.long)
    for i, (a, b) in enumerate(items):
        ids[i, :len(a)] = torch.tensor(a)
        labels[i, :len(b)] = torch.tensor(b)
    return ids, labels


def reply_accuracy(pred: torch.Tensor, tgt: torch.Tensor) -> tuple[int, int]:
    """(right, total) replies: a reply is a run of labelled positions, right if every argmax is its label."""
    right = total = 0
    for r in range(tgt.shape[0]):
        mask, ok = (tgt[r] != -100).tolist(), (pred[r] == tgt[r]).tolist()
        run_ok, inside = True, False
        for m, o in zip(mask, ok):
            if m:
                run_ok, inside = (run_ok and o) if inside else o, True
            elif inside:
                right, total, inside = right + run_ok, total + 1, False
        if inside:
            right, total = right + run_ok, total + 1
    return right, total


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(named_params, lr: float, weight_decay: float):
    decay, no_decay = [], []
    for name, p in named_params:
        if not p.requires_grad:
            continue
        plain = p.ndim < 2 or "embed" in name or "position" in name or "A_log" in name
        (no_decay if plain else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))


def train_loop(name, params, opt, step_loss, validate, args, steps, log) -> dict:
    """Runs `steps` optimizer steps (step_loss(step) -> loss), validating every args.eval_every steps."""
    history, recent = [], []
    t0 = time.time()
    done, stopped_early = 0, False
    for step in range(steps):
        if time.time() - t0 > args.time_limit_min * 60:
            stopped_early = True
            log(f"{name}: time limit reached after {step} steps")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, args.lr, args.warmup)
        loss = step_loss(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        done = step + 1
        recent.append(loss.item())
        if done % args.log_every == 0 or done == steps:
            avg = sum(recent[-args.log_every:]) / len(recent[-args.log_every:])
            log(f"{name}: step {done}/{steps} loss {avg:.4f} lr {lr_at(step, steps, args.lr, args.warmup):.2e} "
                f"{(time.time() - t0) / done:.2f}s/step")
            history.append({"step": done, "train_loss": round(avg, 4)})
        if done % args.eval_every == 0 or done == steps:
            acc = validate()
            log(f"{name}: step {done} validation reply accuracy {100 * acc:.1f}% (teacher-forced argmax)")
            if history and history[-1]["step"] == done:
                history[-1]["val_accuracy"] = round(acc, 4)
            else:
                history.append({"step": done, "val_accuracy": round(acc, 4)})
    return {"steps": done, "stopped_early": stopped_early, "train_seconds": time.time() - t0, "history": history}


def dir_bytes(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def judge(examples, replies) -> dict:
    right = [r == ex["expected"] for ex, r in zip(examples, replies)]
    by_turn = {}
    for ex, ok in zip(examples, right):
        a, b = by_turn.get(ex["turn"], (0, 0))
        by_turn[ex["turn"]] = (a + ok, b + 1)
    later = [ok for ex, ok in zip(examples, right) if ex["turn"] > 1]
    return {"accuracy": sum(right) / len(right), "right": sum(right), "n": len(right),
            "later": sum(later) / max(1, len(later)), "by_turn": dict(sorted(by_turn.items())),
            "wrong": [(ex["messages"][-1]["content"] if isinstance(ex["messages"][-1]["content"], str)
                       else ex["messages"][-1]["content"][-1]["text"], ex["expected"], r)
                      for ex, r, ok in zip(examples, replies, right) if not ok]}


def heldout_examples(heldout) -> list[dict]:
    """One example per assistant reply of the held-out conversations."""
    out = []
    for ci, (scene, pic, msgs) in enumerate(heldout):
        for turn, prefix, expected in prompt_messages(msgs):
            out.append({"conversation": ci, "turn": turn, "messages": prefix, "expected": expected, "pic": pic,
                        "scene": scene})
    return out


def write_heldout(out: pathlib.Path, examples: list[dict], n_conversations: int) -> int:
    """heldout.jsonl + heldout/NNN.png for the first n_conversations held-out conversations."""
    shutil.rmtree(out / "heldout", ignore_errors=True)
    lines = []
    for ex in examples:
        if ex["conversation"] >= n_conversations:
            continue
        name = f"heldout/{ex['conversation']:03d}.png"
        if not (out / name).exists():
            save_png(ex["pic"], out / name)
        lines.append(json.dumps({"conversation": ex["conversation"], "turn": ex["turn"], "image": name,
                                 "messages": ex["messages"], "expected": ex["expected"]}, ensure_ascii=False))
    (out / "heldout.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


# ----------------------------------------------------------------------------------------------------------------
# The Mamba assistant (MambaVision + projector + Mamba LM, prefix placement)
# ----------------------------------------------------------------------------------------------------------------
MV_MEAN = (0.485, 0.456, 0.406)
MV_STD = (0.229, 0.224, 0.225)
N_CONTENT = 1 + len(SHAPES) * len(COLOURS)   # what a grid cell holds: nothing, or one shape in one colour


def feature_shape(cfg: dict, level: int | None) -> tuple[int, int]:
    """(rows, width) of the encoder features at SIZE x SIZE: the stem divides by 4, each downsample by 2."""
    lv = 3 if level is None else level
    return (SIZE // 4 // 2 ** lv) ** 2, cfg["dim"] * 2 ** lv


FACTS = ([("cell", i, N_CONTENT) for i in range(len(CELLS))]                # what each cell holds
         + [("shape_colour", s, 1 + len(COLOURS)) for s in SHAPES]          # each shape: absent or its colour
         + [("shape_cell", s, 1 + len(CELLS)) for s in SHAPES]              # each shape: absent or its cell
         + [("colour_count", c, 4) for c in COLOUR_NAMES]                   # how many shapes of each colour
         + [("count", None, 4)])                                           # how many shapes


def scene_facts(scene: list[dict]) -> list[int]:
    """The class of each of FACTS for a scene."""
    out = []
    for kind, arg, _ in FACTS:
        if kind == "cell":
            o = next((o for o in scene if o["cell"] == arg), None)
            out.append(0 if o is None else 1 + SHAPES.index(o["shape"]) * len(COLOURS) + COLOUR_NAMES.index(o["colour"]))
        elif kind == "shape_colour":
            o = find(scene, arg)
            out.append(0 if o is None else 1 + COLOUR_NAMES.index(o["colour"]))
        elif kind == "shape_cell":
            o = find(scene, arg)
            out.append(0 if o is None else 1 + o["cell"])
        elif kind == "colour_count":
            out.append(sum(o["colour"] == arg for o in scene))
        else:
            out.append(len(scene))
    return out


class SceneProbe(nn.Module):
    """Auxiliary head on the image feature rows (training only, not saved), linear. Mode "cell": each row says what
    the grid cell under it holds (nothing, or a shape in a colour) and which cell it is; mode "scene": each row says
    every fact of FACTS about the whole picture (what each cell holds, each shape's colour and cell, the counts)."""

    def __init__(self, width: int, rows: int, mode: str):
        super().__init__()
        side = int(round(rows ** 0.5))
        self.mode, self.rows = mode, rows
        self.cell_of = torch.tensor([(r // side * 2 // side) * 2 + (r % side) * 2 // side for r in range(rows)])
        self.sizes = [N_CONTENT, len(CELLS)] if mode == "cell" else [k for _, _, k in FACTS]
        self.linear = nn.Linear(width, sum(self.sizes))

    def targets(self, scenes) -> torch.Tensor:
        """[n, rows, facts]."""
        facts = torch.tensor([scene_facts(sc) for sc in scenes])
        if self.mode == "scene":
            return facts[:, None, :].expand(-1, self.rows, -1)
        content = facts[:, :len(CELLS)][:, self.cell_of]
        return torch.stack([content, self.cell_of.expand(len(scenes), -1)], dim=-1)

    def loss(self, feats: torch.Tensor, scenes) -> torch.Tensor:
        logits, tgt = self.linear(feats).split(self.sizes, dim=-1), self.targets(scenes)
        return sum(F.cross_entropy(lg.reshape(-1, lg.shape[-1]), tgt[..., i].reshape(-1))
                   for i, lg in enumerate(logits)) / len(self.sizes) * 2

    def hidden_loss(self, hidden: torch.Tensor, mask: torch.Tensor, scenes) -> torch.Tensor:
        """Mode "scene" on a language model's hidden states [n, L, H]: every position where mask [n, L] is true
        says every fact of its conversation's picture."""
        facts = torch.tensor([scene_facts(sc) for sc in scenes])[mask.nonzero()[:, 0]]
        logits = self.linear(hidden[mask]).split(self.sizes, dim=-1)
        return sum(F.cross_entropy(lg, facts[:, i]) for i, lg in enumerate(logits)) / len(self.sizes) * 2

    @torch.no_grad()
    def accuracy(self, feats: torch.Tensor, scenes) -> float:
        """Fraction of pictures whose every row says every fact right."""
        pred = torch.stack([lg.argmax(-1) for lg in self.linear(feats).split(self.sizes, dim=-1)], dim=-1)
        return (pred == self.targets(scenes)).flatten(1).all(-1).float().mean().item()


class _Scan(torch.autograd.Function):
    """Mamba's selective scan, time-major, with a hand-written backward (transformers' CPU fallback indexes one step
    at a time, which autograd makes quadratic): u, delta [L,b,d], A [d,n], B, C [L,b,n] -> y [L,b,d] with
    h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t, y_t = <h_t, C_t>."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C):
        L, b, d = u.shape
        n = A.shape[1]
        dA = torch.exp(delta[..., None] * A)                                   # L b d n
        states = (delta * u)[..., None] * B[:, :, None, :]                     # dB u, becomes h in place
        for t in range(1, L):
            states[t].addcmul_(dA[t], states[t - 1])
        y = torch.bmm(states.view(L * b, d, n), C.reshape(L * b, n, 1)).view(L, b, d)
        ctx.save_for_backward(u, delta, A, B, C, dA, states)
        return y

    @staticmethod
    def backward(ctx, gy):
        u, delta, A, B, C, dA, states = ctx.saved_tensors
        L, b, d = u.shape
        n = A.shape[1]
        gy = gy.contiguous()
        gh = gy[..., None] * C[:, :, None, :]                                  # d loss / d h_t, then summed back
        for t in range(L - 2, -1, -1):
            gh[t].addcmul_(dA[t + 1], gh[t + 1])
        gC = torch.bmm(gy.view(L * b, 1, d), states.view(L * b, d, n)).view(L, b, n)
        gdA = torch.empty_like(dA)                                             # d loss / d (delta A)
        gdA[0].zero_()
        torch.mul(gh[1:], states[:-1], out=gdA[1:])
        gdA.mul_(dA)
        gdelta = (gdA * A).sum(-1)
        gA = (gdA * delta[..., None]).sum((0, 1))
        gdu = torch.bmm(gh.view(L * b, d, n), B.reshape(L * b, n, 1)).view(L, b, d)   # d loss / d (delta u)
        gB = torch.bmm((delta * u).view(L * b, 1, d), gh.view(L * b, d, n)).view(L, b, n)
        return gdu * delta, gdelta + gdu * u, gA, gB, gC


def fast_selective_scan(hidden_states, dt, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                        return_last_state=False, **kwargs):
    """transformers' mamba_selective_scan (hidden_states, dt, z [b, d, L]; B, C [b, n, L]) through _Scan."""
    if return_last_state:
        raise NotImplementedError("the training scan keeps no state: call the model with use_cache=False")
    if delta_bias is not None:
        dt = dt + delta_bias.to(dt.dtype)[..., None]
    if delta_softplus:
        dt = F.softplus(dt)
    tm = lambda x: x.permute(2, 0, 1).contiguous().float()  # noqa: E731  [b, c, L] -> [L, b, c]
    y = _Scan.apply(tm(hidden_states), tm(dt), A.float().contiguous(), tm(B), tm(C)).permute(1, 2, 0)
    if D is not None:
        y = y + hidden_states * D[None, :, None]
    if z is not None:
        y = y * F.silu(z)
    return y


@contextlib.contextmanager
def fast_mamba_scan():
    import transformers.models.mamba.modeling_mamba as mm
    original = mm.mamba_selective_scan
    mm.mamba_selective_scan = fast_selective_scan
    try:
        yield
    finally:
        mm.mamba_selective_scan = original


def check_fast_scan(log) -> None:
    """The training scan against transformers' own (values and gradients, float64 inputs)."""
    import transformers.models.mamba.modeling_mamba as mm
    g = torch.Generator().manual_seed(0)
    b, d, L, n = 2, 6, 11, 4
    args = [torch.randn(b, d, L, generator=g, dtype=torch.float64), torch.randn(b, d, L, generator=g, dtype=torch.float64),
            -torch.rand(d, n, generator=g, dtype=torch.float64) * 2, torch.randn(b, n, L, generator=g, dtype=torch.float64),
            torch.randn(b, n, L, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64),
            torch.randn(b, d, L, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)]
    outs = []
    for fn in (mm.mamba_selective_scan, fast_selective_scan):
        a = [x.clone().requires_grad_() for x in args]
        y = fn(*a[:5], D=a[5], z=a[6], delta_bias=a[7], delta_softplus=True)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        outs.append([y.detach()] + [x.grad for x in a])
    err = max((p - q).abs().max().item() for p, q in zip(*outs))
    log(f"training scan vs transformers' mamba_selective_scan: max |diff| {err:.1e} (values and gradients)")
    assert err < 1e-4, err


def mv_config(args) -> dict:
    """The encoder's config.json: MambaVision at SIZE x SIZE with its preprocessing for Krait (mean/std/resolution;
    crop_pct 1.0 makes a SIZE x SIZE picture pass unresized)."""
    return {
        "architectures": ["MambaVisionModelForImageClassification"],
        "model_type": "mambavision",
        "dim": args.mv_dim,
        "in_dim": args.mv_in_dim,
        "depths": [1, 1, 2, 1],
        "num_heads": [2, 2, 4, 4],
        "window_size": [4, 4, 4, 2],
        "mlp_ratio": 4,
        "drop_path_rate": 0.0,
        "layer_scale": None,
        "layer_scale_conv": None,
        "num_classes": 2,   # the head is not used by the assistant (a classifier layout needs one)
        "id2label": {"0": "unused_0", "1": "unused_1"},
        "label2id": {"unused_0": 0, "unused_1": 1},
        "mean": list(MV_MEAN),
        "std": list(MV_STD),
        "crop_pct": 1.0,
        "crop_mode": "center",
        "interpolation": "bicubic",
        "resolution": SIZE,
    }


class MambaAssistant(nn.Module):
    """encoder features (feature_level) -> projector -> rows first, then the text (prefix placement)."""

    def __init__(self, encoder, projector, lm, feature_level: int | None):
        super().__init__()
        self.encoder, self.projector, self.lm, self.feature_level = encoder, projector, lm, feature_level

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """[n, 3, H, W] -> [n, h*w, C], token-major (row-major positions): with feature_level None the encoder's
        output (the last level, then the final BatchNorm), else the map after level `feature_level`'s blocks, before
        its downsample (docs/COMPOSITE_ASSISTANTS.md)."""
        m = self.encoder
        x = m.patch_embed(pixels)
        if self.feature_level is None:
            for lv in m.levels:
                x = lv(x)
            x = m.norm(x)
        else:
            for lv in m.levels[:self.feature_level]:
                x = lv(x)
            lv = m.levels[self.feature_level]
            ds, lv.downsample = lv.downsample, None
            try:
                x = lv(x)
            finally:
                lv.downsample = ds
        return x.flatten(2).transpose(1, 2)

    def rows(self, pixels):
        return self.projector(self.features(pixels))

    def logits(self, pixels, ids):
        """[B, R + L, V]: positions R.. are the text's."""
        emb = torch.cat([self.rows(pixels), self.lm.get_input_embeddings()(ids)], dim=1)
        return self.lm(inputs_embeds=emb, use_cache=False).logits

    @torch.no_grad()
    def greedy(self, pixels, ids: list[int], end_id: int, max_new: int) -> list[int]:
        rows = self.rows(pixels)
        emb_table = self.lm.get_input_embeddings()
        out = []
        for _ in range(max_new):
            seq = torch.tensor([ids + out])
            emb = torch.cat([rows, emb_table(seq)], dim=1)
            nxt = int(self.lm(inputs_embeds=emb, use_cache=False).logits[0, -1].argmax())
            out.append(nxt)
            if nxt == end_id:
                break
        return out


def train_mamba(args, data, tok, log) -> dict:
    import mambavision_ref as ref
    import transformers
    from safetensors.torch import load_file, save_file
    from transformers import GenerationConfig, MambaConfig, MambaForCausalLM

    t_start = time.time()
    out = pathlib.Path(args.out_mamba)
    hf_tok = make_hf_tokenizer(tok, PREFIX_TEMPLATE)
    end_id = SPECIALS.index(END)
    check_fast_scan(log)
    torch.manual_seed(args.seed)
    cfg = mv_config(args)
    encoder = ref.MambaVision(cfg).float()
    level = None if args.mv_feature_level < 0 else args.mv_feature_level
    rows_per_image, feat_dim = feature_shape(cfg, level)
    where = "the encoder's output" if level is None else f"level {level}"
    lm_config = MambaConfig(vocab_size=tok.get_vocab_size(), hidden_size=args.mamba_hidden,
                            num_hidden_layers=args.mamba_layers, state_size=args.mamba_state, expand=2, conv_kernel=4,
                            tie_word_embeddings=True, bos_token_id=0, eos_token_id=end_id, pad_token_id=0,
                            use_cache=True)
    lm = MambaForCausalLM(lm_config)
    projector = nn.Sequential(nn.Linear(feat_dim, args.mamba_hidden), nn.GELU(approximate="none"),
                              nn.Linear(args.mamba_hidden, args.mamba_hidden))
    model = MambaAssistant(encoder, projector, lm, level)
    probe = SceneProbe(feat_dim, rows_per_image, args.aux_mamba)
    n_enc = sum(p.numel() for p in encoder.parameters())
    n_proj = sum(p.numel() for p in projector.parameters())
    n_lm = sum(p.numel() for p in lm.parameters())
    log(f"mamba: MambaVision {n_enc:,} parameters ({rows_per_image} rows of {feat_dim}: {where}), "
        f"projector {n_proj:,}, Mamba LM {n_lm:,} (hidden {args.mamba_hidden}, {args.mamba_layers} layers, "
        f"state {args.mamba_state}, vocab {lm_config.vocab_size})")

    def pixels(pics):
        return pixel_values(np.stack(pics), MV_MEAN, MV_STD)

    aux_loss = probe.loss

    @torch.no_grad()
    def probe_accuracy():
        model.eval()
        acc = probe.accuracy(model.features(pixels([p for _, p, _ in data["val"]])), [sc for sc, _, _ in data["val"]])
        model.train()
        return acc

    val = [(pic, encode(hf_tok, msgs)) for _, pic, msgs in data["val"]]

    @torch.no_grad()
    def validate(examples=val):
        model.eval()
        right = total = 0
        with fast_mamba_scan():
            for i in range(0, len(examples), 50):
                chunk = examples[i:i + 50]
                ids, labels = collate([e for _, e in chunk])
                logits = model.logits(pixels([p for p, _ in chunk]), ids)[:, rows_per_image:]
                r, n = reply_accuracy(logits[:, :-1].argmax(-1), labels[:, 1:])
                right, total = right + r, total + n
        model.train()
        return right / total

    stream = data["train_stream"]

    # Stage 1: the encoder alone learns the scene labels (what each grid cell holds), as a vision-language
    # assistant starts from a trained image encoder; the training pictures of steps past stage 2's.
    model.train()
    t_pre = time.time()
    enc_params = list(encoder.parameters()) + list(probe.parameters())
    opt = make_optimizer(list(encoder.named_parameters()) + list(probe.named_parameters()), args.lr,
                         args.weight_decay)
    for step in range(args.pretrain_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.pretrain_steps, args.lr, args.warmup)
        batch = stream(50_000_000 + step)
        loss = aux_loss(model.features(pixels([p for _, p, _ in batch])), [sc for sc, _, _ in batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(enc_params, 1.0)
        opt.step()
        if (step + 1) % args.log_every == 0 or step + 1 == args.pretrain_steps:
            log(f"mamba: encoder step {step + 1}/{args.pretrain_steps} scene-label loss {loss.item():.4f}")
    pre_acc = probe_accuracy()
    pre_seconds = time.time() - t_pre
    log(f"mamba: encoder pre-training {pre_seconds / 60:.1f} min; validation pictures with every cell right: "
        f"{100 * pre_acc:.1f}%")

    # Stage 2: everything together, on the conversations (the scene-label loss kept, weight --aux-weight).
    # The language model's hidden states (after --lm-aux-layer layers) learn to say the picture's facts at every
    # text position: the picture must be carried through the recurrent state (training only, not saved).
    lm_probe = SceneProbe(args.mamba_hidden, 1, "scene")

    def step_loss(step):
        batch = stream(step)
        scenes = [sc for sc, _, _ in batch]
        encs = [encode(hf_tok, msgs) for _, _, msgs in batch]
        ids, labels = collate(encs)
        feats = model.features(pixels([p for _, p, _ in batch]))
        emb = torch.cat([model.projector(feats), lm.get_input_embeddings()(ids)], dim=1)
        out = lm(inputs_embeds=emb, use_cache=False, output_hidden_states=args.lm_aux_weight > 0)
        logits = out.logits[:, rows_per_image:]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        loss = loss + args.aux_weight * aux_loss(feats, scenes)
        if args.lm_aux_weight > 0:
            mask = torch.arange(ids.shape[1])[None, :] < torch.tensor([len(e[0]) for e in encs])[:, None]
            hidden = out.hidden_states[args.lm_aux_layer][:, rows_per_image:]
            loss = loss + args.lm_aux_weight * lm_probe.hidden_loss(hidden, mask, scenes)
        return loss

    params = [p for p in model.parameters() if p.requires_grad] + list(probe.parameters()) + list(lm_probe.parameters())
    opt = make_optimizer(list(model.named_parameters()) + list(probe.named_parameters())
                         + list(lm_probe.named_parameters()), args.lr, args.weight_decay)
    model.train()
    with fast_mamba_scan():
        res = train_loop("mamba", params, opt, step_loss, validate, args, args.steps_mamba, log)
    model.eval()
    res.update(pretrain_seconds=pre_seconds, pretrain_accuracy=pre_acc, probe_accuracy=probe_accuracy())
    log(f"mamba: validation pictures with every cell right (auxiliary head): {100 * res['probe_accuracy']:.1f}%")

    # ---- save ------------------------------------------------------------------------------------------------
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ref.save_hub_layout(encoder, out / "image_encoder", extra_config=cfg)
    save_file({k: v.detach().contiguous() for k, v in projector.state_dict().items()}, str(out / "projector.safetensors"),
              metadata={"format": "pt"})
    lm_dir = out / "language_model"
    lm.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=end_id, pad_token_id=0, do_sample=False,
                                            max_new_tokens=args.max_new_tokens)
    lm.save_pretrained(lm_dir, safe_serialization=True)
    save_tokenizer(hf_tok, lm_dir, PREFIX_TEMPLATE)
    config = {
        "model_type": "krait_assistant",
        "format_version": 1,
        "image_encoder": {"path": "image_encoder", **({} if level is None else {"feature_level": level})},
        "projector": {
            "weights": "projector.safetensors",
            "layers": [
                {"type": "linear", "weight": "0.weight", "bias": "0.bias"},
                {"type": "activation", "function": "gelu"},
                {"type": "linear", "weight": "2.weight", "bias": "2.bias"},
            ],
        },
        "language_model": {"path": "language_model"},
        "image_placement": "prefix",
        "image_token_id": SPECIALS.index(IMAGE),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")

    # ---- reload from the files; greedy held-out evaluation with transformers' own Mamba forward ------------------
    re_model = MambaAssistant(ref.load_safetensors_dir(out / "image_encoder").float().eval(),
                              nn.Sequential(nn.Linear(feat_dim, args.mamba_hidden), nn.GELU(approximate="none"),
                                            nn.Linear(args.mamba_hidden, args.mamba_hidden)),
                              MambaForCausalLM.from_pretrained(lm_dir).eval(), level).eval()
    re_model.projector.load_state_dict(load_file(str(out / "projector.safetensors")))
    from transformers import AutoTokenizer
    tok2 = AutoTokenizer.from_pretrained(lm_dir)

    def reply(pic, messages):
        text = tok2.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tok2(text, add_special_tokens=False).input_ids
        gen = re_model.greedy(pixels([pic]), ids, end_id, args.max_new_tokens)
        return tok2.decode(gen, skip_special_tokens=True) if gen and gen[-1] == end_id else "<no end>"

    t_eval = time.time()
    examples = data["heldout_examples"]
    replies = [reply(ex["pic"], ex["messages"]) for ex in examples]
    res["heldout"] = judge(examples, replies)
    res["eval_seconds"] = time.time() - t_eval
    res["teacher_forced"] = validate([(ex["pic"], encode(hf_tok, ex["messages"] + [
        {"role": "assistant", "content": ex["expected"]}])) for ex in examples])
    return finish_model("mamba", out, args, data, res, examples, replies, reply, t_start, log, extra={
        "params": {"encoder": n_enc, "projector": n_proj, "lm": n_lm}, "rows": rows_per_image, "feat_dim": feat_dim, "level": level,
        "mv_config": cfg, "lm_config": lm_config, "vocab": tok.get_vocab_size(),
        "versions": versions(transformers)})


# ----------------------------------------------------------------------------------------------------------------
# The LLaVA assistant (CLIP tower + projector + Llama, marker placement)
# ----------------------------------------------------------------------------------------------------------------
def train_llava(args, data, tok, log) -> dict:
    import transformers
    from transformers import (AutoTokenizer, CLIPImageProcessor, CLIPImageProcessorPil, CLIPVisionConfig,
                              GenerationConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaProcessor)

    t_start = time.time()
    out = pathlib.Path(args.out_llava)
    hf_tok = make_hf_tokenizer(tok, MARKER_TEMPLATE)
    end_id, image_id = SPECIALS.index(END), SPECIALS.index(IMAGE)
    torch.manual_seed(args.seed)
    patch = args.clip_patch
    vc = CLIPVisionConfig(image_size=SIZE, patch_size=patch, hidden_size=args.clip_hidden,
                          intermediate_size=4 * args.clip_hidden, num_hidden_layers=args.clip_layers,
                          num_attention_heads=4, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                          projection_dim=args.clip_hidden)
    tc = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=args.llama_hidden,
                     intermediate_size=args.llama_intermediate, num_hidden_layers=args.llama_layers,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
                     rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=0, eos_token_id=end_id,
                     pad_token_id=0, hidden_act="silu", attention_bias=False, mlp_bias=False)
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_index=image_id, vision_feature_layer=-1,
                      vision_feature_select_strategy="default", projector_hidden_act="gelu", image_seq_length=1)
    model = LlavaForConditionalGeneration(cfg)
    rows_per_image = (SIZE // patch) ** 2          # + CLS - CLS ("default" strategy drops it)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"llava: {n_params:,} parameters (CLIP {SIZE}x{SIZE}/{patch}, hidden {args.clip_hidden}, "
        f"{args.clip_layers} layers; {rows_per_image} rows per image; Llama hidden {args.llama_hidden}, "
        f"{args.llama_layers} layers)")

    # The processor saved with the model must produce exactly the training inputs, and the prompt expanded as
    # LlavaProcessor expands it.
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    mean, std = list(image_processor.image_mean), list(image_processor.image_std)
    from PIL import Image
    check_pics = [ex[1] for ex in data["heldout"][:8]] + list(data["samples"].values())
    mine = pixel_values(np.stack(check_pics), mean, std)
    for proc in (image_processor, CLIPImageProcessor(size={"shortest_edge": SIZE},
                                                     crop_size={"height": SIZE, "width": SIZE})):
        theirs = proc(images=[Image.fromarray(p) for p in check_pics], return_tensors="pt")["pixel_values"]
        diff = (theirs - mine).abs().max().item()
        log(f"llava: {type(proc).__name__} vs training pixels: max |diff| {diff:.1e}")
        assert diff < 1e-5, diff
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=hf_tok, patch_size=patch,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=MARKER_TEMPLATE)
    msgs0 = data["heldout"][0][2]
    text0 = hf_tok.apply_chat_template(msgs0, tokenize=False)
    enc0 = processor(text=text0, images=[Image.fromarray(data["heldout"][0][1])], return_tensors="pt")
    assert enc0["input_ids"][0].tolist() == encode(hf_tok, msgs0, rows_per_image)[0], "prompt expansion differs"
    assert (enc0["pixel_values"] - mine[:1]).abs().max().item() < 1e-5

    def pixels(pics):
        return pixel_values(np.stack(pics), mean, std)

    val = [(pic, encode(hf_tok, msgs, rows_per_image)) for _, pic, msgs in data["val"]]

    @torch.no_grad()
    def validate(examples=val):
        model.eval()
        right = total = 0
        for i in range(0, len(examples), 50):
            chunk = examples[i:i + 50]
            ids, labels = collate([e for _, e in chunk])
            logits = model(input_ids=ids, pixel_values=pixels([p for p, _ in chunk])).logits
            r, n = reply_accuracy(logits[:, :-1].argmax(-1), labels[:, 1:])
            right, total = right + r, total + n
        model.train()
        return right / total

    stream = data["train_stream"]
    # The auxiliary head reads the tower's selected hidden state (the projector's input).
    probe = SceneProbe(vc.hidden_size, rows_per_image, args.aux_llava)
    tower = model.model.vision_tower

    def tower_features(px):
        hs = tower(px, output_hidden_states=True).hidden_states[cfg.vision_feature_layer]
        return hs[:, 1:]   # "default": CLS dropped

    aux_loss = probe.loss

    @torch.no_grad()
    def probe_accuracy():
        model.eval()
        acc = probe.accuracy(tower_features(pixels([p for _, p, _ in data["val"]])), [sc for sc, _, _ in data["val"]])
        model.train()
        return acc

    # Stage 1: the vision tower alone learns the scene labels, as LLaVA starts from a trained CLIP.
    model.train()
    t_pre = time.time()
    opt = make_optimizer(list(tower.named_parameters()) + list(probe.named_parameters()), args.lr_llava,
                         args.weight_decay)
    pre_params = list(tower.parameters()) + list(probe.parameters())
    for step in range(args.pretrain_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.pretrain_steps, args.lr_llava, args.warmup)
        batch = stream(50_000_000 + step)
        loss = aux_loss(tower_features(pixels([p for _, p, _ in batch])), [sc for sc, _, _ in batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(pre_params, 1.0)
        opt.step()
        if (step + 1) % args.log_every == 0 or step + 1 == args.pretrain_steps:
            log(f"llava: tower step {step + 1}/{args.pretrain_steps} scene-label loss {loss.item():.4f}")
    pre_acc = probe_accuracy()
    pre_seconds = time.time() - t_pre
    log(f"llava: tower pre-training {pre_seconds / 60:.1f} min; validation pictures with every cell right: "
        f"{100 * pre_acc:.1f}%")

    # Stage 2: the whole model's own forward on the conversations; the scene-label loss kept on the projector's
    # input (caught by a hook: the forward is transformers' own).
    caught = {}
    hook = model.model.multi_modal_projector.register_forward_pre_hook(lambda mod, inp: caught.update(f=inp[0]))

    # The language model's hidden states (after --lm-aux-layer layers) learn to say the picture's facts at every
    # position after the picture (training only, not saved).
    lm_probe = SceneProbe(args.llama_hidden, 1, "scene")

    def step_loss(step):
        batch = stream(step)
        scenes = [sc for sc, _, _ in batch]
        encs = [encode(hf_tok, msgs, rows_per_image) for _, _, msgs in batch]
        ids, labels = collate(encs)
        out = model(input_ids=ids, pixel_values=pixels([p for _, p, _ in batch]),
                    output_hidden_states=args.lm_aux_weight > 0)
        logits = out.logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        loss = loss + args.aux_weight * aux_loss(caught.pop("f"), scenes)
        if args.lm_aux_weight > 0:
            pos = torch.arange(ids.shape[1])[None, :]
            after = torch.tensor([max(i for i, t in enumerate(e[0]) if t == image_id) for e in encs])[:, None]
            mask = (pos > after) & (pos < torch.tensor([len(e[0]) for e in encs])[:, None])
            loss = loss + args.lm_aux_weight * lm_probe.hidden_loss(out.hidden_states[args.lm_aux_layer], mask, scenes)
        return loss

    params = [p for p in model.parameters() if p.requires_grad] + list(probe.parameters()) + list(lm_probe.parameters())
    opt = make_optimizer(list(model.named_parameters()) + list(probe.named_parameters())
                         + list(lm_probe.named_parameters()), args.lr_llava, args.weight_decay)
    model.train()
    a = argparse.Namespace(**{**vars(args), "lr": args.lr_llava})
    res = train_loop("llava", params, opt, step_loss, validate, a, args.steps_llava, log)
    hook.remove()
    model.eval()
    res.update(pretrain_seconds=pre_seconds, pretrain_accuracy=pre_acc, probe_accuracy=probe_accuracy())
    log(f"llava: validation pictures with every cell right (auxiliary head): {100 * res['probe_accuracy']:.1f}%")

    # ---- save ------------------------------------------------------------------------------------------------
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=end_id, pad_token_id=0, do_sample=False,
                                               max_new_tokens=args.max_new_tokens)
    model.save_pretrained(out, safe_serialization=True)
    save_tokenizer(hf_tok, out, MARKER_TEMPLATE)
    image_processor.save_pretrained(out)
    for f in ("processor_config.json", "chat_template.jinja"):
        (out / f).unlink(missing_ok=True)

    # ---- reload; greedy held-out evaluation with transformers' generate --------------------------------------
    re_model = LlavaForConditionalGeneration.from_pretrained(out).eval()
    tok2 = AutoTokenizer.from_pretrained(out)
    from transformers import AutoImageProcessor
    proc2 = AutoImageProcessor.from_pretrained(out)
    probe_px = proc2(images=[Image.fromarray(p) for p in check_pics], return_tensors="pt")["pixel_values"]
    assert (probe_px - mine).abs().max().item() < 1e-5, "the saved preprocessor_config.json differs"

    def reply(pic, messages):
        text = tok2.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tok2(text, add_special_tokens=False).input_ids
        ids = torch.tensor([[j for i in ids for j in ([i] * rows_per_image if i == image_id else [i])]])
        with torch.no_grad():
            seq = re_model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels([pic]),
                                    do_sample=False, max_new_tokens=args.max_new_tokens, eos_token_id=end_id,
                                    pad_token_id=0)
        gen = seq[0, ids.shape[1]:].tolist()
        return tok2.decode(gen, skip_special_tokens=True) if gen and gen[-1] == end_id else "<no end>"

    t_eval = time.time()
    examples = data["heldout_examples"]
    replies = [reply(ex["pic"], ex["messages"]) for ex in examples]
    res["heldout"] = judge(examples, replies)
    res["eval_seconds"] = time.time() - t_eval
    res["teacher_forced"] = validate([(ex["pic"], encode(hf_tok, ex["messages"] + [
        {"role": "assistant", "content": ex["expected"]}], rows_per_image)) for ex in examples])
    return finish_model("llava", out, args, data, res, examples, replies, reply, t_start, log, extra={
        "params": {"total": n_params}, "rows": rows_per_image, "config": cfg, "vocab": tok.get_vocab_size(),
        "versions": versions(transformers)})


# ----------------------------------------------------------------------------------------------------------------
# Results, held-out files, model cards
# ----------------------------------------------------------------------------------------------------------------
def versions(transformers) -> str:
    import PIL
    import tokenizers
    return (f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}, "
            f"Pillow {PIL.__version__}, Python {platform.python_version()}")


def finish_model(name, out, args, data, res, examples, replies, reply, t_start, log, extra) -> dict:
    h = res["heldout"]
    log(f"{name}: held-out accuracy (greedy, exact reply + <|end|>, reloaded files): {100 * h['accuracy']:.2f}% "
        f"({h['right']}/{h['n']} replies of {len(data['heldout'])} conversations); turns >= 2: "
        f"{100 * h['later']:.2f}%; by turn {h['by_turn']}; teacher-forced {100 * res['teacher_forced']:.2f}%; "
        f"{res['eval_seconds']:.0f}s")
    for q, want, got in h["wrong"][:20]:
        log(f"  wrong: {q!r} expected {want!r} got {got!r}")
    n_saved = write_heldout(out, examples, args.saved_conversations)
    saved = [i for i, ex in enumerate(examples) if ex["conversation"] < args.saved_conversations]
    res["saved"] = judge([examples[i] for i in saved], [replies[i] for i in saved])
    log(f"{name}: heldout.jsonl: {n_saved} replies of {args.saved_conversations} conversations, accuracy "
        f"{100 * res['saved']['accuracy']:.2f}%")
    # The README demo on the sample pictures (held-out scenes).
    res["demo"] = {}
    for pic_name, turns in (("shapes_1.png", DEMO_QUESTIONS), ("shapes_2.png", DEMO_QUESTIONS_2)):
        msgs, got = [], []
        for i, (q, want) in enumerate(turns):
            msgs.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}] if i == 0 else q})
            r = reply(data["samples"][pic_name], msgs)
            msgs.append({"role": "assistant", "content": r})
            got.append((q, want, r))
            log(f"{name}: demo {pic_name}: {q!r} -> {r!r}" + ("" if r == want else f" (expected {want!r})"))
        res["demo"][pic_name] = got
    res["total_seconds"] = time.time() - t_start
    res.update(extra)
    for f in out.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)  # save_pretrained creates model.safetensors with mode 0600
    res["dir_bytes"] = dir_bytes(out)
    (write_mamba_card if name == "mamba" else write_llava_card)(out, args, data, res)
    res["dir_bytes"] = dir_bytes(out)
    log(f"{name}: wrote {out} ({res['dir_bytes']:,} bytes) in {res['total_seconds'] / 60:.1f} min "
        f"(training {res['train_seconds'] / 60:.1f} min, {res['steps']} steps)")
    return res


DATA_SECTION = """## Data (generated by the script; no licence needed)
64x64 RGB pictures of 1-3 shapes (circle, square, triangle; at most one of each) in four colours (red, green, blue,
yellow), each in its own cell of a 2x2 grid (top left, top right, bottom left, bottom right), on a white or light
background; size (14-24 px), place inside the cell and shade vary. Conversations of 1-3 user turns, the picture
attached to the first user message, with questions about colour ("What colour is the circle?"), shape ("What is at
the top left?"), count ("How many shapes are there?", "How many red shapes are there?") and position ("Where is the
square?", "Where is the blue square?"), and follow-ups that refer to the previous turn ("And where is it?", "And what
colour is it?", "What about the triangle?", "What about the bottom left?", "And how many are red?", "What about the
blue ones?"). Absent shapes and empty cells have their own replies ("There is no circle.", "There is nothing at the
top left."). Every reply is a deterministic sentence of the picture and the conversation.
- Training: an endless seeded stream (seed {seed}), {batch} new conversations per step, each with a new picture
  ({train_n:,} in all); pictures identical to a held-out, validation or sample picture are rejected.
- Validation: {val} conversations (seed {val_seed}), watched during training (teacher-forced).
- Held-out: {held} conversations (seed {held_seed}), {held_replies} replies; the first {saved} conversations
  ({saved_replies} replies) are in `heldout.jsonl` (one line per reply: `image` (a PNG under `heldout/`),
  `messages` (transformers' chat format, the first user message with an image part), `expected`, `conversation`,
  `turn`), replayed through Krait by `tests/python/test_assistant_demo.py`.
"""


def data_section(args, data, res) -> str:
    return DATA_SECTION.format(seed=args.seed, batch=args.batch, train_n=res["steps"] * args.batch,
                               val=len(data["val"]), val_seed=args.seed + 2000, held=len(data["heldout"]),
                               held_seed=args.seed + 1000, held_replies=res["heldout"]["n"],
                               saved=args.saved_conversations, saved_replies=res["saved"]["n"])


def demo_section(res, model_dir: str) -> str:
    lines = []
    for pic_name, turns in res["demo"].items():
        lines.append(f"`models/samples/{pic_name}`:\n")
        lines.append("```")
        for q, want, got in turns:
            lines.append(f"user:      {q}")
            lines.append(f"assistant: {got}" + ("" if got == want else f"    (expected: {want})"))
        lines.append("```\n")
    return "\n".join(lines)


def results_section(res, template: str) -> str:
    h, s = res["heldout"], res["saved"]
    by_turn = ", ".join(f"turn {t}: {a}/{n}" for t, (a, n) in h["by_turn"].items())
    hist = "\n".join(f"| {x['step']} | {x.get('train_loss', float('nan')):.4f} | {100 * x['val_accuracy']:.1f}% |"
                     for x in res["history"] if "val_accuracy" in x)
    return f"""| step | train loss | validation reply accuracy (teacher-forced) |
|---|---|---|
{hist}

## Results (held-out, exact match of the whole reply, which must end with `<|end|>`)
Greedy decoding given the reference history, on the files of this folder reloaded:
**{100 * h['accuracy']:.2f}%** ({h['right']}/{h['n']} replies); second and later turns **{100 * h['later']:.2f}%**;
{by_turn}. The replies of `heldout.jsonl`: {100 * s['accuracy']:.2f}% ({s['right']}/{s['n']}).

## Tokenizer and chat template
Byte-level BPE trained by the script on rendered training conversations (GPT-2 regex, no prefix space, no
post-processor: encoding adds no token), vocabulary {res['vocab']}. Added special tokens: `<|endoftext|>` = 0 (BOS,
padding), `<|user|>` = 1, `<|assistant|>` = 2, `<|end|>` = 3 (end of turn, the EOS), `<|system|>` = 4 (not trained),
`<image>` = 5. `tokenizer_config.json` holds them and the `chat_template`:

```jinja
{template}
```
"""


def features_text(res) -> str:
    side = int(round(res["rows"] ** 0.5))
    grid = f"{side}x{side} = **{res['rows']} rows** of {res['feat_dim']} per picture, token-major (row-major positions)"
    if res["level"] is None:
        return (f"the encoder's output (no `feature_level`: level 3, then the final BatchNorm): {grid}; with a {SIZE}x{SIZE}"
                f" picture each row lies over one cell of the 2x2 grid. The head (2 placeholder classes) is in the file "
                f"but unused.")
    return (f"`\"feature_level\": {res['level']}`, the map after level {res['level']}'s blocks before its downsample: "
            f"{grid}. The later levels, the final BatchNorm and the head (2 placeholder classes) are in the file but "
            f"unused.")


def write_mamba_card(out: pathlib.Path, args, data, res) -> None:
    p, cfg, lc = res["params"], res["mv_config"], res["lm_config"]
    files = {f.relative_to(out).as_posix(): f.stat().st_size for f in sorted(out.rglob("*.safetensors"))}
    text = f"""# shapes-mamba-assistant: Krait's demo Mamba vision-language assistant

A deliberately tiny vision-language assistant in Krait's composite assistant format (`config.json` model_type
`krait_assistant`, [docs/COMPOSITE_ASSISTANTS.md](../../docs/COMPOSITE_ASSISTANTS.md)): a MambaVision image encoder,
a projector and a Mamba language model, the image rows placed before the conversation as Cobra does. It answers
questions about pictures of coloured shapes (colour, shape, count, position, follow-ups) and knows nothing else.
Trained by `tools/train_demo_assistant.py` on the CPU; `models/shapes-llava` is the same data through the LLaVA layout.

```sh
krait chat -m models/shapes-mamba-assistant --image models/samples/shapes_1.png --temperature 0
```

{demo_section(res, "shapes-mamba-assistant")}
{data_section(args, data, res)}
## Architecture
- `image_encoder/` (`config.json` model_type `mambavision`, `model.safetensors`, saved by
  `tools/mambavision_ref.py`'s `save_hub_layout`): dim {cfg['dim']}, in_dim {cfg['in_dim']}, depths {cfg['depths']},
  num_heads {cfg['num_heads']}, window_size {cfg['window_size']}, mlp_ratio {cfg['mlp_ratio']}, {p['encoder']:,}
  parameters. Input {SIZE}x{SIZE} (`resolution` {SIZE}, crop_pct 1.0: a {SIZE}x{SIZE} picture is not resized), rescale
  1/255, normalise with mean {list(MV_MEAN)} and std {list(MV_STD)}. Features: {features_text(res)}
- `projector.safetensors`: `0` Linear({res['feat_dim']}, {lc.hidden_size}), GELU (exact), `2` Linear({lc.hidden_size},
  {lc.hidden_size}); {p['projector']:,} parameters.
- `language_model/`: transformers `MambaForCausalLM` (model_type `mamba`), hidden_size {lc.hidden_size},
  {lc.num_hidden_layers} layers, state_size {lc.state_size}, expand {lc.expand}, conv_kernel {lc.conv_kernel},
  vocabulary {lc.vocab_size}, tied embeddings, {p['lm']:,} parameters, with `tokenizer.json`, `tokenizer_config.json`
  (chat template, eos `<|end|>`) and `generation_config.json`.
- `config.json`: `image_placement` `prefix` (the rows of the picture first, then the rendered conversation; the
  template writes nothing for image parts), `image_token_id` 5 (`<image>`: the id that stands for one image row in a
  session's token ids).
- Weights F32; this folder holds {res['dir_bytes']:,} bytes in all ({', '.join(f'{k} {v:,}' for k, v in files.items())}).

Reference forward (the one trained): `rows = projector(features(pixels))`; `logits = MambaForCausalLM(inputs_embeds=
cat[rows, embed(ids)])`, `ids` the conversation rendered by the chat template (with `add_generation_prompt`).

## Training
AdamW (betas 0.9/0.95, weight decay {args.weight_decay} on matrices), peak learning rate {args.lr},
{args.warmup} warm-up steps, cosine decay to 5%, gradient clipping 1.0, {args.batch} conversations per step (each step
all of one length: 1, 2 or 3 turns, weights {TURN_WEIGHTS}), cross-entropy on the assistant replies and their
`<|end|>` only; encoder, projector and language model trained together from scratch. **{res['steps']} steps**
{'(stopped early by the time limit) ' if res['stopped_early'] else ''}in {res['train_seconds'] / 60:.1f} min; this
model's part of the script {res['total_seconds'] / 60:.1f} min. CPU only, `torch.set_num_threads({args.threads})` on a
shared 2-core machine. The Mamba scan in training is an equivalent one with a hand-written backward (transformers'
CPU fallback is quadratic under autograd); the held-out evaluation runs transformers' own. Seed {args.seed}.
Software: {res['versions']}.

{results_section(res, PREFIX_TEMPLATE)}
## Reproduce
```sh
tools/setup_tools_env.sh                                    # once: the pinned Python tools env in .venv/
.venv/bin/python tools/train_demo_assistant.py --model mamba
```
Overwrites this folder (and the sample pictures). Exact numbers can differ on other CPUs or library versions.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def write_llava_card(out: pathlib.Path, args, data, res) -> None:
    cfg = res["config"]
    vc, tc = cfg.vision_config, cfg.text_config
    wbytes = (out / "model.safetensors").stat().st_size
    text = f"""# shapes-llava: Krait's demo LLaVA assistant

A deliberately tiny LLaVA (transformers `LlavaForConditionalGeneration`, model_type `llava`: a CLIP vision tower, a
projector and a Llama language model) trained on the same generated pictures and conversations as
`models/shapes-mamba-assistant`: questions about pictures of coloured shapes (colour, shape, count, position,
follow-ups). It knows nothing else. Trained by `tools/train_demo_assistant.py` on the CPU.

```sh
krait chat -m models/shapes-llava --image models/samples/shapes_1.png --temperature 0
```

{demo_section(res, "shapes-llava")}
{data_section(args, data, res)}
## Architecture (`config.json`, `model.safetensors`, `preprocessor_config.json`)
- Vision tower: CLIP (`clip_vision_model`), image_size {vc.image_size}, patch_size {vc.patch_size}, hidden_size
  {vc.hidden_size}, {vc.num_hidden_layers} layers, {vc.num_attention_heads} heads, intermediate_size
  {vc.intermediate_size}, quick_gelu. `vision_feature_layer` {cfg.vision_feature_layer}, strategy
  `{cfg.vision_feature_select_strategy}` (CLS dropped): **{res['rows']} rows** per picture.
- Projector: Linear, GELU, Linear (`multi_modal_projector`) to the Llama's width.
- Language model: Llama, hidden_size {tc.hidden_size}, intermediate_size {tc.intermediate_size},
  {tc.num_hidden_layers} layers, {tc.num_attention_heads} heads ({tc.num_key_value_heads} KV heads), vocabulary
  {tc.vocab_size}, untied head. `image_token_index` {cfg.image_token_index} (`<image>`): the chat template writes one
  `<image>` per image part, expanded to {res['rows']} tokens as transformers' LlavaProcessor does.
- `preprocessor_config.json`: CLIPImageProcessor, shortest edge {SIZE} (bicubic), center crop {SIZE}x{SIZE},
  rescale 1/255, CLIP's mean/std: a {SIZE}x{SIZE} picture is not resized (checked: the processor's pixels equal the
  training pixels).
- **{res['params']['total']:,} parameters**, F32: `model.safetensors` is {wbytes:,} bytes; the folder
  {res['dir_bytes']:,} bytes.

## Training
AdamW (betas 0.9/0.95, weight decay {args.weight_decay} on matrices), peak learning rate {args.lr_llava},
{args.warmup} warm-up steps, cosine decay to 5%, gradient clipping 1.0, {args.batch} conversations per step (each step
all of one length: 1, 2 or 3 turns, weights {TURN_WEIGHTS}), cross-entropy on the assistant replies and their
`<|end|>` only, through the model's own forward (`input_ids` with the expanded `<image>` tokens, `pixel_values`);
everything trained from scratch. **{res['steps']} steps** {'(stopped early by the time limit) ' if res['stopped_early'] else ''}in
{res['train_seconds'] / 60:.1f} min; this model's part of the script {res['total_seconds'] / 60:.1f} min. CPU only,
`torch.set_num_threads({args.threads})` on a shared 2-core machine. Seed {args.seed}. Software: {res['versions']}.

{results_section(res, MARKER_TEMPLATE)}
## Reproduce
```sh
tools/setup_tools_env.sh                                    # once: the pinned Python tools env in .venv/
.venv/bin/python tools/train_demo_assistant.py --model llava
```
Overwrites this folder (and the sample pictures). Exact numbers can differ on other CPUs or library versions.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def write_samples(out: pathlib.Path, samples: dict, log) -> None:
    for name, pic in samples.items():
        save_png(pic, out / name)
    readme = out / "README.md"
    text = readme.read_text() if readme.exists() else "# Sample pictures\n"
    marker = "\n## Shapes (the demo assistants)\n"
    text = text.split(marker)[0].rstrip("\n") + "\n" + marker + f"""
Two held-out pictures (drawn with the held-out seed, never seen in training) of the generated shapes task of
`tools/train_demo_assistant.py`, which writes them: {SIZE}x{SIZE} RGB, for `models/shapes-mamba-assistant` and
`models/shapes-llava`.

| file | scene | demo questions (expected replies) |
|---|---|---|
""" + "\n".join(
        f"| `{name}` | " + ", ".join(f"{c} {s} at the {CELLS[p]}" for s, c, p in SAMPLE_SCENES[name]) + " | "
        + " / ".join(f"{q} ({a})" for q, a in (DEMO_QUESTIONS if name == "shapes_1.png" else DEMO_QUESTIONS_2))
        + " |" for name in SAMPLE_SCENES) + "\n"
    readme.write_text(text)
    log(f"samples written to {out}")


# ----------------------------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["mamba", "llava", "all"], default="all")
    ap.add_argument("--out-mamba", default=str(ROOT / "models" / "shapes-mamba-assistant"))
    ap.add_argument("--out-llava", default=str(ROOT / "models" / "shapes-llava"))
    ap.add_argument("--out-samples", default=str(ROOT / "models" / "samples"))
    ap.add_argument("--steps-mamba", type=int, default=1200)
    ap.add_argument("--steps-llava", type=int, default=2400)
    ap.add_argument("--time-limit-min", type=float, default=30.0, help="safety stop of each training loop")
    ap.add_argument("--batch", type=int, default=32, help="conversations per step")
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the Mamba assistant")
    ap.add_argument("--lr-llava", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--vocab-size", type=int, default=640)
    ap.add_argument("--mv-dim", type=int, default=32)
    ap.add_argument("--mv-in-dim", type=int, default=16)
    ap.add_argument("--mv-feature-level", type=int, default=-1, help="0-3, or -1: the encoder's output")
    ap.add_argument("--pretrain-steps", type=int, default=400, help="encoder steps on the scene labels")
    ap.add_argument("--aux-weight", type=float, default=0.2, help="weight of the scene-label loss in stage 2")
    ap.add_argument("--aux-mamba", choices=["cell", "scene"], default="scene", help="what each row learns to tell")
    ap.add_argument("--lm-aux-weight", type=float, default=0.5, help="weight of the scene facts on LM hidden states")
    ap.add_argument("--lm-aux-layer", type=int, default=2, help="which LM hidden state (0: the embeddings)")
    ap.add_argument("--aux-llava", choices=["cell", "scene"], default="cell")
    ap.add_argument("--mamba-hidden", type=int, default=128)
    ap.add_argument("--mamba-layers", type=int, default=3)
    ap.add_argument("--mamba-state", type=int, default=16)
    ap.add_argument("--clip-patch", type=int, default=8)
    ap.add_argument("--clip-hidden", type=int, default=96)
    ap.add_argument("--clip-layers", type=int, default=3)
    ap.add_argument("--llama-hidden", type=int, default=128)
    ap.add_argument("--llama-intermediate", type=int, default=352)
    ap.add_argument("--llama-layers", type=int, default=3)
    ap.add_argument("--heldout-conversations", type=int, default=300)
    ap.add_argument("--saved-conversations", type=int, default=30, help="of them, written to heldout.jsonl")
    ap.add_argument("--val-conversations", type=int, default=150)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import transformers
    transformers.logging.set_verbosity_error()

    def log(msg):
        print(f"[{time.time() - t_start:7.1f}s] {msg}", flush=True)

    # ---- data ------------------------------------------------------------------------------------------------
    samples = sample_pictures(args.seed + 3000)
    exclude = {picture_key(p) for p in samples.values()}
    heldout = example_set(args.seed + 1000, args.heldout_conversations, exclude)
    exclude |= {picture_key(p) for _, p, _ in heldout}
    val = example_set(args.seed + 2000, args.val_conversations, exclude)
    exclude |= {picture_key(p) for _, p, _ in val}
    rejected = [0]

    def train_stream(step: int) -> list[tuple]:
        """The conversations of training step `step` (all with the same number of turns: less padding)."""
        rng = random.Random(args.seed * 1_000_003 + step)
        turns = rng.choices([1, 2, 3], weights=TURN_WEIGHTS)[0]
        out = []
        while len(out) < args.batch:
            ex = draw_example(rng, turns)
            if picture_key(ex[1]) in exclude:
                rejected[0] += 1
                continue
            out.append(ex)
        return out

    # The tokenizer: trained on rendered training conversations (steps beyond the training run's).
    from jinja2 import Template
    render = Template(PREFIX_TEMPLATE)
    tok_texts = [render.render(messages=m, bos_token=BOS, add_generation_prompt=False)
                 for s in range(10_000_000, 10_000_000 + 100) for _, _, m in train_stream(s)]
    tok = train_tokenizer(tok_texts, args.vocab_size)
    hf_tok = make_hf_tokenizer(tok, PREFIX_TEMPLATE)
    assert hf_tok.apply_chat_template(heldout[0][2], tokenize=False) == \
        render.render(messages=heldout[0][2], bos_token=BOS, add_generation_prompt=False)
    lengths = [len(encode(hf_tok, m)[0]) for _, _, m in heldout]
    log(f"tokenizer vocab {tok.get_vocab_size()}; held-out conversations {min(lengths)}-{max(lengths)} tokens "
        f"(mean {sum(lengths) / len(lengths):.1f}); e.g. {hf_tok.convert_ids_to_tokens(encode(hf_tok, heldout[0][2])[0])}")
    examples = heldout_examples(heldout)
    log(f"data: {len(heldout)} held-out conversations ({len(examples)} replies), {len(val)} validation, "
        f"training stream of {args.batch} new conversations per step")
    data = {"heldout": heldout, "val": val, "train_stream": train_stream, "heldout_examples": examples,
            "samples": samples}

    results = {}
    if args.model in ("mamba", "all"):
        results["mamba"] = train_mamba(args, data, tok, log)
    if args.model in ("llava", "all"):
        results["llava"] = train_llava(args, data, tok, log)
    write_samples(pathlib.Path(args.out_samples), samples, log)

    # ---- summary and checks ----------------------------------------------------------------------------------
    failed = False
    for name, res in results.items():
        acc, size = res["heldout"]["accuracy"], res["dir_bytes"]
        log(f"{name}: held-out accuracy {100 * acc:.2f}% (heldout.jsonl {100 * res['saved']['accuracy']:.2f}%), "
            f"{size / 1e6:.2f} MB, {res['total_seconds'] / 60:.1f} min (training {res['train_seconds'] / 60:.1f} min)")
        if acc < MIN_ACCURACY or res["saved"]["accuracy"] < MIN_ACCURACY:
            log(f"FAILED: {name} held-out accuracy below {100 * MIN_ACCURACY:.0f}%")
            failed = True
        if size > MAX_BYTES:
            log(f"FAILED: {name} is {size:,} bytes, more than {MAX_BYTES:,}")
            failed = True
    log(f"total {(time.time() - t_start) / 60:.1f} min; training pictures rejected as held-out: {rejected[0]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
