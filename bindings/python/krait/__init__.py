"""Krait: an embeddable inference SDK for language models, image classifiers and vision-language
assistants (Python bindings of the C ABI).

    import krait
    model = krait.SequenceModel("models/mamba-demo")
    logits = model.forward([[1, 2, 3]])                     # float32 [batch, length, vocab]
    print(model.generate("Once upon a time", max_new_tokens=20).text)
    for piece in model.generate("Once upon a time", stream=True):
        print(piece, end="", flush=True)

    chat = krait.SequenceModel("models/chat-demo").conversation()
    print(chat.say("Hello! Who are you?"))                  # the model's chat template, state kept

    clf = krait.Classifier("models/vit-digits")
    clf.classify("digit.png", top_k=3)                      # [("7", 0.91), ("1", 0.05), ...]
    logits = clf.forward(pixel_values)                      # float32 [batch, num_labels]

    # A vision-language assistant (LLaVA, or a composite such as MambaVision + Mamba):
    assistant = krait.Assistant("models/shapes-mamba-assistant")
    talk = assistant.conversation()
    print(talk.say("What colour is the circle?", images=["shapes_1.png"]))
    print(talk.say("And where is it?"))                     # the picture is not run again

    # PEFT LoRA adapters, loaded once per model and chosen per call (scales add up):
    style = model.load_adapter("adapters/style")            # -> krait.Adapter (name "style")
    model.generate("Once upon a time", adapters={style: 1.0})
    model.forward(ids, adapters={"style": 0.5, "other": 1.5})
    model.unload_adapter(style)

    # A session that keeps its context between calls, with snapshots and state files:
    session = model.session()
    session.append("Once upon a time")                      # float32 logits [vocab] after it
    state = session.snapshot()                              # -> krait.State
    print(session.generate(max_new_tokens=20).text)         # continues the context
    session.restore(state)                                  # back to the snapshot

Every failure raises krait.KraitError (or a subclass) with the library's message and ``.status``.
Compute calls (load, forward, generate, classify, encode/decode, load_adapter) release the GIL.
The package is typed (py.typed, __init__.pyi); docs/PYTHON.md is the guide.

The namespace holds exactly the public API, ``__all__``; the implementation lives in private modules
(krait._core, krait._errors and the compiled krait._krait), which stay importable by name.
"""

from ._core import (
    AdaptersLike,
    Adapter,
    AdapterTarget,
    Assistant,
    Classifier,
    Conversation,
    GenerationResult,
    IdsLike,
    ImageLike,
    SequenceModel,
    Session,
    State,
    Tokenizer,
    __version__,
    cpu_bf16_products,
    cpu_kernels,
)
from ._errors import (
    KraitAbortedError,
    KraitBufferTooSmallError,
    KraitBusyError,
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

__all__ = [
    # models
    "SequenceModel",
    "Classifier",
    "Assistant",
    # what they give
    "Conversation",
    "Session",
    "State",
    "GenerationResult",
    "Tokenizer",
    "Adapter",
    "AdapterTarget",
    # the library
    "cpu_kernels",
    "cpu_bf16_products",
    # errors
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
    "KraitBusyError",
    "Status",
    # argument types (for annotations)
    "IdsLike",
    "ImageLike",
    "AdaptersLike",
]

# Importing the submodules bound them here; they stay reachable as krait._krait etc. (__getattr__).
del _core, _errors, _krait  # noqa: F821


def __getattr__(name: str) -> object:
    """The private submodules by name (krait._krait, krait._errors, krait._core, krait._cli): out of
    the namespace, still reachable as attributes."""
    if name in ("_core", "_errors", "_krait", "_cli"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
