// krait.Tokenizer: krait_tokenizer_* with the GIL released around encode/decode.
#include <pybind11/stl.h>

#include "common.h"

namespace krait_py {

Tokenizer::Tokenizer(krait_tokenizer* owned) : owned_(owned), tok_(owned) { read_vocab_size(); }

Tokenizer::Tokenizer(std::shared_ptr<ModelHandle> owner, const krait_tokenizer* borrowed)
    : owner_(std::move(owner)), tok_(borrowed) {
    read_vocab_size();
}

void Tokenizer::read_vocab_size() { check(krait_tokenizer_vocab_size(tok_, &vocab_size_)); }

std::shared_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
    krait_tokenizer* t = nullptr;
    krait_status status;
    {
        py::gil_scoped_release nogil;
        status = krait_tokenizer_load(path.c_str(), &t);
    }
    check(status);
    return std::shared_ptr<Tokenizer>(new Tokenizer(t));
}

std::shared_ptr<Tokenizer> model_tokenizer(const std::shared_ptr<ModelHandle>& model, std::string& no_tokenizer_message) {
    const krait_tokenizer* tok = nullptr;
    const krait_status status = krait_model_get_tokenizer(model->model, &tok);
    if (status == KRAIT_OK) return std::make_shared<Tokenizer>(model, tok);
    if (status != KRAIT_ERR_UNSUPPORTED) check(status);  // UNSUPPORTED: no tokenizer.json, which is allowed
    no_tokenizer_message = krait_last_error();
    return nullptr;
}

std::vector<int32_t> Tokenizer::encode_bytes(const std::string& utf8, bool add_special_tokens) const {
    py::gil_scoped_release nogil;
    // Every encoder here emits at most one id per input byte, plus a few for a prefix space and
    // special tokens: this first guess nearly always fits; otherwise the size reported is used.
    std::vector<int32_t> ids(utf8.size() + 8);
    size_t n = 0;
    krait_status status =
        krait_tokenizer_encode(tok_, utf8.data(), utf8.size(), add_special_tokens, ids.data(), ids.size(), &n);
    if (status == KRAIT_ERR_BUFFER_TOO_SMALL) {
        ids.resize(n);
        status = krait_tokenizer_encode(tok_, utf8.data(), utf8.size(), add_special_tokens, ids.data(), ids.size(), &n);
    }
    check(status);
    ids.resize(n);
    return ids;
}

std::string Tokenizer::decode_bytes(const Ids& ids, bool skip_special_tokens) const {
    py::gil_scoped_release nogil;
    std::string text(ids.data.size() * 8 + 16, '\0');
    size_t n = 0;
    krait_status status = krait_tokenizer_decode_v2(tok_, ids.ptr(), ids.data.size(), skip_special_tokens, text.data(), text.size(), &n);
    if (status == KRAIT_ERR_BUFFER_TOO_SMALL) {
        text.resize(n);
        status = krait_tokenizer_decode_v2(tok_, ids.ptr(), ids.data.size(), skip_special_tokens, text.data(), text.size(), &n);
    }
    check(status);
    text.resize(n);
    return text;
}

void bind_tokenizer(py::module_& m) {
    py::class_<Tokenizer, std::shared_ptr<Tokenizer>> cls(m, "Tokenizer", R"doc(
A Hugging Face tokenizer.json (byte-level BPE: GPT-2/NeoX, Llama-3, Qwen2, SmolLM2; or
SentencePiece-style BPE: Llama-2, Mistral).

Load one with Tokenizer.from_file(path); a model's own tokenizer is SequenceModel.tokenizer (or
Assistant.tokenizer), which keeps its model alive. encode() and decode() release the GIL. Immutable
and thread-safe.)doc");
    cls.attr("__module__") = "krait";  // public as krait.Tokenizer: so named in signatures and help()
    cls.def_static(
            "from_file",
            [](py::object path) {
                // str, bytes or os.PathLike, as open() takes
                return Tokenizer::from_file(py::module_::import("os").attr("fspath")(path).cast<std::string>());
            },
            py::arg("path"),
            "Loads a tokenizer.json file (path: str, bytes or os.PathLike), or a directory with tokenizer.json and\n"
            "optionally tokenizer_config.json (whose added and special tokens are added as transformers does).\n"
            "Raises KraitError (KraitIOError, KraitFormatError, ...).")
        .def(
            "encode",
            [](const Tokenizer& t, py::handle text, bool add_special_tokens) {
                return t.encode_bytes(text_bytes(text, "text"), add_special_tokens);
            },
            py::arg("text"), py::arg("add_special_tokens") = false,
            "Token ids of `text` (str, or UTF-8 bytes), as Hugging Face tokenizers' encode(); special tokens\n"
            "(BOS, ...) are added only with add_special_tokens=True. Releases the GIL.")
        .def(
            "decode",
            [](const Tokenizer& t, py::handle ids, bool skip_special_tokens) {
                const std::string bytes =
                    t.decode_bytes(to_ids(ids, "ids", t.vocab_size(), /*allow_2d=*/false), skip_special_tokens);
                return utf8_str(bytes.data(), bytes.size());
            },
            py::arg("ids"), py::arg("skip_special_tokens") = false,
            "Text of `ids` (a sequence or 1-D array of ints), as Hugging Face tokenizers' decode(): special\n"
            "tokens included unless skip_special_tokens=True. Releases the GIL.")
        .def_property_readonly("vocab_size", &Tokenizer::vocab_size, "Number of ids, added tokens included.")
        .def("__len__", &Tokenizer::vocab_size, "vocab_size.")
        .def("__repr__", [](const Tokenizer& t) { return "<krait.Tokenizer vocab_size=" + std::to_string(t.vocab_size()) + ">"; });
}

}  // namespace krait_py
