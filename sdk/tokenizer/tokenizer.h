// krait::Tokenizer — Hugging Face tokenizer.json, encode and decode, agreeing id for id with HF
// tokenizers for the two families Krait's models use:
//   * byte-level BPE (GPT-2 / GPT-NeoX, state-spaces/mamba-*-hf): NFC, ByteLevel pre-tokenizer and
//     decoder, added tokens such as <|endoftext|> and NeoX's runs of spaces;
//   * SentencePiece-style BPE (Llama / TinyLlama): Prepend+Replace normalizer or a Metaspace
//     pre-tokenizer, byte_fallback with <0xXX> tokens, <unk>, TemplateProcessing adding <s>.
// The pipeline is HF's: added tokens are split out first (non-normalized ones from the raw text,
// normalized ones after the normalizer ran on each remaining piece), then pre-tokenizer, BPE per
// word, and the post-processor when add_special_tokens. Components outside the supported set fail
// to load with KRAIT_ERR_UNSUPPORTED naming the component (see the parse_* functions).
// "truncation" and "padding" of the file are ignored: callers decide lengths themselves.
// Supported beyond those two families: the byte-level BPEs with a Split regex pre-tokenizer of
// Llama-3 / 3.1 / 3.2 and Qwen2 / Qwen2.5 (regexes run on Oniguruma, as in HF; see regex.h), SmolLM2's
// Digits pre-tokenizer, Replace with a Regex, and the added / special tokens of a
// tokenizer_config.json next to the tokenizer.json (see tokenizer_config.h).
//
// Immutable after loading; all const members are safe to call from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sdk/core/error.h"

namespace krait {

class Tokenizer {
public:
    // Errors: KRAIT_ERR_IO when the file cannot be read; KRAIT_ERR_FORMAT for malformed JSON or a
    // missing / mistyped field (the message names the file and the field); KRAIT_ERR_UNSUPPORTED for
    // model types, normalizers, pre-tokenizers, decoders or post-processors not handled.
    static std::unique_ptr<Tokenizer> from_file(const std::string& path);
    // A model directory: its tokenizer.json, plus its tokenizer_config.json when there is one (the
    // tokens transformers adds from it; see tokenizer_config.h). KRAIT_ERR_IO when `dir` has no
    // tokenizer.json.
    static std::unique_ptr<Tokenizer> from_directory(const std::string& dir);
    // `config_json_text` (tokenizer_config.json, named `config_origin` in messages) may be null.
    static std::unique_ptr<Tokenizer> from_json(const std::string& json_text, const std::string& origin_for_messages,
                                                const std::string* config_json_text = nullptr,
                                                const std::string& config_origin = {});
    ~Tokenizer();
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    // As HF tokenizers' encode(text, add_special_tokens).ids. Invalid UTF-8 throws
    // KRAIT_ERR_INVALID_ARGUMENT naming the byte offset.
    std::vector<int32_t> encode(std::string_view utf8_text, bool add_special_tokens) const;
    // As HF tokenizers' decode(ids, skip_special_tokens), except that an id outside
    // [0, vocab_size()) (or one no token has) throws KRAIT_ERR_INVALID_ARGUMENT naming it, where HF
    // silently drops it.
    std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;
    // Model vocabulary plus added tokens: the largest id + 1.
    int64_t vocab_size() const;
    // Added tokens first, then the model vocabulary (HF token_to_id).
    std::optional<int32_t> token_to_id(std::string_view token) const;
    // The token string decode() starts from for `id` (an added token's form, else the model's token),
    // or nullptr if no token has it; `special` tells whether skip_special_tokens drops it.
    const std::string* id_to_token(int32_t id, bool* special = nullptr) const;

private:
    struct Impl;
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace krait
