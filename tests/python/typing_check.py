"""The public API as the tests use it, for ``mypy --strict`` (tests/python/test_typing.py, tools/test_wheel.sh).

It is type-checked, never collected by pytest (no test_ prefix) and not meant to run: each function
stands for one kind of use; ``reveal`` lines pin the types the stubs (krait/__init__.pyi) give, so a stub
that loosens a return type to Any or a union fails here.
"""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any, Dict, Generator, Iterator, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

import krait

ROOT = Path(__file__).resolve().parents[2]


def exact(value: object, expected: type) -> None:
    """Runtime twin of the static checks below (the checks are what matters)."""
    assert isinstance(value, expected)


def library() -> Tuple[str, str, str]:
    version: str = krait.__version__
    kernels: str = krait.cpu_kernels()
    products: str = krait.cpu_bf16_products()
    return version, kernels, products


def sequence_model(path: Path) -> None:
    model = krait.SequenceModel(path, threads=1, context_length=512, weights="stored", matmul="exact")
    model.threads = 2
    threads: Optional[int] = model.threads
    vocab: int = model.vocab_size
    info: Dict[str, Any] = model.info
    tok: Optional[krait.Tokenizer] = model.tokenizer
    logits: npt.NDArray[np.float32] = model.forward([[1, 2, 3]])
    logits = model.forward(np.array([[1, 2, 3]], dtype=np.int64))
    assert logits.shape[2] == vocab and threads == 2 and info["kind"] == "sequence" and tok is not None

    result: krait.GenerationResult = model.generate("Once upon a time", max_new_tokens=10)
    text: str = result.text
    ids: List[int] = result.ids
    result = model.generate([1, 2, 3], 10, 0.8, top_k=None, top_p=0.9, seed=None, stop=["\n"], stop_at_eos=False)
    result = model.generate(b"bytes prompt", stop="\n\n")

    stream: Generator[str, None, krait.GenerationResult] = model.generate("Once", stream=True)
    pieces: List[str] = list(stream)
    flag = bool(len(pieces) % 2)
    either = model.generate("Once", stream=flag)  # a bool that is not a literal: either result
    if isinstance(either, krait.GenerationResult):
        text = either.text
    else:
        text = "".join(either)
    print(text, ids)

    rendered: str = model.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                              enable_thinking=False)
    print(rendered)
    model.abort()
    model.clear_abort()


def streaming_with_result(model: krait.SequenceModel) -> krait.GenerationResult:
    gen = model.generate("Once upon a time", max_new_tokens=8, stream=True)
    while True:
        try:
            print(next(gen), end="")
        except StopIteration as stop:
            result: krait.GenerationResult = stop.value
            return result


def conversations(model: krait.SequenceModel, tmp: Path) -> None:
    conv: krait.Conversation = model.conversation("You are terse.")
    reply: str = conv.say("Hello!", max_new_tokens=16)
    reply = conv.reply(temperature=0.7, seed=3)
    reply = conv.regenerate()
    pieces: Iterator[str] = conv.say("And then?", stream=True)
    reply = "".join(pieces)
    conv.add_message("user", "Scripted turn")
    conv.undo()
    conv.edit(0, "Hello again!")
    history: List[Dict[str, str]] = conv.history
    stats: Dict[str, int] = conv.stats
    conv.save(tmp / "conversation.bin")
    again: krait.Conversation = model.load_conversation(tmp / "conversation.bin")
    print(reply, history[0]["role"], stats["prefilled_tokens"], again)
    answer: str = model.chat([{"role": "user", "content": "Hi"}], max_new_tokens=8)
    streamed: Generator[str, None, str] = model.chat([{"role": "user", "content": "Hi"}], stream=True)
    print(answer, "".join(streamed))


def sessions(model: krait.SequenceModel, tmp: Path) -> None:
    session: krait.Session = model.session()
    last: npt.NDArray[np.float32] = session.append("Once upon a time")
    state: krait.State = session.snapshot()
    n: int = state.n_tokens
    result: krait.GenerationResult = session.generate(max_new_tokens=5)
    pieces: Generator[str, None, krait.GenerationResult] = session.generate(" and", stream=True)
    print(last.argmax(), n, result.ids, list(pieces))
    session.restore(state)
    session.truncate(0)
    session.reset()
    session.save_state(tmp / "story.state")
    session.load_state(str(tmp / "story.state"))
    tokens: List[int] = session.tokens
    count: int = len(session) + session.n_tokens
    print(tokens, count)


