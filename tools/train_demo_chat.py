#!/usr/bin/env python3
"""Train Krait's demo chat model: a tiny HF Llama (LlamaForCausalLM) that plays a shop assistant, multi-turn.

Task (synthetic, generated here; nothing is downloaded): a small homeware shop whose inventory is fixed by a seed
(8 products x 3 colours each, every item with a price in euros and a stock count). Customers ask, over 2-4 turns,
  - the price or the stock of an item:  "How much is the red kettle?" -> "The red kettle costs 24 euros."
  - which colours a product comes in:   "Which colours does the lamp come in?" -> "The lamp comes in red, ..."
and follow-ups that refer to the previous turns:
  - "And how many are in stock?"        -> the stock of the item of the previous turn,
  - "And how much is it?"               -> its price,
  - "What about the blue one?"          -> the previous question, same product, another colour,
  - "What about the black mug?"         -> the previous question about another item,
  - "How much is the green one?"        -> after a colours question: that product in that colour.
Items the shop does not sell get "Sorry, we do not sell a purple kettle."; zero stock gets "Sorry, the ... is out of
stock." Every assistant reply is a deterministic function of the inventory and the conversation so far, so a reply
is right or wrong: the accuracy is the exact match of the whole reply. The inventory itself is learned (it is not in
the prompt): the model answers from its weights, the conversation tells it which item and which question.

Chat template: ChatML-style, with the model's own special tokens <|im_start|> and <|im_end|> (and <|endoftext|> as
BOS/pad), stored as `chat_template` in tokenizer_config.json; every training conversation is rendered with
transformers' `apply_chat_template`, so the template and the training data agree. <|im_end|> is the EOS of
config.json and generation_config.json: generation stops at the end of a reply.

Held-out set: conversations generated from another seed and removed from the training stream (the training
generator rejects any conversation whose rendered text is held out). Each assistant turn of a held-out conversation
is one example: the rendered prompt (the conversation so far with the reference replies, ending with
"<|im_start|>assistant\n") and the expected reply. Second and later turns are judged like first turns. They are
saved as heldout.jsonl next to the model (Krait's tests/python/test_chat_demo.py replays them).

Steps:
  1. generate the inventory, the held-out and validation conversations and a training pool;
  2. train a byte-level BPE tokenizer on rendered training conversations (specials registered as added tokens);
  3. train LlamaForCausalLM with AdamW, loss on the assistant replies only (and their <|im_end|>);
  4. save with save_pretrained (safetensors, F32), reload, greedy-decode every held-out prompt with transformers;
  5. greedy-decode them again with Krait's Python binding (`import krait`, built from this checkout with
     tools/build_python.sh) and compare token by token with transformers; write heldout.jsonl and the model card.

    tools/setup_tools_env.sh             # once: creates .venv/ from tools/requirements-tools.txt
    tools/build_python.sh                # PYTHON=.venv/bin/python to install krait into it (or PYTHONPATH)
    .venv/bin/python tools/train_demo_chat.py    # defaults reproduce models/chat-demo

Runs on CPU with torch.set_num_threads(2) (the development machine is a shared 2-core VM).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import random
import sys
import time

import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOS, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
# ChatML-style: <|endoftext|> once, then <|im_start|>role\ncontent<|im_end|>\n per message.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
PRODUCTS = ["kettle", "toaster", "lamp", "mug", "teapot", "clock", "fan", "vase"]
COLOURS = ["red", "blue", "green", "black", "white", "yellow", "grey", "pink"]  # all take "a", not "an"
COLOURS_PER_PRODUCT = 3
DEMO_TURNS = ["How much is the red teapot?", "And how many are in stock?"]


# ----------------------------------------------------------------------------------------------------------------
# The shop and its conversations
# ----------------------------------------------------------------------------------------------------------------
def make_inventory(seed: int) -> dict:
    """{product: {colour: (price_euros, stock)}}: each product in COLOURS_PER_PRODUCT colours."""
    rng = random.Random(seed)
    inv = {}
    for p in PRODUCTS:
        base = rng.randint(8, 80)
        inv[p] = {}
        for c in sorted(rng.sample(COLOURS, COLOURS_PER_PRODUCT), key=COLOURS.index):
            price = max(3, base + rng.randint(-6, 6))
            stock = 0 if rng.random() < 0.15 else rng.randint(1, 20)
            inv[p][c] = (price, stock)
    # The shop always sells a red kettle (the example of the task description): if the draw gave the kettle no red,
    # its last colour becomes red (with seed 7 yellow does; this is part of the inventory models/chat-demo knows).
    if "red" not in inv["kettle"]:
        other = max(inv["kettle"], key=COLOURS.index)
        inv["kettle"]["red"] = inv["kettle"].pop(other)
        inv["kettle"] = dict(sorted(inv["kettle"].items(), key=lambda kv: COLOURS.index(kv[0])))
    # The demo conversation (README.md, tools/demo.sh) asks about the red teapot (with seed 7 every kettle is out of
    # stock, so the kettle would not show a stock count).
    return inv


def join_words(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def answer(inv: dict, kind: str, product: str, colour: str | None) -> str:
    """The one right reply to a question of `kind` (price / stock / colours) about an item."""
    if kind == "colours":
        return f"The {product} comes in {join_words(list(inv[product]))}."
    if colour not in inv[product]:
        return f"Sorry, we do not sell a {colour} {product}."
    price, stock = inv[product][colour]
    if kind == "price":
        return f"The {colour} {product} costs {price} euros."
    if stock == 0:
        return f"Sorry, the {colour} {product} is out of stock."
    if stock == 1:
        return f"We have 1 {colour} {product} in stock."
    return f"We have {stock} {colour} {product}s in stock."


PRICE_Q = ["How much is the {c} {p}?", "What does the {c} {p} cost?", "What is the price of the {c} {p}?"]
STOCK_Q = ["How many {c} {p}s do you have?", "Is the {c} {p} in stock?", "How many {c} {p}s are in stock?"]
COLOURS_Q = ["Which colours does the {p} come in?", "What colours do you have the {p} in?"]
PRICE_FOLLOW = ["And how much is it?", "What does it cost?", "And the price?"]
STOCK_FOLLOW = ["And how many are in stock?", "How many do you have?", "Is it in stock?"]
OTHER_COLOUR = ["What about the {c} one?", "And the {c} one?"]
OTHER_ITEM = ["What about the {c} {p}?", "And the {c} {p}?"]
AFTER_COLOURS = {"price": ["How much is the {c} one?", "What does the {c} one cost?"],
                 "stock": ["How many {c} ones do you have?", "Is the {c} one in stock?"]}


def pick_colour(rng: random.Random, inv: dict, product: str, avoid: str | None = None) -> str:
    """Mostly a colour the product comes in; sometimes (1 in 8) one it does not."""
    sold = [c for c in inv[product] if c != avoid]
    unsold = [c for c in COLOURS if c not in inv[product] and c != avoid]
    return rng.choice(unsold) if rng.random() < 0.125 else rng.choice(sold)


def make_conversation(rng: random.Random, inv: dict) -> list[dict]:
    """2-4 user/assistant turns; the state (product, colour, last question) is what follow-ups refer to."""
    turns = rng.choice([2, 2, 3, 3, 4])
    msgs = []
    product = rng.choice(PRODUCTS)
    kind = rng.choice(["price", "price", "stock", "stock", "colours"])
    colour = None if kind == "colours" else pick_colour(rng, inv, product)
    if kind == "colours":
        q = rng.choice(COLOURS_Q).format(p=product)
    else:
        q = rng.choice(PRICE_Q if kind == "price" else STOCK_Q).format(c=colour, p=product)
    for t in range(turns):
        if t > 0:
            if kind == "colours":
                # After "which colours": ask about one of them (or a missing one) without naming the product.
                kind = rng.choice(["price", "stock"])
                colour = pick_colour(rng, inv, product)
                q = rng.choice(AFTER_COLOURS[kind]).format(c=colour)
            else:
                move = rng.choice(["switch", "switch", "colour", "item", "new"])
                if move == "switch" and colour in inv[product]:
                    # The same item, the other question.
                    kind = "stock" if kind == "price" else "price"
                    q = rng.choice(STOCK_FOLLOW if kind == "stock" else PRICE_FOLLOW)
                elif move in ("switch", "colour"):
                    colour = pick_colour(rng, inv, product, avoid=colour)
                    q = rng.choice(OTHER_COLOUR).format(c=colour)
                elif move == "item":
                    product = rng.choice([p for p in PRODUCTS if p != product])
                    colour = pick_colour(rng, inv, product)
                    q = rng.choice(OTHER_ITEM).format(c=colour, p=product)
                else:
                    # A fresh, fully explicit question.
                    product = rng.choice(PRODUCTS)
                    kind = rng.choice(["price", "stock", "colours"])
                    colour = None if kind == "colours" else pick_colour(rng, inv, product)
                    if kind == "colours":
                        q = rng.choice(COLOURS_Q).format(p=product)
                    else:
                        q = rng.choice(PRICE_Q if kind == "price" else STOCK_Q).format(c=colour, p=product)
        msgs.append({"role": "user", "content": q})
        msgs.append({"role": "assistant", "content": answer(inv, kind, product, colour)})
    return msgs


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------------------------------------------
def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE (GPT-2 regex, no prefix space); the three specials are ids 0, 1, 2 and added tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[BOS, IM_START, IM_END],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    assert [tok.token_to_id(t) for t in (BOS, IM_START, IM_END)] == [0, 1, 2]
    # No post-processor: encoding adds nothing, the chat template writes every special token itself. The Python
    # ByteLevel decoder constructor serializes add_prefix_space=true; write the fields explicitly.
    spec = json.loads(tok.to_str())
    spec["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return Tokenizer.from_str(json.dumps(spec))


def make_hf_tokenizer(tok):
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=IM_END, pad_token=BOS,
                                   unk_token=None, model_max_length=512, chat_template=CHAT_TEMPLATE)


def encode_conversation(hf_tok, msgs: list[dict]) -> tuple[list[int], list[int]]:
    """Token ids of the rendered conversation and its labels: the assistant replies and their <|im_end|>, -100
    elsewhere. Spans are found in the rendered text and mapped to tokens by their offsets."""
    text = hf_tok.apply_chat_template(msgs, tokenize=False)
    enc = hf_tok(text, add_special_tokens=False, return_offsets_mapping=True)
    head = IM_START + "assistant\n"
    spans, pos = [], 0
    while (start := text.find(head, pos)) >= 0:
        begin = start + len(head)
        end = text.index(IM_END, begin) + len(IM_END)
        spans.append((begin, end))
        pos = end
    labels = []
    for tid, (a, b) in zip(enc.input_ids, enc.offset_mapping):
        labels.append(tid if any(s <= a and b <= e for s, e in spans) else -100)
    return enc.input_ids, labels


def heldout_examples(hf_tok, conversations: list[list[dict]]) -> list[dict]:
    """One example per assistant turn: the rendered prompt up to it and the expected reply."""
    out = []
    for ci, msgs in enumerate(conversations):
        for t in range(0, len(msgs), 2):
            prompt = hf_tok.apply_chat_template(msgs[:t + 1], tokenize=False, add_generation_prompt=True)
            out.append({"conversation": ci, "turn": t // 2 + 1, "prompt": prompt,
                        "expected": msgs[t + 1]["content"]})
    return out


# ----------------------------------------------------------------------------------------------------------------
# Training and evaluation
# ----------------------------------------------------------------------------------------------------------------
def collate(items: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded [B, L] ids and labels (padding comes after every real token: causal attention needs no mask)."""
    n = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), n), pad_id, dtype=torch.long)
    labels = torch.full((len(items), n), -100, dtype=torch.long)
    for i, (a, b) in enumerate(items):
        ids[i, :len(a)] = torch.tensor(a)
        labels[i, :len(b)] = torch.tensor(b)
    return ids, labels


