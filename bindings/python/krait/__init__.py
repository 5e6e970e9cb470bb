"""Krait: an embeddable inference SDK for Mamba language models (Python bindings of the C ABI).

    import krait
    model = krait.SequenceModel("models/mamba-demo")
    logits = model.forward([[1, 2, 3]])                     # float32 [batch, length, vocab]
    print(model.generate("Once upon a time", max_new_tokens=20).text)
    for piece in model.generate("Once upon a time", stream=True):
        print(piece, end="", flush=True)

Every failure raises krait.KraitError (or a subclass) with the library's message and ``.status``.
Compute calls (load, forward, generate, encode/decode) release the GIL.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Iterable, Iterator, List, Optional, Sequence, Union

from ._errors import (  # noqa: F401  (re-exported)
    KraitAbortedError,
    KraitBufferTooSmallError,
    KraitCancelledError,
    KraitError,
    KraitFormatError,
    KraitInternalError,
    KraitInvalidArgumentError,
    KraitIOError,
    KraitOutOfMemoryError,
    KraitUnsupportedError,
    KraitWrongKindError,
    Status,
)
from . import _krait

__all__ = [
    "__version__",
    "SequenceModel",
    "Tokenizer",
    "GenerationResult",
    "KraitError",
    "KraitInvalidArgumentError",
    "KraitIOError",
    "KraitFormatError",
    "KraitUnsupportedError",
    "KraitOutOfMemoryError",
    "KraitBufferTooSmallError",
    "KraitCancelledError",
    "KraitAbortedError",
    "KraitWrongKindError",
    "KraitInternalError",
    "Status",
]

#: Version of the Krait library loaded ("MAJOR.MINOR.PATCH", from krait_version_string()).
__version__: str = _krait.version_string()

# The ABI is stable within a major version, for libraries at least as new as the header.
if (_krait.version_number() // 1000000 != _krait.HEADER_VERSION_NUMBER // 1000000
        or _krait.version_number() < _krait.HEADER_VERSION_NUMBER):
    raise ImportError(f"krait: the loaded library is version {__version__}, but the module was built against "
                      f"{_krait.HEADER_VERSION_NUMBER}")

#: A tokenizer.json tokenizer: ``Tokenizer.from_file(path)``, ``.encode(text, add_special_tokens=False)``,
#: ``.decode(ids)``, ``.vocab_size``.
Tokenizer = _krait.Tokenizer
Tokenizer.__module__ = __name__

IdsLike = Union[Sequence[int], "numpy.ndarray"]  # noqa: F821


@dataclass(frozen=True)
class GenerationResult:
    """What SequenceModel.generate() produced: the new tokens' ids and their text.

    ``text`` is the decoded text of the new tokens with special tokens skipped (cut before a stop
    string if one matched); it is "" for a model directory without tokenizer.json.
    """

    text: str
    ids: List[int] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text


_DONE = object()


class SequenceModel:
    """A Mamba language model and one session on it.

    ``path`` is a Hugging Face model directory (config.json, model.safetensors or shards, and
    optionally tokenizer.json). ``threads``: worker threads for compute, None = all cores.
    """

    def __init__(self, path: Union[str, os.PathLike], device: str = "cpu", threads: Optional[int] = None):
        self._path = os.fspath(path)
        self._impl = _krait.SequenceModel(self._path, device, threads)

    def __repr__(self) -> str:
        return f"<krait.SequenceModel {self._path!r} vocab_size={self.vocab_size}>"

    @property
    def tokenizer(self) -> Optional[Tokenizer]:
        """The model's tokenizer (kept alive with the model), or None without tokenizer.json."""
        return self._impl.tokenizer

    @property
    def vocab_size(self) -> int:
        """Rows of the output logits."""
        return self._impl.vocab_size

    @property
    def info(self) -> dict:
        """Facts from krait_model_get_info(): kind, architecture, vocab_size, hidden_size, num_layers,
        state_size, num_parameters, weight_bytes, bos_token_id/eos_token_id (None if absent), source_dtype."""
        return self._impl.info

    @property
    def threads(self) -> Optional[int]:
        """Worker threads for this model's calls (None = all cores). Settable."""
        return self._impl.threads

    @threads.setter
    def threads(self, value: Optional[int]) -> None:
        self._impl.threads = value

    def abort(self) -> None:
        """Asks the call running on this model (from another thread) to stop; it raises KraitAbortedError.
        A streaming generation is better stopped by closing its generator."""
        self._impl.abort()

    def forward(self, input_ids: IdsLike):
        """Logits for every position: int ids [batch, length] (or [length], taken as [1, length])
        -> float32 numpy array [batch, length, vocab_size]. Stateless."""
        return self._impl.forward(input_ids)

    def generate(
        self,
        prompt_or_ids: Union[str, bytes, IdsLike],
        max_new_tokens: int = 20,
        temperature: float = 0.0,
        top_k: Optional[int] = 50,
        top_p: Optional[float] = 1.0,
        min_p: Optional[float] = 0.0,
        repetition_penalty: Optional[float] = 1.0,
        seed: Optional[int] = 0,
        stop: Union[None, str, Iterable[str]] = None,
        stream: bool = False,
        stop_at_eos: bool = True,
    ) -> Union[GenerationResult, Iterator[str]]:
        """Generates up to ``max_new_tokens`` tokens after the prompt, from an empty context.

        ``prompt_or_ids``: text (encoded with the model's tokenizer without special tokens) or token ids.
        ``temperature`` 0 is greedy (argmax); otherwise tokens are sampled after top_k (0/None = off),
        top_p, min_p and the repetition penalty (1.0 = off), reproducibly for a given ``seed``.
        Generation ends at max_new_tokens, at the EOS token (included in ids; unless stop_at_eos is False)
        or once the text ends with one of the ``stop`` strings (the text is cut before it).

        Returns a GenerationResult (``.text``, ``.ids``), or with ``stream=True`` a generator of text pieces
        as they are produced (their concatenation equals the non-streaming ``.text``; the generator's
        return value is the GenerationResult). Closing the generator early stops the generation.
        Text and stop strings need the model's tokenizer; without one, ``.text`` is "".
        """
        if stop is None:
            stop_list = []
        elif isinstance(stop, (str, bytes, bytearray)):
            stop_list = [stop]
        else:
            stop_list = list(stop)
        request = self._impl.prepare_generation(
            prompt_or_ids,
            int(max_new_tokens),
            0.0 if temperature is None else float(temperature),
            0 if top_k is None else int(top_k),
            1.0 if top_p is None else float(top_p),
            0.0 if min_p is None else float(min_p),
            1.0 if repetition_penalty is None else float(repetition_penalty),
            seed,
            stop_list,
            bool(stop_at_eos),
            bool(stream),
        )
        if stream:
            return self._stream(request)
        ids, text = self._impl.run_generation(request, None)
        return GenerationResult(text=text, ids=ids)

    def _stream(self, request) -> Iterator[str]:
        # The generation runs on a worker thread (GIL released except inside the callback); pieces
        # reach the consumer through a queue as soon as the library reports each token. The queue is
        # unbounded so the worker never blocks on a slow or abandoned consumer.
        pieces: "queue.SimpleQueue" = queue.SimpleQueue()
        stop_requested = threading.Event()
        outcome: dict = {}

        def on_piece(token_id: int, piece: str) -> bool:
            if piece:
                pieces.put(piece)
            return stop_requested.is_set()

        def worker() -> None:
            try:
                outcome["result"] = self._impl.run_generation(request, on_piece)
            except BaseException as exc:  # handed to the consumer
                outcome["error"] = exc
            finally:
                pieces.put(_DONE)

        thread = threading.Thread(target=worker, name="krait-generate", daemon=True)
        thread.start()
        try:
            while True:
                piece = pieces.get()
                if piece is _DONE:
                    break
                yield piece
        finally:
            if thread.is_alive():  # closed early (break, exception, garbage collection)
                stop_requested.set()
                self._impl.abort()  # also ends a long prefill
            thread.join()
        if "error" in outcome:
            raise outcome["error"]
        ids, text = outcome["result"]
        return GenerationResult(text=text, ids=ids)