def tokenizers(path: Path) -> None:
    tok = krait.Tokenizer.from_file(path / "tokenizer.json")
    ids: List[int] = tok.encode("hello", add_special_tokens=False)
    text: str = tok.decode(ids, skip_special_tokens=True)
    size: int = tok.vocab_size + len(tok)
    print(text, size)


def adapters(model: krait.SequenceModel, adapter_dir: Path) -> None:
    style: krait.Adapter = model.load_adapter(adapter_dir, name="style")
    targets: List[krait.AdapterTarget] = style.targets
    first: krait.AdapterTarget = targets[0]
    described: Dict[str, Any] = first._asdict()
    facts: Tuple[str, str, int, float, bool] = (first.module, first.kind, first.rank, first.scaling, first.replaced)
    print(style.name, style.path, style.max_rank, style.lora_alpha, style.use_rslora, style.num_parameters,
          style.labels, style.loaded, described, facts)
    loaded: Dict[str, krait.Adapter] = model.adapters
    chosen: krait.AdaptersLike = {style: 1.0, "style": 0.5}
    model.generate("Once", adapters={style: 1.0})
    model.forward([1, 2], adapters={"style": -0.5})
    model.forward([1, 2], adapters=None)
    model.unload_adapter(style)
    model.unload_adapter("style")
    print(loaded, chosen)


def classifiers(path: Path, pictures: List[Path]) -> None:
    clf = krait.Classifier(path, threads=1, batch_size=0, max_image_pixels=1 << 24,
                           preprocessor_config={"size": {"height": 32, "width": 32}})
    one: List[Tuple[str, float]] = clf.classify(pictures[0], top_k=3)
    label, probability = one[0]
    many: List[List[Tuple[str, float]]] = clf.classify(pictures, top_k=1)
    mixed: List[List[Tuple[str, float]]] = clf.classify([pictures[0], pictures[1].read_bytes(),
                                                         np.zeros((28, 28), np.uint8)])
    pixels = np.zeros((2, 3, 28, 28), np.float32)
    logits: npt.NDArray[np.float32] = clf.forward(pixels)
    labels: List[str] = clf.labels
    size: Tuple[int, int] = clf.image_size
    info: Dict[str, Any] = clf.info
    print(label, probability + 1.0, many, mixed, logits.shape, labels, size, info, clf.num_labels, clf.describe())
    head = clf.load_adapter(path / "lora")
    print(clf.labels_for({head: 1.0}), clf.classify(pictures[0], adapters={head: 1.0}))


def assistants(path: Path, picture: Path) -> None:
    assistant = krait.Assistant(path, threads=1)
    pixels: npt.NDArray[np.float32] = assistant.preprocess(picture)
    pixels = assistant.preprocess(picture.read_bytes())
    rows: int = assistant.image_rows
    token: int = assistant.image_token_id
    placement: str = assistant.image_placement
    size: Tuple[int, int] = assistant.image_size
    features: npt.NDArray[np.float32] = assistant.encode(pixels)
    logits: npt.NDArray[np.float32] = assistant.forward([[token] * rows + [1, 2]], pixels)
    result: krait.GenerationResult = assistant.generate("What is it?", images=[picture], max_new_tokens=8)
    result = assistant.generate("What is it?", images=picture)
    result = assistant.generate("What is it?", pixel_values=pixels)
    streamed: Generator[str, None, krait.GenerationResult] = assistant.generate("What?", images=[picture],
                                                                                stream=True)
    conv = assistant.conversation()
    first: str = conv.say("What colour is the circle?", images=[picture], max_new_tokens=24)
    second: str = conv.say("And where is it?")
    reply: str = assistant.chat([{"role": "user", "content": [{"type": "image", "image": str(picture)},
                                                              {"type": "text", "text": "What is it?"}]}])
    print(placement, size, features.shape, logits.shape, result, list(streamed), first, second, reply)


def errors(path: Path) -> None:
    try:
        krait.SequenceModel(path / "missing")
    except krait.KraitIOError as exc:
        status: int = exc.status
        name: str = exc.status_name
        message: str = exc.message
        assert status == krait.Status.IO and isinstance(exc, OSError)
        back = pickle.loads(pickle.dumps(exc))
        print(name, message, back)
    except krait.KraitError as exc:
        print(exc.status)


def threads(model: krait.SequenceModel) -> None:
    results: List[str] = []

    def work() -> None:
        results.append(model.generate("Once", max_new_tokens=4).text)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()


def main() -> None:
    print(library())
    model = krait.SequenceModel(ROOT / "models" / "mamba-demo")
    sequence_model(ROOT / "models" / "mamba-demo")
    print(streaming_with_result(model))
    threads(model)
    exact(model, krait.SequenceModel)


if __name__ == "__main__":
    main()
