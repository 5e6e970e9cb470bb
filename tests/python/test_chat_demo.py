"""The demo chat model (models/chat-demo, trained by tools/train_demo_chat.py) through krait.SequenceModel.

models/chat-demo/heldout.jsonl holds held-out conversations of the model's task (a shop assistant), one line per
assistant turn: the prompt already rendered with the model's chat template (the conversation so far, ending with
"<|im_start|>assistant\\n") and the expected reply. The tests render nothing themselves: they greedy-decode every
committed prompt (all of them, a few hundred short replies: seconds on 2 cores) and check the exact-match accuracy,
on the second and later turns too, and that each reply ends at the end-of-turn token <|im_end|>.
"""

from __future__ import annotations

import json

import pytest

import krait
from conftest import ROOT

CHAT_MODEL = ROOT / "models" / "chat-demo"
MAX_NEW_TOKENS = 32  # the longest expected reply is about 20 tokens
MIN_ACCURACY = 0.95


@pytest.fixture(scope="module")
def chat_model():
    return krait.SequenceModel(CHAT_MODEL, threads=2)


@pytest.fixture(scope="module")
def heldout():
    lines = (CHAT_MODEL / "heldout.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def replies(chat_model, heldout):
    """Krait's greedy reply (ids, text) to every held-out prompt."""
    out = []
    for ex in heldout:
        r = chat_model.generate(ex["prompt"], max_new_tokens=MAX_NEW_TOKENS, temperature=0)
        out.append((list(r.ids), r.text))
    return out


def test_end_of_turn_is_the_eos(chat_model):
    config = json.loads((CHAT_MODEL / "tokenizer_config.json").read_text())
    assert config["eos_token"] == "<|im_end|>"
    assert "<|im_start|>" in config["chat_template"]
    im_end = chat_model.tokenizer.encode("<|im_end|>")
    assert im_end == [chat_model.info["eos_token_id"]]


def test_generation_stops_at_the_end_of_turn(chat_model, replies):
    eos = chat_model.info["eos_token_id"]
    unfinished = [i for i, (ids, _) in enumerate(replies) if not ids or ids[-1] != eos]
    assert not unfinished, f"{len(unfinished)} replies did not end with <|im_end|>, e.g. {replies[unfinished[0]]}"
    # <|im_end|> is the last token and nothing of it shows in the text.
    assert all(eos not in ids[:-1] and "<|im_end|>" not in text for ids, text in replies)


def test_heldout_accuracy(heldout, replies):
    assert len(heldout) >= 100
    right = [ex["expected"] == text for ex, (_, text) in zip(heldout, replies)]
    later = [ok for ex, ok in zip(heldout, right) if ex["turn"] > 1]
    assert len(later) >= 50  # follow-up turns are judged too
    accuracy, later_accuracy = sum(right) / len(right), sum(later) / len(later)
    wrong = [(ex["expected"], text) for ex, (_, text), ok in zip(heldout, replies, right) if not ok]
    assert accuracy >= MIN_ACCURACY, f"held-out accuracy {accuracy:.3f}; wrong (expected, got): {wrong[:5]}"
    assert later_accuracy >= MIN_ACCURACY, f"turns >= 2: accuracy {later_accuracy:.3f}; wrong: {wrong[:5]}"


def test_follow_up_uses_the_conversation(chat_model, heldout):
    """The same follow-up question after two different first turns gets two different, right replies: the
    model reads the conversation, not just the last question."""
    by_question: dict[str, list[dict]] = {}
    for ex in heldout:
        if ex["turn"] == 2:
            last_user = ex["prompt"].rsplit("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]
            by_question.setdefault(last_user, []).append(ex)
    pairs = [exs for exs in by_question.values() if len({e["expected"] for e in exs}) > 1]
    assert pairs, "heldout.jsonl has no follow-up asked in two different conversations"
    exs = pairs[0]
    got = [chat_model.generate(e["prompt"], max_new_tokens=MAX_NEW_TOKENS, temperature=0).text for e in exs]
    assert len(set(got)) > 1
    assert sum(g == e["expected"] for g, e in zip(got, exs)) >= len(exs) - 1


def _messages_of(prompt: str) -> list:
    """The (role, content) messages of a committed ChatML-style prompt (rendered by transformers)."""
    assert prompt.startswith("<|endoftext|>") and prompt.endswith("<|im_start|>assistant\n")
    body = prompt[len("<|endoftext|>"):-len("<|im_start|>assistant\n")]
    messages = []
    for turn in body.split("<|im_start|>")[1:]:
        role, _, rest = turn.partition("\n")
        content, end, tail = rest.partition("<|im_end|>\n")
        assert end and not tail, turn
        messages.append({"role": role, "content": content})
    return messages


def test_krait_renders_the_models_template_as_transformers_did(chat_model, heldout):
    """Every committed prompt was rendered by transformers' apply_chat_template (tools/train_demo_chat.py):
    Krait's Jinja interpreter renders the same messages with the model's template byte for byte."""
    for case in heldout:
        messages = _messages_of(case["prompt"])
        assert chat_model.apply_chat_template(messages, add_generation_prompt=True) == case["prompt"]
    # Without the generation prompt the text ends after the last message.
    last = _messages_of(heldout[0]["prompt"])
    assert chat_model.apply_chat_template(last, add_generation_prompt=False).endswith("<|im_end|>\n")


def test_chat_template_errors_are_clear(chat_model):
    with pytest.raises(krait.KraitInvalidArgumentError, match="raise_exception|bad role"):
        chat_model.apply_chat_template([{"role": "user", "content": "x"}],
                                       chat_template="{{ raise_exception('bad role') }}")
    with pytest.raises(krait.KraitUnsupportedError, match="include"):
        chat_model.apply_chat_template([{"role": "user", "content": "x"}], chat_template="{% include 'x' %}")
    # A caller's template and variables.
    text = chat_model.apply_chat_template([{"role": "user", "content": "héllo"}], chat_template=(
        "{% for m in messages %}[{{ m.role }}] {{ m.content | upper }}{% endfor %}{{ greeting }}"), greeting="!")
    assert text == "[user] HÉLLO!"
