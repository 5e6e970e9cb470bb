# Type stubs of the krait package: its public API (__all__), as krait/_core.py, krait/_errors.py and the
# compiled krait._krait implement it. The docstrings are in those modules (help(krait.SequenceModel));
# docs/PYTHON.md is the guide. Keep in step with them (tools/test_wheel.sh runs mypy's stubtest).
import os
from dataclasses import dataclass
from typing import (Any, Dict, Generator, Iterable, List, Literal, Mapping, Optional, Protocol, Sequence, Tuple,
                    Union, overload)

import numpy as np
import numpy.typing as npt

from ._errors import (
    KraitAbortedError as KraitAbortedError,
    KraitBufferTooSmallError as KraitBufferTooSmallError,
    KraitBusyError as KraitBusyError,
    KraitCancelledError as KraitCancelledError,
    KraitError as KraitError,
    KraitFormatError as KraitFormatError,
    KraitInternalError as KraitInternalError,
    KraitInvalidArgumentError as KraitInvalidArgumentError,
    KraitIOError as KraitIOError,
    KraitOutOfMemoryError as KraitOutOfMemoryError,
    KraitUnsupportedError as KraitUnsupportedError,
    KraitWrongKindError as KraitWrongKindError,
    Status as Status,
)
from ._krait import Adapter as Adapter, AdapterTarget as AdapterTarget, State as State, Tokenizer as Tokenizer

__version__: str

__all__ = [
    "SequenceModel",
    "Classifier",
    "Assistant",
    "Conversation",
    "Session",
    "State",
    "GenerationResult",
    "Tokenizer",
    "Adapter",
    "AdapterTarget",
    "cpu_kernels",
    "cpu_bf16_products",
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
    "IdsLike",
    "ImageLike",
    "AdaptersLike",
]

class _PILImage(Protocol):
    # What classify() and preprocess() use of a PIL image (PIL.Image.Image matches it).
    def convert(self, mode: str) -> Any: ...

_Path = Union[str, "os.PathLike[str]"]
_Floats = npt.NDArray[np.float32]
_Stop = Union[None, str, Iterable[str]]

#: Token ids: ints, a batch of rows of ints, or an integer numpy array.
IdsLike = Union[Sequence[int], Sequence[Sequence[int]], npt.NDArray[np.integer[Any]]]
#: One image: a file path, its encoded bytes, a uint8 numpy array [H, W] / [H, W, C], or a PIL image.
ImageLike = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, npt.NDArray[np.uint8], _PILImage]
#: ``adapters=`` of the compute calls: {Adapter or adapter name: scale}; None or {} = the base model.
AdaptersLike = Optional[Mapping[Union[Adapter, str], float]]

_Prompt = Union[str, bytes, IdsLike]
_Images = Union[ImageLike, Sequence[ImageLike], None]
_Pixels = npt.ArrayLike
_Labelled = List[Tuple[str, float]]

def cpu_kernels() -> str: ...
def cpu_bf16_products() -> str: ...

@dataclass(frozen=True)
class GenerationResult:
    text: str
    ids: List[int] = ...

