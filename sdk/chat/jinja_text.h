// Python's str operations on UTF-8 text, as chat templates reach them through Jinja (filters and
// str methods): code points rather than bytes, Python's notion of whitespace (str.isspace, which
// includes U+00A0, U+3000, ...), and full Unicode case mapping (ß upper-cases to SS), all of which
// decide the prompt's exact bytes.
#pragma once

#include <cstdint>
#include <string>

#include "sdk/chat/jinja_value.h"

namespace krait::jinja {

// str.upper() / str.lower(): full case mapping (ICU's root locale, as Python's tables).
std::string python_upper(const std::string& text);
std::string python_lower(const std::string& text);
// str.title(): a cased character after an uncased one is titlecased, the others lowercased.
std::string python_title(const std::string& text);
// str.capitalize(): the first character titlecased, the rest lowercased.
std::string python_capitalize(const std::string& text);
// str.isupper() (upper) / str.islower(): some cased character, none of the other case.
bool python_has_case(const std::string& text, bool upper);
// str.strip / lstrip / rstrip: whitespace, or the characters of `chars` unless it is None.
std::string python_strip(const std::string& text, const Value& chars, bool left, bool right);
// str.split(sep=None, maxsplit=-1).
List python_split(const std::string& text, const Value& sep, int64_t maxsplit);
// str.splitlines(): Python's line boundaries, without the line ends.
List python_splitlines(const std::string& text);
// str.replace(old, new, count); count < 0 replaces all.
std::string python_replace(const std::string& text, const std::string& old_text, const std::string& new_text,
                           int64_t count);
// str.count(sub).
int64_t count_occurrences(const std::string& text, const std::string& sub);
// The code point index of a byte offset (str.find answers in code points).
int64_t code_point_index(const std::string& text, size_t byte_offset);
// markupsafe.escape: & < > " ' as HTML entities.
std::string html_escape(const std::string& text);

}  // namespace krait::jinja
