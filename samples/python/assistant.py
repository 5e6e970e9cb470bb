#!/usr/bin/env python3
"""assistant.py: two questions about a picture to a vision-language assistant.

    python3 samples/python/assistant.py [MODEL_DIR [PICTURE [QUESTION...]]]

Defaults: models/shapes-mamba-assistant (a composite assistant: a MambaVision image encoder, a projector
and a Mamba language model, trained on pictures of coloured shapes), models/samples/shapes_1.png and
the questions "What colour is the circle?" and "And where is it?". Any LLaVA directory works too.

The picture goes with the first question only. The second one refers to it: the conversation keeps
the picture in its history and reuses the session's state after it, so the image encoder does not
run again (the stats after each reply say so).
"""

from __future__ import annotations

import sys
from pathlib import Path

import krait

ROOT = Path(__file__).resolve().parents[2]  # the repository: samples/python/assistant.py
QUESTIONS = ["What colour is the circle?", "And where is it?"]


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    model_dir = Path(argv[0]) if len(argv) > 0 else ROOT / "models" / "shapes-mamba-assistant"
    picture = Path(argv[1]) if len(argv) > 1 else ROOT / "models" / "samples" / "shapes_1.png"
    questions = argv[2:] or QUESTIONS

    assistant = krait.Assistant(model_dir)
    height, width = assistant.image_size
    print(f"{model_dir.name}: {assistant.info['architecture']}, pictures {height}x{width} -> "
          f"{assistant.image_rows} rows each, placed {assistant.image_placement}")

    conversation = assistant.conversation()
    for turn, question in enumerate(questions):
        print(f"user: {question}" + (f"  [+ {picture.name}]" if turn == 0 else ""))
        # images=: paths, encoded bytes, uint8 arrays or PIL images, preprocessed as the model says.
        reply = conversation.say(question, images=[picture] if turn == 0 else None, max_new_tokens=32)
        stats = conversation.stats
        print(f"assistant: {reply}")
        print(f"   [pictures encoded: {stats['images_encoded']}, tokens reused: {stats['reused_tokens']}, "
              f"computed: {stats['prefilled_tokens']}]")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except krait.KraitError as error:  # e.g. KraitIOError for a missing model directory
        sys.exit(f"assistant.py: {error}")
