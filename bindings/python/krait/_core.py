"""The implementation of the krait package (private: use ``import krait``; krait/__init__.py
re-exports the public names, and __init__.pyi describes them for type checkers).

The compiled half is krait._krait (a pybind11 module over the C ABI, krait.h); the classes here wrap
it: argument defaults and conversions, GenerationResult, the streaming generators, mixed image inputs.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import (TYPE_CHECKING, Any, Callable, Dict, Generator, Iterable, List, Mapping, Optional, Protocol,
                    Sequence, Tuple, Type, TypeVar, Union, cast)

from . import _krait
from ._errors import KraitAbortedError, KraitError, KraitInvalidArgumentError, KraitWrongKindError

if TYPE_CHECKING:  # numpy is imported where it is used (annotations name it only)
    import numpy

#: Version of the Krait library loaded ("MAJOR.MINOR.PATCH", from krait_version_string()).
__version__: str = _krait.version_string()


def cpu_kernels() -> str:
    """The CPU kernels this process runs: ``"portable"``, ``"avx2"`` or ``"avx512"``.

    The library picks the best the CPU supports; the environment variable KRAIT_CPU_VARIANT, set
    before the first model is loaded, caps it (krait_cpu_kernels in krait.h).
    """
    return _krait.cpu_kernels()


def cpu_bf16_products() -> str:
    """The BF16 dot-product unit models loaded with ``matmul="bf16"`` use: ``"amx"``, ``"avx512_bf16"`` or
    ``"none"`` (then such models compute as ``matmul="exact"``).

    The library picks it from the CPU (it runs inside the avx512 kernels); the environment variable
    KRAIT_BF16_PRODUCTS, set before the first model is loaded, caps it (krait_cpu_bf16_products in krait.h).
    """
    return _krait.cpu_bf16_products()


# The ABI is stable within a major version, for libraries at least as new as the header.
if (_krait.version_number() // 1000000 != _krait.HEADER_VERSION_NUMBER // 1000000
        or _krait.version_number() < _krait.HEADER_VERSION_NUMBER):
    raise ImportError(f"krait: the loaded library is version {__version__}, but the module was built against "
                      f"{_krait.HEADER_VERSION_NUMBER}")

# The compiled classes that are public as they are (their docstrings are in the .cpp files; the
# module names them krait.Tokenizer, ... itself).
Tokenizer = _krait.Tokenizer
Adapter = _krait.Adapter
AdapterTarget = _krait.AdapterTarget
State = _krait.State

#: Token ids: a sequence of ints, or an integer numpy array ([length], or [batch, length] where a
#: call takes a batch).
IdsLike = Union[Sequence[int], Sequence[Sequence[int]], "numpy.ndarray"]  # noqa: F821

#: One image: a path (str or os.PathLike) of a PNG, JPEG, BMP or GIF file, its encoded bytes
#: (bytes, bytearray, memoryview), a uint8 numpy array [H, W] or [H, W, C] (C = 1, 3, 4), or a PIL image.
ImageLike = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, "numpy.ndarray", "_PILImage"]

class _PILImage(Protocol):
    # What is used of a PIL image (PIL.Image.Image has it): PIL itself is never required.
    def convert(self, mode: str) -> Any: ...


#: ``adapters=`` of the compute calls: {Adapter or adapter name: scale}. None or {} = the base model.
AdaptersLike = Optional[Mapping[Union[Adapter, str], float]]


class _AdapterImpl(Protocol):
    # What _AdapterMethods needs of a compiled model class.
    def load_adapter(self, path: str, name: Optional[str]) -> Adapter: ...
    def unload_adapter(self, adapter: Union[Adapter, str]) -> None: ...
    @property
    def adapters(self) -> Dict[str, Adapter]: ...


class _AdapterMethods:
    """Loading and unloading LoRA adapters on the model an object owns (``self._impl``): the members
    that _with_adapter_methods gives SequenceModel, Classifier and Assistant."""

    _impl: _AdapterImpl

    def load_adapter(self, path: Union[str, os.PathLike[str]], name: Optional[str] = None) -> Adapter:
        """Loads the PEFT LoRA adapter folder ``path`` (adapter_config.json + adapter_model.safetensors)
        for this model and returns it. ``name`` (default: the folder's name) identifies it in ``adapters``
        and in ``adapters=`` arguments; a name already loaded on this model raises
        KraitInvalidArgumentError. Every tensor is checked against the model first; on any error
        nothing is loaded. Releases the GIL while loading."""
        if name is not None and not isinstance(name, str):
            raise KraitInvalidArgumentError(f"name must be None or a str, got {type(name).__name__}")
        return self._impl.load_adapter(os.fspath(path), name)

    def unload_adapter(self, adapter: Union[Adapter, str]) -> None:
        """Drops the model's reference to an adapter (an Adapter or its name). Calls running with it
        finish with it; later calls cannot use it (``adapter.loaded`` becomes False). Its memory is
        freed once no call uses it."""
        self._impl.unload_adapter(adapter)

    @property
    def adapters(self) -> Dict[str, Adapter]:
        """The adapters loaded on this model, name -> Adapter, in load order (a copy)."""
        return self._impl.adapters


_ADAPTERS_DOC = """
    LoRA adapters: ``load_adapter(path)`` loads a PEFT adapter once, and each call chooses its own
    active set with ``adapters={adapter_or_name: scale, ...}`` (the scaled low-rank terms add up; None
    or {} = the base model), so the set may change freely between calls, and concurrent calls from
    several threads each use their own. Adapters may be loaded and unloaded while other threads run
    calls.
    """

_T = TypeVar("_T")


def _with_adapter_methods(cls: Type[_T]) -> Type[_T]:
    # Gives a model class load_adapter(), unload_adapter() and adapters (written once, in
    # _AdapterMethods) as members of its own, so help() lists them with its other methods.
    for name in ("load_adapter", "unload_adapter", "adapters"):
        setattr(cls, name, vars(_AdapterMethods)[name])
    cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n" + _ADAPTERS_DOC
    return cls


@dataclass(frozen=True)
class GenerationResult:
    """What SequenceModel.generate() produced: the new tokens' ids and their text.

    ``text`` is the decoded text of the new tokens with special tokens skipped (cut before a stop
    string if one matched); it is "" for a model directory without tokenizer.json. ``ids`` are the
    new tokens' ids (the EOS token included when generation ended on it). ``str(result)`` is the text.
    """

    text: str
    ids: List[int] = field(default_factory=list)

    def __str__(self) -> str:
        """The generated text."""
        return self.text


_DONE = object()


@_with_adapter_methods
class SequenceModel:
    """A language model (Mamba, or a Llama / Mistral / Qwen2 transformer) and one session on it.

    ``path`` is a Hugging Face model directory (config.json, model.safetensors or shards, and
    optionally tokenizer.json). ``threads``: worker threads for compute, None = all cores.
    ``context_length``: the most tokens the session's context holds (a transformer's KV cache is
    allocated for that many); None = min(max_position_embeddings, 4096). Mamba ignores it.
    ``weights``: "stored" (default) keeps F16/BF16 linear and embedding weights in their 16-bit type,
    read in place from the memory map or packed once into the GEMM's panels (half the memory of
    F32, faster decoding); "f32" upcasts them to F32 at load. ``info["weight_bytes"]`` says what the model holds.
    ``matmul``: "exact" (default) multiplies by the F32 activations, each output one F32 chain whatever
    the call's size; "bf16" lets calls of 16+ rows (prompts, image patches) with BF16 weights round the
    activations to BF16 and use the CPU's BF16 dot products (AMX, AVX512-BF16): several times faster
    prefill, results within ~1e-2 relative of exact (krait_matmul_precision).
    """

    def __init__(self, path: Union[str, os.PathLike[str]], device: str = "cpu", threads: Optional[int] = None, *,
                 context_length: Optional[int] = None, weights: str = "stored", matmul: str = "exact"):
        self._path = os.fspath(path)
        self._impl: _krait.SequenceModel = _krait.SequenceModel(self._path, device, threads, context_length, weights,
                                                                matmul)

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

    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True, *,
                            chat_template: Optional[str] = None, **variables: Any) -> str:
        """The conversation as text, rendered by the model's own chat template exactly as transformers'
        ``tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)``.

        ``messages``: dicts with "role" and "content" (a string, or a list of parts such as
        ``{"type": "text", "text": ...}``) and any other field the template reads. ``variables``:
        extra template variables (``tools=[...]``, ``documents=[...]``, ``enable_thinking=False``, ...).
        ``chat_template``: a Jinja template to use instead of the model's. Encode the result with
        ``add_special_tokens=False``: the template writes the special tokens.
        """
        return self._impl.apply_chat_template(json.dumps(list(messages), ensure_ascii=False), add_generation_prompt,
                                              json.dumps(variables, ensure_ascii=False), chat_template)

    @property
    def info(self) -> Dict[str, Any]:
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
        """Asks the call running on this model (from another thread), or the next one to start if none
        runs, to stop: that call raises KraitAbortedError, and the request is used up by it (a call
        that completes first returns normally and drops it), so the call after runs normally. Any
        thread. A streaming generation is better stopped by closing its generator."""
        self._impl.abort()

    def clear_abort(self) -> None:
        """Withdraws an abort() request that no call has used yet (a no-op if there is none)."""
        self._impl.clear_abort()

    def forward(self, input_ids: IdsLike, *, adapters: AdaptersLike = None) -> numpy.ndarray:
        """Logits for every position: int ids [batch, length] (or [length], taken as [1, length])
        -> float32 numpy array [batch, length, vocab_size]. Stateless. ``adapters``: the LoRA adapters
        active for this call, {Adapter or name: scale} (None or {} = the base model)."""
        return self._impl.forward(input_ids, adapters)

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
        *,
        adapters: AdaptersLike = None,
    ) -> Union[GenerationResult, Generator[str, None, GenerationResult]]:
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
        ``adapters``: the LoRA adapters active for this generation, {Adapter or name: scale}
        (None or {} = the base model).
        """
        request = self._request(prompt_or_ids, max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty,
                                seed, stop, stream, stop_at_eos, adapters)
        if stream:
            return _streamed(lambda on_piece: self._impl.run_generation(request, on_piece), self._impl,
                             lambda result: GenerationResult(text=result[1], ids=result[0]))
        ids, text = self._impl.run_generation(request, None)
        return GenerationResult(text=text, ids=ids)

    def _request(self, prompt_or_ids: Any, max_new_tokens: int, temperature: Optional[float], top_k: Optional[int],
                 top_p: Optional[float], min_p: Optional[float], repetition_penalty: Optional[float],
                 seed: Optional[int], stop: Union[None, str, Iterable[str]], stream: bool, stop_at_eos: bool,
                 adapters: AdaptersLike) -> Any:
        # generate()'s options checked and converted once, on the caller's thread.
        return _prepare(self._impl.prepare_generation, prompt_or_ids, max_new_tokens, temperature, top_k, top_p, min_p,
                        repetition_penalty, seed, stop, stream, stop_at_eos, adapters)

    def conversation(self, system: Optional[str] = None, *, chat_template: Optional[str] = None,
                     **variables: Any) -> Conversation:
        """A new conversation with this model: ``.say(text)`` adds a user message and returns the
        reply, formatted by the model's own chat template (or ``chat_template``, a Jinja template for
        a model without one; ``variables`` are extra template variables). It runs on a session of its
        own that keeps the conversation's state, so each turn computes only the tokens the previous
        turns have not. ``system``: an optional system message."""
        impl = self._impl.conversation(system, chat_template, json.dumps(variables, ensure_ascii=False), None)
        return Conversation(self, impl)

    def load_conversation(self, path: Union[str, os.PathLike[str]], *, chat_template: Optional[str] = None,
                          **variables: Any) -> Conversation:
        """A conversation saved by ``Conversation.save(path)`` with this model, messages and state
        restored (no recomputation). A file saved with another model, truncated or altered is refused
        (KraitError naming the problem). The template is not saved: pass the same ``chat_template`` and
        ``variables`` as when it was created."""
        impl = self._impl.conversation(None, chat_template, json.dumps(variables, ensure_ascii=False),
                                       os.fspath(path))
        return Conversation(self, impl)

    def session(self) -> Session:
        """A new session on this model with an empty context, on a session of its own (the model's
        threads and context length): ``.append()`` and ``.generate()`` extend its context, which
        ``.snapshot()`` / ``.restore()``, ``.truncate()`` and ``.save_state()`` / ``.load_state()``
        copy, cut and keep. See Session."""
        return Session(self, self._impl.session())

    def chat(self, messages: Sequence[Mapping[str, Any]], *, chat_template: Optional[str] = None,
             variables: Optional[Mapping[str, Any]] = None, max_new_tokens: int = 256, temperature: float = 0.0,
             top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
             repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0,
             stop: Union[None, str, Iterable[str]] = None, stream: bool = False, stop_at_eos: bool = True,
             adapters: AdaptersLike = None) -> Union[str, Generator[str, None, str]]:
        """The assistant's reply to ``messages`` (dicts with "role" and "content" text), formatted by
        the model's chat template: a str, or with ``stream=True`` a generator of text pieces (its return
        value is the reply). ``variables``: extra template variables. The options are generate()'s
        (max_new_tokens defaults to 256). Each call starts from scratch; ``conversation()`` keeps the
        state between turns instead."""
        conv = self.conversation(chat_template=chat_template, **dict(variables or {}))
        for message in messages:
            content = message.get("content")
            if not isinstance(content, str):
                raise TypeError("chat() takes text contents; got " + type(content).__name__ + " for a "
                                + repr(message.get("role")) + " message")
            conv.add_message(cast(str, message.get("role")), content)
        return conv.reply(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                          min_p=min_p, repetition_penalty=repetition_penalty, seed=seed, stop=stop, stream=stream,
                          stop_at_eos=stop_at_eos, adapters=adapters)