class SequenceModel:
    def __init__(self, path: _Path, device: str = "cpu", threads: Optional[int] = None, *,
                 context_length: Optional[int] = None, weights: str = "stored", matmul: str = "exact") -> None: ...
    def load_adapter(self, path: _Path, name: Optional[str] = None) -> Adapter: ...
    def unload_adapter(self, adapter: Union[Adapter, str]) -> None: ...
    @property
    def adapters(self) -> Dict[str, Adapter]: ...
    @property
    def tokenizer(self) -> Optional[Tokenizer]: ...
    @property
    def vocab_size(self) -> int: ...
    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True, *,
                            chat_template: Optional[str] = None, **variables: Any) -> str: ...
    @property
    def info(self) -> Dict[str, Any]: ...
    @property
    def threads(self) -> Optional[int]: ...
    @threads.setter
    def threads(self, value: Optional[int]) -> None: ...
    def abort(self) -> None: ...
    def clear_abort(self) -> None: ...
    def forward(self, input_ids: IdsLike, *, adapters: AdaptersLike = None) -> _Floats: ...
    @overload
    def generate(self, prompt_or_ids: _Prompt, max_new_tokens: int = 20, temperature: float = 0.0,
                 top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                 repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
                 stream: Literal[False] = False, stop_at_eos: bool = True, *,
                 adapters: AdaptersLike = None) -> GenerationResult: ...
    @overload
    def generate(self, prompt_or_ids: _Prompt, max_new_tokens: int = 20, temperature: float = 0.0,
                 top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                 repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None, *,
                 stream: Literal[True], stop_at_eos: bool = True,
                 adapters: AdaptersLike = None) -> Generator[str, None, GenerationResult]: ...
    @overload
    def generate(self, prompt_or_ids: _Prompt, max_new_tokens: int = 20, temperature: float = 0.0,
                 top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                 repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
                 stream: bool = False, stop_at_eos: bool = True, *, adapters: AdaptersLike = None
                 ) -> Union[GenerationResult, Generator[str, None, GenerationResult]]: ...
    def conversation(self, system: Optional[str] = None, *, chat_template: Optional[str] = None,
                     **variables: Any) -> Conversation: ...
    def load_conversation(self, path: _Path, *, chat_template: Optional[str] = None,
                          **variables: Any) -> Conversation: ...
    def session(self) -> Session: ...
    @overload
    def chat(self, messages: Sequence[Mapping[str, Any]], *, chat_template: Optional[str] = None,
             variables: Optional[Mapping[str, Any]] = None, max_new_tokens: int = 256, temperature: float = 0.0,
             top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
             repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
             stream: Literal[False] = False, stop_at_eos: bool = True, adapters: AdaptersLike = None) -> str: ...
    @overload
    def chat(self, messages: Sequence[Mapping[str, Any]], *, chat_template: Optional[str] = None,
             variables: Optional[Mapping[str, Any]] = None, max_new_tokens: int = 256, temperature: float = 0.0,
             top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
             repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
             stream: Literal[True], stop_at_eos: bool = True,
             adapters: AdaptersLike = None) -> Generator[str, None, str]: ...
    @overload
    def chat(self, messages: Sequence[Mapping[str, Any]], *, chat_template: Optional[str] = None,
             variables: Optional[Mapping[str, Any]] = None, max_new_tokens: int = 256, temperature: float = 0.0,
             top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
             repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
             stream: bool = False, stop_at_eos: bool = True,
             adapters: AdaptersLike = None) -> Union[str, Generator[str, None, str]]: ...

class Conversation:
    def __init__(self, model: Union[SequenceModel, Assistant], impl: Any) -> None: ...
    @property
    def history(self) -> List[Dict[str, str]]: ...
    @property
    def stats(self) -> Dict[str, int]: ...
    @overload
    def say(self, text: str, images: _Images = None, *, pixel_values: Optional[_Pixels] = None,
            max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
            top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0, repetition_penalty: Optional[float] = 1.0,
            seed: Optional[int] = 0, stop: _Stop = None, stream: Literal[False] = False, stop_at_eos: bool = True,
            adapters: AdaptersLike = None) -> str: ...
    @overload
    def say(self, text: str, images: _Images = None, *, pixel_values: Optional[_Pixels] = None,
            max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
            top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0, repetition_penalty: Optional[float] = 1.0,
            seed: Optional[int] = 0, stop: _Stop = None, stream: Literal[True], stop_at_eos: bool = True,
            adapters: AdaptersLike = None) -> Generator[str, None, str]: ...
    @overload
    def say(self, text: str, images: _Images = None, *, pixel_values: Optional[_Pixels] = None,
            max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
            top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0, repetition_penalty: Optional[float] = 1.0,
            seed: Optional[int] = 0, stop: _Stop = None, stream: bool = False, stop_at_eos: bool = True,
            adapters: AdaptersLike = None) -> Union[str, Generator[str, None, str]]: ...
    @overload
    def reply(self, *, max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
              top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0, repetition_penalty: Optional[float] = 1.0,
              seed: Optional[int] = 0, stop: _Stop = None, stream: Literal[False] = False, stop_at_eos: bool = True,
              adapters: AdaptersLike = None) -> str: ...
    @overload
    def reply(self, *, max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
              top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0, repetition_penalty: Optional[float] = 1.0,
              seed: Optional[int] = 0, stop: _Stop = None, stream: Literal[True], stop_at_eos: bool = True,
              adapters: AdaptersLike = None) -> Generator[str, None, str]: ...
    @overload
    def reply(self, *, max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
              top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0, repetition_penalty: Optional[float] = 1.0,
              seed: Optional[int] = 0, stop: _Stop = None, stream: bool = False, stop_at_eos: bool = True,
              adapters: AdaptersLike = None) -> Union[str, Generator[str, None, str]]: ...
    @overload
    def regenerate(self, *, max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
                   top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                   repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
                   stream: Literal[False] = False, stop_at_eos: bool = True, adapters: AdaptersLike = None) -> str: ...
    @overload
    def regenerate(self, *, max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
                   top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                   repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
                   stream: Literal[True], stop_at_eos: bool = True,
                   adapters: AdaptersLike = None) -> Generator[str, None, str]: ...
    @overload
    def regenerate(self, *, max_new_tokens: int = 256, temperature: float = 0.0, top_k: Optional[int] = 50,
                   top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                   repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
                   stream: bool = False, stop_at_eos: bool = True,
                   adapters: AdaptersLike = None) -> Union[str, Generator[str, None, str]]: ...
    def add_message(self, role: str, content: str, images: _Images = None, *,
                    pixel_values: Optional[_Pixels] = None) -> None: ...
    def undo(self) -> None: ...
    def edit(self, index: int, content: str) -> None: ...
    def save(self, path: _Path) -> None: ...
    def abort(self) -> None: ...
    def clear_abort(self) -> None: ...

