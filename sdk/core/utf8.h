// UTF-8 validity, and the one way to put bytes from the outside world into a message.
//
// krait.h promises that every string the library hands out is UTF-8. Messages often quote input
// that nobody validated: a JSON parser's "last read" bytes, a tensor name, a file path, a token, a
// caller's string. Those go through quote() (or, for whole messages, printable_utf8()), which keep
// well-formed UTF-8 as it is and spell every other byte as \xNN, so the message stays readable,
// names the offending bytes exactly, and can be decoded by any UTF-8 consumer (Python, C#, a log).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace krait {

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (Unicode Table
// 3-7: overlong forms, surrogates and code points above U+10FFFF are ill-formed), or
// std::string_view::npos when all of `text` is well-formed.
size_t find_invalid_utf8(std::string_view text);

inline bool is_valid_utf8(std::string_view text) { return find_invalid_utf8(text) == std::string_view::npos; }

// Bytes -> text the way Rust's String::from_utf8_lossy does it: each maximal ill-formed
// subsequence (Unicode's "substitution of maximal subparts") becomes one U+FFFD. Used where text
// must round-trip with Hugging Face tokenizers; messages use printable_utf8 instead.
std::string utf8_lossy(std::string_view bytes);

// `text` made safe to show: well-formed UTF-8 is kept, every byte of an ill-formed sequence
// becomes the four characters \xNN, and so do the C0 control characters other than tab and
// newline and DEL (an embedded NUL would otherwise cut a C string short). The result is always
// valid UTF-8 without NUL; for text that is already clean it equals the input.
std::string printable_utf8(std::string_view text);

// `bytes` in single quotes for a message: as printable_utf8, and also \n, \r, \t, \\ and \'
// escaped so the quoted span is unambiguous on one line. Longer than `max_bytes` input bytes,
// it is cut on a character boundary and ends in "...' (N bytes)". Never throws but bad_alloc.
std::string quote(std::string_view bytes, size_t max_bytes = 120);

}  // namespace krait
