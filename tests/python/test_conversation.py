"""Conversations (SequenceModel.conversation / load_conversation / chat) over krait_conversation_*.

The expected replies are never written down: each is what the same model gives from scratch for the same
messages (model.generate on the prompt its chat template renders, greedy), so a conversation that reuses its
state must agree with a fresh computation turn after turn, through undo, regenerate, edit, save and load.
"""

from __future__ import annotations

import pytest

import krait
from conftest import ROOT

CHAT_MODEL = ROOT / "models" / "chat-demo"
MAMBA_MODEL = ROOT / "models" / "mamba-demo"
MAX_NEW_TOKENS = 32  # the chat-demo model's replies are about 20 tokens at most

QUESTIONS = [
    "How much is the red teapot?",
    "And how many are in stock?",
    "What does the green fan cost?",
    "How many black toasters do you have?",
    "And how much is it?",
]

# A ChatML template for the Mamba demo model, which ships none.
CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def chat_model():
    return krait.SequenceModel(CHAT_MODEL, threads=2)


def fresh_reply(model, messages, chat_template=None, max_new_tokens=MAX_NEW_TOKENS):
    """The reply of a fresh computation: the rendered prompt generated from an empty context."""
    prompt = model.apply_chat_template(messages, add_generation_prompt=True, chat_template=chat_template)
    return model.generate(prompt, max_new_tokens=max_new_tokens, temperature=0).text


def test_each_turn_equals_a_fresh_computation(chat_model):
    conv = chat_model.conversation()
    messages = []
    for question in QUESTIONS:
        reply = conv.say(question, max_new_tokens=MAX_NEW_TOKENS)
        messages.append({"role": "user", "content": question})
        assert reply == fresh_reply(chat_model, messages)
        assert reply and "<|im_end|>" not in reply
        messages.append({"role": "assistant", "content": reply})
        assert conv.history == messages
        # Only the new turn is computed: everything before it is reused.
        stats = conv.stats
        assert stats["prefilled_tokens"] + stats["reused_tokens"] == stats["prompt_tokens"]
        if len(messages) > 2:
            assert stats["reused_tokens"] > 0
        if len(messages) > 4:
            assert stats["prefilled_tokens"] < stats["prompt_tokens"] // 2


def test_system_message_and_chat(chat_model):
    conv = chat_model.conversation(system="You are a shop assistant.")
    reply = conv.say(QUESTIONS[0], max_new_tokens=MAX_NEW_TOKENS)
    messages = [{"role": "system", "content": "You are a shop assistant."}, {"role": "user", "content": QUESTIONS[0]}]
    assert conv.history[:2] == messages
    assert reply == fresh_reply(chat_model, messages)
    # chat(): one call from scratch, same reply; streamed pieces join to it.
    assert chat_model.chat(messages, max_new_tokens=MAX_NEW_TOKENS) == reply
    stream = chat_model.chat(messages, max_new_tokens=MAX_NEW_TOKENS, stream=True)
    pieces = []
    while True:
        try:
            pieces.append(next(stream))
        except StopIteration as done:
            assert done.value == reply
            break
    assert "".join(pieces) == reply


def test_undo_regenerate_edit(chat_model):
    conv = chat_model.conversation()
    first = conv.say(QUESTIONS[0], max_new_tokens=MAX_NEW_TOKENS)
    second = conv.say(QUESTIONS[1], max_new_tokens=MAX_NEW_TOKENS)
    assert len(conv.history) == 4

    # Greedy: regenerating gives the same reply and keeps the history's length.
    assert conv.regenerate(max_new_tokens=MAX_NEW_TOKENS) == second
    assert len(conv.history) == 4

    conv.undo()  # drops the second question and its reply
    assert conv.history == [{"role": "user", "content": QUESTIONS[0]}, {"role": "assistant", "content": first}]
    other = conv.say(QUESTIONS[2], max_new_tokens=MAX_NEW_TOKENS)
    assert other == fresh_reply(chat_model, conv.history[:3])

    # Editing the first question drops everything after it; the reply is that of the new question.
    conv.edit(0, QUESTIONS[3])
    assert conv.history == [{"role": "user", "content": QUESTIONS[3]}]
    assert conv.reply(max_new_tokens=MAX_NEW_TOKENS) == fresh_reply(chat_model, conv.history[:1])
    follow_up = conv.say(QUESTIONS[4], max_new_tokens=MAX_NEW_TOKENS)
    assert follow_up == fresh_reply(chat_model, conv.history[:3])


