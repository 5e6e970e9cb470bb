#include "sdk/chat/jinja_text.h"

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>

#include "sdk/tokenizer/unicode.h"

namespace krait::jinja {

namespace {

// Full case mapping with ICU's root locale (what Python's str.upper/lower do); ASCII directly.
std::string icu_case(const std::string& text, bool upper) {
    bool ascii = true;
    for (const char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) {
        std::string out = text;
        for (char& c : out) {
            if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
            if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        }
        return out;
    }
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
    if (upper) {
        u.toUpper(icu::Locale::getRoot());
    } else {
        u.toLower(icu::Locale::getRoot());
    }
    std::string out;
    u.toUTF8String(out);
    return out;
}

// One character in titlecase (ǆ -> ǅ, ß -> Ss).
std::string title_case_char(char32_t cp) {
    std::string one;
    tok::append_utf8(one, cp);
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(one);
    u.toTitle(nullptr, icu::Locale::getRoot(), U_TITLECASE_NO_LOWERCASE | U_TITLECASE_NO_BREAK_ADJUSTMENT);
    std::string out;
    u.toUTF8String(out);
    return out;
}

// Python's notion of a cased character: lowercase, uppercase or titlecase.
bool is_cased(char32_t cp) {
    const auto c = static_cast<UChar32>(cp);
    return u_isULowercase(c) || u_isUUppercase(c) || u_istitle(c);
}

bool is_any_of(char32_t cp, const std::vector<char32_t>& chars) {
    return std::find(chars.begin(), chars.end(), cp) != chars.end();
}

}  // namespace

std::string python_upper(const std::string& text) { return icu_case(text, true); }
std::string python_lower(const std::string& text) { return icu_case(text, false); }

std::string python_title(const std::string& text) {
    std::string out;
    bool previous_cased = false;
    for (size_t pos = 0; pos < text.size();) {
        const size_t start = pos;
        const char32_t cp = tok::next_code_point(text, pos);
        const std::string ch = text.substr(start, pos - start);
        out += previous_cased ? python_lower(ch) : title_case_char(cp);
        previous_cased = is_cased(cp);
    }
    return out;
}

std::string python_capitalize(const std::string& text) {
    if (text.empty()) return text;
    size_t pos = 0;
    const char32_t first = tok::next_code_point(text, pos);
    return title_case_char(first) + python_lower(text.substr(pos));
}

bool python_has_case(const std::string& text, bool upper) {
    bool cased = false;
    for (const char32_t cp : code_points(text)) {
        const auto c = static_cast<UChar32>(cp);
        if (u_istitle(c) || (upper ? u_isULowercase(c) : u_isUUppercase(c))) return false;
        cased = cased || (upper ? u_isUUppercase(c) : u_isULowercase(c));
    }
    return cased;
}

std::string python_strip(const std::string& text, const Value& chars, bool left, bool right) {
    const std::vector<char32_t> cps = code_points(text);
    const bool whitespace = chars.is_none() || chars.is_undefined();
    const std::vector<char32_t> set =
        whitespace ? std::vector<char32_t>{} : code_points(require_string(chars, "strip"));
    const auto strip_it = [&](char32_t cp) { return whitespace ? python_isspace(cp) : is_any_of(cp, set); };
    size_t begin = 0, end = cps.size();
    if (left) {
        while (begin < end && strip_it(cps[begin])) ++begin;
    }
    if (right) {
        while (end > begin && strip_it(cps[end - 1])) --end;
    }
    return from_code_points(cps, begin, end);
}

List python_split(const std::string& text, const Value& sep, int64_t maxsplit) {
    List parts;
    if (sep.is_none() || sep.is_undefined()) {
        const std::vector<char32_t> cps = code_points(text);
        size_t i = 0;
        while (true) {
            while (i < cps.size() && python_isspace(cps[i])) ++i;
            if (i == cps.size()) break;
            if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
                size_t end = cps.size();
                while (end > i && python_isspace(cps[end - 1])) --end;
                parts.emplace_back(from_code_points(cps, i, end));
                break;
            }
            size_t j = i;
            while (j < cps.size() && !python_isspace(cps[j])) ++j;
            parts.emplace_back(from_code_points(cps, i, j));
            i = j;
        }
        return parts;
    }
    const std::string& separator = require_string(sep, "split");
    if (separator.empty()) fail_type("split(): empty separator");
    size_t start = 0;
    while (true) {
        const size_t at = text.find(separator, start);
        if (at == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit)) {
            parts.emplace_back(text.substr(start));
            return parts;
        }
        parts.emplace_back(text.substr(start, at - start));
        start = at + separator.size();
    }
}

List python_splitlines(const std::string& text) {
    List lines;
    const std::vector<char32_t> cps = code_points(text);
    size_t start = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
        const char32_t c = cps[i];
        const bool boundary = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                              c == 0x85 || c == 0x2028 || c == 0x2029;
        if (!boundary) continue;
        lines.emplace_back(from_code_points(cps, start, i));
        if (c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
        start = i + 1;
    }
    if (start < cps.size()) lines.emplace_back(from_code_points(cps, start, cps.size()));
    return lines;
}

std::string python_replace(const std::string& text, const std::string& old_text, const std::string& new_text,
                           int64_t count) {
    std::string out;
    if (old_text.empty()) {
        // Python inserts `new` before every character and at the end.
        int64_t done = 0;
        for (size_t pos = 0; pos <= text.size();) {
            if (count < 0 || done < count) {
                out += new_text;
                ++done;
            }
            if (pos == text.size()) break;
            const size_t start = pos;
            tok::next_code_point(text, pos);
            out.append(text, start, pos - start);
            check_value_bytes(out.size());
        }
        return out;
    }
    size_t start = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        const size_t at = text.find(old_text, start);
        if (at == std::string::npos) break;
        out.append(text, start, at - start);
        out += new_text;
        check_value_bytes(out.size());
        start = at + old_text.size();
        ++done;
    }
    out.append(text, start, std::string::npos);
    return out;
}

int64_t count_occurrences(const std::string& text, const std::string& sub) {
    if (sub.empty()) return Value(text).length() + 1;
    int64_t n = 0;
    for (size_t at = text.find(sub); at != std::string::npos; at = text.find(sub, at + sub.size())) ++n;
    return n;
}

int64_t code_point_index(const std::string& text, size_t byte_offset) {
    return Value(text.substr(0, byte_offset)).length();
}

std::string html_escape(const std::string& text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

}  // namespace krait::jinja
