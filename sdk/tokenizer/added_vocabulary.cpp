#include "sdk/tokenizer/added_vocabulary.h"

#include <algorithm>
#include <limits>

#include "sdk/tokenizer/unicode.h"
#include "sdk/core/utf8.h"

namespace krait::tok {

namespace {

// The last character of text[0, end) (valid UTF-8, end > 0).
char32_t last_char(std::string_view text, size_t end) {
    size_t pos = end - 1;
    while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
    return next_code_point(text, pos);
}

// Start of the whitespace run that ends at `end` (regex \s*$ on text[0, end)).
size_t trailing_space_start(std::string_view text, size_t end) {
    while (end > 0) {
        size_t pos = end - 1;
        while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
        size_t probe = pos;
        if (!is_whitespace(next_code_point(text, probe))) break;
        end = pos;
    }
    return end;
}

// End of the whitespace run that starts at `start` (regex ^\s* on text[start, ..)).
size_t leading_space_end(std::string_view text, size_t start) {
    while (start < text.size()) {
        size_t probe = start;
        if (!is_whitespace(next_code_point(text, probe))) break;
        start = probe;
    }
    return start;
}

}  // namespace

// ---- Trie ----------------------------------------------------------------------------------------
int32_t AddedVocabulary::Trie::child(int32_t node, unsigned char c) const {
    const auto it = edges_.find((static_cast<uint64_t>(node) << 8) | c);
    return it == edges_.end() ? -1 : it->second;
}

void AddedVocabulary::Trie::insert(std::string_view pattern, int32_t id) {
    if (pattern.empty()) return;
    first_.set(static_cast<unsigned char>(pattern[0]));
    int32_t node = 0;
    for (const char ch : pattern) {
        const auto c = static_cast<unsigned char>(ch);
        int32_t next = child(node, c);
        if (next < 0) {
            next = static_cast<int32_t>(terminal_.size());
            terminal_.push_back(-1);
            edges_.emplace((static_cast<uint64_t>(node) << 8) | c, next);
        }
        node = next;
    }
    if (terminal_[node] < 0) terminal_[node] = id;  // two tokens with one form: the first wins
}

AddedVocabulary::Trie::Match AddedVocabulary::Trie::find(std::string_view text, size_t from) const {
    for (size_t start = from; start < text.size(); ++start) {
        if (!first_.test(static_cast<unsigned char>(text[start]))) continue;
        Match best;
        int32_t node = 0;
        for (size_t i = start; i < text.size(); ++i) {
            node = child(node, static_cast<unsigned char>(text[i]));
            if (node < 0) break;
            if (terminal_[node] >= 0) best = Match{start, i + 1, terminal_[node]};
        }
        if (best.id >= 0) return best;
    }
    return Match{};
}

// ---- AddedVocabulary -----------------------------------------------------------------------------
AddedTokenSpec parse_added_token(const Json& j, const JsonPath& at) {
    if (!j.is_object()) at.fail_format("must be an object");
    AddedTokenSpec t;
    t.content = require_string(j, "content", at);
    t.special = optional_bool(j, "special", false, at);
    t.single_word = optional_bool(j, "single_word", false, at);
    t.lstrip = optional_bool(j, "lstrip", false, at);
    t.rstrip = optional_bool(j, "rstrip", false, at);
    t.normalized = optional_bool(j, "normalized", !t.special, at);
    if (find_invalid_utf8(t.content) != std::string::npos) at.child("content").fail_format("is not valid UTF-8");
    return t;
}

std::vector<AddedTokenSpec> parse_added_tokens(const Json* list, const JsonPath& at) {
    std::vector<AddedTokenSpec> tokens;
    if (!list) return tokens;
    if (!list->is_array()) at.fail_format("must be an array");
    tokens.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
        const Json& j = (*list)[i];
        const JsonPath tp = at.index(i);
        if (!j.is_object()) tp.fail_format("must be an object");
        as_token_id(require(j, "id", tp), tp.child("id"));  // validated; see the id rule of AddedVocabulary
        tokens.push_back(parse_added_token(j, tp));
    }
    return tokens;
}

