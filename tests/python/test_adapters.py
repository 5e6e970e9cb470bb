"""LoRA adapters through the Python package (model.load_adapter, adapters={...} per call) and the CLI
(--adapter DIR[=SCALE], krait info on adapter folders).

Reference values: peft's logits and greedy ids stored with the fixtures of tools/gen_lora_fixtures.py
(tests/fixtures/lora/README.md), compared with max abs error <= 1e-5 * max(1, max |reference|) (Krait
measures <= 1e-6 here; the smallest effect of any adapted module kind on the logits is 5e-3).
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import krait
from conftest import FIXTURES, ROOT, TOKENIZERS, read_safetensors

LORA = FIXTURES / "lora"
MAMBA = LORA / "mamba"
VIT = LORA / "vit"
MAMBAVISION = LORA / "mambavision"
BAD = LORA / "bad"
MANIFEST = json.loads((LORA / "manifest.json").read_text())
TOL = 1e-5


def assert_close(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.dtype == np.float32
    assert got.shape == ref.shape, (got.shape, ref.shape)
    tol = TOL * max(1.0, float(np.abs(ref).max()))
    diff = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    assert diff <= tol, f"max abs diff {diff:.3g} > tolerance {tol:.3g}"


@pytest.fixture(scope="module")
def mamba_ref() -> dict:
    return read_safetensors(MAMBA / "expected.safetensors")


@pytest.fixture(scope="module")
def vit_ref() -> dict:
    return read_safetensors(VIT / "expected.safetensors")


@pytest.fixture(scope="module")
def mambavision_ref() -> dict:
    return read_safetensors(MAMBAVISION / "expected.safetensors")


@pytest.fixture()
def mamba():
    """A fresh model per test: every test starts with no adapter loaded."""
    return krait.SequenceModel(MAMBA, threads=1)


def adapter_file_tensors(folder: Path) -> dict:
    return read_safetensors(folder / "adapter_model.safetensors")


def target_modules_in_file(folder: Path) -> set:
    """Module paths of the LoRA pairs in an adapter file (without base_model.model. and the part name)."""
    modules = set()
    for key in adapter_file_tensors(folder):
        name = key[len("base_model.model."):]
        for part in (".lora_A.weight", ".lora_B.weight", ".lora_embedding_A", ".lora_embedding_B"):
            if name.endswith(part):
                modules.add(name[:-len(part)])
    return modules


# ---- Mamba: loading and facts ------------------------------------------------------------------

def test_adapter_facts(mamba):
    a = mamba.load_adapter(MAMBA / "adapters" / "a")
    b = mamba.load_adapter(str(MAMBA / "adapters" / "b"))
    assert isinstance(a, krait.Adapter) and a.loaded
    assert (a.name, b.name) == ("a", "b")  # the folder's name by default
    assert Path(a.path) == MAMBA / "adapters" / "a"
    assert (a.max_rank, a.lora_alpha, a.use_rslora) == (4, 8.0, False)
    assert (b.max_rank, b.lora_alpha, b.use_rslora) == (6, 3.0, True)
    assert a.labels == [] and b.labels == []
    for adapter, folder in ((a, "a"), (b, "b")):
        tensors = adapter_file_tensors(MAMBA / "adapters" / folder)
        assert adapter.num_parameters == sum(t.size for t in tensors.values())
        assert {t.module for t in adapter.targets} == target_modules_in_file(MAMBA / "adapters" / folder)
        assert all(isinstance(t, krait.AdapterTarget) and not t.replaced for t in adapter.targets)
    kinds = {t.module: t.kind for t in a.targets}
    assert kinds["backbone.embeddings"] == "embedding"
    assert {k for m, k in kinds.items() if m != "backbone.embeddings"} == {"linear"}
    assert all(t.rank == 4 and t.scaling == pytest.approx(2.0, rel=1e-6) for t in a.targets)
    # b: rank_pattern {"layers.1.mixer.x_proj": 3, "out_proj": 2}, alpha_pattern {"dt_proj": 5}, rslora.
    want = {"in_proj": (6, 3 / math.sqrt(6)), "dt_proj": (6, 5 / math.sqrt(6)), "out_proj": (2, 3 / math.sqrt(2))}
    for t in b.targets:
        layer, kind = int(t.module.split(".")[2]), t.module.rsplit(".", 1)[1]
        rank, scaling = want.get(kind) or ((3, 3 / math.sqrt(3)) if layer == 1 else (6, 3 / math.sqrt(6)))
        assert (t.rank, t.kind) == (rank, "linear"), t
        assert t.scaling == pytest.approx(scaling, rel=1e-6), t
        assert t._asdict() == {"module": t.module, "kind": "linear", "rank": rank, "scaling": t.scaling,
                               "replaced": False}
    assert list(mamba.adapters) == ["a", "b"]
    assert mamba.adapters["a"] is a  # the same object, not a copy
    assert "'a'" in repr(a) and "rslora" in repr(b)


def test_names_are_unique_per_model(mamba, mamba_ref):
    mamba.load_adapter(MAMBA / "adapters" / "a")
    with pytest.raises(krait.KraitInvalidArgumentError, match="named 'a' is already loaded"):
        mamba.load_adapter(MAMBA / "adapters" / "a")
    with pytest.raises(krait.KraitInvalidArgumentError, match="named 'a' is already loaded"):
        mamba.load_adapter(MAMBA / "adapters" / "b", name="a")
    assert list(mamba.adapters) == ["a"]
    again = mamba.load_adapter(MAMBA / "adapters" / "a", name="a again")
    assert again.name == "a again" and list(mamba.adapters) == ["a", "a again"]
    assert_close(mamba.forward(mamba_ref["input_ids"], adapters={"a again": 1.0}), mamba_ref["logits_a"])
    # Another model has its own names.
    other = krait.SequenceModel(MAMBA, threads=1)
    assert other.load_adapter(MAMBA / "adapters" / "a").name == "a"
    for bad in ("", 5):
        with pytest.raises(krait.KraitInvalidArgumentError, match="name"):
            mamba.load_adapter(MAMBA / "adapters" / "b", name=bad)


# ---- Mamba: logits and generation against peft ---------------------------------------------------

def test_swaps_in_one_model_match_peft(mamba, mamba_ref):
    ids = mamba_ref["input_ids"]
    a = mamba.load_adapter(MAMBA / "adapters" / "a")
    b = mamba.load_adapter(MAMBA / "adapters" / "b")
    steps = [
        (None, "logits_base"),
        ({a: 1.0}, "logits_a"),
        ({"b": 1}, "logits_b"),
        ({a: 0.5, "b": 1.5}, "logits_ab"),
        ({}, "logits_base"),
        ({b: Fraction(3, 2), "a": np.float32(0.5)}, "logits_ab"),  # any real number type, any order
        ({"a": 1.0}, "logits_a"),
    ]
    for adapters, name in steps:
        assert_close(mamba.forward(ids, adapters=adapters), mamba_ref[name])
    assert_close(mamba.forward(ids), mamba_ref["logits_base"])  # the call without adapters= is the base model
    f16 = mamba.load_adapter(MAMBA / "adapters" / "a_f16")
    assert_close(mamba.forward(ids, adapters={f16: 1.0}), mamba_ref["logits_a_f16"])
    # Scale 0 is the base model.
    assert_close(mamba.forward(ids, adapters={a: 0.0, b: 0}), mamba_ref["logits_base"])


def test_generate_with_an_adapter_matches_peft(mamba, mamba_ref):
    prompt = mamba_ref["prompt_ids"]
    greedy_a = mamba_ref["greedy_a"].tolist()
    mamba.load_adapter(MAMBA / "adapters" / "a")
    n = len(greedy_a)
    assert mamba.generate(prompt, max_new_tokens=n, adapters={"a": 1.0}).ids == greedy_a
    assert mamba.generate(prompt, max_new_tokens=n).ids == MANIFEST["cases"]["mamba"]["greedy_base_same_prompt"]
    assert mamba.generate(prompt, max_new_tokens=n, adapters={"a": 1.0}).ids == greedy_a


@pytest.fixture(scope="module")
def lora_text_model_dir(tmp_path_factory) -> Path:
    """The Mamba base (vocab 67) with a byte-level tokenizer.json without merges whose ids 2..66 are the
    characters '!'..'`' (bytelevel_neox cut to 67 ids), so that text maps to ids one character each."""
    d = tmp_path_factory.mktemp("lora_mamba_with_tokenizer")
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(MAMBA / name, d / name)
    tok = json.loads((TOKENIZERS / "bytelevel_neox.tokenizer.json").read_text())
    tok["model"]["vocab"] = {k: v for k, v in tok["model"]["vocab"].items() if v < 67}
    tok["model"]["merges"] = []
    tok["added_tokens"] = [t for t in tok["added_tokens"] if t["id"] < 67]
    (d / "tokenizer.json").write_text(json.dumps(tok))
    return d


def ids_text(ids) -> str:
    return "".join(chr(0x1F + i) for i in ids)  # the tokenizer above: id i is chr(0x1f + i) for 2 <= i < 67


def test_streaming_generation_with_an_adapter(lora_text_model_dir, mamba_ref):
    model = krait.SequenceModel(lora_text_model_dir, threads=1)
    prompt = ids_text(mamba_ref["prompt_ids"])
    assert model.tokenizer.encode(prompt) == mamba_ref["prompt_ids"].tolist()
    greedy_a = mamba_ref["greedy_a"].tolist()
    model.load_adapter(MAMBA / "adapters" / "a")
    pieces = list(model.generate(prompt, max_new_tokens=len(greedy_a), stream=True, adapters={"a": 1}))
    assert "".join(pieces) == ids_text(greedy_a)
    assert model.generate(prompt, max_new_tokens=len(greedy_a), adapters={"a": 1}).text == ids_text(greedy_a)


# ---- Mamba: bad arguments and bad adapters ---------------------------------------------------------

@pytest.mark.parametrize("scale", [float("nan"), float("inf"), -float("inf"), np.float64("nan")])
def test_non_finite_scales_are_refused_by_the_library(mamba, mamba_ref, scale):
    a = mamba.load_adapter(MAMBA / "adapters" / "a")
    with pytest.raises(krait.KraitInvalidArgumentError, match="adapter 'a'.*not finite") as info:
        mamba.forward(mamba_ref["input_ids"], adapters={a: scale})
    assert info.value.status == krait.Status.INVALID_ARGUMENT
    with pytest.raises(krait.KraitInvalidArgumentError, match="not finite"):
        mamba.generate(mamba_ref["prompt_ids"], max_new_tokens=2, adapters={"a": scale})
    # Nothing stuck: the next calls are the base model and the adapter at scale 1.
    assert_close(mamba.forward(mamba_ref["input_ids"]), mamba_ref["logits_base"])
    assert_close(mamba.forward(mamba_ref["input_ids"], adapters={a: 1.0}), mamba_ref["logits_a"])


@pytest.mark.parametrize("adapters, words", [
    ({"a": "1.0"}, "scale of adapter 'a' must be a real number"),
    ({"a": True}, "scale of adapter 'a' must be a real number"),
    ({"a": None}, "scale of adapter 'a' must be a real number"),
    ({"a": 1j}, "scale of adapter 'a' must be a real number"),
    ({"a": 1e300}, "within float32's range"),
    ({"a": 10**400}, "real number that fits a float"),
    ({"nope": 1.0}, "no adapter named 'nope' is loaded on this model \\(loaded: 'a'\\)"),
    ({3: 1.0}, "keys must be Adapter objects or adapter names"),
    ([("a", 1.0)], "adapters must be None or a dict"),
    ("a", "adapters must be None or a dict"),
])
def test_bad_adapters_arguments(mamba, mamba_ref, adapters, words):
    mamba.load_adapter(MAMBA / "adapters" / "a")
    with pytest.raises(krait.KraitInvalidArgumentError, match=words):
        mamba.forward(mamba_ref["input_ids"], adapters=adapters)
    assert_close(mamba.forward(mamba_ref["input_ids"], adapters={"a": 1.0}), mamba_ref["logits_a"])


def test_an_adapter_given_twice_or_of_another_model(mamba, mamba_ref):
    a = mamba.load_adapter(MAMBA / "adapters" / "a")
    with pytest.raises(krait.KraitInvalidArgumentError, match="adapter 'a' is given twice"):
        mamba.forward(mamba_ref["input_ids"], adapters={a: 1.0, "a": 0.5})
    other = krait.SequenceModel(MAMBA, threads=1)
    foreign = other.load_adapter(MAMBA / "adapters" / "a")
    with pytest.raises(krait.KraitInvalidArgumentError, match="another model"):
        mamba.forward(mamba_ref["input_ids"], adapters={foreign: 1.0})
    with pytest.raises(krait.KraitInvalidArgumentError, match="another model"):
        mamba.unload_adapter(foreign)
    assert_close(other.forward(mamba_ref["input_ids"], adapters={foreign: 1.0}), mamba_ref["logits_a"])


# Every folder of tests/fixtures/lora/bad: the exception class (by status) and words of its message.
# The statuses are those of bad/README.md and krait.h's krait_adapter_load (a module the model lacks
# and a shape that does not fit are FORMAT errors).
BAD_CASES = {
    "other_size": (krait.KraitFormatError, ["backbone.", "[24, 4]", "[20, 4]"]),
    "other_arch": (krait.KraitFormatError, ["which this mamba model does not have"]),
    "rank_mismatch": (krait.KraitFormatError, ["backbone.layers.0.mixer.in_proj.lora_B.weight", "[80, 3]", "rank 4"]),
    "config_rank_mismatch": (krait.KraitFormatError, ["rank 4", "r = 2"]),
    "unknown_target": (krait.KraitFormatError, ["backbone.layers.0.mixer.nonexistent"]),
    "missing_B": (krait.KraitFormatError, ["backbone.layers.1.mixer.x_proj", "lora_B"]),
    "missing_weights": (krait.KraitIOError, ["adapter_model.safetensors"]),
    "missing_config": (krait.KraitIOError, ["adapter_config.json"]),
    "bad_json": (krait.KraitFormatError, ["adapter_config.json", "JSON"]),
    "not_lora": (krait.KraitUnsupportedError, ["peft_type", "IA3"]),
    "dora": (krait.KraitUnsupportedError, ["use_dora"]),
    "lora_bias": (krait.KraitUnsupportedError, ["lora_bias"]),
    "conv1d_target": (krait.KraitUnsupportedError, ["mixer.conv1d", "not supported"]),
    "nan_weights": (krait.KraitFormatError, ["backbone.layers.0.mixer.out_proj.lora_B.weight", "non-finite"]),
    "truncated": (krait.KraitFormatError, ["adapter_model.safetensors", "truncated"]),
}


def test_every_bad_fixture_has_an_expectation():
    assert sorted(p.name for p in BAD.iterdir() if p.is_dir()) == sorted(BAD_CASES)


@pytest.fixture(scope="module")
def mamba_with_a():
    model = krait.SequenceModel(MAMBA, threads=1)
    model.load_adapter(MAMBA / "adapters" / "a")
    return model


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_adapters_fail_cleanly(mamba_with_a, mamba_ref, case):
    error, words = BAD_CASES[case]
    with pytest.raises(error) as info:
        mamba_with_a.load_adapter(BAD / case, name=f"bad {case}")
    for w in words:
        assert w in info.value.message, (w, info.value.message)
    # Nothing was loaded; the model and its adapter are unaffected.
    assert list(mamba_with_a.adapters) == ["a"]
    assert_close(mamba_with_a.forward(mamba_ref["input_ids"], adapters={"a": 1.0}), mamba_ref["logits_a"])
    assert_close(mamba_with_a.forward(mamba_ref["input_ids"]), mamba_ref["logits_base"])


def test_missing_folder_is_an_os_error(mamba):
    with pytest.raises(OSError) as info:
        mamba.load_adapter(LORA / "no-such-adapter")
    assert isinstance(info.value, krait.KraitIOError) and "no-such-adapter" in str(info.value)


# ---- Mamba: unload -------------------------------------------------------------------------------

def test_unload(mamba, mamba_ref):
    ids = mamba_ref["input_ids"]
    a = mamba.load_adapter(MAMBA / "adapters" / "a")
    b = mamba.load_adapter(MAMBA / "adapters" / "b")
    mamba.unload_adapter("a")
    assert not a.loaded and b.loaded and list(mamba.adapters) == ["b"]
    assert a.name == "a" and a.max_rank == 4 and len(a.targets) == 9  # facts stay readable
    assert "unloaded" in repr(a)
    with pytest.raises(krait.KraitInvalidArgumentError, match="adapter 'a' was unloaded"):
        mamba.forward(ids, adapters={a: 1.0})
    with pytest.raises(krait.KraitInvalidArgumentError, match="no adapter named 'a'.*loaded: 'b'"):
        mamba.forward(ids, adapters={"a": 1.0})
    with pytest.raises(krait.KraitInvalidArgumentError, match="already unloaded"):
        mamba.unload_adapter(a)
    with pytest.raises(krait.KraitInvalidArgumentError, match="no adapter named 'a'"):
        mamba.unload_adapter("a")
    with pytest.raises(krait.KraitInvalidArgumentError, match="takes an Adapter or an adapter's name"):
        mamba.unload_adapter(0)
    assert_close(mamba.forward(ids, adapters={b: 1.0}), mamba_ref["logits_b"])
    mamba.unload_adapter(b)
    assert mamba.adapters == {}
    # The name is free again.
    a2 = mamba.load_adapter(MAMBA / "adapters" / "a")
    assert a2 is not a and a2.loaded and not a.loaded
    assert_close(mamba.forward(ids, adapters={"a": 1.0}), mamba_ref["logits_a"])


def test_unload_while_in_use(lora_text_model_dir, mamba_ref):
    """An adapter unloaded (and its last Python reference dropped) while a generation on another thread
    uses it: the generation finishes with it, exactly as it does alone.

    No sleep and no race: the generation runs through the binding's streaming hook (what generate(stream=True)
    uses, here with a callback of our own), whose callback holds the generation at its first token until this
    thread has unloaded the adapter. So the unload always happens in the middle of the generation."""
    mamba = krait.SequenceModel(lora_text_model_dir, threads=1)
    prompt = mamba_ref["prompt_ids"].tolist()
    greedy_a = mamba_ref["greedy_a"].tolist()
    n = 64
    a = mamba.load_adapter(MAMBA / "adapters" / "a")
    alone = mamba.generate(prompt, max_new_tokens=n, stop_at_eos=False, adapters={a: 1.0}).ids
    assert alone[:len(greedy_a)] == greedy_a
    base = mamba.generate(prompt, max_new_tokens=n, stop_at_eos=False).ids
    assert base != alone  # precondition: the result shows whether the adapter was used to the end

    request = mamba._impl.prepare_generation(prompt, n, 0.0, 0, 1.0, 0.0, 1.0, 0, [], False, True, {a: 1.0})
    in_use, unloaded = threading.Event(), threading.Event()
    tokens = []

    def on_piece(token_id, piece):
        tokens.append(token_id)
        if len(tokens) == 1:
            in_use.set()
            # A hang guard, not a speed check: the main thread unloads within milliseconds.
            assert unloaded.wait(120), "the main thread did not unload the adapter"
        return False

    result = {}

    def worker():
        try:
            result["ids"] = mamba._impl.run_generation(request, on_piece)[0]
        except BaseException as exc:
            result["error"] = exc
            in_use.set()

    t = threading.Thread(target=worker)
    t.start()
    assert in_use.wait(120), "the generation never reached its first token"
    del request  # the generation's own references are all that is left
    mamba.unload_adapter("a")
    assert not a.loaded and mamba.adapters == {}
    del a
    gc.collect()
    unloaded.set()
    t.join()
    assert "error" not in result, result.get("error")
    assert len(tokens) == n  # the callback saw every token: the unload came after the first and before the rest
    assert result["ids"] == alone
    assert mamba.generate(prompt, max_new_tokens=len(greedy_a)).ids == \
        MANIFEST["cases"]["mamba"]["greedy_base_same_prompt"]


# ---- Mamba: threads ------------------------------------------------------------------------------

def test_concurrent_calls_with_different_adapters(mamba, mamba_ref):
    """One model object shared by threads, each call with its own set: every result is what the call
    gives alone (the per-call set cannot leak into another thread's call)."""
    ids, prompt = mamba_ref["input_ids"], mamba_ref["prompt_ids"]
    a = mamba.load_adapter(MAMBA / "adapters" / "a")
    mamba.load_adapter(MAMBA / "adapters" / "b")
    greedy = {"a": mamba_ref["greedy_a"].tolist(),
              "base": MANIFEST["cases"]["mamba"]["greedy_base_same_prompt"]}
    sets = [("base", None), ("a", {a: 1.0}), ("b", {"b": 1.0}), ("ab", {a: 0.5, "b": 1.5}), ("base", {})]

    def job(i):
        name, adapters = sets[i % len(sets)]
        if i % 3 == 2 and name in greedy:
            return "generate", name, mamba.generate(prompt, max_new_tokens=12, adapters=adapters).ids
        return "forward", name, mamba.forward(ids, adapters=adapters)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(job, range(40)))
    for kind, name, value in results:
        if kind == "forward":
            assert_close(value, mamba_ref["logits_" + name])
        else:
            assert value == greedy[name]


