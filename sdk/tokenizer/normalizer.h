// Normalizers of tokenizer.json ("normalizer"): the text transforms HF applies to every stretch of
// input that is not an added token, before pre-tokenization.
//
// Supported: NFC, Prepend, Replace (String or Regex pattern), Sequence. Krait does not track offsets, so a
// normalizer here is a plain string -> string function.
#pragma once

#include <memory>
#include <string>

#include "sdk/tokenizer/json_util.h"
#include "sdk/tokenizer/regex.h"

namespace krait::tok {

class Normalizer {
public:
    virtual ~Normalizer() = default;
    // `text` is valid UTF-8 and not empty (HF never normalizes an empty piece).
    virtual void normalize(std::string& text) const = 0;
};

// `j` is the non-null "normalizer" value; `at` its path for messages.
std::unique_ptr<Normalizer> parse_normalizer(const Json& j, const JsonPath& at);

// Replaces every non-overlapping occurrence of `pattern` (searched left to right) by `content`.
// Shared by the Replace normalizer and the Replace decoder.
std::string replace_all(std::string_view text, std::string_view pattern, std::string_view content);

// The pattern of a Replace component (normalizer or decoder): {"String": s} with s not empty, or
// {"Regex": r} (Oniguruma, as HF).
struct ReplacePattern {
    std::string literal;                  // the String pattern, when regex is null
    std::shared_ptr<const Regex> regex;   // the Regex pattern, or null
    // Every match (non-overlapping, left to right; HF NormalizedString::replace) replaced by `content`.
    std::string replace(std::string_view text, std::string_view content) const;
};
ReplacePattern parse_replace_pattern(const Json& component, const JsonPath& at);

}  // namespace krait::tok