def _prepare(prepare: Callable[..., Any], prompt_or_ids: Any, max_new_tokens: int, temperature: Optional[float],
             top_k: Optional[int], top_p: Optional[float], min_p: Optional[float],
             repetition_penalty: Optional[float], seed: Optional[int], stop: Union[None, str, Iterable[str]],
             stream: bool, stop_at_eos: bool, adapters: AdaptersLike, *extra: Any) -> Any:
    # generate()'s options normalised (None = the option's neutral value) for an impl's
    # prepare_generation(); `extra` follows them (an assistant's pixel_values).
    stop_list: List[Any]
    if stop is None:
        stop_list = []
    elif isinstance(stop, (str, bytes, bytearray)):
        stop_list = [stop]
    else:
        stop_list = list(stop)
    return prepare(
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
        adapters,
        *extra,
    )


def _streamed(run: Callable[[Callable[[int, str], bool]], Any], impl: Any,
              make_result: Callable[[Any], Any]) -> Generator[str, None, Any]:
    # run(on_piece) runs a generation on a worker thread (GIL released except inside the callback);
    # pieces reach the consumer through a queue as soon as the library reports each token. The queue
    # is unbounded so the worker never blocks on a slow or abandoned consumer. impl: the object whose
    # abort()/clear_abort() stop that generation. The generator returns make_result(run's result).
    pieces: "queue.SimpleQueue[object]" = queue.SimpleQueue()
    stop_requested = threading.Event()
    outcome: Dict[str, Any] = {}

    def on_piece(token_id: int, piece: str) -> bool:
        if piece:
            pieces.put(piece)
        return stop_requested.is_set()

    def worker() -> None:
        try:
            outcome["result"] = run(on_piece)
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
            yield cast(str, piece)  # _DONE is the only item that is not a str
    finally:
        aborted = False
        if thread.is_alive():  # closed early (break, exception, garbage collection)
            stop_requested.set()
            impl.abort()  # also ends a long prefill
            aborted = True
        thread.join()
        # A request that arrived as the generation was returning would stop the next call
        # (krait_session_abort); one that did stop the generation is used up already.
        if aborted and not isinstance(outcome.get("error"), KraitAbortedError):
            impl.clear_abort()
    if "error" in outcome:
        raise outcome["error"]
    return make_result(outcome["result"])