def test_forward_with_adapters_releases_the_gil(mamba):
    from test_threads import abort_during  # another thread aborts it: possible only if the GIL is free

    mamba.load_adapter(MAMBA / "adapters" / "a")
    mamba.load_adapter(MAMBA / "adapters" / "b")
    ids = np.random.default_rng(0).integers(0, 67, size=(128, 1024), dtype=np.int32)
    error = abort_during(mamba, lambda: mamba.forward(ids, adapters={"a": 1.0, "b": 0.5}))
    assert isinstance(error, krait.KraitAbortedError), f"forward was not aborted while running: {error!r}"


# ---- Classifiers ---------------------------------------------------------------------------------

VIT_LABELS = ["cat_0", "dog_1", "heron_2", "newt_3", "otter_4"]


def test_vit_adapters_and_a_new_head(vit_ref):
    clf = krait.Classifier(VIT, threads=1)
    new = clf.load_adapter(VIT / "adapters" / "new_names")
    old = clf.load_adapter(VIT / "adapters" / "old_names")
    assert new.labels == ["cat", "dog", "bird"] and old.labels == []
    replaced = [t for t in new.targets if t.replaced]
    assert [(t.module, t.rank, t.scaling) for t in replaced] == [("classifier", 0, 0.0)]
    assert new.targets[-1].replaced  # adapted modules first, then replaced ones
    assert "conv2d" in {t.kind for t in new.targets}  # the patch embedding
    # Both namings resolve to the same 13 / 6 modules of the model.
    assert len(new.targets) == 14 and len(old.targets) == 6
    assert {t.module for t in old.targets} <= {t.module for t in new.targets}

    x = vit_ref["pixel_values"]
    for adapters, name, labels in [
        (None, "logits_base", VIT_LABELS),
        ({new: 1.0}, "logits_new_names", ["cat", "dog", "bird"]),
        ({"old_names": 1.0}, "logits_old_names", VIT_LABELS),
        ({"new_names": 0.5, old: 1.5}, "logits_both", ["cat", "dog", "bird"]),
        ({}, "logits_base", VIT_LABELS),
    ]:
        assert_close(clf.forward(x, adapters=adapters), vit_ref[name])
        assert clf.labels_for(adapters) == labels
        # The object's own head is unchanged by any call.
        assert clf.labels == VIT_LABELS and clf.num_labels == 5

    # Two active adapters may not both replace the head.
    clf.load_adapter(VIT / "adapters" / "new_names", name="again")
    for call in (lambda: clf.forward(x, adapters={new: 1.0, "again": 1.0}),
                 lambda: clf.labels_for({new: 1.0, "again": 1.0})):
        with pytest.raises(krait.KraitInvalidArgumentError, match="replace module 'classifier' twice"):
            call()
    assert_close(clf.forward(x), vit_ref["logits_base"])


