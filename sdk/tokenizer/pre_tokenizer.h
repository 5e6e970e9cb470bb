// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): split a normalized piece of text into the
// words the model encodes one by one.
//
// Supported: ByteLevel (GPT-2 / GPT-NeoX: the GPT-2 regex split, then every byte mapped to a
// printable character), Metaspace (SentencePiece style: ' ' -> '▁', optional prefix, optional
// split before each '▁'), Split (a String or Regex pattern with any of HF's five delimiter
// behaviours and invert: Llama-3's and Qwen2's word regexes; see regex.h for the engine), Digits
// (SmolLM's individual digits) and Sequence of these.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sdk/tokenizer/json_util.h"

namespace krait::tok {

// A stretch of text on its way to the model. `at_origin` is true when it starts at byte 0 of the
// caller's input (HF: offsets_original().0 == 0), which Metaspace's prepend_scheme "first" needs.
struct Piece {
    std::string text;
    bool at_origin = false;
};

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    // Replaces `pieces` by their sub-pieces, in order; empty pieces are dropped (as HF does).
    virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& j, const JsonPath& at);

// GPT-2's byte <-> character table (bytes_to_unicode): printable Latin-1 bytes map to themselves,
// the other 68 bytes to U+0100.., so that ' ' -> 'Ġ', '\n' -> 'Ċ'.
const std::string& byte_level_char_utf8(uint8_t byte);
// The byte a table character stands for, or -1 when `cp` is not one of the 256 characters.
int byte_level_byte(char32_t cp);

// Splits `text` (valid UTF-8) the way HF's ByteLevel pre-tokenizer applies the GPT-2 regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with Oniguruma's leftmost-alternative semantics. The matches cover the whole text.
void split_gpt2(std::string_view text, std::vector<std::string_view>& out);

}  // namespace krait::tok