AddedVocabulary::AddedVocabulary(const std::vector<AddedTokenSpec>& tokens, const BpeModel& model,
                                 const Normalizer* normalizer) {
    const int64_t model_size = static_cast<int64_t>(model.vocab_entries());
    for (const AddedTokenSpec& spec : tokens) {
        if (spec.content.empty()) continue;  // HF ignores empty tokens
        int32_t id;
        if (const auto it = by_content_.find(spec.content); it != by_content_.end()) {
            id = it->second;
            const Token& old = by_id_.at(id);
            if (old.single_word == spec.single_word && old.lstrip == spec.lstrip && old.rstrip == spec.rstrip &&
                old.normalized == spec.normalized && old.special == spec.special) {
                continue;  // the very same token again
            }
        } else if (const auto mid = model.token_to_id(spec.content)) {
            id = *mid;
        } else {
            // HF: one past the largest added id when that reaches the model's ids, else the model size.
            const int64_t next = (max_id_ >= model_size || model_size == 0) ? max_id_ + 1 : model_size;
            if (next > std::numeric_limits<int32_t>::max()) {
                fail_format("tokenizer: added token " + krait::quote(spec.content) + " needs an id beyond int32");
            }
            id = static_cast<int32_t>(next);
        }
        Token t;
        static_cast<AddedTokenSpec&>(t) = spec;
        t.form = t.content;
        if (t.normalized && normalizer) normalizer->normalize(t.form);
        by_content_[t.content] = id;
        if (t.special) special_.insert(t.content);
        by_id_[id] = std::move(t);
        max_id_ = std::max<int64_t>(max_id_, id);
    }
    for (const auto& [id, t] : by_id_) (t.normalized ? normalized_trie_ : raw_trie_).insert(t.form, id);
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
    const auto it = by_content_.find(content);
    if (it == by_content_.end()) return std::nullopt;
    return it->second;
}

const std::string* AddedVocabulary::decode_form(int32_t id) const {
    const auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &it->second.form;
}

std::vector<AddedVocabulary::Part> AddedVocabulary::find_matches(std::string_view text, const Trie& trie) const {
    std::vector<Part> parts;
    if (trie.empty()) {
        parts.push_back({0, text.size(), -1});
        return parts;
    }
    size_t start_offset = 0;  // end of what has been emitted
    size_t search = 0;        // where the automaton resumes: the end of the last raw match
    while (search < text.size()) {
        const Trie::Match m = trie.find(text, search);
        if (m.id < 0) break;
        search = m.end;
        size_t start = m.start, stop = m.end;
        const Token& t = by_id_.at(m.id);
        if (t.single_word) {
            const bool space_before = start == 0 || !is_word(last_char(text, start));
            size_t probe = stop;
            const bool space_after = stop == text.size() || !is_word(next_code_point(text, probe));
            if (!space_before || !space_after) continue;
        }
        // lstrip / rstrip take the neighbouring whitespace into the token; lstrip never reaches
        // back into what an earlier match already took.
        if (t.lstrip) start = std::max(trailing_space_start(text, start), start_offset);
        if (t.rstrip) stop = leading_space_end(text, stop);
        if (start_offset < start) parts.push_back({start_offset, start, -1});
        parts.push_back({start, stop, m.id});
        start_offset = stop;
    }
    if (start_offset != text.size()) parts.push_back({start_offset, text.size(), -1});
    return parts;
}

std::vector<Split> AddedVocabulary::extract_and_normalize(std::string_view text, const Normalizer* normalizer) const {
    std::vector<Split> out;
    if (text.empty()) return out;
    // 1. Tokens that are not normalized are found in the caller's text.
    for (const Part& p : find_matches(text, raw_trie_)) {
        if (p.end <= p.start) continue;
        Split raw{std::string(text.substr(p.start, p.end - p.start)), p.id, p.start == 0};
        if (raw.id >= 0) {
            out.push_back(std::move(raw));
            continue;
        }
        // 2. The rest is normalized, then normalized tokens are found in it.
        if (normalizer) normalizer->normalize(raw.text);
        for (const Part& q : find_matches(raw.text, normalized_trie_)) {
            if (q.end <= q.start) continue;
            out.push_back({raw.text.substr(q.start, q.end - q.start), q.id, raw.at_origin && q.start == 0});
        }
    }
    return out;
}

}  // namespace krait::tok