def test_mambavision_conv_adapters_and_a_new_head(mambavision_ref):
    clf = krait.Classifier(MAMBAVISION, threads=1)
    base_labels = clf.labels
    assert len(base_labels) == 4
    convs = clf.load_adapter(MAMBAVISION / "adapters" / "convs")
    mixer = clf.load_adapter(MAMBAVISION / "adapters" / "mixer_only")
    assert convs.labels == ["even", "odd"] and mixer.labels == [] and mixer.use_rslora
    assert {"conv1d", "conv2d", "linear"} <= {t.kind for t in convs.targets}
    x = mambavision_ref["pixel_values"]
    for adapters, name, labels in [
        ({convs: 1.0}, "logits_convs", ["even", "odd"]),
        ({"mixer_only": 1}, "logits_mixer_only", base_labels),
        ({convs: 0.5, mixer: 1.5}, "logits_both", ["even", "odd"]),
        (None, "logits_base", base_labels),
    ]:
        assert_close(clf.forward(x, adapters=adapters), mambavision_ref[name])
        assert clf.labels_for(adapters) == labels


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def vit_classifier_dir(tmp_path_factory) -> Path:
    """The LoRA ViT base with a preprocessor that keeps 20 x 20 images as they are (resize to 20 x 20,
    rescale 1/255, normalize mean = std = 0.5): classify() then sees exactly model_input(image)."""
    d = tmp_path_factory.mktemp("lora_vit20")
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(VIT / name, d / name)
    pre = json.loads((FIXTURES / "images" / "preprocess" / "vit_bilinear_48" / "preprocessor_config.json").read_text())
    pre["size"] = {"height": 20, "width": 20}
    (d / "preprocessor_config.json").write_text(json.dumps(pre))
    return d


