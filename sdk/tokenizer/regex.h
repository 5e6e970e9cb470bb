// Regular expressions of tokenizer.json ({"Regex": "..."} and {"String": "..."} patterns of the Split
// pre-tokenizer and of the Replace normalizer and decoder), on Oniguruma.
//
// Oniguruma is the engine Hugging Face tokenizers itself uses (SysRegex over the Rust `onig` crate,
// which bundles Oniguruma 6.9.8: the version Debian bookworm's libonig-dev ships), so a pattern such
// as Llama-3's
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|...
// means here exactly what it means there: same syntax (ONIG_SYNTAX_ONIGURUMA, no options), same
// Unicode tables for \p{..}, \s and case folding, same leftmost-first alternation and lookarounds.
// A String pattern is matched literally (HF escapes it into a regex; ONIG_SYNTAX_ASIS is the same).
//
// Immutable after construction; find_matches may be called from many threads at once (Oniguruma's
// search is reentrant; each call has its own match region).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sdk/tokenizer/json_util.h"

namespace krait::tok {

class Regex {
public:
    // Compiles `pattern` (UTF-8). `literal` selects a String pattern. A pattern Oniguruma rejects
    // fails with KRAIT_ERR_FORMAT naming `at`, the pattern and Oniguruma's reason.
    Regex(const std::string& pattern, bool literal, const JsonPath& at);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // One stretch of the text: [start, end) in bytes, a match of the pattern or the gap between two.
    struct Range {
        size_t start, end;
        bool is_match;
    };
    // HF's Pattern::find_matches for SysRegex: `text` (valid UTF-8) cut into consecutive ranges that
    // cover it exactly, matches found left to right by onig's find_iter (an empty match right after
    // the previous match is skipped by advancing one character). Empty text gives one empty
    // non-match {0, 0, false}. Fails with KRAIT_ERR_FORMAT if Oniguruma gives up (its retry limit).
    void find_matches(std::string_view text, std::vector<Range>& out) const;

    const std::string& pattern() const { return pattern_; }

private:
    std::string pattern_;
    void* regex_ = nullptr;  // OnigRegex, kept opaque so that users of this header need no onig header
};

// Reads a {"String": s} or {"Regex": r} pattern object (`at` is its path).
std::unique_ptr<Regex> parse_pattern(const Json& pattern, const JsonPath& at);

}  // namespace krait::tok
