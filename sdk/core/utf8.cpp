#include "sdk/core/utf8.h"

#include <cstdio>

namespace krait {

namespace {

// Checks the sequence at text[pos] against Unicode Table 3-7 (well-formed UTF-8 byte sequences).
// Returns its length when well-formed, else 0 and sets `subpart` to the length of the maximal
// subpart (lead byte plus the continuation bytes that were still acceptable), at least 1.
size_t well_formed_length(std::string_view text, size_t pos, size_t& subpart) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(pos);
    subpart = 1;
    if (lead < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
        need = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 3;
        if (lead == 0xE0) lo = 0xA0;  // no overlong forms
        if (lead == 0xED) hi = 0x9F;  // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 4;
        if (lead == 0xF0) lo = 0x90;  // no overlong forms
        if (lead == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
        return 0;  // 80..C1 and F5..FF never start a sequence
    }
    for (size_t k = 1; k < need; ++k) {
        if (pos + k >= text.size()) return 0;
        const unsigned char c = byte(pos + k);
        const unsigned char min = k == 1 ? lo : 0x80, max = k == 1 ? hi : 0xBF;
        if (c < min || c > max) return 0;
        subpart = k + 1;
    }
    return need;
}

void append_hex_escape(std::string& out, unsigned char byte) {
    char buf[5];
    std::snprintf(buf, sizeof buf, "\\x%02X", byte);
    out.append(buf, 4);
}

// Appends text[0, limit) escaped; `in_quotes` also escapes \n \r \t \\ and '.
void append_escaped(std::string& out, std::string_view text, bool in_quotes) {
    size_t pos = 0;
    while (pos < text.size()) {
        const auto c = static_cast<unsigned char>(text[pos]);
        if (c < 0x80) {
            ++pos;
            if (in_quotes) {
                switch (c) {
                    case '\n': out += "\\n"; continue;
                    case '\r': out += "\\r"; continue;
                    case '\t': out += "\\t"; continue;
                    case '\\': out += "\\\\"; continue;
                    case '\'': out += "\\'"; continue;
                    default: break;
                }
            }
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) append_hex_escape(out, c);
            else out.push_back(static_cast<char>(c));
            continue;
        }
        size_t subpart;
        const size_t len = well_formed_length(text, pos, subpart);
        if (len > 0) {
            out.append(text.substr(pos, len));
            pos += len;
        } else {
            // Every byte of the ill-formed subpart is shown, so the message names the exact bytes.
            for (size_t k = 0; k < subpart; ++k) append_hex_escape(out, static_cast<unsigned char>(text[pos + k]));
            pos += subpart;
        }
    }
}

}  // namespace

size_t find_invalid_utf8(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
        // ASCII runs are the common case: skip them 1 byte at a time without the table walk.
        if (static_cast<unsigned char>(text[pos]) < 0x80) {
            ++pos;
            continue;
        }
        size_t subpart;
        const size_t len = well_formed_length(text, pos, subpart);
        if (len == 0) return pos;
        pos += len;
    }
    return std::string_view::npos;
}

std::string utf8_lossy(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    size_t pos = 0;
    while (pos < bytes.size()) {
        size_t subpart;
        const size_t len = well_formed_length(bytes, pos, subpart);
        if (len > 0) {
            out.append(bytes.substr(pos, len));
            pos += len;
        } else {
            out.append("\xEF\xBF\xBD");  // U+FFFD
            pos += subpart;
        }
    }
    return out;
}

std::string printable_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    append_escaped(out, text, false);
    return out;
}

std::string quote(std::string_view bytes, size_t max_bytes) {
    std::string_view shown = bytes;
    if (bytes.size() > max_bytes) {
        // Cut on a character boundary: back off over continuation bytes (at most 3) so a
        // well-formed character is not split into escapes.
        size_t cut = max_bytes;
        for (int k = 0; k < 3 && cut > 0 && (static_cast<unsigned char>(bytes[cut]) & 0xC0) == 0x80; ++k) --cut;
        shown = bytes.substr(0, cut);
    }
    std::string out = "'";
    out.reserve(shown.size() + 16);
    append_escaped(out, shown, true);
    if (shown.size() < bytes.size()) out += "...' (" + std::to_string(bytes.size()) + " bytes)";
    else out += "'";
    return out;
}

}  // namespace krait