def model_input(rgb: np.ndarray) -> np.ndarray:
    x = (rgb.astype(np.float64) * (1.0 / 255.0)).astype(np.float32)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def test_classify_follows_the_calls_head(vit_classifier_dir):
    clf = krait.Classifier(vit_classifier_dir, threads=1)
    new = clf.load_adapter(VIT / "adapters" / "new_names")
    clf.load_adapter(VIT / "adapters" / "old_names")
    images = [np.random.default_rng(s).integers(0, 256, size=(20, 20, 3), dtype=np.uint8) for s in range(3)]
    sample = FIXTURES / "images" / "samples" / "rgb_37x53.png"
    for adapters in (None, {new: 1.0}, {"old_names": 1.0}, {"new_names": 0.5, "old_names": 1.5}):
        labels = clf.labels_for(adapters)
        probs = softmax(clf.forward(np.stack([model_input(im) for im in images]), adapters=adapters))
        got = clf.classify(images, top_k=10, adapters=adapters)
        for row, p in zip(got, probs):
            order = sorted(range(len(labels)), key=lambda i: (-p[i], i))
            assert [label for label, _ in row] == [labels[i] for i in order]
            assert all(abs(q - p[i]) <= 1e-6 for (_, q), i in zip(row, order))
        # Files and encoded bytes go through the same head.
        from_file = clf.classify(sample, top_k=10, adapters=adapters)
        assert [label for label, _ in from_file] and {label for label, _ in from_file} == set(labels)
        assert clf.classify(sample.read_bytes(), top_k=10, adapters=adapters) == from_file


