#include "sdk/tokenizer/normalizer.h"

#include <vector>

#include "sdk/tokenizer/unicode.h"
#include "sdk/core/utf8.h"

namespace krait::tok {

namespace {

class NfcNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override { text = nfc(text); }
};

// HF Prepend: adds the string in front of any non-empty piece (Llama legacy: "▁").
class PrependNormalizer final : public Normalizer {
public:
    explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
    void normalize(std::string& text) const override {
        if (!text.empty()) text.insert(0, prefix_);
    }

private:
    std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
public:
    ReplaceNormalizer(ReplacePattern pattern, std::string content)
        : pattern_(std::move(pattern)), content_(std::move(content)) {}
    void normalize(std::string& text) const override { text = pattern_.replace(text, content_); }

private:
    ReplacePattern pattern_;
    std::string content_;
};

class SequenceNormalizer final : public Normalizer {
public:
    explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
    void normalize(std::string& text) const override {
        for (const auto& step : steps_) {
            // A step may empty the text (e.g. a Replace with ""); HF then still runs the others on
            // the empty string, and every supported step leaves an empty string empty.
            step->normalize(text);
        }
    }

private:
    std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::string replace_all(std::string_view text, std::string_view pattern, std::string_view content) {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (true) {
        const size_t hit = text.find(pattern, pos);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(pos, hit - pos));
        out.append(content);
        pos = hit + pattern.size();
    }
    out.append(text.substr(pos));
    return out;
}

std::string ReplacePattern::replace(std::string_view text, std::string_view content) const {
    if (!regex) return replace_all(text, literal, content);
    std::vector<Regex::Range> ranges;
    regex->find_matches(text, ranges);
    std::string out;
    out.reserve(text.size());
    for (const Regex::Range& r : ranges) {
        if (r.is_match) {
            out.append(content);
        } else {
            out.append(text.substr(r.start, r.end - r.start));
        }
    }
    return out;
}

ReplacePattern parse_replace_pattern(const Json& component, const JsonPath& at) {
    const Json& pattern = require(component, "pattern", at);
    const JsonPath pat = at.child("pattern");
    if (!pattern.is_object()) pat.fail_format("must be an object {\"String\": ...} or {\"Regex\": ...}");
    ReplacePattern out;
    if (optional_member(pattern, "Regex")) {
        out.regex = parse_pattern(pattern, pat);
        return out;
    }
    out.literal = require_string(pattern, "String", pat);
    if (out.literal.empty()) pat.child("String").fail_unsupported("is empty");
    return out;
}

std::unique_ptr<Normalizer> parse_normalizer(const Json& j, const JsonPath& at) {
    const std::string type = component_type(j, at);
    if (type == "NFC") return std::make_unique<NfcNormalizer>();
    if (type == "Prepend") return std::make_unique<PrependNormalizer>(require_string(j, "prepend", at));
    if (type == "Replace") {
        ReplacePattern pattern = parse_replace_pattern(j, at);
        return std::make_unique<ReplaceNormalizer>(std::move(pattern), require_string(j, "content", at));
    }
    if (type == "Sequence") {
        const Json& list = require(j, "normalizers", at);
        const JsonPath lp = at.child("normalizers");
        if (!list.is_array()) lp.fail_format("must be an array");
        std::vector<std::unique_ptr<Normalizer>> steps;
        for (size_t i = 0; i < list.size(); ++i) steps.push_back(parse_normalizer(list[i], lp.index(i)));
        return std::make_unique<SequenceNormalizer>(std::move(steps));
    }
    at.child("type").fail_unsupported("is " + krait::quote(type) + "; supported normalizers: NFC, Prepend, Replace, Sequence");
}

}  // namespace krait::tok