class Conversation:
    """A conversation with a SequenceModel or an Assistant (``model.conversation()`` /
    ``model.load_conversation()``).

    Each reply renders the messages with the chat template and computes only the tokens its session
    does not hold yet: with a KV cache (Llama family) the tokens after the longest common prefix, with
    Mamba those after the last turn boundary it keeps a state for. Replies equal those of a fresh
    model given the same messages. Calls on one conversation are serialised (safe from any thread).

    Generation options of say(), reply() and regenerate() are generate()'s (greedy by default),
    except max_new_tokens (default 256); a reply ends at the model's end-of-turn / EOS token.
    With ``stream=True`` they return a generator of text pieces whose return value is the reply.
    """

    def __init__(self, model: Union[SequenceModel, Assistant], impl: _krait.Conversation):
        """Made by ``model.conversation()`` / ``model.load_conversation()``, not directly."""
        self._model = model  # keeps the model (and its adapters) alive
        self._impl = impl

    def __repr__(self) -> str:
        return f"<krait.Conversation with {self._model._path!r}, {len(self.history)} messages>"

    @property
    def history(self) -> List[Dict[str, str]]:
        """The messages so far: [{"role": ..., "content": ...}, ...] (a copy)."""
        return self._impl.history

    @property
    def stats(self) -> Dict[str, int]:
        """What the last reply cost: prompt_tokens (the rendered conversation), reused_tokens (already
        held by the session), prefilled_tokens (computed: the difference), generated_tokens, and with
        pictures images_encoded (run through the image encoder) and images_cached (taken from the
        session's image cache)."""
        return self._impl.stats

    def say(self, text: str, images: Union[ImageLike, Sequence[ImageLike], None] = None, *,
            pixel_values: Optional[numpy.ndarray] = None,
            max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
            top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0, repetition_penalty: Optional[float] = 1.0,
            seed: Optional[int] = 0, stop: Union[None, str, Iterable[str]] = None, stream: bool = False,
            stop_at_eos: bool = True, adapters: AdaptersLike = None) -> Union[str, Generator[str, None, str]]:
        """Adds ``text`` as a user message and returns the assistant's reply (also added).

        With an Assistant, the message may hold pictures: ``images``, a list of anything
        ``Assistant.preprocess()`` accepts (one alone is taken as a list of one), or ``pixel_values``,
        ready float32 [n, 3, height, width]; not both. The message is rendered with the pictures first
        (image parts, then the text), each becoming the image's rows; later questions reuse them (the
        picture is not run again), and a picture seen before comes from the session's image cache."""
        pixels = self._pictures(images, pixel_values)
        request = self._request(max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty, seed, stop,
                                stream, stop_at_eos, adapters)
        return self._run(lambda on_piece: self._impl.say(text, request, on_piece, pixels), stream)

    def reply(self, *, max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
              top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0, repetition_penalty: Optional[float] = 1.0,
              seed: Optional[int] = 0, stop: Union[None, str, Iterable[str]] = None, stream: bool = False,
              stop_at_eos: bool = True, adapters: AdaptersLike = None) -> Union[str, Generator[str, None, str]]:
        """The assistant's reply to the messages so far (added to them)."""
        request = self._request(max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty, seed, stop,
                                stream, stop_at_eos, adapters)
        return self._run(lambda on_piece: self._impl.reply(request, on_piece), stream)

    def regenerate(self, *, max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
                   top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                   repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0,
                   stop: Union[None, str, Iterable[str]] = None, stream: bool = False, stop_at_eos: bool = True,
                   adapters: AdaptersLike = None) -> Union[str, Generator[str, None, str]]:
        """Replaces the last reply by a new one (with sampling and another seed, a different one)."""
        request = self._request(max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty, seed, stop,
                                stream, stop_at_eos, adapters)
        return self._run(lambda on_piece: self._impl.regenerate(request, on_piece), stream)

    def add_message(self, role: str, content: str, images: Union[ImageLike, Sequence[ImageLike], None] = None, *,
                    pixel_values: Optional[numpy.ndarray] = None) -> None:
        """Appends a message without replying (a system message, or a turn of a scripted history). With an
        Assistant it may hold pictures, given as in say()."""
        self._impl.add_message(role, content, self._pictures(images, pixel_values))

    def _pictures(self, images: Any, pixel_values: Any) -> Any:
        # say() / add_message()'s pictures as model-ready pixels (or None).
        if images is not None and pixel_values is not None:
            raise KraitInvalidArgumentError("give the message's pictures as images or as pixel_values, not both")
        if images is not None:
            if not isinstance(images, (list, tuple)):
                images = [images]
            if images:
                import numpy

                preprocess = getattr(self._model, "preprocess", None)
                if preprocess is None:
                    raise KraitWrongKindError(f"{self._model._path}: a sequence model takes no pictures "
                                              "(an Assistant does)")
                return numpy.concatenate([preprocess(image) for image in images])
        return pixel_values

    def undo(self) -> None:
        """Removes the last user message and the reply to it."""
        self._impl.undo()

    def edit(self, index: int, content: str) -> None:
        """Replaces message ``index``'s content and drops every message after it."""
        self._impl.edit(int(index), content)

    def save(self, path: Union[str, os.PathLike[str]]) -> None:
        """Writes the messages and the session state to ``path`` (a checked, versioned file that only
        this model loads back: ``model.load_conversation(path)``). Written atomically."""
        self._impl.save(os.fspath(path))

    def abort(self) -> None:
        """Asks the reply in progress (from another thread) to stop: it raises KraitAbortedError and the
        messages stay as they were. A streaming reply is better stopped by closing its generator."""
        self._impl.abort()

    def clear_abort(self) -> None:
        """Withdraws an abort() request that no reply has used yet (a no-op if there is none)."""
        self._impl.clear_abort()

    def _request(self, max_new_tokens: int, temperature: Optional[float], top_k: Optional[int],
                 top_p: Optional[float], min_p: Optional[float], repetition_penalty: Optional[float],
                 seed: Optional[int], stop: Union[None, str, Iterable[str]], stream: bool, stop_at_eos: bool,
                 adapters: AdaptersLike) -> Any:
        # A reply's options, checked and converted once on the caller's thread (no prompt: the
        # conversation brings it).
        return self._model._request([], max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty, seed,
                                    stop, stream, stop_at_eos, adapters)

    def _run(self, call: Callable[[Any], str], stream: bool) -> Union[str, Generator[str, None, str]]:
        if stream:
            return _streamed(call, self._impl, lambda reply: reply)
        return call(None)


