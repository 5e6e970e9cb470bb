#include "sdk/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <array>

#include "sdk/tokenizer/regex.h"
#include "sdk/tokenizer/unicode.h"
#include "sdk/core/utf8.h"

namespace krait::tok {

namespace {

struct ByteTable {
    std::array<std::string, 256> to_char;  // byte -> UTF-8 of its character
    std::array<int16_t, 512> from_cp;      // code point (< 512) -> byte, or -1

    ByteTable() {
        from_cp.fill(-1);
        std::array<bool, 256> printable{};
        for (int b = '!'; b <= '~'; ++b) printable[b] = true;
        for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
        for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            const char32_t cp = printable[b] ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
            append_utf8(to_char[b], cp);
            from_cp[cp] = static_cast<int16_t>(b);
        }
    }
};

const ByteTable& byte_table() {
    static const ByteTable table;  // thread-safe static initialisation
    return table;
}

enum class CharClass : uint8_t { kSpace, kLetter, kNumber, kOther };

CharClass classify(char32_t cp) {
    if (is_whitespace(cp)) return CharClass::kSpace;
    if (is_letter(cp)) return CharClass::kLetter;
    if (is_number(cp)) return CharClass::kNumber;
    return CharClass::kOther;
}

// ---- ByteLevel -----------------------------------------------------------------------------------
class ByteLevelPreTokenizer final : public PreTokenizer {
public:
    ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
        : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

    void pre_tokenize(std::vector<Piece>& pieces) const override {
        const ByteTable& table = byte_table();
        std::vector<Piece> out;
        out.reserve(pieces.size() * 4);
        std::vector<std::string_view> words;
        std::string prefixed;
        for (const Piece& piece : pieces) {
            if (piece.text.empty()) continue;
            std::string_view text = piece.text;
            if (add_prefix_space_ && text.front() != ' ') {
                prefixed.clear();
                prefixed.push_back(' ');
                prefixed.append(text.data(), text.size());
                text = prefixed;
            }
            words.clear();
            if (use_regex_) {
                split_gpt2(text, words);
            } else {
                words.push_back(text);
            }
            bool first = true;
            for (const std::string_view w : words) {
                Piece mapped;
                mapped.at_origin = first && piece.at_origin;
                first = false;
                mapped.text.reserve(w.size() * 2);
                for (const char c : w) mapped.text += table.to_char[static_cast<unsigned char>(c)];
                out.push_back(std::move(mapped));
            }
        }
        pieces = std::move(out);
    }

private:
    bool add_prefix_space_, use_regex_;
};

// ---- Metaspace -----------------------------------------------------------------------------------
enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer final : public PreTokenizer {
public:
    MetaspacePreTokenizer(char32_t replacement, PrependScheme scheme, bool split) : scheme_(scheme), split_(split) {
        append_utf8(replacement_, replacement);
    }

    void pre_tokenize(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        out.reserve(pieces.size());
        for (const Piece& piece : pieces) {
            if (piece.text.empty()) continue;
            std::string text = replace_spaces(piece.text);
            const bool starts_with_rep = text.compare(0, replacement_.size(), replacement_) == 0;
            if (!starts_with_rep &&
                (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && piece.at_origin))) {
                text.insert(0, replacement_);
            }
            if (!split_) {
                out.push_back({std::move(text), piece.at_origin});
                continue;
            }
            // HF splits with MergedWithNext: a cut before every replacement character, each one
            // starting a new piece together with the text that follows it.
            size_t start = 0;
            bool first = true;
            for (size_t hit = text.find(replacement_); hit != std::string::npos;
                 hit = text.find(replacement_, hit + replacement_.size())) {
                if (hit == start) continue;  // the piece begins with this '▁'
                out.push_back({text.substr(start, hit - start), first && piece.at_origin});
                first = false;
                start = hit;
            }
            out.push_back({text.substr(start), first && piece.at_origin});
        }
        pieces = std::move(out);
    }

private:
    std::string replace_spaces(const std::string& text) const {
        std::string out;
        out.reserve(text.size() + 8);
        for (const char c : text) {
            if (c == ' ') {
                out += replacement_;
            } else {
                out += c;
            }
        }
        return out;
    }

    std::string replacement_;
    PrependScheme scheme_;
    bool split_;
};

// ---- Split ---------------------------------------------------------------------------------------
// HF Split: the pattern's matches (or, with invert, the gaps between them) are delimiters; each
// piece is cut into the delimiters and the text around them, and `behavior` says what becomes of a
// delimiter (HF NormalizedString::split):
//   Removed             dropped
//   Isolated            a piece of its own
//   MergedWithPrevious  appended to the piece before it
//   MergedWithNext      prepended to the piece after it
//   Contiguous          consecutive delimiters (and consecutive non-delimiters) form one piece
// Llama-3 and Qwen2 use Isolated with their word regexes; the regex runs on each piece separately.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

class SplitPreTokenizer final : public PreTokenizer {
public:
    SplitPreTokenizer(std::unique_ptr<Regex> pattern, SplitBehavior behavior, bool invert)
        : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