class Session:
    def __init__(self, model: SequenceModel, impl: Any) -> None: ...
    def __len__(self) -> int: ...
    @property
    def n_tokens(self) -> int: ...
    @property
    def tokens(self) -> List[int]: ...
    def append(self, prompt: _Prompt) -> _Floats: ...
    @overload
    def generate(self, prompt: Optional[_Prompt] = None, max_new_tokens: int = 20, temperature: float = 0.0,
                 top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                 repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
                 stream: Literal[False] = False, stop_at_eos: bool = True, *,
                 adapters: AdaptersLike = None) -> GenerationResult: ...
    @overload
    def generate(self, prompt: Optional[_Prompt] = None, max_new_tokens: int = 20, temperature: float = 0.0,
                 top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                 repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None, *,
                 stream: Literal[True], stop_at_eos: bool = True,
                 adapters: AdaptersLike = None) -> Generator[str, None, GenerationResult]: ...
    @overload
    def generate(self, prompt: Optional[_Prompt] = None, max_new_tokens: int = 20, temperature: float = 0.0,
                 top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                 repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
                 stream: bool = False, stop_at_eos: bool = True, *, adapters: AdaptersLike = None
                 ) -> Union[GenerationResult, Generator[str, None, GenerationResult]]: ...
    def snapshot(self) -> State: ...
    def restore(self, state: State) -> None: ...
    def truncate(self, n_tokens: int) -> None: ...
    def reset(self) -> None: ...
    def save_state(self, path: _Path) -> None: ...
    def load_state(self, path: _Path) -> None: ...
    def abort(self) -> None: ...
    def clear_abort(self) -> None: ...

class Classifier:
    def __init__(self, path: _Path, device: str = "cpu", threads: Optional[int] = None, *,
                 max_image_pixels: Optional[int] = None, batch_size: Optional[int] = None, weights: str = "stored",
                 matmul: str = "exact", preprocessor_config: Union[Mapping[str, Any], str, None] = None) -> None: ...
    def load_adapter(self, path: _Path, name: Optional[str] = None) -> Adapter: ...
    def unload_adapter(self, adapter: Union[Adapter, str]) -> None: ...
    @property
    def adapters(self) -> Dict[str, Adapter]: ...
    def describe(self) -> str: ...
    @property
    def labels(self) -> List[str]: ...
    @property
    def num_labels(self) -> int: ...
    def labels_for(self, adapters: AdaptersLike = None) -> List[str]: ...
    @property
    def image_size(self) -> Tuple[int, int]: ...
    @property
    def info(self) -> Dict[str, Any]: ...
    @property
    def threads(self) -> Optional[int]: ...
    @threads.setter
    def threads(self, value: Optional[int]) -> None: ...
    def abort(self) -> None: ...
    def clear_abort(self) -> None: ...
    def forward(self, pixel_values: _Pixels, *, adapters: AdaptersLike = None) -> _Floats: ...
    # One image gives its list of (label, probability); a list or tuple of images gives one such list
    # per image (so does a uint8 array [N, H, W, C], typed as one image here: index its result).
    @overload
    def classify(  # type: ignore[overload-overlap]  # a str is a sequence of str too: it is one image
        self, images: ImageLike, top_k: int = 5, *, adapters: AdaptersLike = None) -> _Labelled: ...
    @overload
    def classify(self, images: Sequence[ImageLike], top_k: int = 5, *,
                 adapters: AdaptersLike = None) -> List[_Labelled]: ...