class Session:
    """A session on a SequenceModel that keeps its context between calls (``model.session()``).

    ``append()`` prefills tokens, ``generate()`` continues after the context (the new tokens join it),
    and the context can be copied (``snapshot()`` -> State), put back (``restore()``), cut
    (``truncate()``), cleared (``reset()``) and kept in a file (``save_state()`` / ``load_state()``,
    a checked, versioned file that only a model of the same shape loads back, also in another
    process). A Mamba model holds no per-token history: it truncates only to 0, to the whole context
    or to before the last generated token (else KraitUnsupportedError: restore a snapshot instead).
    A failed restore, truncate or load leaves the session unchanged (a state of another model raises
    KraitInvalidArgumentError, a damaged file KraitFormatError). Calls on one session are serialised
    (safe from any thread); each releases the GIL.
    """

    def __init__(self, model: SequenceModel, impl: _krait.Session):
        """Made by ``model.session()``, not directly."""
        self._model = model  # keeps the model (and its adapters) alive; prepares generate()'s requests
        self._impl = impl

    def __repr__(self) -> str:
        return f"<krait.Session with {self._model._path!r}, {self.n_tokens} tokens>"

    def __len__(self) -> int:
        """The number of tokens in the context (n_tokens)."""
        return self._impl.n_tokens

    @property
    def n_tokens(self) -> int:
        """The number of tokens in the context."""
        return self._impl.n_tokens

    @property
    def tokens(self) -> List[int]:
        """The context's token ids, oldest first: everything appended or generated since the last
        reset (a generation's last token included). A copy."""
        return self._impl.tokens

    def append(self, prompt: Union[str, bytes, IdsLike]) -> numpy.ndarray:
        """Appends ``prompt`` to the context in one pass (text is encoded with the model's tokenizer
        without special tokens; or token ids) and returns the float32 logits [vocab_size] after its
        last token. Runs on the base model (no adapters). Abortable: an aborted append leaves the
        context empty."""
        return self._impl.append(prompt)

    def generate(
        self,
        prompt: Optional[Union[str, bytes, IdsLike]] = None,
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
        *,
        adapters: AdaptersLike = None,
    ) -> Union[GenerationResult, Generator[str, None, GenerationResult]]:
        """Generates after the context extended by ``prompt`` (None or empty: the context alone, which
        must then not be empty); the prompt and the new tokens stay in the context. Options, result
        and streaming are those of SequenceModel.generate(). ``adapters`` are active for this call
        only: a context computed with them keeps their effect afterwards."""
        request = self._model._request([] if prompt is None else prompt, max_new_tokens, temperature, top_k, top_p,
                                       min_p, repetition_penalty, seed, stop, stream, stop_at_eos, adapters)
        if stream:
            return _streamed(lambda on_piece: self._impl.generate(request, on_piece), self._impl,
                             lambda result: GenerationResult(text=result[1], ids=result[0]))
        ids, text = self._impl.generate(request, None)
        return GenerationResult(text=text, ids=ids)

    def snapshot(self) -> State:
        """A copy of the session's state (the session is unchanged)."""
        return self._impl.snapshot()

    def restore(self, state: State) -> None:
        """Makes the session's state equal to ``state`` (from ``snapshot()`` on any session of this
        model): the next call continues exactly as the snapshotted session would have."""
        self._impl.restore(state)

    def truncate(self, n_tokens: int) -> None:
        """Keeps the first ``n_tokens`` tokens of the context and forgets the rest (see the class
        docstring for Mamba's limits). 0 is reset()."""
        self._impl.truncate(int(n_tokens))

    def reset(self) -> None:
        """Empties the context."""
        self._impl.reset()

    def save_state(self, path: Union[str, os.PathLike[str]]) -> None:
        """Writes the session's state to ``path`` (replaced atomically). Adapters are not saved."""
        self._impl.save_state(os.fspath(path))

    def load_state(self, path: Union[str, os.PathLike[str]]) -> None:
        """Replaces the session's state with the one ``save_state()`` wrote to ``path`` (with this
        model, in any process). On any error the session is unchanged."""
        self._impl.load_state(os.fspath(path))

    def abort(self) -> None:
        """Asks the append() or generate() running on this session (from another thread), or the next
        one to start, to stop with KraitAbortedError (as SequenceModel.abort()). A streaming
        generation is better stopped by closing its generator."""
        self._impl.abort()

    def clear_abort(self) -> None:
        """Withdraws an abort() request that no call has used yet (a no-op if there is none)."""
        self._impl.clear_abort()