def test_streaming_say(chat_model):
    conv = chat_model.conversation()
    expected = chat_model.conversation().say(QUESTIONS[0], max_new_tokens=MAX_NEW_TOKENS)
    pieces = list(conv.say(QUESTIONS[0], max_new_tokens=MAX_NEW_TOKENS, stream=True))
    assert "".join(pieces) == expected
    assert conv.history[-1] == {"role": "assistant", "content": expected}


def test_save_and_load_continue_the_same_conversation(chat_model, tmp_path):
    conv = chat_model.conversation()
    conv.say(QUESTIONS[0], max_new_tokens=MAX_NEW_TOKENS)
    path = tmp_path / "shop.krait-conversation"
    conv.save(path)
    loaded = chat_model.load_conversation(path)
    assert loaded.history == conv.history
    assert loaded.say(QUESTIONS[1], max_new_tokens=MAX_NEW_TOKENS) == conv.say(QUESTIONS[1],
                                                                               max_new_tokens=MAX_NEW_TOKENS)
    assert loaded.history == conv.history

    # A truncated or altered file is refused with a message, never trusted.
    data = path.read_bytes()
    bad = tmp_path / "bad"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(krait.KraitError):
        chat_model.load_conversation(bad)
    altered = bytearray(data)
    altered[len(altered) - 8] ^= 0x40
    bad.write_bytes(bytes(altered))
    with pytest.raises(krait.KraitError):
        chat_model.load_conversation(bad)


def test_a_file_of_another_model_is_refused(chat_model, tmp_path):
    mamba = krait.SequenceModel(MAMBA_MODEL, threads=2)
    conv = mamba.conversation(chat_template=CHATML)
    conv.say("Once upon a time", max_new_tokens=4)
    path = tmp_path / "mamba.krait-conversation"
    conv.save(path)
    with pytest.raises(krait.KraitError) as err:
        chat_model.load_conversation(path)
    assert "model" in str(err.value)


def test_mamba_conversation_equals_a_fresh_computation():
    mamba = krait.SequenceModel(MAMBA_MODEL, threads=2)
    conv = mamba.conversation(chat_template=CHATML)
    messages = []
    for text in ["Once upon a time", "The little dog", "and then"]:
        reply = conv.say(text, max_new_tokens=8)
        messages.append({"role": "user", "content": text})
        assert reply == fresh_reply(mamba, messages, chat_template=CHATML, max_new_tokens=8)
        messages.append({"role": "assistant", "content": reply})


def test_a_model_without_a_template_needs_one():
    mamba = krait.SequenceModel(MAMBA_MODEL, threads=2)
    with pytest.raises(krait.KraitError) as err:
        mamba.conversation().say("hi", max_new_tokens=2)
    assert "template" in str(err.value)


def test_bad_options_are_refused(chat_model):
    conv = chat_model.conversation()
    with pytest.raises(TypeError):
        conv.say("hi", temprature=0.5)
    with pytest.raises(krait.KraitError):
        conv.say("hi", max_new_tokens=0)
    with pytest.raises(krait.KraitError):
        conv.edit(5, "no such message")
    assert conv.history == []


def test_changing_adapters_between_turns_recomputes_what_they_change():
    """A turn computed with an adapter is not reused by a turn without it: the reply equals a fresh
    computation with the adapters of that turn only."""
    mamba = krait.SequenceModel(MAMBA_MODEL, threads=2)
    lora = mamba.load_adapter(ROOT / "models" / "mamba-demo-lora-licenses", "licenses")
    conv = mamba.conversation(chat_template=CHATML)
    first = conv.say("The license", max_new_tokens=8, adapters={lora: 1.0})
    messages = [{"role": "user", "content": "The license"}]
    prompt = mamba.apply_chat_template(messages, chat_template=CHATML)
    assert first == mamba.generate(prompt, max_new_tokens=8, temperature=0, adapters={lora: 1.0}).text
    messages.append({"role": "assistant", "content": first})
    second = conv.say("and then", max_new_tokens=8)
    assert conv.stats["reused_tokens"] == 0  # the first turn was computed with the adapter
    messages.append({"role": "user", "content": "and then"})
    assert second == fresh_reply(mamba, messages, chat_template=CHATML, max_new_tokens=8)