def length_bucketed_batches(lengths: list[int], batch: int, gen: torch.Generator, group: int = 16) -> list[list[int]]:
    """One pass over the training conversations in random order, cut into batches of similar lengths (less
    padding): shuffle, sort each run of `group` batches by length, cut, shuffle the batches. Returned reversed
    for pop()."""
    order = torch.randperm(len(lengths), generator=gen).tolist()
    out = []
    for g in range(0, len(order) - batch + 1, batch * group):
        chunk = sorted(order[g:g + batch * group], key=lengths.__getitem__)
        out += [chunk[i:i + batch] for i in range(0, len(chunk) - batch + 1, batch)]
    perm = torch.randperm(len(out), generator=gen).tolist()
    return [out[i] for i in perm]


@torch.no_grad()
def teacher_forced_accuracy(model, encoded, pad_id: int, batch: int = 64) -> float:
    """Fraction of assistant replies whose every token (and <|im_end|>) is the argmax given the reference history:
    exactly the replies greedy decoding reproduces. One forward per batch instead of a decoding loop."""
    model.eval()
    right = total = 0
    for i in range(0, len(encoded), batch):
        ids, labels = collate(encoded[i:i + batch], pad_id)
        pred = model(input_ids=ids).logits[:, :-1].argmax(-1)
        tgt = labels[:, 1:]
        for r in range(ids.shape[0]):
            # Replies are the runs of labelled positions; judge each run.
            mask = (tgt[r] != -100).tolist()
            ok = (pred[r] == tgt[r]).tolist()
            run_ok, in_run = True, False
            for m, o in zip(mask, ok):
                if m:
                    run_ok, in_run = (run_ok and o) if in_run else o, True
                elif in_run:
                    right += run_ok
                    total += 1
                    in_run = False
            if in_run:
                right += run_ok
                total += 1
    model.train()
    return right / total