_INT32_MAX = 2**31 - 1


@_with_adapter_methods
class Classifier:
    """An image classifier (ViT, MambaVision, or an exported ONNX graph) and one session on it.

    ``path`` is a model directory (config.json with model_type "vit" or "mambavision", safetensors
    weights, optionally preprocessor_config.json), or an ``.onnx`` file: an image classifier graph
    (pixels [batch, 3, H, W] in, logits out) run by Krait's own ONNX importer, with labels and
    preprocessing from a config.json / preprocessor_config.json beside it when present
    (docs/ONNX.md; ``describe()`` shows its inputs, outputs, opsets and fusions).
    ``preprocessor_config``: how classify() prepares images, as a dict or JSON text in the form of a Hugging
    Face preprocessor_config.json (e.g. ``{"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224,
    0.225], "size": {"height": 224, "width": 224}}`` for a torchvision export); replaces the model's files.
    ``threads``: worker threads, None = all cores.
    ``max_image_pixels``: larger images are refused before decoding (None = the library's default,
    64 Mpx). ``batch_size``: images per forward pass in classify() (None = the library's default,
    32; 0 = all images of a call at once). ``weights``: "stored" (default) keeps F16/BF16 weights in
    their stored precision (16-bit packed panels, half the memory of F32); "f32" upcasts them at load.
    ``matmul``: "exact" (default) or "bf16" (BF16 dot products for BF16 weights on AMX / AVX512-BF16
    CPUs, activations rounded to BF16: see SequenceModel).

    An adapter may replace the classifier head (PEFT modules_to_save) with another label set: a call
    with it active returns logits and labels of that head (``labels_for(adapters)``, ``Adapter.labels``);
    ``labels`` and ``num_labels`` describe the model's own head.
    """

    def __init__(self, path: Union[str, os.PathLike[str]], device: str = "cpu", threads: Optional[int] = None, *,
                 max_image_pixels: Optional[int] = None, batch_size: Optional[int] = None, weights: str = "stored",
                 matmul: str = "exact", preprocessor_config: Union[Mapping[str, Any], str, None] = None):
        self._path = os.fspath(path)
        if preprocessor_config is not None and not isinstance(preprocessor_config, str):
            preprocessor_config = json.dumps(dict(preprocessor_config))
        self._impl: _krait.Classifier = _krait.Classifier(self._path, device, threads, max_image_pixels, batch_size,
                                                          weights, matmul, preprocessor_config)

    def __repr__(self) -> str:
        info = self.info
        return (f"<krait.Classifier {self._path!r} {info['architecture']} num_labels={info['num_labels']} "
                f"image_size={info['image_height']}x{info['image_width']}>")

    def describe(self) -> str:
        """How the model was read: for an ONNX graph its inputs and outputs, opsets, node count and
        the graph passes applied (constant folding, fusions), one per line; "" for other families."""
        return self._impl.describe()

    @property
    def labels(self) -> List[str]:
        """Label names by id of the model's own head (config.json id2label; "LABEL_<id>" where absent).
        A call with an adapter that replaces the head uses that adapter's labels: see labels_for()."""
        return self._impl.labels

    @property
    def num_labels(self) -> int:
        """Classes of the model's own head (see labels_for() for a call with adapters)."""
        return self._impl.num_labels

    def labels_for(self, adapters: AdaptersLike = None) -> List[str]:
        """Label names by id of the head that a call with ``adapters`` uses: those of the active
        adapter that replaces the head, else the model's. The set is checked as a call checks it."""
        return self._impl.labels_for(adapters)

    @property
    def image_size(self) -> Tuple[int, int]:
        """(height, width) the model was trained at; classify() preprocesses images to this size."""
        return self._impl.image_size

    @property
    def info(self) -> Dict[str, Any]:
        """Facts from krait_model_get_info(): kind, architecture, num_labels, image_height, image_width,
        num_parameters, weight_bytes, source_dtype."""
        return self._impl.info

    @property
    def threads(self) -> Optional[int]:
        """Worker threads for this model's calls (None = all cores). Settable."""
        return self._impl.threads

    @threads.setter
    def threads(self, value: Optional[int]) -> None:
        self._impl.threads = value

    def abort(self) -> None:
        """Asks the call running on this model (from another thread), or the next one to start if none
        runs, to stop: that call raises KraitAbortedError, and the request is used up by it (a call
        that completes first returns normally and drops it), so the call after runs normally. Any
        thread."""
        self._impl.abort()

    def clear_abort(self) -> None:
        """Withdraws an abort() request that no call has used yet (a no-op if there is none)."""
        self._impl.clear_abort()

    def forward(self, pixel_values: numpy.ndarray, *,
                adapters: AdaptersLike = None) -> numpy.ndarray:
        """Logits of ready (already preprocessed) pixels: float32 [batch, 3, height, width] (or
        [3, height, width]) -> float32 numpy array [batch, num_labels], num_labels of the call's head.
        ``adapters``: the LoRA adapters active for this call, {Adapter or name: scale} (None or {} =
        the base model)."""
        return self._impl.forward(pixel_values, adapters)

    def classify(self, images: Union[ImageLike, Sequence[ImageLike]], top_k: int = 5, *,
                 adapters: AdaptersLike = None) -> Union[List[Tuple[str, float]], List[List[Tuple[str, float]]]]:
        """The ``top_k`` most probable labels of each image, most probable first, as (label, probability)
        pairs (probabilities by softmax of the logits).

        An image is a path (str or os.PathLike) of a PNG, JPEG, BMP or GIF file, the encoded bytes of one
        (bytes, bytearray, memoryview), or a uint8 numpy array [height, width] (gray) or
        [height, width, channels] with 1, 3 or 4 (RGBA: alpha ignored) channels, or a PIL image (taken as
        RGB; PIL is not required otherwise). Each is preprocessed as
        the model's configuration says. ``images`` is one image (returns its list of pairs) or a list or
        tuple of images, or a uint8 array [batch, height, width, channels] (returns one list per image).
        ``adapters``: the LoRA adapters active for this call, {Adapter or name: scale} (None or {} = the
        base model); an adapter with its own head brings its labels.
        """
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0:
            raise KraitInvalidArgumentError(f"top_k must be an integer > 0, got {top_k!r}")
        top_k = min(top_k, _INT32_MAX)
        given: Any = images
        single = not isinstance(given, (list, tuple))
        if single and _is_array(given) and getattr(given, "ndim", 0) == 4:
            batch, single = list(given), False
        elif single:
            batch = [given]
        else:
            batch = list(given)
        if not batch:
            raise KraitInvalidArgumentError("images is empty: nothing to classify")
        # Resolved once, so that every library call below uses the same adapters even if one is
        # unloaded meanwhile by another thread.
        active = self._impl.resolve_adapters(adapters)

        # One library call per input kind, each a batch; results go back in input order.
        groups: Dict[str, List[Tuple[int, Any]]] = {"files": [], "encoded": [], "pixels": []}
        for index, image in enumerate(batch):
            kind, item = _image_input(image, f"image {index}: ")
            groups[kind].append((index, item))
        results: List[Any] = [None] * len(batch)
        calls = (("files", self._impl.classify_files), ("encoded", self._impl.classify_encoded),
                 ("pixels", self._impl.classify_pixels))
        for kind, call in calls:
            members = groups[kind]
            if not members:
                continue
            try:
                rows = call([item for _, item in members], top_k, active)
            except KraitError as exc:
                # The library numbers images within this call: report the caller's index instead.
                raise _renumbered(exc, [i for i, _ in members]) from None
            for (index, _), row in zip(members, rows):
                results[index] = row
        return results[0] if single else results


