"""The demo vision-language assistants through krait.Assistant: models/shapes-mamba-assistant (a composite assistant:
MambaVision encoder + projector + Mamba LM, image rows placed first) and models/shapes-llava (the LLaVA layout: CLIP +
Llama), both trained by tools/train_demo_assistant.py on generated pictures of coloured shapes.

Each model's heldout.jsonl holds held-out conversations (pictures under heldout/ never seen in training), one line per
assistant reply: the picture, the messages so far in transformers' chat format (the first user message with an image
part) and the expected reply. The tests replay every line through Krait (greedy, the model's own chat template) and
check the exact-match accuracy, then hold the README's two-turn conversation about models/samples/shapes_1.png.
"""

from __future__ import annotations

import copy
import json

import pytest

import krait
from conftest import ROOT

MODELS = {"shapes-mamba-assistant": 4, "shapes-llava": 64}   # model -> image rows per picture
SAMPLE = ROOT / "models" / "samples" / "shapes_1.png"
DEMO = [("What colour is the circle?", "The circle is red."),
        ("And where is it?", "The circle is at the top left.")]
MAX_NEW_TOKENS = 24  # the longest expected reply is about 12 tokens
MIN_ACCURACY = 0.90


@pytest.fixture(scope="module", params=sorted(MODELS))
def model_dir(request):
    return ROOT / "models" / request.param


@pytest.fixture(scope="module")
def assistant(model_dir):
    return krait.Assistant(model_dir, threads=1)


def heldout(model_dir):
    lines = (model_dir / "heldout.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def with_picture(messages, picture):
    """The messages with the picture's path in their image part."""
    messages = copy.deepcopy(messages)
    for m in messages:
        if not isinstance(m["content"], str):
            for part in m["content"]:
                if part["type"] == "image":
                    part["image"] = str(picture)
    return messages


def test_the_assistant_is_what_the_card_says(assistant, model_dir):
    assert assistant.image_rows == MODELS[model_dir.name]
    assert tuple(assistant.image_size) == (64, 64)
    end = assistant.tokenizer.encode("<|end|>")
    assert end == [assistant.info["eos_token_id"]]
    config = json.loads((model_dir / "config.json").read_text())
    if model_dir.name == "shapes-mamba-assistant":
        assert config["model_type"] == "krait_assistant" and config["image_placement"] == "prefix"
        assert "feature_level" not in config["image_encoder"]   # the encoder's output: 2x2 rows
    else:
        assert config["model_type"] == "llava"
    assert assistant.image_token_id == assistant.tokenizer.encode("<image>")[0]


def test_heldout_accuracy(assistant, model_dir):
    cases = heldout(model_dir)
    assert len(cases) >= 40
    replies = [assistant.chat(with_picture(c["messages"], model_dir / c["image"]), max_new_tokens=MAX_NEW_TOKENS)
               for c in cases]
    right = [r == c["expected"] for r, c in zip(replies, cases)]
    later = [ok for ok, c in zip(right, cases) if c["turn"] > 1]
    assert len(later) >= 10  # follow-ups that refer to the previous turn are judged too
    wrong = [(c["messages"][-1]["content"], c["expected"], r) for r, c, ok in zip(replies, cases, right) if not ok]
    accuracy = sum(right) / len(right)
    assert accuracy >= MIN_ACCURACY, f"{model_dir.name}: held-out accuracy {accuracy:.3f}; wrong: {wrong[:5]}"
    assert sum(later) / len(later) >= MIN_ACCURACY, f"{model_dir.name}: turns >= 2; wrong: {wrong[:5]}"


def test_readme_demo_conversation(assistant):
    conv = assistant.conversation()
    assert conv.say(DEMO[0][0], images=[SAMPLE], max_new_tokens=MAX_NEW_TOKENS) == DEMO[0][1]
    assert conv.stats["images_encoded"] + conv.stats["images_cached"] == 1
    # The follow-up refers to the previous turn: the picture stays in the conversation.
    assert conv.say(DEMO[1][0], max_new_tokens=MAX_NEW_TOKENS) == DEMO[1][1]
    assert [m["role"] for m in conv.history] == ["user", "assistant", "user", "assistant"]
    # The same questions in transformers' message format, in one call.
    messages = [{"role": "user", "content": [{"type": "image", "image": str(SAMPLE)},
                                             {"type": "text", "text": DEMO[0][0]}]},
                {"role": "assistant", "content": DEMO[0][1]},
                {"role": "user", "content": DEMO[1][0]}]
    assert assistant.chat(messages, max_new_tokens=MAX_NEW_TOKENS) == DEMO[1][1]
