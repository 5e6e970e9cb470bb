// Added tokens of tokenizer.json ("added_tokens"): tokens matched in the raw or normalized text
// before the model sees it (<|endoftext|>, <s>, GPT-NeoX's runs of spaces, ...), following HF's
// tokenizer::added_vocabulary: leftmost-longest matching, lstrip / rstrip / single_word, and
// normalized tokens matched in their normalized form after the normalizer ran on the piece.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sdk/tokenizer/bpe.h"
#include "sdk/tokenizer/json_util.h"
#include "sdk/tokenizer/normalizer.h"
#include "sdk/tokenizer/pre_tokenizer.h"

namespace krait::tok {

// A piece of the input after added-token extraction: either an added token (id >= 0) or normalized
// text still to be pre-tokenized and encoded by the model (id == -1).
struct Split {
    std::string text;
    int32_t id = -1;
    bool at_origin = false;
};

// One added token as tokenizer.json's "added_tokens" (and tokenizer_config.json's
// "added_tokens_decoder") describe it; `normalized` defaults to !special as in HF's AddedToken.
struct AddedTokenSpec {
    std::string content;
    bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

// Reads an "added_tokens" array (or null: no tokens). Each "id" is validated but not used: HF
// assigns ids itself (see AddedVocabulary), which agrees with the "id" fields of any consistent file.
std::vector<AddedTokenSpec> parse_added_tokens(const Json* list, const JsonPath& at);
// Reads one token object {"content", "single_word", "lstrip", "rstrip", "normalized", "special"}.
AddedTokenSpec parse_added_token(const Json& j, const JsonPath& at);

class AddedVocabulary {
public:
    // Adds `tokens` in order the way HF's AddedVocabulary::add_tokens does: a token already added is
    // skipped when identical, else it keeps its id and takes the new flags (a token once special
    // stays special); otherwise its id is the content's id in the model vocabulary, else the next
    // free id (the model's vocabulary size, or one past the largest added id when that is larger).
    // Empty contents are ignored.
    AddedVocabulary(const std::vector<AddedTokenSpec>& tokens, const BpeModel& model, const Normalizer* normalizer);

    // Splits `text` (valid UTF-8) into added tokens and normalized text (HF extract_and_normalize).
    std::vector<Split> extract_and_normalize(std::string_view text, const Normalizer* normalizer) const;

    // The string an added token contributes to decoding (its normalized form when it is matched
    // normalized, as HF's simple_id_to_token), or nullptr when `id` is not an added token.
    const std::string* decode_form(int32_t id) const;
    bool is_special(std::string_view token) const { return special_.find(token) != special_.end(); }
    std::optional<int32_t> token_to_id(std::string_view content) const;
    int64_t max_id() const { return max_id_; }

private:
    struct Token : AddedTokenSpec {
        std::string form;  // what is matched and decoded: content, or its normalized form
    };

    // Byte trie for leftmost-longest matching of many patterns (HF uses an Aho-Corasick automaton
    // with MatchKind::LeftmostLongest; with the few, short added tokens a trie walk per candidate
    // start is as fast and simpler).
    class Trie {
    public:
        void insert(std::string_view pattern, int32_t id);
        bool empty() const { return terminal_.size() <= 1; }
        // The leftmost-longest match starting at or after `from`: {start, end, id}, or id -1.
        struct Match {
            size_t start = 0, end = 0;
            int32_t id = -1;
        };
        Match find(std::string_view text, size_t from) const;

    private:
        int32_t child(int32_t node, unsigned char c) const;
        std::unordered_map<uint64_t, int32_t> edges_;  // (node << 8 | byte) -> node
        std::vector<int32_t> terminal_{-1};            // node -> token id or -1; node 0 is the root
        std::bitset<256> first_;                       // bytes that can start a pattern
    };

    struct Part {
        size_t start, end;
        int32_t id;
    };
    std::vector<Part> find_matches(std::string_view text, const Trie& trie) const;

    std::unordered_map<int32_t, Token> by_id_;
    StringMap<int32_t> by_content_;
    std::unordered_set<std::string, StringHash, std::equal_to<>> special_;
    Trie raw_trie_;         // normalized == false: matched in the caller's text
    Trie normalized_trie_;  // normalized == true: matched after the normalizer ran
    int64_t max_id_ = -1;
};

}  // namespace krait::tok