    void pre_tokenize(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        out.reserve(pieces.size() * 4);
        std::vector<Regex::Range> ranges;
        std::vector<Kept> kept;
        for (const Piece& piece : pieces) {
            if (piece.text.empty()) continue;
            pattern_->find_matches(piece.text, ranges);
            if (invert_) {
                for (Regex::Range& r : ranges) r.is_match = !r.is_match;
            }
            apply_behavior(ranges, kept);
            for (const Kept& k : kept) {
                if (k.end <= k.start) continue;  // HF drops empty pieces
                out.push_back({piece.text.substr(k.start, k.end - k.start), piece.at_origin && k.start == 0});
            }
        }
        pieces = std::move(out);
    }

private:
    struct Kept {
        size_t start, end;
    };

    // `ranges` (consecutive, covering the piece) -> the byte ranges of the resulting pieces.
    void apply_behavior(const std::vector<Regex::Range>& ranges, std::vector<Kept>& kept) const {
        kept.clear();
        bool previous_match = false;
        switch (behavior_) {
            case SplitBehavior::kRemoved:
                for (const Regex::Range& r : ranges) {
                    if (!r.is_match) kept.push_back({r.start, r.end});
                }
                return;
            case SplitBehavior::kIsolated:
                for (const Regex::Range& r : ranges) kept.push_back({r.start, r.end});
                return;
            case SplitBehavior::kContiguous:
                for (const Regex::Range& r : ranges) {
                    if (r.is_match == previous_match && !kept.empty()) {
                        kept.back().end = r.end;
                    } else {
                        kept.push_back({r.start, r.end});
                    }
                    previous_match = r.is_match;
                }
                return;
            case SplitBehavior::kMergedWithPrevious:
                for (const Regex::Range& r : ranges) {
                    if (r.is_match && !previous_match && !kept.empty()) {
                        kept.back().end = r.end;
                    } else {
                        kept.push_back({r.start, r.end});
                    }
                    previous_match = r.is_match;
                }
                return;
            case SplitBehavior::kMergedWithNext:
                // HF folds from the right: a delimiter joins the piece after it.
                for (size_t i = ranges.size(); i-- > 0;) {
                    const Regex::Range& r = ranges[i];
                    if (r.is_match && !previous_match && !kept.empty()) {
                        kept.back().start = r.start;
                    } else {
                        kept.push_back({r.start, r.end});
                    }
                    previous_match = r.is_match;
                }
                std::reverse(kept.begin(), kept.end());
                return;
        }
    }

    std::unique_ptr<Regex> pattern_;
    SplitBehavior behavior_;
    bool invert_;
};

SplitBehavior parse_split_behavior(const Json& j, const JsonPath& at) {
    const std::string s = require_string(j, "behavior", at);
    if (s == "Removed") return SplitBehavior::kRemoved;
    if (s == "Isolated") return SplitBehavior::kIsolated;
    if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
    if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
    if (s == "Contiguous") return SplitBehavior::kContiguous;
    at.child("behavior").fail_format("is " + krait::quote(s) +
                                     "; expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
}

// ---- Digits --------------------------------------------------------------------------------------
// HF Digits (SmolLM / StarCoder): every numeric character (Rust char::is_numeric: \p{N}) is a
// delimiter; individual_digits isolates each one, otherwise runs of them (and the runs of other
// characters between) stay together (Contiguous).
class DigitsPreTokenizer final : public PreTokenizer {
public:
    explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}

    void pre_tokenize(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        out.reserve(pieces.size() * 2);
        for (const Piece& piece : pieces) {
            const std::string& text = piece.text;
            size_t start = 0;       // start of the piece being built
            bool start_is_digit = false;
            for (size_t pos = 0; pos < text.size();) {
                const size_t at = pos;
                const bool digit = is_number(next_code_point(text, pos));
                // Cut before this character when it differs in kind from the current piece, or
                // when it is a digit and digits stand alone.
                if (at > start && (digit != start_is_digit || (digit && individual_))) {
                    out.push_back({text.substr(start, at - start), piece.at_origin && start == 0});
                    start = at;
                }
                if (at == start) start_is_digit = digit;
            }
            if (start < text.size()) out.push_back({text.substr(start), piece.at_origin && start == 0});
        }
        pieces = std::move(out);
    }

private:
    bool individual_;
};

class SequencePreTokenizer final : public PreTokenizer {
public:
    explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        for (const auto& step : steps_) step->pre_tokenize(pieces);
    }

private:
    std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

