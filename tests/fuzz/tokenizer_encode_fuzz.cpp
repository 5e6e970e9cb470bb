// Encoding arbitrary bytes (and decoding arbitrary ids) with fixed, valid tokenizers of every kind
// the SDK reads (tests/fixtures/tokenizer: byte-level BPE, Llama-3 / Qwen2 / SmolLM2 Split regexes
// on Oniguruma, SentencePiece BPE with Metaspace or Prepend+Replace, byte fallback, fuse_unk).
// Input: byte 0 picks the tokenizer and add_special_tokens, the rest is the text. Invalid UTF-8 must
// be refused with a krait::Error; valid text must round-trip to valid UTF-8.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_common.h"
#include "sdk/core/utf8.h"
#include "sdk/tokenizer/tokenizer.h"

namespace {
const std::vector<std::unique_ptr<krait::Tokenizer>>& tokenizers() {
    static const auto all = [] {
        std::vector<std::unique_ptr<krait::Tokenizer>> v;
        for (const char* name : {"bytelevel_neox", "llama3", "qwen2", "smollm2", "sp_metaspace", "sp_legacy",
                                 "tiny_fuse_unk_prefix", "bytelevel_template"})
            v.push_back(krait::Tokenizer::from_file(krait_fuzz::source_path(std::string("tests/fixtures/tokenizer/") +
                                                                            name + ".tokenizer.json")));
        return v;
    }();
    return all;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const auto& all = tokenizers();
    const krait::Tokenizer& tok = *all[(data[0] & 0x7f) % all.size()];
    const bool special = data[0] & 0x80;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    const bool valid = krait::is_valid_utf8(std::string(text));
    krait_fuzz::run("encode", [&] {
        const auto ids = tok.encode(text, special);
        if (!valid) std::abort();  // invalid UTF-8 must be refused
        const std::string back = tok.decode(ids, false);
        if (!krait::is_valid_utf8(back)) std::abort();
        (void)tok.decode(ids, true);
    });
    // The same bytes as token ids (out-of-range ones must be refused, not read).
    std::vector<int32_t> ids((size - 1) / 4);
    if (!ids.empty()) std::memcpy(ids.data(), data + 1, ids.size() * 4);
    for (auto& id : ids)
        if (id % 4 != 0) id = static_cast<int32_t>(static_cast<uint32_t>(id) % static_cast<uint32_t>(tok.vocab_size() + 8));
    krait_fuzz::run("decode", [&] {
        if (!krait::is_valid_utf8(tok.decode(ids, special))) std::abort();
    });
    return 0;
}