def test_adapters_belong_to_their_model(mamba, mamba_ref, vit_ref):
    clf = krait.Classifier(VIT, threads=1)
    a = mamba.load_adapter(MAMBA / "adapters" / "a")
    with pytest.raises(krait.KraitInvalidArgumentError, match="another model"):
        clf.forward(vit_ref["pixel_values"], adapters={a: 1.0})
    with pytest.raises(krait.KraitFormatError, match="which this vit model does not have"):
        clf.load_adapter(MAMBA / "adapters" / "a")
    with pytest.raises(krait.KraitFormatError, match="which this mamba model does not have"):
        mamba.load_adapter(VIT / "adapters" / "new_names")
    assert clf.adapters == {} and list(mamba.adapters) == ["a"]


# ---- CLI -------------------------------------------------------------------------------------------

def _cli() -> Path:
    env = os.environ.get("KRAIT_CLI")
    path = Path(env) if env else ROOT / "build" / "cli" / "krait"
    if not path.is_file():
        pytest.skip(f"the krait CLI is not built at {path} (set KRAIT_CLI=path/to/krait)")
    return path


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(_cli()), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cli_generate_with_adapters_matches_peft(lora_text_model_dir, mamba_ref):
    prompt = ids_text(mamba_ref["prompt_ids"])
    greedy_a = mamba_ref["greedy_a"].tolist()
    common = ["generate", "-m", lora_text_model_dir, "-p", prompt, "--temperature", "0", "-n", len(greedy_a),
              "--no-special", "--threads", "1"]
    base = run_cli(*common)
    assert base.returncode == 0, base.stderr
    assert base.stdout == ids_text(MANIFEST["cases"]["mamba"]["greedy_base_same_prompt"])
    assert "adapter" not in base.stderr

    out = run_cli(*common, "--adapter", MAMBA / "adapters" / "a")
    assert out.returncode == 0, out.stderr
    assert out.stdout == ids_text(greedy_a)
    assert "krait: adapter a (" in out.stderr and " loaded in " in out.stderr and " ms" in out.stderr
    assert "scale 1" in out.stderr
    assert "adapter swap (krait_session_set_adapters, 1 adapter) took " in out.stderr and " us" in out.stderr

    # =SCALE: a at 0 and b at 0 is the base model; two adapters print two lines and one swap.
    zero = run_cli(*common, f"--adapter={MAMBA / 'adapters' / 'a'}=0", "--adapter", f"{MAMBA / 'adapters' / 'b'}=0")
    assert zero.returncode == 0, zero.stderr
    assert zero.stdout == base.stdout
    assert zero.stderr.count("krait: adapter ") == 3 and "2 adapters" in zero.stderr