def _is_array(obj: object) -> bool:
    return hasattr(obj, "__array_interface__") or hasattr(obj, "__array__")


def _image_input(image: Any, prefix: str) -> Tuple[str, Any]:
    # One image argument sorted by kind: ("files", path str), ("encoded", bytes) or ("pixels", array).
    # A PIL image (checked only if PIL is already imported: one cannot exist otherwise) becomes its RGB
    # pixels; PIL is never required.
    if isinstance(image, (str, PurePath)) or hasattr(image, "__fspath__"):
        path = os.fspath(image)
        return "files", os.fsdecode(path) if isinstance(path, bytes) else path
    if isinstance(image, (bytes, bytearray, memoryview)):
        return "encoded", bytes(image)
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(image, pil.Image):
        import numpy

        return "pixels", numpy.asarray(image.convert("RGB"))
    if _is_array(image):
        return "pixels", image
    raise KraitInvalidArgumentError(
        f"{prefix}expected a path, encoded bytes, a uint8 numpy array or a PIL image, got {type(image).__name__}")


def _renumbered(exc: KraitError, indices: List[int]) -> KraitError:
    import re

    message = re.sub(r"^image (\d+):", lambda m: f"image {indices[int(m.group(1))]}:"
                     if int(m.group(1)) < len(indices) else m.group(0), exc.message)
    return type(exc)(message, exc.status)


