#!/usr/bin/env python3
"""chat.py: a multi-turn conversation with a chat model, formatted by the model's own chat template.

    python3 samples/python/chat.py [MODEL_DIR] [--interactive]

Default model: models/chat-demo (a tiny Llama that answers questions about a made-up shop's inventory,
including follow-ups that refer to earlier turns). Without --interactive it plays a scripted
conversation; with it, it reads your questions from standard input (an empty line ends).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator, List

import krait

ROOT = Path(__file__).resolve().parents[2]  # the repository: samples/python/chat.py
SCRIPT = ["How much is the red teapot?", "And how many are in stock?", "What about the blue one?",
          "What colours does the vase come in?", "How much is the yellow one?"]


def questions(interactive: bool) -> Iterator[str]:
    if not interactive:
        for question in SCRIPT:
            print(f"user: {question}")
            yield question
        return
    while True:
        try:
            line = input("user: ").strip()
        except EOFError:
            return
        if not line:
            return
        yield line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", type=Path, default=ROOT / "models" / "chat-demo")
    parser.add_argument("--interactive", action="store_true", help="ask your own questions")
    args = parser.parse_args()

    model = krait.SequenceModel(args.model)
    # A conversation owns a session that keeps the state of the turns so far: each reply computes
    # only the new tokens (the question and the reply), not the whole conversation again.
    conversation = model.conversation()
    for question in questions(args.interactive):
        print("assistant: ", end="", flush=True)
        reply: List[str] = []
        for piece in conversation.say(question, max_new_tokens=64, stream=True):  # greedy by default
            reply.append(piece)
            print(piece, end="", flush=True)
        stats = conversation.stats
        print(f"\n   [{stats['prompt_tokens']} tokens in the conversation, {stats['reused_tokens']} reused, "
              f"{stats['prefilled_tokens']} computed, {stats['generated_tokens']} generated]")

    # The history is what the chat template renders: a list of {"role": ..., "content": ...}.
    print(f"-- {len(conversation.history)} messages; the last reply was {conversation.history[-1]['content']!r}"
          if conversation.history else "-- no messages")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except krait.KraitError as error:
        sys.exit(f"chat.py: {error}")
