#include "sdk/tokenizer/regex.h"

#include <oniguruma.h>

#include <mutex>

#include "sdk/core/utf8.h"
#include "sdk/tokenizer/unicode.h"

namespace krait::tok {

namespace {

// onig_initialize once per process, and onig_new one at a time: the onig crate serialises
// onig_new behind a mutex too, as compilation touches Oniguruma's global tables.
std::mutex& compile_mutex() {
    static std::mutex mutex;
    return mutex;
}

void initialize_once() {
    static const bool done = [] {
        OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
        onig_initialize(encodings, 1);
        return true;
    }();
    (void)done;
}

std::string onig_message(int code, OnigErrorInfo* info) {
    OnigUChar buffer[ONIG_MAX_ERROR_MESSAGE_LEN];
    const int n = info ? onig_error_code_to_str(buffer, code, info) : onig_error_code_to_str(buffer, code);
    return std::string(reinterpret_cast<const char*>(buffer), n > 0 ? static_cast<size_t>(n) : 0);
}

// Frees the match region however find_matches leaves.
struct RegionGuard {
    OnigRegion* region = onig_region_new();
    ~RegionGuard() { onig_region_free(region, 1); }
};

}  // namespace

Regex::Regex(const std::string& pattern, bool literal, const JsonPath& at) : pattern_(pattern) {
    if (find_invalid_utf8(pattern) != std::string::npos) at.fail_format("is not valid UTF-8");
    const auto* begin = reinterpret_cast<const OnigUChar*>(pattern.data());
    OnigErrorInfo info{};
    OnigRegex compiled = nullptr;
    int rc;
    {
        std::lock_guard<std::mutex> lock(compile_mutex());
        initialize_once();
        rc = onig_new(&compiled, begin, begin + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                      literal ? ONIG_SYNTAX_ASIS : ONIG_SYNTAX_ONIGURUMA, &info);
    }
    if (rc != ONIG_NORMAL) {
        at.fail_format("is not a regular expression Oniguruma accepts: " + krait::quote(pattern) + " (" +
                       onig_message(rc, &info) + ")");
    }
    regex_ = compiled;
}

Regex::~Regex() {
    if (regex_) onig_free(static_cast<OnigRegex>(regex_));
}

void Regex::find_matches(std::string_view text, std::vector<Range>& out) const {
    out.clear();
    if (text.empty()) {
        out.push_back({0, 0, false});
        return;
    }
    const auto* str = reinterpret_cast<const OnigUChar*>(text.data());
    const auto* end = str + text.size();
    RegionGuard guard;
    if (!guard.region) throw std::bad_alloc();

    size_t prev = 0;             // end of the ranges emitted so far
    size_t last_end = 0;         // where the next search starts (onig FindMatches::last_end)
    bool has_last_match = false; // and the end of the last match (last_match_end)
    size_t last_match_end = 0;
    while (last_end <= text.size()) {
        onig_region_clear(guard.region);
        const int rc = onig_search(static_cast<OnigRegex>(regex_), str, end, str + last_end, end, guard.region,
                                   ONIG_OPTION_NONE);
        if (rc == ONIG_MISMATCH) break;
        if (rc < 0) {
            fail_format("tokenizer: the regular expression " + krait::quote(pattern_) + " failed on a text of " +
                        std::to_string(text.size()) + " bytes (" + onig_message(rc, nullptr) + ")");
        }
        const size_t s = static_cast<size_t>(guard.region->beg[0]);
        const size_t e = static_cast<size_t>(guard.region->end[0]);
        if (s == e && has_last_match && last_match_end == e) {
            // An empty match right after the previous match: step one character and search again.
            last_end += last_end < text.size() ? utf8_length(static_cast<unsigned char>(text[last_end])) : 1;
            continue;
        }
        last_end = e;
        has_last_match = true;
        last_match_end = e;
        if (prev != s) out.push_back({prev, s, false});
        out.push_back({s, e, true});
        prev = e;
    }
    if (prev != text.size()) out.push_back({prev, text.size(), false});
}

std::unique_ptr<Regex> parse_pattern(const Json& pattern, const JsonPath& at) {
    if (!pattern.is_object()) at.fail_format("must be an object {\"String\": ...} or {\"Regex\": ...}");
    if (const Json* r = optional_member(pattern, "Regex")) {
        return std::make_unique<Regex>(as_string(*r, at.child("Regex")), false, at.child("Regex"));
    }
    if (const Json* s = optional_member(pattern, "String")) {
        return std::make_unique<Regex>(as_string(*s, at.child("String")), true, at.child("String"));
    }
    at.fail_format("must be an object {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace krait::tok