PrependScheme parse_prepend_scheme(const Json& j, const JsonPath& at) {
    // HF: prepend_scheme defaults to "always"; the legacy add_prefix_space=false means "never".
    PrependScheme scheme = PrependScheme::kAlways;
    if (const Json* v = optional_member(j, "prepend_scheme")) {
        const std::string s = as_string(*v, at.child("prepend_scheme"));
        if (s == "always") {
            scheme = PrependScheme::kAlways;
        } else if (s == "first") {
            scheme = PrependScheme::kFirst;
        } else if (s == "never") {
            scheme = PrependScheme::kNever;
        } else {
            at.child("prepend_scheme").fail_format("is " + krait::quote(s) + "; expected always, first or never");
        }
    }
    if (const Json* v = optional_member(j, "add_prefix_space")) {
        if (!v->is_boolean()) at.child("add_prefix_space").fail_format("must be true or false");
        if (!v->get<bool>()) {
            if (scheme != PrependScheme::kNever && j.contains("prepend_scheme")) {
                at.fail_format("has add_prefix_space false but prepend_scheme is not 'never'");
            }
            scheme = PrependScheme::kNever;
        }
    }
    return scheme;
}

}  // namespace

const std::string& byte_level_char_utf8(uint8_t byte) {
    return byte_table().to_char[byte];
}

int byte_level_byte(char32_t cp) {
    return cp < 512 ? byte_table().from_cp[cp] : -1;
}

void split_gpt2(std::string_view text, std::vector<std::string_view>& out) {
    // Decode once: byte offset and class of every character (offsets has one extra end entry).
    std::vector<uint32_t> offsets;
    std::vector<CharClass> cls;
    std::vector<char32_t> cps;
    offsets.reserve(text.size() + 1);
    cls.reserve(text.size());
    cps.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        offsets.push_back(static_cast<uint32_t>(pos));
        const char32_t cp = next_code_point(text, pos);
        cps.push_back(cp);
        cls.push_back(classify(cp));
    }
    const size_t n = cps.size();
    offsets.push_back(static_cast<uint32_t>(text.size()));
    const auto emit = [&](size_t from, size_t to) {
        out.push_back(text.substr(offsets[from], offsets[to] - offsets[from]));
    };
    const auto run_end = [&](size_t from, CharClass k) {
        while (from < n && cls[from] == k) ++from;
        return from;
    };

    size_t i = 0;
    while (i < n) {
        // 's|'t|'re|'ve|'m|'ll|'d  (case-sensitive, ASCII apostrophe only)
        if (cps[i] == '\'' && i + 1 < n) {
            const char32_t a = cps[i + 1];
            if (a == 's' || a == 't' || a == 'm' || a == 'd') {
                emit(i, i + 2);
                i += 2;
                continue;
            }
            if (i + 2 < n) {
                const char32_t b = cps[i + 2];
                if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
                    emit(i, i + 3);
                    i += 3;
                    continue;
                }
            }
        }
        //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+  with the optional leading ' '
        if (cps[i] == ' ' && i + 1 < n && cls[i + 1] != CharClass::kSpace) {
            const size_t end = run_end(i + 1, cls[i + 1]);
            emit(i, end);
            i = end;
            continue;
        }
        if (cls[i] != CharClass::kSpace) {
            const size_t end = run_end(i, cls[i]);
            emit(i, end);
            i = end;
            continue;
        }
        // \s+(?!\S) takes the whitespace run but leaves its last character when a non-space
        // follows (that character then starts the next word, e.g. " world"); \s+ otherwise.
        const size_t end = run_end(i, CharClass::kSpace);
        const size_t take = (end < n && end - i >= 2) ? end - 1 : end;
        emit(i, take);
        i = take;
    }
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& j, const JsonPath& at) {
    const std::string type = component_type(j, at);
    if (type == "ByteLevel") {
        return std::make_unique<ByteLevelPreTokenizer>(optional_bool(j, "add_prefix_space", true, at),
                                                       optional_bool(j, "use_regex", true, at));
    }
    if (type == "Metaspace") {
        const char32_t rep = as_single_char(require(j, "replacement", at), at.child("replacement"));
        return std::make_unique<MetaspacePreTokenizer>(rep, parse_prepend_scheme(j, at),
                                                       optional_bool(j, "split", true, at));
    }
    if (type == "Digits") return std::make_unique<DigitsPreTokenizer>(optional_bool(j, "individual_digits", false, at));
    if (type == "Split") {
        std::unique_ptr<Regex> pattern = parse_pattern(require(j, "pattern", at), at.child("pattern"));
        return std::make_unique<SplitPreTokenizer>(std::move(pattern), parse_split_behavior(j, at),
                                                   optional_bool(j, "invert", false, at));
    }
    if (type == "Sequence") {
        const Json& list = require(j, "pretokenizers", at);
        const JsonPath lp = at.child("pretokenizers");
        if (!list.is_array()) lp.fail_format("must be an array");
        std::vector<std::unique_ptr<PreTokenizer>> steps;
        for (size_t i = 0; i < list.size(); ++i) steps.push_back(parse_pre_tokenizer(list[i], lp.index(i)));
        return std::make_unique<SequencePreTokenizer>(std::move(steps));
    }
    at.child("type").fail_unsupported("is " + krait::quote(type) + "; supported pre-tokenizers: ByteLevel, Metaspace, Split, Digits, Sequence");
}

}  // namespace krait::tok