@pytest.mark.parametrize("value, words", [
    ("=nan", "SCALE 'nan' is not finite"),
    ("=inf", "SCALE 'inf' is not finite"),
    ("=1e99", "SCALE '1e99' is out of float range"),
    ("=half", "SCALE 'half' is not a number"),
    ("=", "SCALE '' is not a number"),
])
def test_cli_refuses_bad_scales(value, words):
    out = run_cli("classify", "-m", VIT, "--adapter", f"{VIT / 'adapters' / 'new_names'}{value}", "x.png")
    assert out.returncode == 2
    assert words in out.stderr and "--adapter" in out.stderr


def test_cli_adapter_errors_name_the_problem():
    sample = FIXTURES / "images" / "samples" / "rgb_37x53.png"
    out = run_cli("classify", "-m", VIT, "--adapter", MAMBA / "adapters" / "a", sample)
    assert out.returncode == 1 and "krait: error:" in out.stderr and "which this vit model does not have" in out.stderr
    out = run_cli("classify", "-m", VIT, "--adapter", LORA / "no-such-adapter", sample)
    assert out.returncode == 1 and "no-such-adapter" in out.stderr


def test_cli_classify_shows_the_adapters_labels(vit_classifier_dir):
    sample = FIXTURES / "images" / "samples" / "rgb_37x53.png"
    clf = krait.Classifier(vit_classifier_dir, threads=1)
    clf.load_adapter(VIT / "adapters" / "new_names")
    for extra, adapters in (([], None), (["--adapter", VIT / "adapters" / "new_names"], {"new_names": 1.0}),
                            (["--adapter", f"{VIT / 'adapters' / 'new_names'}=0.5"], {"new_names": 0.5})):
        out = run_cli("classify", "-m", vit_classifier_dir, "-k", "10", "--threads", "1", *extra, sample)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0] == str(sample)
        got = [(line.split()[1], float(line.split()[0])) for line in lines[1:]]
        want = clf.classify(sample, top_k=10, adapters=adapters)
        assert [label for label, _ in got] == [label for label, _ in want]
        assert all(abs(p - q) <= 1e-4 for (_, p), (_, q) in zip(got, want))  # printed with 4 decimals
    assert "own head with 3 labels" in out.stderr