def lr_at(step: int, args) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def krait_greedy(model_dir: pathlib.Path, examples: list[dict], max_new: int, threads: int):
    """Krait's greedy continuations of the prompts (ids, text), or None if the krait package is missing."""
    try:
        import krait
    except ImportError:
        return None, None
    m = krait.SequenceModel(model_dir, threads=threads)
    outs = [m.generate(ex["prompt"], max_new_tokens=max_new, temperature=0) for ex in examples]
    return [list(o.ids) for o in outs], krait.__version__


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "models" / "chat-demo"))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--time-limit-min", type=float, default=24.0, help="safety stop for the training loop")
    ap.add_argument("--batch", type=int, default=32, help="conversations per step")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--vocab-size", type=int, default=768)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--intermediate", type=int, default=512)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--train-conversations", type=int, default=40000)
    ap.add_argument("--heldout-conversations", type=int, default=150)
    ap.add_argument("--val-conversations", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--inventory-seed", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-krait", action="store_true", help="skip the evaluation with Krait's Python binding")
    args = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    import tokenizers
    import transformers
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM
    transformers.logging.set_verbosity_error()

    def log(msg):
        print(f"[{time.time() - t_start:7.1f}s] {msg}", flush=True)

    # ---- data --------------------------------------------------------------------------------------------------
    inv = make_inventory(args.inventory_seed)
    for p, items in inv.items():
        log(f"inventory {p}: " + ", ".join(f"{c} {pr} EUR x{st}" for c, (pr, st) in items.items()))

    def conversations(seed: int, n: int, exclude: set[str]) -> list[list[dict]]:
        rng, out, seen = random.Random(seed), [], set()
        while len(out) < n:
            msgs = make_conversation(rng, inv)
            key = json.dumps(msgs)
            if key not in exclude and key not in seen:
                seen.add(key)
                out.append(msgs)
        return out

    # Held-out and validation conversations are distinct from each other and from every training conversation
    # (the training stream may repeat its own conversations: short ones recur, as in any sample of the task).
    heldout_convs = conversations(args.seed + 1000, args.heldout_conversations, set())
    held_keys = {json.dumps(m) for m in heldout_convs}
    val_convs = conversations(args.seed + 2000, args.val_conversations, held_keys)
    excluded = held_keys | {json.dumps(m) for m in val_convs}
    rng = random.Random(args.seed)
    train_convs, rejected = [], 0
    while len(train_convs) < args.train_conversations:
        msgs = make_conversation(rng, inv)
        if json.dumps(msgs) in excluded:
            rejected += 1
            continue
        train_convs.append(msgs)
    log(f"{len(train_convs)} training conversations ({len({json.dumps(m) for m in train_convs})} distinct; "
        f"{rejected} rejected as held-out/validation), {len(val_convs)} validation, {len(heldout_convs)} held-out")

    # ---- tokenizer ---------------------------------------------------------------------------------------------
    from jinja2 import Template
    render = Template(CHAT_TEMPLATE)
    tok_texts = [render.render(messages=m, bos_token=BOS, add_generation_prompt=False) for m in train_convs[:5000]]
    tok = train_tokenizer(tok_texts, args.vocab_size)
    hf_tok = make_hf_tokenizer(tok)
    assert hf_tok.apply_chat_template(train_convs[0], tokenize=False) == tok_texts[0]
    train_enc = [encode_conversation(hf_tok, m) for m in train_convs]
    val_enc = [encode_conversation(hf_tok, m) for m in val_convs]
    held_enc = [encode_conversation(hf_tok, m) for m in heldout_convs]
    lengths = [len(ids) for ids, _ in train_enc]
    log(f"tokenizer vocab {tok.get_vocab_size()}; training conversations {min(lengths)}-{max(lengths)} tokens "
        f"(mean {sum(lengths) / len(lengths):.1f})")

    # ---- model -------------------------------------------------------------------------------------------------
    im_end = tok.token_to_id(IM_END)
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=args.hidden,
                         intermediate_size=args.intermediate, num_hidden_layers=args.layers,
                         num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
                         max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=10000.0,
                         tie_word_embeddings=True, bos_token_id=0, eos_token_id=im_end, pad_token_id=0,
                         hidden_act="silu", attention_bias=False, mlp_bias=False)
    model = LlamaForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())  # the tied lm_head is counted once
    log(f"model: hidden {args.hidden}, layers {args.layers}, heads {args.heads} (kv {args.kv_heads}), "
        f"intermediate {args.intermediate}, {n_params} parameters")

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and "embed" not in name else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))

    # ---- training ----------------------------------------------------------------------------------------------
    gen = torch.Generator().manual_seed(args.seed)
    batches: list[list[int]] = []
    history, recent = [], []
    model.train()
    t_train = time.time()
    steps_done, stopped_early = 0, False
    for step in range(args.steps):
        if time.time() - t_train > args.time_limit_min * 60:
            stopped_early = True
            log(f"time limit reached after {step} steps")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        if not batches:
            batches = length_bucketed_batches(lengths, args.batch, gen)
        ids, labels = collate([train_enc[i] for i in batches.pop()], 0)
        logits = model(input_ids=ids).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps_done = step + 1
        recent.append(loss.item())
        if steps_done % args.log_every == 0 or steps_done == args.steps:
            avg = sum(recent[-args.log_every:]) / len(recent[-args.log_every:])
            log(f"step {steps_done}/{args.steps} loss {avg:.4f} lr {lr_at(step, args):.2e} "
                f"{(time.time() - t_train) / steps_done:.2f}s/step")
            history.append({"step": steps_done, "train_loss": round(avg, 4)})
        if steps_done % args.eval_every == 0 or steps_done == args.steps:
            acc = teacher_forced_accuracy(model, val_enc, 0)
            log(f"step {steps_done} validation reply accuracy {100 * acc:.1f}% (teacher-forced argmax)")
            if history and history[-1]["step"] == steps_done:
                history[-1]["val_accuracy"] = round(acc, 4)
    train_seconds = time.time() - t_train
    model.eval()
    tf_acc = teacher_forced_accuracy(model, held_enc, 0)
    log(f"training: {steps_done} steps in {train_seconds / 60:.1f} min; held-out teacher-forced reply accuracy "
        f"{100 * tf_acc:.2f}%")

    # ---- save --------------------------------------------------------------------------------------------------
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=im_end, pad_token_id=0,
                                               do_sample=False, max_new_tokens=args.max_new_tokens)
    model.save_pretrained(out, safe_serialization=True)
    hf_tok.save_pretrained(out)
    tc_path = out / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text())
    # transformers 5 writes its internal class name "TokenizersBackend"; the public name also loads in 4.x.
    tc["tokenizer_class"] = "PreTrainedTokenizerFast"
    tc["chat_template"] = CHAT_TEMPLATE  # kept in tokenizer_config.json (transformers 5 may write a .jinja file)
    tc_path.write_text(json.dumps(tc, indent=2) + "\n")
    (out / "chat_template.jinja").unlink(missing_ok=True)
    for f in out.iterdir():
        f.chmod(0o644)  # save_pretrained creates model.safetensors with mode 0600

    # ---- held-out evaluation with transformers (greedy), from the saved folder ---------------------------------
    examples = heldout_examples(hf_tok, heldout_convs)
    model2 = LlamaForCausalLM.from_pretrained(out).eval()
    tok2 = AutoTokenizer.from_pretrained(out)
    assert tok2.apply_chat_template(heldout_convs[0][:1], tokenize=False, add_generation_prompt=True) == \
        examples[0]["prompt"], "the saved chat template renders differently"
    t_eval = time.time()
    hf_ids = []
    with torch.no_grad():
        for ex in examples:
            prompt = tok2(ex["prompt"], add_special_tokens=False, return_tensors="pt").input_ids
            seq = model2.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                  max_new_tokens=args.max_new_tokens, eos_token_id=im_end, pad_token_id=0)
            hf_ids.append(seq[0, prompt.shape[1]:].tolist())
    hf_seconds = time.time() - t_eval

    def judge(ids_list):
        right, by_turn, stopped = 0, {}, 0
        for ex, ids in zip(examples, ids_list):
            ended = bool(ids) and ids[-1] == im_end
            text = tok2.decode(ids, skip_special_tokens=True)
            ok = ended and text == ex["expected"]
            right += ok
            stopped += ended
            r, n = by_turn.get(ex["turn"], (0, 0))
            by_turn[ex["turn"]] = (r + ok, n + 1)
        return right / len(examples), {t: (r, n) for t, (r, n) in sorted(by_turn.items())}, stopped

    hf_acc, hf_by_turn, hf_stopped = judge(hf_ids)
    # Held-out conversations never occur in training, but their beginnings may (a single question recurs
    # often): also judge the replies whose prompt, the conversation so far, no training conversation begins with.
    train_prefixes = {json.dumps(m[:t + 1]) for m in train_convs for t in range(0, len(m), 2)}
    novel = [i for i, ex in enumerate(examples)
             if json.dumps(heldout_convs[ex["conversation"]][:2 * ex["turn"] - 1]) not in train_prefixes]
    novel_right = sum(tok2.decode(hf_ids[i], skip_special_tokens=True) == examples[i]["expected"]
                      and hf_ids[i][-1:] == [im_end] for i in novel)
    later = [(r, n) for t, (r, n) in hf_by_turn.items() if t > 1]
    hf_later = sum(r for r, _ in later) / max(1, sum(n for _, n in later))
    log(f"held-out accuracy (transformers greedy, exact reply + <|im_end|>): {100 * hf_acc:.2f}% of "
        f"{len(examples)} replies in {len(heldout_convs)} conversations; turns >= 2: {100 * hf_later:.2f}%; "
        f"by turn {hf_by_turn}; {hf_stopped} stopped at <|im_end|>; {hf_seconds:.1f}s")
    log(f"  replies to prompts that begin no training conversation: {novel_right}/{len(novel)}")
    for ex, ids in zip(examples, hf_ids):
        text = tok2.decode(ids, skip_special_tokens=True)
        if text != ex["expected"] or not ids or ids[-1] != im_end:
            log(f"  wrong: turn {ex['turn']} expected {ex['expected']!r} got {text!r}")

    # ---- the same prompts through Krait ------------------------------------------------------------------------
    krait_result = None
    if not args.no_krait:
        t_k = time.time()
        kr_ids, kr_version = krait_greedy(out, examples, args.max_new_tokens, args.threads)
        if kr_ids is None:
            log("krait is not importable: skipped the Krait evaluation (build it with tools/build_python.sh)")
        else:
            kr_acc, kr_by_turn, kr_stopped = judge(kr_ids)
            mismatches = [i for i, (a, b) in enumerate(zip(hf_ids, kr_ids)) if a != b]
            krait_result = {"version": kr_version, "accuracy": kr_acc, "by_turn": kr_by_turn,
                            "stopped": kr_stopped, "mismatches": len(mismatches),
                            "seconds": round(time.time() - t_k, 1)}
            log(f"held-out accuracy (Krait {kr_version} greedy): {100 * kr_acc:.2f}%; {kr_stopped} stopped at "
                f"<|im_end|>; continuations differing from transformers: {len(mismatches)} of {len(examples)}")
            for i in mismatches:
                log(f"  mismatch {i}: transformers {hf_ids[i]} krait {kr_ids[i]}")

    # ---- held-out file, demo conversation, model card ----------------------------------------------------------
    with open(out / "heldout.jsonl", "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    demo = []
    with torch.no_grad():
        msgs = []
        for q in DEMO_TURNS:
            msgs.append({"role": "user", "content": q})
            prompt_text = tok2.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            prompt = tok2(prompt_text, add_special_tokens=False, return_tensors="pt").input_ids
            seq = model2.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                  max_new_tokens=args.max_new_tokens, eos_token_id=im_end, pad_token_id=0)
            reply = tok2.decode(seq[0, prompt.shape[1]:], skip_special_tokens=True)
            msgs.append({"role": "assistant", "content": reply})
            demo.append((q, reply))
            log(f"demo: {q!r} -> {reply!r}")

    weights = out / "model.safetensors"
    stats = {
        "inventory": inv, "parameters": n_params, "weights_bytes": weights.stat().st_size,
        "train_conversations": len(train_convs), "train_distinct": len({json.dumps(m) for m in train_convs}),
        "heldout_conversations": len(heldout_convs), "heldout_replies": len(examples),
        "steps": steps_done, "stopped_early": stopped_early, "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.time() - t_start, 1), "history": history, "tf_accuracy": tf_acc,
        "hf_accuracy": hf_acc, "hf_later": hf_later, "hf_by_turn": hf_by_turn, "hf_stopped": hf_stopped,
        "novel": (novel_right, len(novel)),
        "krait": krait_result, "demo": demo,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__, "python": sys.version.split()[0]},
    }
    write_card(out, args, config, stats)
    log(f"wrote {out} (model.safetensors {weights.stat().st_size} bytes) in {stats['total_seconds'] / 60:.1f} min")
    return 0


