// sdk/core/utf8: validity, and the escaping every message goes through (issue 17: messages must be
// valid UTF-8 whatever bytes they quote).
#include <gtest/gtest.h>

#include <string>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"

namespace {

using krait::find_invalid_utf8;
using krait::is_valid_utf8;
using krait::printable_utf8;
using krait::quote;

TEST(Utf8, ValidityFollowsUnicodeTable3_7) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8("plain ascii"));
    EXPECT_TRUE(is_valid_utf8("w\xC3\xB6rld \xE2\x82\xAC \xF0\x9F\x98\x80"));  // ö € 😀
    EXPECT_TRUE(is_valid_utf8("\xED\x9F\xBF"));                                 // U+D7FF, last before surrogates
    EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));                             // U+10FFFF
    EXPECT_EQ(find_invalid_utf8("ab\x87"), 2u);           // lone continuation byte
    EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);         // overlong '/'
    EXPECT_EQ(find_invalid_utf8("x\xE0\x80\xAF"), 1u);    // overlong 3-byte form
    EXPECT_EQ(find_invalid_utf8("\xED\xA0\x80"), 0u);     // surrogate U+D800
    EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u); // above U+10FFFF
    EXPECT_EQ(find_invalid_utf8("ok\xE2\x82"), 2u);       // cut short at the end
    EXPECT_EQ(find_invalid_utf8("\xFF"), 0u);
}

TEST(Utf8, PrintableKeepsCleanTextAndEscapesEveryBadByte) {
    const std::string clean = "model.safetensors: tensor 'b\xC3\xB6' has shape [7]\n\tsecond line";
    EXPECT_EQ(printable_utf8(clean), clean);
    EXPECT_EQ(printable_utf8("last read: '\"odd\"\x87'"), "last read: '\"odd\"\\x87'");
    // The maximal ill-formed subpart is shown byte for byte; what follows is kept.
    EXPECT_EQ(printable_utf8("a\xE2\x82z"), "a\\xE2\\x82z");
    EXPECT_EQ(printable_utf8("\xED\xA0\x80"), "\\xED\\xA0\\x80");
    EXPECT_EQ(printable_utf8(std::string("nul\0byte", 8)), "nul\\x00byte");
    EXPECT_EQ(printable_utf8("bell\x07 del\x7F"), "bell\\x07 del\\x7F");
    // Whatever goes in, valid UTF-8 without NUL comes out.
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    const std::string out = printable_utf8(all + all);
    EXPECT_TRUE(is_valid_utf8(out));
    EXPECT_EQ(out.find('\0'), std::string::npos);
}

TEST(Utf8, QuoteEscapesQuotesControlsAndCutsLongInput) {
    EXPECT_EQ(quote("backbone.norm_f.weight"), "'backbone.norm_f.weight'");
    EXPECT_EQ(quote("it's a\\b\nc\td\r"), "'it\\'s a\\\\b\\nc\\td\\r'");
    EXPECT_EQ(quote("caf\xE9"), "'caf\\xE9'");
    EXPECT_EQ(quote(""), "''");
    const std::string long_name(300, 'x');
    EXPECT_EQ(quote(long_name, 10), "'xxxxxxxxxx...' (300 bytes)");
    // The cut backs off to a character boundary: "ééé" cut at 3 bytes keeps one é, not a half.
    EXPECT_EQ(quote("\xC3\xA9\xC3\xA9\xC3\xA9", 3), "'\xC3\xA9...' (6 bytes)");
    // A cut inside an ill-formed run stays escaped and valid.
    EXPECT_TRUE(is_valid_utf8(quote(std::string(50, '\x87'), 7)));
}

TEST(Utf8, ErrorMessagesAreValidUtf8ByConstruction) {
    try {
        krait::fail_format("config.json: not valid JSON: last read: '\"Mam\x87'");
        FAIL() << "fail_format returned";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_FORMAT);
        EXPECT_STREQ(e.what(), "config.json: not valid JSON: last read: '\"Mam\\x87'");
    }
}

}  // namespace