class Assistant:
    def __init__(self, path: _Path, device: str = "cpu", threads: Optional[int] = None, *,
                 context_length: Optional[int] = None, weights: str = "stored", matmul: str = "exact") -> None: ...
    def load_adapter(self, path: _Path, name: Optional[str] = None) -> Adapter: ...
    def unload_adapter(self, adapter: Union[Adapter, str]) -> None: ...
    @property
    def adapters(self) -> Dict[str, Adapter]: ...
    @property
    def info(self) -> Dict[str, Any]: ...
    @property
    def image_token_id(self) -> int: ...
    @property
    def image_rows(self) -> int: ...
    @property
    def image_placement(self) -> str: ...
    @property
    def image_size(self) -> Tuple[int, int]: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def tokenizer(self) -> Optional[Tokenizer]: ...
    @property
    def threads(self) -> Optional[int]: ...
    @threads.setter
    def threads(self, value: Optional[int]) -> None: ...
    def abort(self) -> None: ...
    def clear_abort(self) -> None: ...
    def conversation(self, system: Optional[str] = None, *, chat_template: Optional[str] = None,
                     **variables: Any) -> Conversation: ...
    def load_conversation(self, path: _Path, *, chat_template: Optional[str] = None,
                          **variables: Any) -> Conversation: ...
    @overload
    def chat(self, messages: Sequence[Mapping[str, Any]], *, chat_template: Optional[str] = None,
             variables: Optional[Mapping[str, Any]] = None, max_new_tokens: int = 256, temperature: float = 0.0,
             top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
             repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
             stream: Literal[False] = False, stop_at_eos: bool = True, adapters: AdaptersLike = None) -> str: ...
    @overload
    def chat(self, messages: Sequence[Mapping[str, Any]], *, chat_template: Optional[str] = None,
             variables: Optional[Mapping[str, Any]] = None, max_new_tokens: int = 256, temperature: float = 0.0,
             top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
             repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
             stream: Literal[True], stop_at_eos: bool = True,
             adapters: AdaptersLike = None) -> Generator[str, None, str]: ...
    @overload
    def chat(self, messages: Sequence[Mapping[str, Any]], *, chat_template: Optional[str] = None,
             variables: Optional[Mapping[str, Any]] = None, max_new_tokens: int = 256, temperature: float = 0.0,
             top_k: Optional[int] = 50, top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
             repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
             stream: bool = False, stop_at_eos: bool = True,
             adapters: AdaptersLike = None) -> Union[str, Generator[str, None, str]]: ...
    def preprocess(self, image: ImageLike) -> _Floats: ...
    def forward(self, input_ids: IdsLike, pixel_values: Optional[_Pixels] = None, *,
                adapters: AdaptersLike = None) -> _Floats: ...
    def encode(self, pixel_values: _Pixels, *, adapters: AdaptersLike = None) -> _Floats: ...
    @overload
    def generate(self, prompt_or_ids: _Prompt, images: _Images = None, pixel_values: Optional[_Pixels] = None,
                 max_new_tokens: int = 20, temperature: float = 0.0, top_k: Optional[int] = 50,
                 top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                 repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
                 stream: Literal[False] = False, stop_at_eos: bool = True, *,
                 adapters: AdaptersLike = None) -> GenerationResult: ...
    @overload
    def generate(self, prompt_or_ids: _Prompt, images: _Images = None, pixel_values: Optional[_Pixels] = None,
                 max_new_tokens: int = 20, temperature: float = 0.0, top_k: Optional[int] = 50,
                 top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                 repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None, *,
                 stream: Literal[True], stop_at_eos: bool = True,
                 adapters: AdaptersLike = None) -> Generator[str, None, GenerationResult]: ...
    @overload
    def generate(self, prompt_or_ids: _Prompt, images: _Images = None, pixel_values: Optional[_Pixels] = None,
                 max_new_tokens: int = 20, temperature: float = 0.0, top_k: Optional[int] = 50,
                 top_p: Optional[float] = 1.0, min_p: Optional[float] = 0.0,
                 repetition_penalty: Optional[float] = 1.0, seed: Optional[int] = 0, stop: _Stop = None,
                 stream: bool = False, stop_at_eos: bool = True, *, adapters: AdaptersLike = None
                 ) -> Union[GenerationResult, Generator[str, None, GenerationResult]]: ...