def write_card(out: pathlib.Path, args, config, s) -> None:
    inv_rows = "\n".join(f"| {p} | " + "; ".join(f"{c}: {pr} euros, {st} in stock" for c, (pr, st) in items.items())
                         + " |" for p, items in s["inventory"].items())
    hist = "\n".join(f"| {h['step']} | {h['train_loss']:.4f} | {100 * h['val_accuracy']:.1f}% |"
                     for h in s["history"] if "val_accuracy" in h)
    by_turn = ", ".join(f"turn {t}: {r}/{n}" for t, (r, n) in s["hf_by_turn"].items())
    k = s["krait"]
    if k:
        krait_line = (f"- Krait {k['version']} (Python binding, greedy, same prompts): **{100 * k['accuracy']:.2f}%**; "
                      f"{k['stopped']} of {s['heldout_replies']} replies stopped at `<|im_end|>`. Greedy continuations "
                      f"differing from transformers' (token ids): **{k['mismatches']}** of {s['heldout_replies']}.")
    else:
        krait_line = "- Krait: not evaluated in this run (the krait package was not importable)."
    demo_lines = "\n".join(f"    user:      {q}\n    assistant: {a}" for q, a in s["demo"])
    text = f"""# chat-demo: Krait's demo chat model (a shop assistant, multi-turn)

A deliberately tiny Llama model (HF `LlamaForCausalLM`, model_type `llama`) with a ChatML-style chat template of its
own, for Krait's demos and end-to-end tests of conversations. It answers questions about the inventory of a made-up
homeware shop, including follow-ups that refer to earlier turns, and knows nothing else.

{demo_lines}

## Data (synthetic; licence: none needed, generated by the script)
Everything is generated by `tools/train_demo_chat.py`; nothing is downloaded. The shop (inventory seed
{args.inventory_seed}) sells {len(PRODUCTS)} products in {COLOURS_PER_PRODUCT} colours each (of {len(COLOURS)}):

| product | colours, prices, stock |
|---|---|
{inv_rows}

The inventory is *not* in the prompt: the model learned it. Conversations have 2-4 turns: a question about the
price or the stock of an item, or the colours of a product, then follow-ups that name only what changes ("And how
many are in stock?", "What about the blue one?", "And the black mug?", "How much is the green one?" after a colours
question), or a fresh question. Items the shop does not sell and items out of stock have their own replies. Every
reply is a deterministic function of the inventory and the conversation so far.
- Training: {s['train_conversations']:,} conversations drawn with seed {args.seed} ({s['train_distinct']:,} distinct),
  none equal to a held-out or validation conversation.
- Validation: {args.val_conversations} conversations (seed {args.seed + 2000}), watched during training.
- Held-out: {s['heldout_conversations']} conversations (seed {args.seed + 1000}), {s['heldout_replies']} assistant
  replies, saved in `heldout.jsonl`: one line per reply with the rendered prompt (the conversation so far with the
  reference replies, ending in `<|im_start|>assistant\\n`), the expected reply, the conversation index and the turn.

## Tokenizer and chat template
`tokenizer.json`: byte-level BPE trained with HF `tokenizers` on 5,000 rendered training conversations (GPT-2 regex
pre-tokenizer, no prefix space, ByteLevel decoder, no post-processor: encoding adds no token), vocabulary
{config.vocab_size}. Added special tokens: `<|endoftext|>` = 0 (BOS and padding), `<|im_start|>` = 1,
`<|im_end|>` = 2 (end of turn, the EOS). `tokenizer_config.json` holds bos/eos/pad and the `chat_template`:

```jinja
{CHAT_TEMPLATE}
```

so a conversation renders as `<|endoftext|><|im_start|>user\\nHow much is the red kettle?<|im_end|>\\n<|im_start|>assistant\\n`
(with `add_generation_prompt=True`). Training data were rendered with transformers' `apply_chat_template`.

## Architecture (`config.json`, `model.safetensors`)
`LlamaForCausalLM`: vocab_size {config.vocab_size}, hidden_size {config.hidden_size}, intermediate_size
{config.intermediate_size} (SwiGLU), num_hidden_layers {config.num_hidden_layers}, num_attention_heads
{config.num_attention_heads}, num_key_value_heads {config.num_key_value_heads} (GQA, head_dim
{config.hidden_size // config.num_attention_heads}), RoPE theta {config.rope_theta if hasattr(config, 'rope_theta') else 10000.0},
max_position_embeddings {config.max_position_embeddings}, RMSNorm eps {config.rms_norm_eps}, tied embeddings, no biases.
bos_token_id 0, eos_token_id {config.eos_token_id} (`<|im_end|>`, also in `generation_config.json`), pad 0.
**{s['parameters']:,} parameters**, stored F32: `model.safetensors` is {s['weights_bytes']:,} bytes.

## Training
AdamW (betas 0.9/0.95, weight decay {args.weight_decay} on matrices except the embedding), peak learning rate
{args.lr}, {args.warmup} warm-up steps, cosine decay to 5%, gradient clipping 1.0, {args.batch} conversations per
step (right-padded), cross-entropy on the assistant replies and their `<|im_end|>` only. **{s['steps']} steps**
{'(stopped early by the time limit) ' if s['stopped_early'] else ''}in {s['train_seconds'] / 60:.1f} min; whole script
{s['total_seconds'] / 60:.1f} min. CPU only, `torch.set_num_threads({args.threads})` on a shared 2-core machine (the
times depend on what else runs there). Seed
{args.seed}. Software: torch {s['versions']['torch']}, transformers {s['versions']['transformers']}, tokenizers
{s['versions']['tokenizers']}, Python {s['versions']['python']}.

| step | train loss (mean of last {args.log_every} steps) | validation reply accuracy (teacher-forced argmax) |
|---|---|---|
{hist}

## Results (held-out, exact match of the whole reply, which must end with `<|im_end|>`)
- transformers greedy (`generate(do_sample=False)`, model and tokenizer reloaded from this folder):
  **{100 * s['hf_accuracy']:.2f}%** of {s['heldout_replies']} replies; second and later turns:
  **{100 * s['hf_later']:.2f}%**; {by_turn}. {s['hf_stopped']} replies stopped at `<|im_end|>`.
  No held-out conversation occurs in training, but their beginnings can (there are only so many first questions);
  the {s['novel'][1]} replies whose prompt begins no training conversation: {s['novel'][0]}/{s['novel'][1]} right.
{krait_line}

Demo conversation (transformers greedy):

{demo_lines}

## Reproduce
```sh
tools/setup_tools_env.sh                        # once: the pinned Python tools env in .venv/
PYTHON=.venv/bin/python tools/build_python.sh   # once: Krait's Python binding, for the Krait evaluation
.venv/bin/python tools/train_demo_chat.py
```
Takes about {s['total_seconds'] / 60:.0f} minutes on 2 CPU threads and overwrites this folder. Exact numbers can
differ slightly on other CPUs or library versions. `tests/python/test_chat_demo.py` replays `heldout.jsonl` with Krait.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