def test_cli_info_on_adapters():
    out = run_cli("info", "-m", MAMBA, MAMBA / "adapters" / "b")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "name             b\n" in text
    assert "rank             6 " in text and "lora_alpha       3\n" in text and "rslora           yes" in text
    assert "targets          8 adapted, 0 replaced" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.startswith("  backbone.")}
    assert rows["backbone.layers.1.mixer.x_proj"] == ["linear", "3", "1.73205"]
    assert rows["backbone.layers.0.mixer.out_proj"] == ["linear", "2", "2.12132"]
    assert rows["backbone.layers.0.mixer.dt_proj"] == ["linear", "6", "2.04124"]
    assert len(rows) == 8

    out = run_cli("info", "-m", VIT, VIT / "adapters" / "new_names", VIT / "adapters" / "old_names")
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.split("\n\n")
    assert "targets          13 adapted, 1 replaced" in first and "conv2d" in first
    assert "\n  classifier" in first and "labels           3 (its own classifier head)\n" in first
    assert "cat, dog, bird" in first
    assert "name             old_names" in second and "labels           the model's (5)" in second


def test_cli_info_needs_the_base_model_for_an_adapter():
    out = run_cli("info", MAMBA / "adapters" / "a")
    assert out.returncode == 2
    assert "is a LoRA adapter folder" in out.stderr and "-m MODEL_DIR" in out.stderr
    # A model directory alone still works, as does -m DIR.
    alone, with_m = run_cli("info", MAMBA), run_cli("info", "-m", MAMBA)
    assert alone.returncode == 0 and alone.stdout == with_m.stdout and "architecture     mamba" in alone.stdout
    help_text = run_cli("info", "--help").stdout
    assert "ADAPTER_DIR" in help_text and "-m is required" in help_text
    for command in ("generate", "classify"):
        assert "--adapter DIR[=SCALE]" in run_cli(command, "--help").stdout
