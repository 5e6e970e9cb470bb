// UTF-8 and Unicode helpers for the tokenizer.
//
// The tokenizer must agree with Hugging Face tokenizers (Rust) character for character, so the
// character classes here are defined the way the Rust side defines them, on top of ICU's tables:
//   is_whitespace  Unicode White_Space (Rust char::is_whitespace, regex \s, Oniguruma \s)
//   is_letter      General_Category L* (Oniguruma \p{L})
//   is_number      General_Category N* (Oniguruma \p{N})
//   is_word        Rust regex \w: Alphabetic, M*, Nd, Pc, Join_Control
// Text handed to these functions has been validated as UTF-8 first (find_invalid_utf8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sdk/core/utf8.h"

namespace krait::tok {

// UTF-8 validity and lossy decoding live in sdk/core/utf8.h (error messages need them too).
using krait::find_invalid_utf8;
using krait::utf8_lossy;

// Decodes the code point starting at text[pos] of VALID UTF-8 and advances pos past it.
char32_t next_code_point(std::string_view text, size_t& pos);

// Length in bytes of the UTF-8 sequence whose first byte is `lead` (valid UTF-8 only).
inline size_t utf8_length(unsigned char lead) {
    return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

void append_utf8(std::string& out, char32_t cp);

// NFC normalization as HF tokenizers does it: with Unicode 9.0 data (ICU's NFC restricted to the
// characters assigned in 9.0; see unicode.cpp). ASCII-only input is returned unchanged.
std::string nfc(std::string_view text);

bool is_whitespace(char32_t cp);
bool is_letter(char32_t cp);
bool is_number(char32_t cp);
bool is_word(char32_t cp);

}  // namespace krait::tok
