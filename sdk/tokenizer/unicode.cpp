#include "sdk/tokenizer/unicode.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uniset.h>
#include <unicode/uchar.h>

#include "sdk/core/error.h"

namespace krait::tok {

char32_t next_code_point(std::string_view text, size_t& pos) {
    const auto b = [&](size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[i])); };
    const char32_t lead = b(pos);
    if (lead < 0x80) {
        pos += 1;
        return lead;
    }
    if (lead < 0xE0) {
        const char32_t cp = ((lead & 0x1F) << 6) | (b(pos + 1) & 0x3F);
        pos += 2;
        return cp;
    }
    if (lead < 0xF0) {
        const char32_t cp = ((lead & 0x0F) << 12) | ((b(pos + 1) & 0x3F) << 6) | (b(pos + 2) & 0x3F);
        pos += 3;
        return cp;
    }
    const char32_t cp =
        ((lead & 0x07) << 18) | ((b(pos + 1) & 0x3F) << 12) | ((b(pos + 2) & 0x3F) << 6) | (b(pos + 3) & 0x3F);
    pos += 4;
    return cp;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string nfc(std::string_view text) {
    bool ascii = true;
    for (const char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            ascii = false;
            break;
        }
    }
    if (ascii) return std::string(text);

    // HF normalizes with the unicode-normalization-alignments crate, whose tables are Unicode 9.0:
    // a character assigned later is, to it, an unknown starter that never decomposes, composes or
    // moves (measured: every combining mark of Unicode 10.0 and later stays in place). ICU's NFC
    // filtered to [:age=9.0:] (the characters assigned in 9.0 or earlier; the others are left
    // unchanged and bound the spans that are normalized) does exactly that; normalization data of
    // assigned characters never changes (Unicode's stability policy), so the rest agrees.
    // The normalizer is built once behind a C++ static (thread-safe, and ordered in a way
    // ThreadSanitizer can see; ICU's own once-guard lives in uninstrumented code) and is then safe
    // for concurrent const use.
    static const icu::Normalizer2* const normalizer = []() -> const icu::Normalizer2* {
        UErrorCode st = U_ZERO_ERROR;
        const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(st);
        if (U_FAILURE(st)) return nullptr;
        static icu::UnicodeSet unicode9(icu::UnicodeString(u"[:age=9.0:]"), st);
        if (U_FAILURE(st)) return nullptr;
        unicode9.freeze();
        static icu::FilteredNormalizer2 filtered(*n, unicode9);
        return &filtered;
    }();
    if (!normalizer) fail(KRAIT_ERR_INTERNAL, "ICU NFC normalizer unavailable (ICU data missing?)");
    UErrorCode status = U_ZERO_ERROR;
    std::string out;
    out.reserve(text.size());
    icu::StringByteSink<std::string> sink(&out);
    normalizer->normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink, nullptr,
                              status);
    if (U_FAILURE(status))
        fail(KRAIT_ERR_INTERNAL, std::string("ICU NFC normalization failed: ") + u_errorName(status));
    return out;
}

bool is_whitespace(char32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return u_isUWhiteSpace(static_cast<UChar32>(cp));
}

bool is_letter(char32_t cp) {
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return (U_GET_GC_MASK(static_cast<UChar32>(cp)) & U_GC_L_MASK) != 0;
}

bool is_number(char32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return (U_GET_GC_MASK(static_cast<UChar32>(cp)) & U_GC_N_MASK) != 0;
}

bool is_word(char32_t cp) {
    if (cp < 0x80) return is_letter(cp) || is_number(cp) || cp == '_';
    const auto c = static_cast<UChar32>(cp);
    return u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL) ||
           (U_GET_GC_MASK(c) & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0;
}

}  // namespace krait::tok