@_with_adapter_methods
class Assistant:
    """A vision-language assistant (an image encoder, a projector and a language model) and one
    session on it.

    ``path`` is a LlavaForConditionalGeneration directory as transformers saves it (config.json,
    safetensors weights, optionally preprocessor_config.json and tokenizer.json; a CLIP or SigLIP
    tower and a Llama / Mistral / Qwen2 language model), or a composite assistant directory
    (``"model_type": "krait_assistant"``: any image encoder Krait loads, MambaVision included, a
    projector and any language model, Mamba included; see docs/COMPOSITE_ASSISTANTS.md); another
    kind of model raises KraitWrongKindError. ``threads``, ``context_length``, ``weights`` and ``matmul`` are
    those of SequenceModel.

    An image becomes ``image_rows`` rows that take the place of image tokens in the prompt: as
    transformers' LlavaProcessor writes prompts, each image is ``image_token_id`` repeated
    ``image_rows`` times, and the images are taken in the order their tokens appear. Images go in as
    model-ready pixels, float32 [n_images, 3, height, width] (``preprocess()``), and their number must
    match the prompt's image tokens (else KraitInvalidArgumentError naming both counts).
    Calls on one assistant are serialised (safe from any thread); each releases the GIL.
    """

    def __init__(self, path: Union[str, os.PathLike[str]], device: str = "cpu", threads: Optional[int] = None, *,
                 context_length: Optional[int] = None, weights: str = "stored", matmul: str = "exact"):
        self._path = os.fspath(path)
        self._impl: _krait.Assistant = _krait.Assistant(self._path, device, threads, context_length, weights, matmul)

    def __repr__(self) -> str:
        h, w = self.image_size
        return (f"<krait.Assistant {self._path!r} {self.info['architecture']} vocab_size={self.vocab_size} "
                f"image_size={h}x{w} image_rows={self.image_rows}>")

    @property
    def info(self) -> Dict[str, Any]:
        """Facts from krait_model_get_info(): those of SequenceModel.info (of the language model; the
        architecture is the assistant's, num_parameters and weight_bytes count the whole model) and
        image_token_id, image_rows, image_height, image_width."""
        return self._impl.info

    @property
    def image_token_id(self) -> int:
        """The token each image is written as in a prompt (config.json image_token_index)."""
        return self._impl.image_token_id

    @property
    def image_rows(self) -> int:
        """Rows each image becomes: its token is repeated this many times in a prompt's ids."""
        return self._impl.image_rows

    @property
    def image_placement(self) -> str:
        """Where chats and text prompts put images: ``"at_marker"`` (where the image token is
        written, as LLaVA) or ``"before_text"`` (all images first, then the text, as Cobra)."""
        return cast(str, self._impl.info["image_placement"])

    @property
    def image_size(self) -> Tuple[int, int]:
        """(height, width) of the image encoder's input; preprocess() makes images this size."""
        return self._impl.image_size

    @property
    def vocab_size(self) -> int:
        """Rows of the output logits."""
        return self._impl.vocab_size

    @property
    def tokenizer(self) -> Optional[Tokenizer]:
        """The model's tokenizer (kept alive with the model), or None without tokenizer.json."""
        return self._impl.tokenizer

    @property
    def threads(self) -> Optional[int]:
        """Worker threads for this model's calls (None = all cores). Settable."""
        return self._impl.threads

    @threads.setter
    def threads(self, value: Optional[int]) -> None:
        self._impl.threads = value

    def abort(self) -> None:
        """Asks the call running on this model (from another thread), or the next one to start if none
        runs, to stop with KraitAbortedError (as SequenceModel.abort()). A streaming generation is
        better stopped by closing its generator."""
        self._impl.abort()

    def clear_abort(self) -> None:
        """Withdraws an abort() request that no call has used yet (a no-op if there is none)."""
        self._impl.clear_abort()

    def conversation(self, system: Optional[str] = None, *, chat_template: Optional[str] = None,
                     **variables: Any) -> Conversation:
        """A new conversation with this assistant, on a session of its own: ``.say(text, images=[...])``
        adds a user message with pictures and returns the reply, formatted by the model's chat template
        (or ``chat_template``; ``variables`` are extra template variables). Each turn computes only what
        the session does not hold: a new question about the same picture does not run it again. Needs
        the model's tokenizer. See Conversation."""
        impl = self._impl.conversation(system, chat_template, json.dumps(variables, ensure_ascii=False))
        return Conversation(self, impl)

    def load_conversation(self, path: Union[str, os.PathLike[str]], *, chat_template: Optional[str] = None,
                          **variables: Any) -> Conversation:
        """A conversation saved by ``Conversation.save(path)`` with this assistant: messages, their
        pictures and the state restored (the pictures are not run again). A file saved with another
        model, truncated or altered is refused (KraitError naming the problem). The template is not
        saved: pass the same ``chat_template`` and ``variables`` as when it was created."""
        impl = self._impl.conversation(None, chat_template, json.dumps(variables, ensure_ascii=False),
                                       os.fspath(path))
        return Conversation(self, impl)

    def chat(self, messages: Sequence[Mapping[str, Any]], *, chat_template: Optional[str] = None,
             variables: Optional[Mapping[str, Any]] = None, max_new_tokens: int = 256, temperature: float = 0.0,
             top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
             repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0,
             stop: Union[None, str, Iterable[str]] = None, stream: bool = False, stop_at_eos: bool = True,
             adapters: AdaptersLike = None) -> Union[str, Generator[str, None, str]]:
        """The reply to ``messages`` in transformers' chat format: each {"role": ..., "content": ...} with
        content a string or a list of parts, {"type": "text", "text": ...} and {"type": "image", "image":
        anything preprocess() accepts} ("path" is taken for "image" too). A message's pictures are
        rendered before its text (as LLaVA's templates write them). Runs on a new conversation (see
        conversation(); ``variables``: extra template variables); the options are those of
        Conversation.reply() (``stream=True`` included)."""
        conv = self.conversation(chat_template=chat_template, **dict(variables or {}))
        for m in messages:
            content = m["content"]
            if isinstance(content, str):
                conv.add_message(m["role"], content)
                continue
            texts: List[str] = []
            images: List[ImageLike] = []
            for part in content:
                kind = part.get("type")
                if kind == "text":
                    texts.append(part["text"])
                elif kind == "image":
                    image = part.get("image", part.get("path"))
                    if image is None:
                        raise KraitInvalidArgumentError('an image part needs "image" (or "path")')
                    images.append(image)
                else:
                    raise KraitInvalidArgumentError(f"content part type {kind!r} is neither 'text' nor 'image'")
            conv.add_message(m["role"], "".join(texts), images=images or None)
        return conv.reply(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                          min_p=min_p, repetition_penalty=repetition_penalty, seed=seed, stop=stop, stream=stream,
                          stop_at_eos=stop_at_eos, adapters=adapters)

    def _request(self, prompt_or_ids: Any, max_new_tokens: int, temperature: Optional[float], top_k: Optional[int],
                 top_p: Optional[float], min_p: Optional[float], repetition_penalty: Optional[float],
                 seed: Optional[int], stop: Union[None, str, Iterable[str]], stream: bool, stop_at_eos: bool,
                 adapters: AdaptersLike) -> Any:
        # A conversation's generation options (no prompt, no images: the conversation brings them).
        return _prepare(self._impl.prepare_generation, prompt_or_ids, max_new_tokens, temperature, top_k, top_p, min_p,
                        repetition_penalty, seed, stop, stream, stop_at_eos, adapters, None)

    def preprocess(self, image: ImageLike) -> numpy.ndarray:
        """One image made model-ready: float32 numpy array [1, 3, height, width] (``image_size``).

        ``image``: a path (str or os.PathLike) of a PNG, JPEG, BMP or GIF file, the encoded bytes of one
        (bytes, bytearray, memoryview), a uint8 numpy array [height, width] (gray) or
        [height, width, channels] with 1, 3 or 4 (RGBA: alpha ignored) channels, or a PIL image (taken
        as RGB; PIL is not required otherwise). Preprocessed as the model's preprocessor_config.json
        says (CLIP: shortest-edge bicubic resize, center crop, rescale, normalize; SigLIP: resize to a
        square), as transformers does; without that file, the image encoder's processor defaults.
        Concatenate several on axis 0 for forward() / encode() / generate(pixel_values=...).
        """
        kind, item = _image_input(image, "")
        if kind == "files":
            return self._impl.preprocess_file(item)
        if kind == "encoded":
            return self._impl.preprocess_encoded(item)
        return self._impl.preprocess_pixels(item)

    def forward(self, input_ids: IdsLike, pixel_values: Optional[numpy.ndarray] = None, *,
                adapters: AdaptersLike = None) -> numpy.ndarray:
        """Logits for every position, as LlavaForConditionalGeneration(input_ids, pixel_values).logits:
        int ids [batch, length] (or [length], taken as [1, length]) with each image as ``image_rows``
        copies of ``image_token_id`` (as transformers' processor writes them), and ``pixel_values``
        float32 [n_images, 3, height, width]: the images of row 0, then of row 1, ... (None when the ids
        hold no image token) -> float32 numpy array [batch, length, vocab_size]. Stateless.
        ``adapters``: the LoRA adapters active for this call, {Adapter or name: scale} (None or {} = the
        base model)."""
        return self._impl.forward(input_ids, pixel_values, adapters)

    def encode(self, pixel_values: numpy.ndarray, *,
               adapters: AdaptersLike = None) -> numpy.ndarray:
        """The rows the language model reads for each image (the projector's output): float32
        pixel_values [n, 3, height, width] -> float32 numpy array [n, image_rows, hidden_size].
        ``adapters`` as in forward()."""
        return self._impl.encode(pixel_values, adapters)

    def generate(
        self,
        prompt_or_ids: Union[str, bytes, IdsLike],
        images: Union[ImageLike, Sequence[ImageLike], None] = None,
        pixel_values: Optional[numpy.ndarray] = None,
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
        *,
        adapters: AdaptersLike = None,
    ) -> Union[GenerationResult, Generator[str, None, GenerationResult]]:
        """Generates up to ``max_new_tokens`` tokens after a prompt with images, from an empty context.

        ``prompt_or_ids``: text, encoded with the model's tokenizer without special tokens, in which
        each image token (``image_token_id``, such as "<image>") is then repeated ``image_rows`` times
        as LlavaProcessor does (so write one per image), or, when ``image_placement`` is
        "before_text", preceded by every image's rows (write no image token); or token ids, whose images must already be
        expanded to ``image_rows`` copies each. The prompt's images, in the order of their tokens:
        ``images``, a list of anything preprocess() accepts (one image alone is taken as a list of
        one), or ``pixel_values``, ready float32 [n_images, 3, height, width]; not both. The prompt is
        prefilled with its images in one pass (krait_session_append_images), then generation continues.
        Options, result and streaming are those of SequenceModel.generate().
        """
        if images is not None and pixel_values is not None:
            raise KraitInvalidArgumentError("give the prompt's images as images or as pixel_values, not both")
        if images is not None:
            listed: Any = images if isinstance(images, (list, tuple)) else [images]
            if listed:
                import numpy

                pixel_values = numpy.concatenate([self.preprocess(image) for image in listed])
        request = _prepare(self._impl.prepare_generation, prompt_or_ids, max_new_tokens, temperature, top_k, top_p,
                           min_p, repetition_penalty, seed, stop, stream, stop_at_eos, adapters, pixel_values)
        if stream:
            return _streamed(lambda on_piece: self._impl.run_generation(request, on_piece), self._impl,
                             lambda result: GenerationResult(text=result[1], ids=result[0]))
        ids, text = self._impl.run_generation(request, None)
        return GenerationResult(text=text, ids=ids)


# The public names are krait.X (help(), repr() and pickle say so), wherever they are defined.
for _public in (cpu_kernels, cpu_bf16_products, GenerationResult, SequenceModel, Conversation, Session, Classifier,
                Assistant):
    _public.__module__ = "krait"
del _public
