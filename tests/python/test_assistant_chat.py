"""Conversations with pictures through krait.Assistant, on the chat-ready tiny LLaVA of
tools/gen_llava_fixtures.py (tests/fixtures/llava/llava_chat: a tokenizer, a LLaVA-1.5-style chat
template and transformers' two-turn conversation about a picture, LlavaProcessor + generate)."""
from pathlib import Path

import numpy as np
import pytest

import krait
from conftest import read_safetensors

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "tests" / "fixtures" / "llava" / "llava_chat"
PHOTO = ROOT / "tests" / "fixtures" / "images" / "samples" / "photo_300x199.png"
Q1 = "What colour is the big shape in this picture?"
Q2 = "And how many shapes are there?"


@pytest.fixture(scope="module")
def assistant():
    return krait.Assistant(CHAT, threads=1)


@pytest.fixture(scope="module")
def expected():
    return read_safetensors(CHAT / "expected.safetensors")


def test_two_turns_about_a_picture_match_transformers(assistant, expected):
    conv = assistant.conversation()
    tok = assistant.tokenizer
    reply1 = conv.say(Q1, images=[PHOTO], max_new_tokens=8)
    assert reply1 == tok.decode(expected["turn1_reply"].tolist(), skip_special_tokens=True)
    assert conv.stats["images_encoded"] + conv.stats["images_cached"] == 1
    reply2 = conv.say(Q2, max_new_tokens=8)
    assert reply2 == tok.decode(expected["turn2_reply"].tolist(), skip_special_tokens=True)
    # The second turn kept the picture: at least the first prompt was reused (its last token runs again).
    assert conv.stats["reused_tokens"] >= len(expected["turn1_ids"]) - 1
    assert [m["role"] for m in conv.history] == ["user", "assistant", "user", "assistant"]


def test_pictures_as_pixels_bytes_or_arrays_give_the_same_reply(assistant, expected):
    want = assistant.conversation().say(Q1, images=PHOTO, max_new_tokens=8)
    pixels = assistant.preprocess(PHOTO)
    assert assistant.conversation().say(Q1, pixel_values=pixels, max_new_tokens=8) == want
    assert assistant.conversation().say(Q1, images=[PHOTO.read_bytes()], max_new_tokens=8) == want
    assert assistant.conversation().say(Q1, images=[expected["image"]], max_new_tokens=8) == want
    # Streaming: the pieces make the same reply.
    pieces = list(assistant.conversation().say(Q1, images=[PHOTO], max_new_tokens=8, stream=True))
    assert "".join(pieces) == want


def test_bad_pictures_are_refused_and_the_conversation_goes_on(assistant):
    conv = assistant.conversation()
    with pytest.raises(krait.KraitInvalidArgumentError, match="not both"):
        conv.say(Q1, images=[PHOTO], pixel_values=assistant.preprocess(PHOTO))
    with pytest.raises(krait.KraitInvalidArgumentError, match="32x32"):
        conv.say(Q1, pixel_values=np.zeros((1, 3, 32, 32), np.float32))
    assert conv.history == []
    assert conv.say(Q1, images=[PHOTO], max_new_tokens=8)


def test_a_conversation_with_a_picture_is_saved_and_loaded_with_it(assistant, tmp_path):
    conv = assistant.conversation()
    conv.say(Q1, images=[PHOTO], max_new_tokens=8)
    conv.save(tmp_path / "conversation.bin")
    loaded = assistant.load_conversation(tmp_path / "conversation.bin")
    assert loaded.history == conv.history
    assert loaded.say(Q2, max_new_tokens=8) == conv.say(Q2, max_new_tokens=8)
    assert loaded.stats["images_encoded"] == 0 and loaded.stats["images_cached"] == 0


def test_pictures_need_an_assistant():
    model = krait.SequenceModel(ROOT / "models" / "chat-demo", threads=1)
    with pytest.raises(krait.KraitWrongKindError):
        model.conversation().say("hello", pixel_values=np.zeros((1, 3, 30, 30), np.float32))


def test_chat_takes_transformers_messages_with_image_parts(assistant, expected):
    tok = assistant.tokenizer
    messages = [{"role": "user", "content": [{"type": "image", "image": str(PHOTO)}, {"type": "text", "text": Q1}]}]
    reply1 = assistant.chat(messages, max_new_tokens=8)
    assert reply1 == tok.decode(expected["turn1_reply"].tolist(), skip_special_tokens=True)
    messages += [{"role": "assistant", "content": reply1}, {"role": "user", "content": Q2}]
    assert assistant.chat(messages, max_new_tokens=8) == tok.decode(expected["turn2_reply"].tolist(),
                                                                     skip_special_tokens=True)
    assert "".join(assistant.chat(messages, max_new_tokens=8, stream=True)) == \
        tok.decode(expected["turn2_reply"].tolist(), skip_special_tokens=True)
    with pytest.raises(krait.KraitInvalidArgumentError, match="neither"):
        assistant.chat([{"role": "user", "content": [{"type": "video"}]}])
